DROP TABLE matches;
DROP TRIGGER users_player_stats ON users;
DROP FUNCTION player_stats_for_new_user();
DROP TABLE player_stats;
