DROP TABLE notifications;
DROP TABLE blocks;
DROP TABLE friendships;
DROP TABLE friend_requests;
DROP INDEX users_display_name_trgm_idx;
DROP INDEX users_username_trgm_idx;
DROP INDEX users_display_name_lower_key;
ALTER TABLE users
    DROP COLUMN avatar,
    DROP COLUMN language,
    DROP COLUMN bio,
    DROP COLUMN display_name;
DROP EXTENSION IF EXISTS pg_trgm;
