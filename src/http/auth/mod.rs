//! `/api/auth`: accounts, tokens, 2FA and 42 OAuth. The request and response
//! shapes are here; the steps shared by several endpoints (finishing a
//! login, checking a second factor, throttling) too.

pub mod accounts;
pub mod oauth;
pub mod two_factor;

use std::time::Duration;

use actix_web::web;
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::auth::jwt::TokenType;
use crate::auth::{random_token, sha256, totp};
use crate::db::users::User;
use crate::db::{sessions, throttle, two_factor as db_2fa, users};
use crate::domain::auth::{ThrottlePolicy, is_totp_code, normalize_recovery_code};
use crate::error::{AppError, AppResult};

/// How long the second step of a 2FA login may wait.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(300);
/// Wrong codes a single challenge takes before it is burnt.
pub const CHALLENGE_MAX_ATTEMPTS: i32 = 5;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/register").route(web::post().to(accounts::register)))
        .service(web::resource("/login").route(web::post().to(accounts::login)))
        .service(web::resource("/login/2fa").route(web::post().to(accounts::login_two_factor)))
        .service(web::resource("/refresh").route(web::post().to(accounts::refresh)))
        .service(web::resource("/logout").route(web::post().to(accounts::logout)))
        .service(web::resource("/logout-all").route(web::post().to(accounts::logout_all)))
        .service(web::resource("/verify").route(web::get().to(accounts::verify)))
        .service(web::resource("/password").route(web::put().to(accounts::change_password)))
        .service(web::resource("/2fa/setup").route(web::post().to(two_factor::setup)))
        .service(web::resource("/2fa/enable").route(web::post().to(two_factor::enable)))
        .service(web::resource("/2fa/disable").route(web::post().to(two_factor::disable)))
        .service(web::resource("/providers").route(web::get().to(oauth::providers)))
        .service(web::resource("/oauth/42/authorize").route(web::get().to(oauth::authorize)))
        .service(web::resource("/oauth/42/callback").route(web::get().to(oauth::callback)))
        .service(web::resource("/oauth/42/link").route(web::post().to(oauth::link)));
}

/// The account as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub two_factor_enabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&User> for AccountView {
    fn from(user: &User) -> Self {
        AccountView {
            id: user.id,
            username: user.username.clone(),
            email: user.email.clone(),
            two_factor_enabled: user.totp_enabled,
            created_at: user.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: u64,
}

/// The password was right and 2FA is on: send the code with this challenge
/// to `/api/auth/login/2fa`.
#[derive(Serialize, ToSchema)]
pub struct TwoFactorChallenge {
    /// Always `true`.
    pub two_factor_required: bool,
    pub challenge: String,
    /// Seconds the challenge stays valid.
    pub expires_in: u64,
}

#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginResponse {
    Tokens(TokenPair),
    TwoFactorRequired(TwoFactorChallenge),
}

/// Starts a login session and signs its first token pair.
pub async fn issue_tokens(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    user_id: i64,
    user_agent: Option<&str>,
) -> AppResult<TokenPair> {
    let now = Utc::now();
    let session_id = sessions::create_session(conn, user_id, user_agent).await?;
    let refresh = state
        .jwt
        .issue(TokenType::Refresh, user_id, session_id, now)?;
    sessions::insert_refresh_token(conn, refresh.jti, session_id, refresh.expires_at).await?;
    let access = state
        .jwt
        .issue(TokenType::Access, user_id, session_id, now)?;
    state.sessions.insert(session_id, user_id);
    Ok(token_pair(state, access.token, refresh.token))
}

pub fn token_pair(state: &AppState, access: String, refresh: String) -> TokenPair {
    TokenPair {
        access_token: access,
        refresh_token: refresh,
        token_type: "Bearer",
        expires_in: state.jwt.access_ttl.as_secs(),
        refresh_expires_in: state.jwt.refresh_ttl.as_secs(),
    }
}

