//! Sign-in with the 42 Intranet (authorization code + PKCE).
//!
//! `authorize` (or `link`, for a logged-in user) stores the PKCE verifier
//! under the hash of a random `state` and puts the state in a short-lived
//! HttpOnly cookie. `callback` accepts the state only when the cookie
//! carries the same value and the stored row is unused and unexpired, so a
//! callback URL replayed from another browser, or twice, is refused.

use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::{IntoParams, ToSchema};

use super::{LoginResponse, finish_first_factor, load_user};
use crate::app::AppState;
use crate::auth::oauth42::{OAuth42, OAuthError, PROVIDER, Profile};
use crate::auth::sha256;
use crate::db::oauth as db_oauth;
use crate::db::sessions;
use crate::db::users::{self, NewUser, User};
use crate::domain::auth::{username_base_from_login, username_candidate, validate_email};
use crate::error::{AppError, AppResult, ErrorBody, ErrorCode};
use crate::http::extractors::{AuthUser, user_agent};

const STATE_COOKIE: &str = "oauth42_state";
const COOKIE_PATH: &str = "/api/auth/oauth/42";
/// How long a user may take at the provider's consent page.
const STATE_TTL: Duration = Duration::from_secs(600);
/// Derived usernames tried before giving up (`jdoe`, `jdoe2`, …).
const USERNAME_ATTEMPTS: u32 = 50;

fn provider(state: &AppState) -> AppResult<&OAuth42> {
    state.oauth42.as_deref().ok_or_else(|| {
        AppError::new(
            ErrorCode::OauthNotConfigured,
            "42 sign-in is not configured on this server",
        )
    })
}

fn state_cookie(state: &AppState, value: &str, max_age: Duration) -> Cookie<'static> {
    Cookie::build(STATE_COOKIE, value.to_string())
        .path(COOKIE_PATH)
        .http_only(true)
        .secure(state.settings.secure_cookies())
        // Lax: the cookie must come back on the provider's top-level redirect.
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::seconds(
            i64::try_from(max_age.as_secs()).unwrap_or(0),
        ))
        .finish()
}

/// Starts an authorization and returns the provider URL and the cookie.
/// `link` is the user and login session asking to link, if any.
async fn start(
    state: &AppState,
    link: Option<(i64, uuid::Uuid)>,
) -> AppResult<(String, Cookie<'static>)> {
    let authorization = provider(state)?.authorize();
    let expires_at = Utc::now() + chrono::Duration::from_std(STATE_TTL).unwrap_or_default();
    let mut conn = state.db.get().await?;
    db_oauth::insert_state(
        &mut conn,
        &sha256(&authorization.state),
        &authorization.pkce_verifier,
        link,
        expires_at,
    )
    .await?;
    Ok((
        authorization.url.to_string(),
        state_cookie(state, &authorization.state, STATE_TTL),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct ProvidersResponse {
    /// Sign-in with the 42 Intranet is configured (`/api/auth/oauth/42/…`).
    pub oauth42: bool,
}

/// Which sign-in methods this server offers besides a password, so a
/// client shows only the buttons that work.
#[utoipa::path(get, path = "/api/auth/providers", tag = "oauth",
    responses((status = 200, body = ProvidersResponse)))]
pub async fn providers(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(ProvidersResponse {
        oauth42: state.settings.oauth42.is_some(),
    })
}

/// Redirects the browser to the 42 consent page.
#[utoipa::path(get, path = "/api/auth/oauth/42/authorize", tag = "oauth",
    responses(
        (status = 302, description = "to the provider, with state and PKCE; sets the state cookie"),
        (status = 503, description = "oauth_not_configured", body = ErrorBody),
    ))]
pub async fn authorize(state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let (url, cookie) = start(&state, None).await?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, url))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(cookie)
        .finish())
}

#[derive(Serialize, ToSchema)]
pub struct OAuthLinkResponse {
    /// Send the browser here; the callback links the 42 account to the caller.
    pub authorize_url: String,
}

/// Starts linking a 42 account to the logged-in caller.
#[utoipa::path(post, path = "/api/auth/oauth/42/link", tag = "oauth",
    security(("bearer" = [])),
    responses(
        (status = 200, body = OAuthLinkResponse, description = "sets the state cookie"),
        (status = 401, body = ErrorBody),
        (status = 409, description = "oauth_already_linked", body = ErrorBody),
        (status = 503, description = "oauth_not_configured", body = ErrorBody),
    ))]
