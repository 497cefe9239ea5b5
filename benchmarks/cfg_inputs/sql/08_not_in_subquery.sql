SELECT u.id, u.email
FROM users u
WHERE u.id NOT IN (SELECT user_id FROM banned_users)
ORDER BY u.id;
