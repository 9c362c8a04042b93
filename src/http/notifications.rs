//! `/api/notifications`: the caller's notifications (friend requests,
//! acceptances, …). They are created by the server from domain events, in
//! the transaction of the change they report, never from what a client
//! sends. Only the owner sees or changes them: another user's id is a 404.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::actors::notifications::unread_changed;
use crate::app::AppState;
use crate::db::notifications;
use crate::db::users;
use crate::error::{AppError, AppResult, ErrorBody, ErrorCode};
use crate::http::extractors::AuthUser;
use crate::http::pagination::{Page, PageParams};
use crate::protocol::NotificationView;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("").route(web::get().to(list)))
        .service(web::resource("/unread-count").route(web::get().to(unread_count)))
        .service(web::resource("/read-all").route(web::post().to(read_all)))
        .service(web::resource("/{id}/read").route(web::post().to(read)))
        .service(web::resource("/{id}").route(web::delete().to(delete)));
}

#[derive(Deserialize, IntoParams)]
pub struct ListParams {
    /// Only the unread ones.
    pub unread_only: Option<bool>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The caller's notifications, newest first.
#[utoipa::path(get, path = "/api/notifications", tag = "notifications",
    security(("bearer" = [])),
    params(ListParams),
    responses(
        (status = 200, body = Page<NotificationView>),
        (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    me: AuthUser,
    params: web::Query<ListParams>,
) -> AppResult<HttpResponse> {
    let ListParams {
        unread_only,
        limit,
        cursor,
    } = params.into_inner();
    let page = PageParams { limit, cursor }.check()?;
    let (rows, actors) = state
        .reads
        .read(async |conn| {
            let rows = notifications::list(
                conn,
                me.user_id,
                unread_only.unwrap_or(false),
                page.before_or_max(),
                page.fetch(),
            )
            .await?;
            let actor_ids: Vec<i64> = rows.iter().filter_map(|n| n.actor_id).collect();
            let actors = users::find_many(conn, &actor_ids).await?;
            Ok((rows, actors))
        })
        .await?;
    Ok(HttpResponse::Ok().json(page.page(rows, |n| n.id, |n| NotificationView::new(n, &actors))))
}

#[derive(Serialize, ToSchema)]
pub struct UnreadCount {
    pub unread: i64,
}

/// How many of the caller's notifications are unread.
#[utoipa::path(get, path = "/api/notifications/unread-count", tag = "notifications",
    security(("bearer" = [])),
    responses((status = 200, body = UnreadCount), (status = 401, body = ErrorBody)))]
pub async fn unread_count(state: web::Data<AppState>, me: AuthUser) -> AppResult<HttpResponse> {
    // On the pool: a count that may scan a long backlog.
    let conn = state.db.get().await?;
    let unread = notifications::unread_count(&conn, me.user_id).await?;
    Ok(HttpResponse::Ok().json(UnreadCount { unread }))
}

fn no_such_notification() -> AppError {
    AppError::new(ErrorCode::NotFound, "no such notification")
}

/// Marks one notification read; answers the new unread count.
#[utoipa::path(post, path = "/api/notifications/{id}/read", tag = "notifications",
    security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = UnreadCount), (status = 404, body = ErrorBody)))]
pub async fn read(
    state: web::Data<AppState>,
    me: AuthUser,
    id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let mut conn = state.db.get().await?;
    if !notifications::mark_read(&mut conn, me.user_id, id.into_inner()).await? {
        return Err(no_such_notification());
    }
    let unread = notifications::unread_count(&conn, me.user_id).await?;
    unread_changed(&state, me.user_id);
    Ok(HttpResponse::Ok().json(UnreadCount { unread }))
}

/// Marks every notification of the caller read.
#[utoipa::path(post, path = "/api/notifications/read-all", tag = "notifications",
    security(("bearer" = [])),
    responses((status = 200, body = UnreadCount), (status = 401, body = ErrorBody)))]
pub async fn read_all(state: web::Data<AppState>, me: AuthUser) -> AppResult<HttpResponse> {
    let mut conn = state.db.get().await?;
    notifications::mark_all_read(&mut conn, me.user_id).await?;
    let unread = notifications::unread_count(&conn, me.user_id).await?;
    unread_changed(&state, me.user_id);
    Ok(HttpResponse::Ok().json(UnreadCount { unread }))
}

/// Deletes one notification.
#[utoipa::path(delete, path = "/api/notifications/{id}", tag = "notifications",
    security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    me: AuthUser,
    id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let mut conn = state.db.get().await?;
    if !notifications::delete(&mut conn, me.user_id, id.into_inner()).await? {
        return Err(no_such_notification());
    }
    unread_changed(&state, me.user_id);
    Ok(HttpResponse::NoContent().finish())
}
