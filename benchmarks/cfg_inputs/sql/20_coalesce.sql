SELECT id, COALESCE(nickname, first_name, 'anonymous') AS display_name FROM profiles;
