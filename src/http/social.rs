//! Friends, friend requests and blocks. Every change goes through the state
//! machine in [`crate::domain::social`] under a lock on the pair, and the
//! notifications it causes are recorded in the same transaction.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::actors::chat::room::BlockChanged;
use crate::actors::notifications::deliver;
use crate::app::AppState;
use crate::db::notifications::{self, StoredNotification};
use crate::db::social::{self, Direction, FriendRequest};
use crate::db::users;
use crate::domain::chat::ChatId;
use crate::domain::notifications::Notification;
use crate::domain::social::{Action, Effect, RelationError, apply};
use crate::error::{AppError, AppResult, ErrorBody, ErrorCode};
use crate::http::extractors::AuthUser;
use crate::http::pagination::{Page, PageParams};
use crate::http::users::{PresenceView, UserView};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/friends").route(web::get().to(friends)))
        .service(
            web::resource("/friends/requests")
                .route(web::get().to(list_requests))
                .route(web::post().to(send_request)),
        )
        .service(web::resource("/friends/requests/{id}/accept").route(web::post().to(accept)))
        .service(web::resource("/friends/requests/{id}/decline").route(web::post().to(decline)))
        .service(web::resource("/friends/requests/{id}").route(web::delete().to(cancel)))
        .service(web::resource("/friends/{user_id}").route(web::delete().to(unfriend)))
        .service(web::resource("/blocks").route(web::get().to(blocks)))
        .service(
            web::resource("/blocks/{user_id}")
                .route(web::put().to(block))
                .route(web::delete().to(unblock)),
        );
}

fn relation_error(e: RelationError) -> AppError {
    let code = match e {
        RelationError::RequestAlreadySent => ErrorCode::FriendRequestExists,
        RelationError::AlreadyFriends => ErrorCode::AlreadyFriends,
        RelationError::NotFriends => ErrorCode::NotFriends,
        RelationError::YouBlocked => ErrorCode::UserBlocked,
        RelationError::NotAllowed => ErrorCode::NotAllowed,
        RelationError::AlreadyBlocked => ErrorCode::AlreadyBlocked,
        RelationError::NotBlocked => ErrorCode::NotBlocked,
        RelationError::NoSuchRequest => ErrorCode::NotFound,
        RelationError::NotYourSide => ErrorCode::Forbidden,
    };
    AppError::new(code, e.to_string())
}

fn no_such_user() -> AppError {
    AppError::new(ErrorCode::NotFound, "no such user")
}

fn no_such_request() -> AppError {
    AppError::new(ErrorCode::NotFound, "no such friend request")
}

/// Checks the other user exists and is not the caller.
async fn other_user(conn: &mut AsyncPgConnection, me: i64, other: i64) -> AppResult<users::User> {
    if other == me {
        return Err(AppError::validation("user_id", "cannot be yourself"));
    }
    users::find(conn, other).await?.ok_or_else(no_such_user)
}

/// Applies `action` from `me` towards `other` atomically, recording the
/// notifications it causes, then pushes those to the users' sockets.
/// Returns what was done.
async fn act(
    state: &AppState,
    me: i64,
    other: i64,
    action: Action,
) -> AppResult<(Effect, Option<FriendRequest>)> {
    let mut conn = state.db.get().await?;
    other_user(&mut conn, me, other).await?;
    let (effect, request, notes) = conn
        .transaction(
            async |conn| -> AppResult<(Effect, Option<FriendRequest>, Vec<StoredNotification>)> {
                social::lock_pair(conn, me, other).await?;
                let relation = social::relation(conn, me, other).await?;
                let effect = apply(relation, action).map_err(relation_error)?;
                let mut request = None;
                let mut notes = Vec::new();
                match effect {
                    Effect::CreateRequest => {
                        let created = social::create_request(conn, me, other).await?;
                        let event = Notification::FriendRequest {
                            request_id: created.id,
                            from: me,
                        };
                        notes.push(notifications::record(conn, other, &event).await?);
                        request = Some(created);
                    }
                    Effect::AcceptRequest { request_id } => {
                        notes.push(accept_request(conn, request_id, other, me).await?);
                    }
                    Effect::DeleteRequest { request_id } => {
                        if !social::delete_request(conn, request_id).await? {
                            return Err(no_such_request());
                        }
                    }
                    Effect::RemoveFriendship => social::remove_friendship(conn, me, other).await?,
                    Effect::Block => social::block(conn, me, other).await?,
                    Effect::Unblock => social::unblock(conn, me, other).await?,
                }
                Ok((effect, request, notes))
            },
        )
        .await?;
    drop(conn);
    if matches!(effect, Effect::Block | Effect::Unblock)
        && let Some(chat) = ChatId::between(me, other)
        && let Some(room) = state.chat_rooms.get(&chat.to_string())
    {
        room.do_send(BlockChanged);
    }
    // Committed. The push runs on a task of its own, so a client that hangs
    // up now does not cancel it; a socket that misses it gets it on replay.
    let state = state.clone();
    actix_web::rt::spawn(async move {
        if let Err(e) = deliver(&state, notes).await {
            tracing::warn!(error = %e, "pushing notifications failed");
        }
    });
    Ok((effect, request))
}

