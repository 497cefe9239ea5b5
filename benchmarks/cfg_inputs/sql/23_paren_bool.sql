SELECT id, title FROM tickets WHERE (priority = 'high' OR severity > 3) AND status != 'closed' AND assignee IS NOT NULL;