pub async fn link(state: web::Data<AppState>, me: AuthUser) -> AppResult<HttpResponse> {
    provider(&state)?;
    {
        let mut conn = state.db.get().await?;
        let linked = db_oauth::accounts_of_user(&mut conn, me.user_id).await?;
        if linked.iter().any(|a| a.provider == PROVIDER) {
            return Err(already_linked());
        }
    }
    let (url, cookie) = start(&state, Some((me.user_id, me.session_id))).await?;
    Ok(HttpResponse::Ok()
        .cookie(cookie)
        .json(OAuthLinkResponse { authorize_url: url }))
}

fn already_linked() -> AppError {
    AppError::new(
        ErrorCode::OauthAlreadyLinked,
        "this account is already linked to a 42 account",
    )
}

#[derive(Deserialize, IntoParams)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Set by the provider when the user refused.
    pub error: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OAuthLinked {
    /// Always `true`.
    pub linked: bool,
    pub provider: &'static str,
    /// The 42 login now linked.
    pub login: String,
}

#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum CallbackResponse {
    Login(LoginResponse),
    Linked(OAuthLinked),
}

/// Where the provider sends the browser back. Signs in (or creates) the
/// account linked to the 42 profile, exactly like a password login (2FA
/// still applies); for a link flow, links the profile to the caller.
#[utoipa::path(get, path = "/api/auth/oauth/42/callback", tag = "oauth",
    params(CallbackQuery),
    responses(
        (status = 200, body = CallbackResponse),
        (status = 400, description = "oauth_state_mismatch, oauth_state_invalid, oauth_code_invalid or oauth_denied", body = ErrorBody),
        (status = 409, description = "oauth_email_in_use (log in and link instead), oauth_account_linked_elsewhere", body = ErrorBody),
        (status = 502, description = "oauth_provider_error", body = ErrorBody),
        (status = 503, description = "oauth_not_configured", body = ErrorBody),
    ))]
pub async fn callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<CallbackQuery>,
) -> AppResult<HttpResponse> {
    let provider = provider(&state)?;
    let CallbackQuery {
        code,
        state: returned_state,
        error,
    } = query.into_inner();
    if let Some(error) = error {
        return Err(AppError::new(
            ErrorCode::OauthDenied,
            format!("the provider answered {error:?}"),
        ));
    }
    let (Some(code), Some(returned_state)) = (code, returned_state) else {
        return Err(AppError::new(
            ErrorCode::InvalidRequest,
            "code and state are required",
        ));
    };
    let cookie = req.cookie(STATE_COOKIE);
    let matches = cookie
        .as_ref()
        .is_some_and(|c| bool::from(c.value().as_bytes().ct_eq(returned_state.as_bytes())));
    if !matches {
        return Err(AppError::new(
            ErrorCode::OauthStateMismatch,
            "state does not match this browser's sign-in; start again",
        ));
    }
    let pending = {
        let mut conn = state.db.get().await?;
        db_oauth::take_state(&mut conn, &sha256(&returned_state)).await?
    };
    let Some(pending) = pending.filter(|p| p.expires_at > Utc::now()) else {
        return Err(AppError::new(
            ErrorCode::OauthStateInvalid,
            "unknown, used or expired state; start again",
        ));
    };
    let profile = provider
        .profile(code, pending.pkce_verifier)
        .await
        .map_err(|e| match e {
            OAuthError::CodeRefused(why) => AppError::new(
                ErrorCode::OauthCodeInvalid,
                format!("the provider refused the code ({why}); start again"),
            ),
            OAuthError::Provider(why) => {
                tracing::warn!(%why, "42 provider failed");
                AppError::new(
                    ErrorCode::OauthProviderError,
                    "the 42 Intranet did not answer as expected; try again later",
                )
            }
        })?;

    let mut conn = state.db.get().await?;
    let body = match pending.link_user_id {
        Some(user_id) => {
            // The session that asked must still be live: a link must not
            // complete after a logout-all or a password change.
            let live = match pending.link_session_id {
                Some(session) => sessions::active_session_user(&conn, session).await?,
                None => None,
            };
            if live != Some(user_id) {
                return Err(AppError::new(
                    ErrorCode::SessionRevoked,
                    "the session that started this link has been logged out",
                ));
            }
            CallbackResponse::Linked(link_profile(&mut conn, user_id, &profile).await?)
        }
        None => {
            let user = user_for_profile(&mut conn, &profile).await?;
            let ua = user_agent(&req);
            CallbackResponse::Login(
                finish_first_factor(&state, &mut conn, &user, ua.as_deref()).await?,
            )
        }
    };
    // The state is spent: clear the cookie.
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(state_cookie(&state, "", Duration::ZERO))
        .json(body))
}

