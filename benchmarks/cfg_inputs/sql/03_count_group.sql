SELECT country, COUNT(*) AS n_customers
FROM customers
GROUP BY country
HAVING COUNT(*) > 10
ORDER BY n_customers DESC;
