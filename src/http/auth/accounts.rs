//! Registration, login (with its 2FA step), token refresh with rotation,
//! logout, token verification and password change.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    AccountView, Attempt, CHALLENGE_MAX_ATTEMPTS, LoginResponse, ThrottleKey, TokenPair,
    check_second_factor, finish_first_factor, issue_tokens, load_user, token_pair,
};
use crate::app::AppState;
use crate::auth::jwt::{TokenError, TokenType};
use crate::auth::sha256;
use crate::db::sessions::{self, RevokeReason};
use crate::db::two_factor as db_2fa;
use crate::db::users::{self, NewUser, Taken};
use crate::domain::auth::{EMAIL_MAX, validate_email, validate_password, validate_username};
use crate::error::{AppError, AppResult, ErrorBody, ErrorCode};
use crate::http::extractors::{AuthUser, ClientIp, user_agent};

#[derive(Deserialize, ToSchema)]
pub struct RegisterRequest {
    #[schema(example = "alice_42")]
    pub username: String,
    #[schema(example = "alice@example.com")]
    pub email: String,
    #[schema(example = "correct horse battery staple")]
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct RegisterResponse {
    pub user: AccountView,
}

fn check<T>(result: Result<T, crate::domain::auth::Invalid>) -> AppResult<T> {
    result.map_err(|e| AppError::validation(e.field, e.message))
}

/// Creates an account.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, body = RegisterResponse),
        (status = 409, description = "username_taken or email_taken", body = ErrorBody),
        (status = 422, description = "validation_failed, naming the field", body = ErrorBody),
    ))]
pub async fn register(
    state: web::Data<AppState>,
    body: web::Json<RegisterRequest>,
) -> AppResult<HttpResponse> {
    let RegisterRequest {
        username,
        email,
        password,
    } = body.into_inner();
    let email = email.trim().to_string();
    check(validate_username(&username))?;
    check(validate_email(&email))?;
    check(validate_password("password", &password))?;

    {
        // Named checks first so the error says which field; the unique
        // indexes still decide races. The connection goes back to the pool
        // before the slow hash.
        let mut conn = state.db.get().await?;
        // Nor may a username copy someone's display name.
        if users::name_taken_by_other(&mut conn, &username, None).await? {
            return Err(taken(Taken::Username));
        }
        if users::email_exists(&mut conn, &email).await? {
            return Err(taken(Taken::Email));
        }
    }
    let hash = state.passwords.hash(password).await?;
    let mut conn = state.db.get().await?;
    let new = NewUser {
        username: &username,
        email: &email,
        password_hash: Some(&hash),
    };
    let user = users::insert(&mut conn, &new).await?.map_err(taken)?;
    tracing::info!(user_id = user.id, "account registered");
    Ok(HttpResponse::Created().json(RegisterResponse {
        user: AccountView::from(&user),
    }))
}

pub fn taken(which: Taken) -> AppError {
    match which {
        Taken::Username => AppError::Client {
            code: ErrorCode::UsernameTaken,
            message: "username: already taken".into(),
            field: Some("username"),
            retry_after: None,
        },
        Taken::Email => AppError::Client {
            code: ErrorCode::EmailTaken,
            message: "email: already registered".into(),
            field: Some("email"),
            retry_after: None,
        },
    }
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Username or email.
    #[schema(example = "alice_42")]
    pub login: String,
    pub password: String,
}

