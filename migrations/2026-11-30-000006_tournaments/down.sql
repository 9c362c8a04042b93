ALTER TABLE matches DROP CONSTRAINT matches_tournament_fk;
DROP TABLE tournament_matches;
DROP TABLE tournament_players;
DROP TABLE tournaments;
