SELECT player, team, points, DENSE_RANK() OVER (PARTITION BY team ORDER BY points DESC) AS team_rank FROM season_stats WHERE season = 2023;