/// Logs in with a password. With 2FA on, answers a challenge for
/// `/api/auth/login/2fa` instead of tokens.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 401, description = "invalid_credentials", body = ErrorBody),
        (status = 429, description = "too_many_attempts, with Retry-After", body = ErrorBody),
    ))]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    ClientIp(ip): ClientIp,
    body: web::Json<LoginRequest>,
) -> AppResult<web::Json<LoginResponse>> {
    let LoginRequest { login, password } = body.into_inner();
    let login = login.trim();
    // A string no account can have never reaches the database.
    let plausible = !login.is_empty()
        && login.chars().count() <= EMAIL_MAX
        && !login.chars().any(char::is_control);
    let user = if plausible {
        let mut conn = state.db.get().await?;
        users::find_by_login(&mut conn, login).await?
    } else {
        None
    };
    // One counter per account, whichever name it was addressed by.
    let account_key = match &user {
        Some(user) => ThrottleKey::account("login", user.id),
        None => ThrottleKey::account("login", login.to_lowercase()),
    };
    let address_key = ThrottleKey::address(ip);
    let keys = [&account_key, &address_key];
    let attempt = {
        let mut conn = state.db.get().await?;
        Attempt::begin(&mut conn, &keys).await?
    };
    // Unknown users are checked against a dummy hash: same cost, same answer.
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let matches = state.passwords.verify(password, hash).await?;
    let Some(user) = user.filter(|_| matches) else {
        return Err(AppError::new(
            ErrorCode::InvalidCredentials,
            "wrong login or password",
        ));
    };
    let mut conn = state.db.get().await?;
    attempt.succeeded(&mut conn).await?;
    let response =
        finish_first_factor(&state, &mut conn, &user, user_agent(&req).as_deref()).await?;
    tracing::info!(user_id = user.id, "password accepted");
    Ok(web::Json(response))
}

#[derive(Deserialize, ToSchema)]
pub struct LoginTwoFactorRequest {
    pub challenge: String,
    /// A 6-digit TOTP code, or a recovery code (`xxxxx-xxxxx`).
    #[schema(example = "123456")]
    pub code: String,
}

/// Second step of a 2FA login.
#[utoipa::path(post, path = "/api/auth/login/2fa", tag = "auth",
    request_body = LoginTwoFactorRequest,
    responses(
        (status = 200, body = super::TokenPair),
        (status = 401, description = "invalid_challenge or invalid_two_factor_code", body = ErrorBody),
        (status = 429, description = "too_many_attempts, with Retry-After", body = ErrorBody),
    ))]
pub async fn login_two_factor(
    state: web::Data<AppState>,
    req: HttpRequest,
    ClientIp(ip): ClientIp,
    body: web::Json<LoginTwoFactorRequest>,
) -> AppResult<HttpResponse> {
    let LoginTwoFactorRequest { challenge, code } = body.into_inner();
    let challenge_hash = sha256(&challenge);
    let invalid_challenge = || {
        AppError::new(
            ErrorCode::InvalidChallenge,
            "unknown or expired challenge; log in again",
        )
    };
    let mut conn = state.db.get().await?;
    let (user_id, attempts) = db_2fa::attempt_challenge(&mut conn, &challenge_hash)
        .await?
        .ok_or_else(invalid_challenge)?;
    if attempts > CHALLENGE_MAX_ATTEMPTS {
        db_2fa::delete_challenge(&mut conn, &challenge_hash).await?;
        return Err(invalid_challenge());
    }
    let user_key = ThrottleKey::account("2fa", user_id);
    let address_key = ThrottleKey::address(ip);
    let keys = [&user_key, &address_key];
    let attempt = Attempt::begin(&mut conn, &keys).await?;

    let user = load_user(&mut conn, user_id).await?;
    let ua = user_agent(&req);
    // The code, the challenge and the new session commit together: of two
    // parallel requests with valid codes, one wins and the other changes
    // nothing (its code is not spent).
    let pair = conn
        .transaction(async |conn| -> AppResult<Option<TokenPair>> {
            if !check_second_factor(conn, &user, &code).await? {
                return Ok(None);
            }
            if !db_2fa::consume_challenge(conn, &challenge_hash).await? {
                return Err(invalid_challenge());
            }
            Ok(Some(
                issue_tokens(&state, conn, user.id, ua.as_deref()).await?,
            ))
        })
        .await?;
    let Some(pair) = pair else {
        return Err(AppError::new(
            ErrorCode::InvalidTwoFactorCode,
            "wrong or already used code",
        ));
    };
    attempt.succeeded(&mut conn).await?;
    tracing::info!(user_id = user.id, "second factor accepted");
    Ok(HttpResponse::Ok().json(pair))
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

fn refresh_claims(state: &AppState, token: &str) -> AppResult<crate::auth::jwt::Claims> {
    state
        .jwt
        .verify(token, TokenType::Refresh)
        .map_err(|e| match e {
            TokenError::Expired => AppError::new(ErrorCode::TokenExpired, "refresh token expired"),
            TokenError::Invalid => AppError::new(ErrorCode::InvalidToken, "invalid refresh token"),
        })
}

enum Rotation {
    Rotated { access: String, refresh: String },
    Reused,
    Revoked,
    Unknown,
}

/// Exchanges a refresh token for a new pair. Each refresh token works once:
/// presenting a used one revokes its whole session (every token descended
/// from the same login) and answers 401 `refresh_token_reused`.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, body = super::TokenPair),
        (status = 401, description = "invalid_token, token_expired, refresh_token_reused or session_revoked", body = ErrorBody),
    ))]
