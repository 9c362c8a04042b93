-- Accounts and authentication: users, login sessions (refresh-token families),
-- one-time 2FA login challenges, recovery codes, failure throttles and the
-- 42 Intranet OAuth links.

CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL,
    email TEXT NOT NULL,
    -- NULL for accounts created through OAuth that never set a local password.
    password_hash TEXT,
    -- Base32 TOTP secret while 2FA is enabled.
    totp_secret TEXT,
    -- Secret handed out by /2fa/setup, promoted by /2fa/enable.
    totp_pending_secret TEXT,
    totp_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    -- Last accepted TOTP time step: a code is accepted once.
    totp_last_step BIGINT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
SELECT diesel_manage_updated_at('users');

-- A login session is one refresh-token family: every token issued by
-- rotation from one login belongs to it, and revoking it ends them all.
CREATE TABLE auth_sessions (
    id UUID PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at TIMESTAMPTZ,
    revoked_reason TEXT,
    user_agent TEXT
);
CREATE INDEX auth_sessions_user_id_idx ON auth_sessions (user_id);

CREATE TABLE refresh_tokens (
    jti UUID PRIMARY KEY,
    session_id UUID NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
    issued_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    -- Set when the token is exchanged; presenting it again is reuse.
    used_at TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);

-- Second step of a login with 2FA: only the SHA-256 of the challenge is kept.
CREATE TABLE login_challenges (
    token_hash BYTEA PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at TIMESTAMPTZ NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX login_challenges_expires_at_idx ON login_challenges (expires_at);

CREATE TABLE recovery_codes (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BYTEA NOT NULL,
    used_at TIMESTAMPTZ,
    UNIQUE (user_id, code_hash)
);

-- Failure counters for logins and 2FA codes, keyed by account or client
-- address. Kept in PostgreSQL so every node sees the same counts.
CREATE TABLE auth_throttles (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    window_started_at TIMESTAMPTZ NOT NULL,
    locked_until TIMESTAMPTZ
);

CREATE TABLE oauth_accounts (
    provider TEXT NOT NULL,
    provider_user_id TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_login TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, provider_user_id),
    UNIQUE (user_id, provider)
);

-- Pending OAuth authorizations: the state (hashed) with its PKCE verifier.
CREATE TABLE oauth_states (
    state_hash BYTEA PRIMARY KEY,
    pkce_verifier TEXT NOT NULL,
    -- Set when a logged-in user links the provider account to their own,
    -- with the login session that asked: the link completes only while that
    -- session is still live.
    link_user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    link_session_id UUID REFERENCES auth_sessions (id) ON DELETE CASCADE,
    expires_at TIMESTAMPTZ NOT NULL
);
