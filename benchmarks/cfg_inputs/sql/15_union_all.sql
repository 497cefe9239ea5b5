SELECT id, 'order' AS kind, created_at FROM orders
UNION ALL
SELECT id, 'refund' AS kind, created_at FROM refunds
ORDER BY created_at DESC;
