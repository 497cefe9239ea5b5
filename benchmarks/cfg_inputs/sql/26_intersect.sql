SELECT user_id FROM purchases WHERE year = 2023
INTERSECT
SELECT user_id FROM purchases WHERE year = 2024;