pub async fn refresh(
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> AppResult<HttpResponse> {
    let claims = refresh_claims(&state, &body.refresh_token)?;
    let user_id = claims.user_id().unwrap_or_default();
    let mut conn = state.db.get().await?;
    let outcome = conn
        .transaction(async |conn| -> AppResult<Rotation> {
            let Some((token, session)) = sessions::lock_refresh_token(conn, claims.jti).await?
            else {
                return Ok(Rotation::Unknown);
            };
            if session.id != claims.sid || session.user_id != user_id {
                return Ok(Rotation::Unknown);
            }
            if session.revoked_at.is_some() {
                return Ok(Rotation::Revoked);
            }
            if token.used_at.is_some() {
                sessions::revoke_session(conn, session.id, RevokeReason::RefreshReuse).await?;
                return Ok(Rotation::Reused);
            }
            sessions::mark_refresh_token_used(conn, token.jti).await?;
            sessions::touch_session(conn, session.id).await?;
            let now = Utc::now();
            let refresh = state
                .jwt
                .issue(TokenType::Refresh, user_id, session.id, now)?;
            sessions::insert_refresh_token(conn, refresh.jti, session.id, refresh.expires_at)
                .await?;
            let access = state
                .jwt
                .issue(TokenType::Access, user_id, session.id, now)?;
            Ok(Rotation::Rotated {
                access: access.token,
                refresh: refresh.token,
            })
        })
        .await?;
    match outcome {
        Rotation::Rotated { access, refresh } => {
            Ok(HttpResponse::Ok().json(token_pair(&state, access, refresh)))
        }
        Rotation::Reused => {
            state.sessions.evict(&[claims.sid]);
            tracing::warn!(user_id, session_id = %claims.sid, "refresh token reused: session revoked");
            Err(AppError::new(
                ErrorCode::RefreshTokenReused,
                "this refresh token was already used; the session has been revoked, log in again",
            ))
        }
        Rotation::Revoked => Err(AppError::new(
            ErrorCode::SessionRevoked,
            "this session has been logged out",
        )),
        Rotation::Unknown => Err(AppError::new(
            ErrorCode::InvalidToken,
            "invalid refresh token",
        )),
    }
}

/// Ends the session (the refresh-token family) the token belongs to. Its
/// access tokens stop working too.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "logged out"),
        (status = 401, description = "invalid_token or token_expired", body = ErrorBody),
    ))]
