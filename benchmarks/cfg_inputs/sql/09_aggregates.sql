SELECT category,
       SUM(price * quantity) AS revenue,
       AVG(price) AS avg_price,
       MIN(price) AS min_price,
       MAX(price) AS max_price
FROM sales
GROUP BY category
ORDER BY revenue DESC
LIMIT 10;
