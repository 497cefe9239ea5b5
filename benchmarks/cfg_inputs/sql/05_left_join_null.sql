SELECT p.sku, p.title, s.quantity
FROM products p
LEFT JOIN stock s ON p.id = s.product_id
WHERE s.quantity IS NULL OR s.quantity < 5;