/// `addressee` accepts the request `sender` made: they become friends and
/// the sender is told (the notification is returned for pushing).
async fn accept_request(
    conn: &mut AsyncPgConnection,
    request_id: i64,
    sender: i64,
    addressee: i64,
) -> AppResult<StoredNotification> {
    if !social::delete_request(conn, request_id).await? {
        return Err(no_such_request());
    }
    social::make_friends(conn, sender, addressee).await?;
    let event = Notification::FriendAccepted {
        request_id,
        by: addressee,
    };
    Ok(notifications::record(conn, sender, &event).await?)
}

#[derive(Serialize, ToSchema)]
pub struct FriendRequestView {
    pub id: i64,
    pub from: UserView,
    pub to: UserView,
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct SendRequestResponse {
    /// `pending`, or `friends` when they had already asked you.
    pub status: &'static str,
    pub request: Option<FriendRequestView>,
    pub user: UserView,
}

#[derive(Deserialize, ToSchema)]
pub struct SendRequestBody {
    pub user_id: i64,
}

/// Asks a user to be friends. If they had already asked you, you become
/// friends at once.
#[utoipa::path(post, path = "/api/friends/requests", tag = "friends",
    security(("bearer" = [])),
    request_body = SendRequestBody,
    responses(
        (status = 201, body = SendRequestResponse, description = "request pending"),
        (status = 200, body = SendRequestResponse, description = "they had asked you: now friends"),
        (status = 403, description = "not_allowed", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "friend_request_exists, already_friends or user_blocked", body = ErrorBody),
        (status = 422, description = "user_id is yourself", body = ErrorBody),
    ))]
pub async fn send_request(
    state: web::Data<AppState>,
    me: AuthUser,
    body: web::Json<SendRequestBody>,
) -> AppResult<HttpResponse> {
    let other = body.user_id;
    let (effect, request) = act(&state, me.user_id, other, Action::SendRequest).await?;
    let conn = state.db.get().await?;
    let people = users::find_many(&conn, &[me.user_id, other]).await?;
    let [mine, theirs] = people.as_slice() else {
        return Err(no_such_user());
    };
    let response = SendRequestResponse {
        status: if effect == Effect::CreateRequest {
            "pending"
        } else {
            "friends"
        },
        request: request.map(|r| FriendRequestView {
            id: r.id,
            from: UserView::from(mine),
            to: UserView::from(theirs),
            created_at: r.created_at,
        }),
        user: UserView::from(theirs),
    };
    Ok(if effect == Effect::CreateRequest {
        HttpResponse::Created().json(response)
    } else {
        HttpResponse::Ok().json(response)
    })
}

#[derive(Deserialize, IntoParams)]
pub struct RequestsParams {
    /// `incoming` (default) or `outgoing`.
    pub direction: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Pending friend requests to or from the caller, newest first.
#[utoipa::path(get, path = "/api/friends/requests", tag = "friends",
    security(("bearer" = [])),
    params(RequestsParams),
    responses((status = 200, body = Page<FriendRequestView>), (status = 422, body = ErrorBody)))]
pub async fn list_requests(
    state: web::Data<AppState>,
    me: AuthUser,
    params: web::Query<RequestsParams>,
) -> AppResult<HttpResponse> {
    let RequestsParams {
        direction,
        limit,
        cursor,
    } = params.into_inner();
    let direction = match direction.as_deref() {
        None | Some("incoming") => Direction::Incoming,
        Some("outgoing") => Direction::Outgoing,
        Some(_) => {
            return Err(AppError::validation(
                "direction",
                "must be incoming or outgoing",
            ));
        }
    };
    let page = PageParams { limit, cursor }.check()?;
    let (rows, people) = state
        .reads
        .read(async |conn| {
            let rows = social::requests(
                conn,
                me.user_id,
                direction,
                page.before_or_max(),
                page.fetch(),
            )
            .await?;
            let ids: Vec<i64> = rows
                .iter()
                .flat_map(|r| [r.sender_id, r.addressee_id])
                .collect();
            let people = users::find_many(conn, &ids).await?;
            Ok((rows, people))
        })
        .await?;
    let view = |id: i64| people.iter().find(|u| u.id == id).map(UserView::from);
    let page = page.page(
        rows,
        |r| r.id,
        |r| {
            view(r.sender_id)
                .zip(view(r.addressee_id))
                .map(|(from, to)| FriendRequestView {
                    id: r.id,
                    from,
                    to,
                    created_at: r.created_at,
                })
        },
    );
    Ok(HttpResponse::Ok().json(Page {
        items: page.items.into_iter().flatten().collect::<Vec<_>>(),
        next_cursor: page.next_cursor,
    }))
}

