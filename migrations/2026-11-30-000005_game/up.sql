-- Pong: each player's rating (Elo) and record. Every user has a row: a
-- trigger makes it with the account, and existing accounts get one here.
CREATE TABLE player_stats (
    user_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    rating INT NOT NULL DEFAULT 1200,
    wins INT NOT NULL DEFAULT 0,
    losses INT NOT NULL DEFAULT 0,
    -- Positive: consecutive wins; negative: consecutive losses.
    streak INT NOT NULL DEFAULT 0
);
CREATE INDEX player_stats_rating_idx ON player_stats (rating DESC, user_id);
INSERT INTO player_stats (user_id) SELECT id FROM users;

CREATE FUNCTION player_stats_for_new_user() RETURNS trigger AS $$
BEGIN
    INSERT INTO player_stats (user_id) VALUES (NEW.id);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER users_player_stats AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION player_stats_for_new_user();

-- One row per match: written when it starts (status live) and when it
-- ends, never on ticks. A match still live when its node starts again was
-- cut by a crash: it is settled as abandoned with reason 'interrupted'
-- (no result, no rating change; a tournament plays it again).
CREATE TABLE matches (
    id BIGSERIAL PRIMARY KEY,
    player_left BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    player_right BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    points_to_win INT NOT NULL CHECK (points_to_win BETWEEN 1 AND 21),
    status TEXT NOT NULL DEFAULT 'live' CHECK (status IN ('live', 'finished', 'abandoned')),
    score_left INT NOT NULL DEFAULT 0,
    score_right INT NOT NULL DEFAULT 0,
    winner_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    -- score, forfeit, abandoned (both away) or interrupted (a restart);
    -- null while live.
    reason TEXT CHECK (reason IN ('score', 'forfeit', 'abandoned', 'interrupted')),
    rating_change_left INT,
    rating_change_right INT,
    tournament_id BIGINT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ended_at TIMESTAMPTZ,
    CHECK (player_left <> player_right)
);
CREATE INDEX matches_player_left_idx ON matches (player_left, id DESC);
CREATE INDEX matches_player_right_idx ON matches (player_right, id DESC);
CREATE INDEX matches_live_idx ON matches (id) WHERE status = 'live';
