SELECT t.customer_id, t.order_count
FROM (SELECT customer_id, COUNT(*) AS order_count FROM orders GROUP BY customer_id) AS t
WHERE t.order_count > 3
ORDER BY t.order_count DESC;
