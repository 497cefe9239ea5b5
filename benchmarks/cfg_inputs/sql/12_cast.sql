SELECT CAST(amount AS float) AS amount_value, CAST(created_at AS date) AS day FROM payments WHERE currency = 'USD';