pub async fn logout(
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> AppResult<HttpResponse> {
    let claims = refresh_claims(&state, &body.refresh_token)?;
    let mut conn = state.db.get().await?;
    let known = conn
        .transaction(async |conn| -> AppResult<bool> {
            match sessions::lock_refresh_token(conn, claims.jti).await? {
                Some((_, session)) if session.id == claims.sid => {
                    sessions::revoke_session(conn, session.id, RevokeReason::Logout).await?;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
        .await?;
    if !known {
        return Err(AppError::new(
            ErrorCode::InvalidToken,
            "invalid refresh token",
        ));
    }
    state.sessions.evict(&[claims.sid]);
    Ok(HttpResponse::NoContent().finish())
}

/// Ends every session of the caller, on every device.
#[utoipa::path(post, path = "/api/auth/logout-all", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "every session revoked"),
        (status = 401, body = ErrorBody),
    ))]
pub async fn logout_all(state: web::Data<AppState>, me: AuthUser) -> AppResult<HttpResponse> {
    let mut conn = state.db.get().await?;
    let revoked =
        sessions::revoke_user_sessions(&mut conn, me.user_id, None, RevokeReason::LogoutAll)
            .await?;
    state.sessions.evict(&revoked);
    tracing::info!(
        user_id = me.user_id,
        sessions = revoked.len(),
        "logged out everywhere"
    );
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
pub struct VerifyResponse {
    pub user_id: i64,
    pub username: String,
    pub session_id: Uuid,
    /// When the presented access token expires.
    pub expires_at: DateTime<Utc>,
    pub two_factor_enabled: bool,
}

/// Checks an access token (for other services, as in the original design).
#[utoipa::path(get, path = "/api/auth/verify", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, body = VerifyResponse),
        (status = 401, description = "unauthorized, invalid_token, token_expired or session_revoked", body = ErrorBody),
    ))]
pub async fn verify(state: web::Data<AppState>, me: AuthUser) -> AppResult<HttpResponse> {
    let mut conn = state.db.get().await?;
    let user = load_user(&mut conn, me.user_id).await?;
    Ok(HttpResponse::Ok().json(VerifyResponse {
        user_id: user.id,
        username: user.username,
        session_id: me.session_id,
        expires_at: me.expires_at,
        two_factor_enabled: user.totp_enabled,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// Changes the password and revokes every other session of the caller.
#[utoipa::path(put, path = "/api/auth/password", tag = "auth",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "password changed; other sessions revoked"),
        (status = 401, body = ErrorBody),
        (status = 403, description = "wrong_password", body = ErrorBody),
        (status = 409, description = "password_not_set (account made through OAuth)", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
pub async fn change_password(
    state: web::Data<AppState>,
    me: AuthUser,
    body: web::Json<ChangePasswordRequest>,
) -> AppResult<HttpResponse> {
    let ChangePasswordRequest {
        current_password,
        new_password,
    } = body.into_inner();
    check(validate_password("new_password", &new_password))?;
    let key = ThrottleKey::account("password", me.user_id);
    let keys = [&key];
    let (user, attempt) = {
        let mut conn = state.db.get().await?;
        let user = load_user(&mut conn, me.user_id).await?;
        if user.password_hash.is_none() {
            return Err(AppError::new(
                ErrorCode::PasswordNotSet,
                "this account has no password (it signs in through 42)",
            ));
        }
        (user, Attempt::begin(&mut conn, &keys).await?)
    };
    if !state
        .passwords
        .verify(current_password, user.password_hash.clone())
        .await?
    {
        return Err(AppError::new(
            ErrorCode::WrongPassword,
            "current_password is wrong",
        ));
    }
    let new_hash = state.passwords.hash(new_password).await?;
    let mut conn = state.db.get().await?;
    attempt.succeeded(&mut conn).await?;
    let revoked = conn
        .transaction(async |conn| -> AppResult<Vec<Uuid>> {
            users::set_password_hash(conn, user.id, &new_hash).await?;
            Ok(sessions::revoke_user_sessions(
                conn,
                user.id,
                Some(me.session_id),
                RevokeReason::PasswordChanged,
            )
            .await?)
        })
        .await?;
    state.sessions.evict(&revoked);
    tracing::info!(
        user_id = user.id,
        revoked = revoked.len(),
        "password changed"
    );
    Ok(HttpResponse::NoContent().finish())
}
