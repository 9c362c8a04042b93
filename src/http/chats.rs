//! `/api/chats`: the caller's conversations, their history, and read
//! markers. Messages are sent over the websocket (`chat.send`); the first
//! message to someone creates the conversation.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::actors::session::read_chat;
use crate::app::AppState;
use crate::db::{chat, social, users};
use crate::domain::chat::ChatId;
use crate::error::{AppError, AppResult, ErrorBody, ErrorCode};
use crate::http::extractors::AuthUser;
use crate::http::pagination::{Page, PageParams};
use crate::http::users::PresenceView;
use crate::protocol::{ChatMessageView, UserView};

/// Messages per history page by default, and at most.
pub const DEFAULT_HISTORY: i64 = 50;
pub const MAX_HISTORY: i64 = 100;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("").route(web::get().to(list)))
        .service(web::resource("/{chat_id}/messages").route(web::get().to(messages)))
        .service(web::resource("/{chat_id}/read").route(web::post().to(read)));
}

/// A conversation in the caller's list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatView {
    pub chat_id: String,
    pub peer: UserView,
    pub peer_presence: PresenceView,
    pub last_message: ChatMessageView,
    /// Messages from the peer after the caller's read marker.
    pub unread: i64,
    pub last_read_id: i64,
    /// How far the peer has read: your messages up to this id are seen.
    pub peer_last_read_id: i64,
}

/// The caller's conversations, most recent first.
#[utoipa::path(get, path = "/api/chats", tag = "chat",
    security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, body = Page<ChatView>), (status = 401, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    me: AuthUser,
    params: web::Query<PageParams>,
) -> AppResult<HttpResponse> {
    let page = params.check()?;
    // On a connection of its own: the unread counts may each scan a long
    // backlog (they are pipelined on it all the same).
    let conn = state.db.get().await?;
    let rows = chat::list(&conn, me.user_id, page.before_or_max(), page.fetch()).await?;
    let peer_ids: Vec<i64> = rows.iter().map(|r| r.peer_id).collect();
    let (peers, blocked) = futures_util::try_join!(
        users::find_many(&conn, &peer_ids),
        social::blocked_among(&conn, me.user_id, &peer_ids),
    )?;
    drop(conn);
    let mut views = Vec::with_capacity(rows.len());
    for row in rows {
        let key = row.last_message.id;
        let Some(peer) = peers.iter().find(|u| u.id == row.peer_id) else {
            continue;
        };
        let peer_presence = if blocked.contains(&peer.id) {
            PresenceView::hidden()
        } else {
            PresenceView::of(&state, peer)
        };
        views.push((
            key,
            ChatView {
                chat_id: row.chat_id,
                peer: UserView::from(peer),
                peer_presence,
                last_message: row.last_message.into(),
                unread: row.unread,
                last_read_id: row.last_read_id,
                peer_last_read_id: row.peer_last_read_id,
            },
        ));
    }
    Ok(HttpResponse::Ok().json(page.page(views, |(key, _)| *key, |(_, view)| view)))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct HistoryParams {
    /// Messages with smaller ids (the page before), newest first.
    pub before: Option<i64>,
    /// Messages with larger ids (catching up), oldest first.
    pub after: Option<i64>,
    /// 1–100, default 50.
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct History {
    /// Newest first, or oldest first with `after`.
    pub messages: Vec<ChatMessageView>,
    /// Whether more messages lie beyond this page, in its direction.
    pub more: bool,
}

/// The caller's conversation, checked (only its two users may read it).
fn my_chat(me: &AuthUser, chat_id: &str) -> AppResult<ChatId> {
    ChatId::parse(chat_id)
        .filter(|c| c.has(me.user_id))
        .ok_or_else(|| AppError::new(ErrorCode::Forbidden, "not your conversation"))
}

/// A page of a conversation's messages, by id.
#[utoipa::path(get, path = "/api/chats/{chat_id}/messages", tag = "chat",
    security(("bearer" = [])),
    params(("chat_id" = String, Path, description = "\"{smaller user id}_{larger user id}\""), HistoryParams),
    responses((status = 200, body = History), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn messages(
    state: web::Data<AppState>,
    me: AuthUser,
    chat_id: web::Path<String>,
    params: web::Query<HistoryParams>,
) -> AppResult<HttpResponse> {
    let chat = my_chat(&me, &chat_id)?;
    let limit = params.limit.unwrap_or(DEFAULT_HISTORY);
    if !(1..=MAX_HISTORY).contains(&limit) {
        return Err(AppError::validation(
            "limit",
            format!("must be 1-{MAX_HISTORY}"),
        ));
    }
    let chat = chat.to_string();
    let mut rows = state
        .reads
        .read(async |conn| {
            Ok(chat::history(conn, &chat, params.before, params.after, limit + 1).await?)
        })
        .await?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(HttpResponse::Ok().json(History {
        messages: rows.into_iter().map(ChatMessageView::from).collect(),
        more,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    /// Read up to this message id (inclusive).
    pub up_to_id: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadState {
    pub last_read_id: i64,
    pub unread: i64,
}

/// Moves the caller's read marker; every session of the caller gets the
/// new unread count and the peer a read receipt.
#[utoipa::path(post, path = "/api/chats/{chat_id}/read", tag = "chat",
    security(("bearer" = [])),
    params(("chat_id" = String, Path)),
    request_body = ReadRequest,
    responses((status = 200, body = ReadState), (status = 403, body = ErrorBody),
        (status = 404, description = "no message yet in this conversation", body = ErrorBody)))]
pub async fn read(
    state: web::Data<AppState>,
    me: AuthUser,
    chat_id: web::Path<String>,
    body: web::Json<ReadRequest>,
) -> AppResult<HttpResponse> {
    let chat = my_chat(&me, &chat_id)?;
    let marker = read_chat(&state, me.user_id, &chat.to_string(), body.up_to_id)
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::NotFound, "no messages in this conversation"))?;
    Ok(HttpResponse::Ok().json(ReadState {
        last_read_id: marker.last_read_id,
        unread: marker.unread,
    }))
}