async fn link_profile(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    profile: &Profile,
) -> AppResult<OAuthLinked> {
    let provider_user_id = profile.id.to_string();
    let user = load_user(conn, user_id).await?;
    match db_oauth::find_account(conn, PROVIDER, &provider_user_id).await? {
        Some(existing) if existing.user_id == user.id => {}
        Some(_) => {
            return Err(AppError::new(
                ErrorCode::OauthAccountLinkedElsewhere,
                "this 42 account is linked to another user",
            ));
        }
        None => {
            if db_oauth::accounts_of_user(conn, user.id)
                .await?
                .iter()
                .any(|a| a.provider == PROVIDER)
            {
                return Err(already_linked());
            }
            if !db_oauth::insert_account(conn, PROVIDER, &provider_user_id, user.id, &profile.login)
                .await?
            {
                return Err(already_linked());
            }
            tracing::info!(user_id = user.id, "42 account linked");
        }
    }
    Ok(OAuthLinked {
        linked: true,
        provider: PROVIDER,
        login: profile.login.clone(),
    })
}

/// The user linked to the profile, or a new one. An existing local account
/// with the same email is never taken over: its owner must log in and link.
async fn user_for_profile(conn: &mut AsyncPgConnection, profile: &Profile) -> AppResult<User> {
    let provider_user_id = profile.id.to_string();
    if let Some(account) = db_oauth::find_account(conn, PROVIDER, &provider_user_id).await? {
        return load_user(conn, account.user_id).await;
    }
    let email = profile.email.trim();
    if validate_email(email).is_err() {
        return Err(AppError::new(
            ErrorCode::OauthProviderError,
            "the 42 profile has no usable email",
        ));
    }
    if users::email_exists(conn, email).await? {
        return Err(AppError::new(
            ErrorCode::OauthEmailInUse,
            "an account with this email exists; log in to it and link 42 from there",
        ));
    }
    let base = username_base_from_login(&profile.login);
    for n in 1..=USERNAME_ATTEMPTS {
        let username = username_candidate(&base, n);
        if users::name_taken_by_other(conn, &username, None).await? {
            continue;
        }
        // A failed insert aborts the transaction, so a collision must roll
        // back (an error out of the closure), then the next name is tried.
        let created = conn
            .transaction(async |conn| -> AppResult<User> {
                let new = NewUser {
                    username: &username,
                    email,
                    password_hash: None,
                };
                let user = users::insert(conn, &new)
                    .await?
                    .map_err(super::accounts::taken)?;
                let linked = db_oauth::insert_account(
                    conn,
                    PROVIDER,
                    &provider_user_id,
                    user.id,
                    &profile.login,
                )
                .await?;
                if !linked {
                    // A parallel first sign-in of the same 42 user won.
                    return Err(AppError::new(
                        ErrorCode::OauthAccountLinkedElsewhere,
                        "this 42 account was just linked by another sign-in; try again",
                    ));
                }
                Ok(user)
            })
            .await;
        match created {
            Ok(user) => {
                tracing::info!(user_id = user.id, "account created through 42");
                return Ok(user);
            }
            // Lost a race for this name: try the next candidate.
            Err(e) if e.code() == ErrorCode::UsernameTaken => continue,
            Err(e) if e.code() == ErrorCode::EmailTaken => {
                return Err(AppError::new(
                    ErrorCode::OauthEmailInUse,
                    "an account with this email exists; log in to it and link 42 from there",
                ));
            }
            Err(e) => return Err(e),
        }
    }
    Err(AppError::Internal(anyhow::anyhow!(
        "no free username derived from 42 login {:?}",
        profile.login
    )))
}
