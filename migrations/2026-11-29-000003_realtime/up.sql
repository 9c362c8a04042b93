-- One-time tickets that open a websocket: a browser cannot set an
-- Authorization header on the upgrade, and a long-lived token must never
-- travel in a URL. Only the SHA-256 of a ticket is kept.
CREATE TABLE ws_tickets (
    ticket_hash BYTEA PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The login session that asked: the socket belongs to it.
    session_id UUID NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ws_tickets_expires_at_idx ON ws_tickets (expires_at);

-- When the user's last socket closed (after the reload grace).
ALTER TABLE users ADD COLUMN last_seen_at TIMESTAMPTZ;
