SELECT event_date, COUNT(DISTINCT user_id) AS daily_active_users FROM events GROUP BY event_date ORDER BY event_date;
