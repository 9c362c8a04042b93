-- Every chat batch moves both members' last_message_id forward. With that
-- column in an index, each move wrote a new entry in every index of the
-- table; without it, and with room left on each page, the update is HOT
-- (heap only). A user's conversation list now reads their rows by the
-- primary key (user_id, chat_id) and sorts them: a few hundred rows for
-- the busiest users. The fill factor applies to pages written from now on;
-- a table already full gets the room once rewritten (VACUUM FULL, off-peak).
DROP INDEX chat_members_recent_idx;
ALTER TABLE chat_members SET (fillfactor = 50);
