-- Private conversations between two users. The id is "{smaller}_{larger}"
-- of the two user ids, so both sides name it the same way without a lookup.
CREATE TABLE chats (
    id TEXT PRIMARY KEY,
    user_low BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_high BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (user_low < user_high),
    CHECK (id = user_low::text || '_' || user_high::text)
);

-- Ids are monotonic: one writer per node commits batches in id order, so
-- a session that saw id N has seen every earlier message of its chats.
CREATE TABLE chat_messages (
    id BIGSERIAL PRIMARY KEY,
    chat_id TEXT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    sender_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body TEXT NOT NULL,
    -- Chosen by the sender's client, unique per conversation: a resend
    -- after a lost ack finds the message it already made.
    client_msg_id TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (chat_id, sender_id, client_msg_id)
);
CREATE INDEX chat_messages_chat_id_idx ON chat_messages (chat_id, id);

-- Each participant's view of a conversation: how far they have read, and
-- the newest message (so their list sorts without scanning messages).
CREATE TABLE chat_members (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    chat_id TEXT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    peer_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    last_read_id BIGINT NOT NULL DEFAULT 0,
    last_message_id BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, chat_id)
);
CREATE INDEX chat_members_recent_idx ON chat_members (user_id, last_message_id DESC);
