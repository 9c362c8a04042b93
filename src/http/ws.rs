//! The one websocket: `POST /api/auth/ws-ticket` hands out a one-time
//! ticket, `GET /ws?ticket=…` upgrades with it (or with an
//! `Authorization: Bearer` header, for non-browser clients). Long-lived
//! tokens are never accepted in the URL.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::actors::session::{Resume, UserSession};
use crate::app::AppState;
use crate::auth::{random_token, sha256};
use crate::db::sessions;
use crate::error::{AppError, AppResult, ErrorBody, ErrorCode};
use crate::http::auth::load_user;
use crate::http::extractors::{AuthUser, authenticate, bearer_token};

/// A ticket opens one socket within this time, once.
pub const TICKET_TTL: Duration = Duration::from_secs(30);

#[derive(Serialize, ToSchema)]
pub struct WsTicket {
    pub ticket: String,
    /// Seconds left to use it.
    pub expires_in: u64,
}

/// A one-time ticket for `GET /ws?ticket=…`, valid 30 seconds.
#[utoipa::path(post, path = "/api/auth/ws-ticket", tag = "realtime",
    security(("bearer" = [])),
    responses((status = 200, body = WsTicket), (status = 401, body = ErrorBody)))]
pub async fn ticket(state: web::Data<AppState>, me: AuthUser) -> AppResult<HttpResponse> {
    let ticket = random_token(32);
    let expires_at = Utc::now() + chrono::Duration::from_std(TICKET_TTL).unwrap_or_default();
    let mut conn = state.db.get().await?;
    sessions::insert_ws_ticket(
        &mut conn,
        &sha256(&ticket),
        me.user_id,
        me.session_id,
        expires_at,
    )
    .await?;
    Ok(HttpResponse::Ok().json(WsTicket {
        ticket,
        expires_in: TICKET_TTL.as_secs(),
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct WsQuery {
    /// From `POST /api/auth/ws-ticket`.
    pub ticket: Option<String>,
    /// The last notification id the client saw: the ones after it are
    /// replayed, in order, right after `hello`.
    pub since: Option<i64>,
    /// The largest chat message id the client saw: the messages after it
    /// are replayed, in order, right after `hello`.
    pub chat_since: Option<i64>,
}

/// Opens the websocket. See `docs/protocol.md` for what travels on it.
#[utoipa::path(get, path = "/ws", tag = "realtime",
    params(WsQuery),
    responses(
        (status = 101, description = "switching to the websocket protocol"),
        (status = 400, description = "not a websocket upgrade", body = ErrorBody),
        (status = 401, description = "missing, used, expired or unknown ticket; or a bad bearer token", body = ErrorBody),
        (status = 403, description = "an Origin not in ALLOWED_ORIGINS", body = ErrorBody),
    ))]
pub async fn upgrade(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    query: web::Query<WsQuery>,
) -> AppResult<HttpResponse> {
    // Cross-site websocket hijacking: a browser always sends its Origin.
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let allowed = origin
            .to_str()
            .is_ok_and(|o| state.settings.allowed_origins.iter().any(|a| a == o));
        if !allowed {
            return Err(AppError::new(
                ErrorCode::Forbidden,
                "this origin may not open the websocket",
            ));
        }
    }
    // A request that is no websocket upgrade fails here, before a ticket
    // is spent on it; on any refusal below, the socket is dropped unused.
    let (response, socket, stream) = actix_ws::handle(&req, body).map_err(|e| {
        AppError::new(
            ErrorCode::InvalidRequest,
            format!("not a websocket upgrade: {e}"),
        )
    })?;
    let WsQuery {
        ticket,
        since,
        chat_since,
    } = query.into_inner();
    let user_id = match (ticket, bearer_token(&req)) {
        (Some(ticket), _) => {
            let mut conn = state.db.get().await?;
            let (user_id, session_id) = sessions::take_ws_ticket(&mut conn, &sha256(&ticket))
                .await?
                .ok_or_else(|| {
                    AppError::new(ErrorCode::InvalidTicket, "used, expired or unknown ticket")
                })?;
            if sessions::active_session_user(&conn, session_id).await? != Some(user_id) {
                return Err(AppError::new(
                    ErrorCode::SessionRevoked,
                    "this session has been logged out",
                ));
            }
            user_id
        }
        (None, Some(token)) => authenticate(&state, &token).await?.user_id,
        (None, None) => {
            return Err(AppError::unauthorized(
                "a ticket (?ticket=) or an Authorization: Bearer token is required",
            ));
        }
    };
    let user = {
        let mut conn = state.db.get().await?;
        load_user(&mut conn, user_id).await?
    };
    let resume = Resume {
        notifications: since,
        chat: chat_since,
    };
    UserSession::start(state.get_ref().clone(), user, resume, socket, stream);
    Ok(response)
}
