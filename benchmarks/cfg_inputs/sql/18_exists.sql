SELECT s.name
FROM suppliers s
WHERE EXISTS (SELECT id FROM products p WHERE p.supplier_id = s.id AND p.price < 20);
