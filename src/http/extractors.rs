//! Request extractors: the authenticated caller (`AuthUser`) and the client
//! address used for throttling (`ClientIp`).

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::jwt::{TokenError, TokenType};
use crate::db::sessions;
use crate::error::{AppError, ErrorCode};

/// The caller, proven by a valid access token whose session is not revoked.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: i64,
    pub session_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, AppError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("AppState missing")))
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// Checks an access token and that its session is live (cached).
pub async fn authenticate(state: &AppState, token: &str) -> Result<AuthUser, AppError> {
    let claims = state
        .jwt
        .verify(token, TokenType::Access)
        .map_err(|e| match e {
            TokenError::Expired => AppError::new(ErrorCode::TokenExpired, "access token expired"),
            TokenError::Invalid => AppError::new(ErrorCode::InvalidToken, "invalid access token"),
        })?;
    let user_id = claims
        .user_id()
        .ok_or_else(|| AppError::new(ErrorCode::InvalidToken, "invalid access token"))?;
    let live = match state.sessions.get(claims.sid) {
        Some(owner) => owner == user_id,
        None => {
            let owner = state
                .reads
                .read(async |conn| Ok(sessions::active_session_user(conn, claims.sid).await?))
                .await?;
            match owner {
                Some(owner) if owner == user_id => {
                    state.sessions.insert(claims.sid, owner);
                    true
                }
                _ => false,
            }
        }
    };
    if !live {
        return Err(AppError::new(
            ErrorCode::SessionRevoked,
            "this session has been logged out",
        ));
    }
    Ok(AuthUser {
        user_id,
        session_id: claims.sid,
        expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or_default(),
    })
}

impl FromRequest for AuthUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(req);
        let state = state(req);
        Box::pin(async move {
            let state = state?;
            let token = token.ok_or_else(|| {
                AppError::unauthorized("an Authorization: Bearer access token is required")
            })?;
            authenticate(&state, &token).await
        })
    }
}

/// The client's address: the peer, or, when the peer is a trusted proxy,
/// the last address in `X-Forwarded-For` that is not itself a trusted proxy.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

pub fn client_ip(req: &HttpRequest, trusted: &[IpAddr]) -> IpAddr {
    let peer = req
        .peer_addr()
        .map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

impl FromRequest for ClientIp {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            state(req).map(|state| ClientIp(client_ip(req, &state.settings.trusted_proxies))),
        )
    }
}

/// The `User-Agent`, cut to a sane length, stored with a login session.
pub fn user_agent(req: &HttpRequest) -> Option<String> {
    let ua = req.headers().get(header::USER_AGENT)?.to_str().ok()?;
    Some(ua.chars().take(256).collect())
}
