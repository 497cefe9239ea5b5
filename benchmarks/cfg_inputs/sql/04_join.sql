SELECT o.id, o.created_at, c.name AS customer_name, o.total
FROM orders AS o
INNER JOIN customers AS c ON o.customer_id = c.id
WHERE o.total >= 100.50 AND o.created_at > '2024-01-01'
ORDER BY o.created_at DESC
LIMIT 20 OFFSET 40;
