-- revenue per author
SELECT a.name, SUM(oi.quantity * oi.unit_price) AS revenue
FROM authors a
JOIN books b ON b.author_id = a.id
JOIN order_items oi ON oi.book_id = b.id
WHERE oi.unit_price > 0.99
GROUP BY a.name
ORDER BY revenue DESC
LIMIT 5;
