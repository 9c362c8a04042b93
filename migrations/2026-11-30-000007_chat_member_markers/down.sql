ALTER TABLE chat_members RESET (fillfactor);
CREATE INDEX chat_members_recent_idx ON chat_members (user_id, last_message_id DESC);
