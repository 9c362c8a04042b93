DROP TABLE oauth_states;
DROP TABLE oauth_accounts;
DROP TABLE auth_throttles;
DROP TABLE recovery_codes;
DROP TABLE login_challenges;
DROP TABLE refresh_tokens;
DROP TABLE auth_sessions;
DROP TABLE users;
