SELECT * FROM orders WHERE status = 'shipped';
