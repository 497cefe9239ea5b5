SELECT first_name, last_name, email
FROM contacts
WHERE email LIKE '%@example.com' AND last_name NOT LIKE 'Test%';
