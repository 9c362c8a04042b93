ALTER TABLE users DROP COLUMN last_seen_at;
DROP TABLE ws_tickets;
