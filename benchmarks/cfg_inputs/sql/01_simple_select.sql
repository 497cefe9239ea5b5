SELECT id, name, email FROM users WHERE active = TRUE ORDER BY name LIMIT 50;
