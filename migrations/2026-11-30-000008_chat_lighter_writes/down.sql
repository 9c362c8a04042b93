ALTER TABLE chat_members SET (fillfactor = 50);

ALTER TABLE chat_messages DROP CONSTRAINT chat_messages_sender_is_member;
ALTER TABLE chat_messages ADD CONSTRAINT chat_messages_sender_id_fkey
    FOREIGN KEY (sender_id) REFERENCES users (id) ON DELETE CASCADE;

ALTER TABLE chat_members ADD COLUMN last_message_id BIGINT NOT NULL DEFAULT 0;
UPDATE chat_members m
SET last_message_id = COALESCE((SELECT max(id) FROM chat_messages c WHERE c.chat_id = m.chat_id), 0);