/// Acts on a request of the caller's: finds the other party (404 for
/// strangers to the request) and lets the state machine decide the rest.
async fn act_on_request(state: &AppState, me: i64, id: i64, action: Action) -> AppResult<i64> {
    let other = {
        let mut conn = state.db.get().await?;
        social::find_request(&mut conn, id)
            .await?
            .and_then(|r| match (r.sender_id == me, r.addressee_id == me) {
                (true, _) => Some(r.addressee_id),
                (_, true) => Some(r.sender_id),
                _ => None,
            })
            .ok_or_else(no_such_request)?
    };
    act(state, me, other, action).await?;
    Ok(other)
}

/// Accepts a request made to the caller.
#[utoipa::path(post, path = "/api/friends/requests/{id}/accept", tag = "friends",
    security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses(
        (status = 200, body = UserView, description = "the new friend"),
        (status = 403, description = "forbidden: the caller sent it", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn accept(
    state: web::Data<AppState>,
    me: AuthUser,
    id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let request_id = id.into_inner();
    let friend_id = act_on_request(
        &state,
        me.user_id,
        request_id,
        Action::AcceptRequest { request_id },
    )
    .await?;
    let conn = state.db.get().await?;
    let friend = users::find(&conn, friend_id)
        .await?
        .ok_or_else(no_such_user)?;
    Ok(HttpResponse::Ok().json(UserView::from(&friend)))
}

/// Declines a request made to the caller. The sender is not told.
#[utoipa::path(post, path = "/api/friends/requests/{id}/decline", tag = "friends",
    security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn decline(
    state: web::Data<AppState>,
    me: AuthUser,
    id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let request_id = id.into_inner();
    act_on_request(
        &state,
        me.user_id,
        request_id,
        Action::DeclineRequest { request_id },
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Cancels a request the caller made.
#[utoipa::path(delete, path = "/api/friends/requests/{id}", tag = "friends",
    security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn cancel(
    state: web::Data<AppState>,
    me: AuthUser,
    id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let request_id = id.into_inner();
    act_on_request(
        &state,
        me.user_id,
        request_id,
        Action::CancelRequest { request_id },
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A friend, with whether they are online.
#[derive(Serialize, ToSchema)]
pub struct FriendView {
    #[serde(flatten)]
    pub user: UserView,
    #[serde(flatten)]
    pub presence: PresenceView,
}

/// The caller's friends, by user id, with their presence.
#[utoipa::path(get, path = "/api/friends", tag = "friends",
    security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, body = Page<FriendView>), (status = 422, body = ErrorBody)))]
pub async fn friends(
    state: web::Data<AppState>,
    me: AuthUser,
    params: web::Query<PageParams>,
) -> AppResult<HttpResponse> {
    let page = params.check()?;
    let people = state
        .reads
        .read(async |conn| {
            let ids =
                social::friend_ids(conn, me.user_id, page.after_or_min(), page.fetch()).await?;
            Ok(users::find_many(conn, &ids).await?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page.page(
        people,
        |u| u.id,
        |u| FriendView {
            presence: PresenceView::of(&state, &u),
            user: UserView::from(&u),
        },
    )))
}

/// Ends a friendship.
#[utoipa::path(delete, path = "/api/friends/{user_id}", tag = "friends",
    security(("bearer" = [])),
    params(("user_id" = i64, Path)),
    responses((status = 204), (status = 404, description = "not_friends or no such user", body = ErrorBody)))]
pub async fn unfriend(
    state: web::Data<AppState>,
    me: AuthUser,
    user_id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    act(&state, me.user_id, user_id.into_inner(), Action::Unfriend).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Blocks a user: removes any friendship and pending requests between you;
/// they can no longer send you requests, and you stop finding each other.
#[utoipa::path(put, path = "/api/blocks/{user_id}", tag = "blocks",
    security(("bearer" = [])),
    params(("user_id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, description = "already_blocked", body = ErrorBody)))]
pub async fn block(
    state: web::Data<AppState>,
    me: AuthUser,
    user_id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    act(&state, me.user_id, user_id.into_inner(), Action::Block).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Lifts a block the caller made.
#[utoipa::path(delete, path = "/api/blocks/{user_id}", tag = "blocks",
    security(("bearer" = [])),
    params(("user_id" = i64, Path)),
    responses((status = 204), (status = 404, description = "not_blocked or no such user", body = ErrorBody)))]
pub async fn unblock(
    state: web::Data<AppState>,
    me: AuthUser,
    user_id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    act(&state, me.user_id, user_id.into_inner(), Action::Unblock).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The users the caller blocks, by user id.
#[utoipa::path(get, path = "/api/blocks", tag = "blocks",
    security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, body = Page<UserView>), (status = 422, body = ErrorBody)))]
pub async fn blocks(
    state: web::Data<AppState>,
    me: AuthUser,
    params: web::Query<PageParams>,
) -> AppResult<HttpResponse> {
    let page = params.check()?;
    let people = state
        .reads
        .read(async |conn| {
            let ids =
                social::blocked_ids(conn, me.user_id, page.after_or_min(), page.fetch()).await?;
            Ok(users::find_many(conn, &ids).await?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page.page(people, |u| u.id, UserView::from)))
}
