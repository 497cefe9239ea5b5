SELECT id, name, expires_at FROM subscriptions WHERE expires_at < NOW() AND auto_renew = FALSE;
