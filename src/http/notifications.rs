//! `GET /api/notifications`: what happened to the caller while away (friend
//! requests, acceptances, …), newest first. The real-time side pushes the
//! same records as they are made.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::db::notifications::{self, StoredNotification};
use crate::error::{AppResult, ErrorBody};
use crate::http::extractors::AuthUser;
use crate::http::pagination::{Page, PageParams};

#[derive(Serialize, ToSchema)]
pub struct NotificationView {
    pub id: i64,
    /// `friend_request_received`, `friend_request_accepted`, …
    pub kind: String,
    /// The event, with `kind` repeated.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

impl From<StoredNotification> for NotificationView {
    fn from(n: StoredNotification) -> Self {
        NotificationView {
            id: n.id,
            kind: n.kind,
            payload: n.payload,
            created_at: n.created_at,
            read_at: n.read_at,
        }
    }
}

/// The caller's notifications, newest first.
#[utoipa::path(get, path = "/api/notifications", tag = "notifications",
    security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, body = Page<NotificationView>),
        (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    me: AuthUser,
    params: web::Query<PageParams>,
) -> AppResult<HttpResponse> {
    let page = params.check()?;
    let mut conn = state.db.get().await?;
    let rows =
        notifications::list(&mut conn, me.user_id, page.before_or_max(), page.fetch()).await?;
    Ok(HttpResponse::Ok().json(page.page(rows, |n| n.id, NotificationView::from)))
}
