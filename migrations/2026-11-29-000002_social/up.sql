-- Profiles, avatars, the social graph (friend requests, friendships,
-- blocks), fast substring search, and the notification records that the
-- real-time side delivers.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER TABLE users
    -- NULL shows the username.
    ADD COLUMN display_name TEXT,
    ADD COLUMN bio TEXT NOT NULL DEFAULT '',
    ADD COLUMN language TEXT NOT NULL DEFAULT 'en',
    -- Content-addressed file name of the uploaded avatar; NULL shows the
    -- generated default.
    ADD COLUMN avatar TEXT;
CREATE UNIQUE INDEX users_display_name_lower_key ON users (lower(display_name));
CREATE INDEX users_username_trgm_idx ON users USING gin (lower(username) gin_trgm_ops);
CREATE INDEX users_display_name_trgm_idx ON users USING gin (lower(display_name) gin_trgm_ops);

CREATE TABLE friend_requests (
    id BIGSERIAL PRIMARY KEY,
    sender_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    addressee_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (sender_id <> addressee_id),
    UNIQUE (sender_id, addressee_id)
);
CREATE INDEX friend_requests_addressee_idx ON friend_requests (addressee_id, id);

-- One row per pair, the smaller id first.
CREATE TABLE friendships (
    user_a BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_b BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_a, user_b),
    CHECK (user_a < user_b)
);
CREATE INDEX friendships_user_b_idx ON friendships (user_b, user_a);

CREATE TABLE blocks (
    blocker_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (blocker_id, blocked_id),
    CHECK (blocker_id <> blocked_id)
);
CREATE INDEX blocks_blocked_idx ON blocks (blocked_id, blocker_id);

-- Events for a user (friend request received, accepted, …), written in the
-- same transaction as the change they report, read back by the inbox.
CREATE TABLE notifications (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    -- Who caused it (NULL for the server, or once that account is gone).
    actor_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    payload JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    read_at TIMESTAMPTZ
);
CREATE INDEX notifications_user_idx ON notifications (user_id, id);
CREATE INDEX notifications_unread_idx ON notifications (user_id, id) WHERE read_at IS NULL;
