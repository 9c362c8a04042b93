-- Tournaments: single elimination, driven by the server. Every transition
-- (start, each result, the end) is written here, so a restarted node can
-- take a running tournament up where it was.
CREATE TABLE tournaments (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    owner_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    max_players INT NOT NULL CHECK (max_players BETWEEN 4 AND 16),
    points_to_win INT NOT NULL CHECK (points_to_win BETWEEN 1 AND 21),
    starts_when_full BOOLEAN NOT NULL DEFAULT false,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'running', 'finished')),
    champion_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ
);
CREATE INDEX tournaments_status_idx ON tournaments (status, id DESC);

CREATE TABLE tournament_players (
    tournament_id BIGINT NOT NULL REFERENCES tournaments (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The name shown in this tournament, unique within it.
    alias TEXT NOT NULL,
    -- 1 = best rating at the start; null until then.
    seed INT,
    joined_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tournament_id, user_id)
);
CREATE UNIQUE INDEX tournament_players_alias_idx ON tournament_players (tournament_id, lower(alias));
CREATE INDEX tournament_players_user_idx ON tournament_players (user_id);

-- The bracket: every pairing of every round, made at the start.
CREATE TABLE tournament_matches (
    tournament_id BIGINT NOT NULL REFERENCES tournaments (id) ON DELETE CASCADE,
    round INT NOT NULL,
    slot INT NOT NULL,
    player_a BIGINT REFERENCES users (id) ON DELETE SET NULL,
    player_b BIGINT REFERENCES users (id) ON DELETE SET NULL,
    -- pending (waiting for players or to be started), playing, done.
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'playing', 'done')),
    match_id BIGINT REFERENCES matches (id) ON DELETE SET NULL,
    -- The join deadline of the match being played.
    deadline TIMESTAMPTZ,
    winner_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    -- score, forfeit, no_show (neither came: the better seed goes on), bye.
    result TEXT CHECK (result IN ('score', 'forfeit', 'no_show', 'bye')),
    PRIMARY KEY (tournament_id, round, slot)
);

ALTER TABLE matches ADD CONSTRAINT matches_tournament_fk
    FOREIGN KEY (tournament_id) REFERENCES tournaments (id) ON DELETE SET NULL;