/// What a correct first factor leads to: tokens, or a 2FA challenge.
pub async fn finish_first_factor(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    user: &User,
    user_agent: Option<&str>,
) -> AppResult<LoginResponse> {
    if user.totp_enabled {
        let challenge = random_token(32);
        let expires_at = Utc::now() + chrono::Duration::from_std(CHALLENGE_TTL).unwrap_or_default();
        db_2fa::insert_challenge(conn, &sha256(&challenge), user.id, expires_at).await?;
        return Ok(LoginResponse::TwoFactorRequired(TwoFactorChallenge {
            two_factor_required: true,
            challenge,
            expires_in: CHALLENGE_TTL.as_secs(),
        }));
    }
    let pair = conn
        .transaction(async |conn| issue_tokens(state, conn, user.id, user_agent).await)
        .await?;
    Ok(LoginResponse::Tokens(pair))
}

/// Checks a second factor for `user`: a TOTP code from the active secret
/// (each step accepted once) or an unused recovery code (spent by this).
pub async fn check_second_factor(
    conn: &mut AsyncPgConnection,
    user: &User,
    code: &str,
) -> AppResult<bool> {
    let Some(secret) = user.totp_secret.as_deref().filter(|_| user.totp_enabled) else {
        return Ok(false);
    };
    if is_totp_code(code) {
        let now = u64::try_from(Utc::now().timestamp()).unwrap_or_default();
        match totp::check(secret, code, now)? {
            Some(step) => Ok(users::claim_totp_step(conn, user.id, step).await?),
            None => Ok(false),
        }
    } else {
        let normalized = normalize_recovery_code(code);
        if normalized.is_empty() {
            return Ok(false);
        }
        Ok(db_2fa::use_recovery_code(conn, user.id, &sha256(&normalized)).await?)
    }
}

/// A key whose attempts are counted, with its policy. The stored key is a
/// SHA-256 of the readable one, so any login string makes a short key.
pub struct ThrottleKey {
    key: String,
    policy: ThrottlePolicy,
    /// Shared keys (an address) are only forgiven one attempt on success;
    /// a personal key (an account) is cleared.
    shared: bool,
}

impl ThrottleKey {
    pub fn account(scope: &str, id: impl std::fmt::Display) -> Self {
        ThrottleKey {
            key: hex::encode(sha256(&format!("{scope}:account:{id}"))),
            policy: ThrottlePolicy::ACCOUNT,
            shared: false,
        }
    }

    pub fn address(ip: std::net::IpAddr) -> Self {
        ThrottleKey {
            key: hex::encode(sha256(&format!("address:{ip}"))),
            policy: ThrottlePolicy::ADDRESS,
            shared: true,
        }
    }
}

/// An attempt at a secret (password, 2FA code), counted as a failure from
/// the start; [`Attempt::succeeded`] takes it back.
pub struct Attempt<'a> {
    keys: &'a [&'a ThrottleKey],
}

impl<'a> Attempt<'a> {
    /// 429 with `Retry-After` when any key is locked; otherwise counts the
    /// attempt against every key.
    pub async fn begin(
        conn: &mut AsyncPgConnection,
        keys: &'a [&'a ThrottleKey],
    ) -> AppResult<Self> {
        let pairs: Vec<(&str, &ThrottlePolicy)> =
            keys.iter().map(|k| (k.key.as_str(), &k.policy)).collect();
        match throttle::begin_attempt(conn, &pairs, Utc::now()).await? {
            Ok(()) => Ok(Attempt { keys }),
            Err(wait) => Err(AppError::too_many_attempts(wait)),
        }
    }

    pub async fn succeeded(self, conn: &mut AsyncPgConnection) -> AppResult<()> {
        for key in self.keys {
            if key.shared {
                throttle::forgive(conn, &key.key, &key.policy).await?;
            } else {
                throttle::reset(conn, &key.key).await?;
            }
        }
        Ok(())
    }
}

/// Loads a user that must exist (the caller holds a valid token for it).
pub async fn load_user(conn: &mut AsyncPgConnection, user_id: i64) -> AppResult<User> {
    users::find(conn, user_id).await?.ok_or_else(|| {
        AppError::new(
            crate::error::ErrorCode::InvalidToken,
            "the account of this token no longer exists",
        )
    })
}
