SELECT email FROM customers
UNION
SELECT email FROM newsletter_subscribers;
