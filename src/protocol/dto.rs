//! Shapes shared by REST responses and websocket events.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::chat::ChatMessage;
use crate::db::notifications::StoredNotification;
use crate::db::users::User;

/// What anyone may see of a user.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    /// The display name, or the username when none is set.
    pub display_name: String,
    pub avatar_url: String,
    pub created_at: DateTime<Utc>,
}

/// Where a user's avatar is served: the uploaded one, or the generated default.
pub fn avatar_url(user: &User) -> String {
    match &user.avatar {
        Some(name) => format!("/media/avatars/{name}"),
        None => format!("/media/avatars/default/{}.png", user.id),
    }
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        UserView {
            id: user.id,
            username: user.username.clone(),
            display_name: user.shown_name().to_string(),
            avatar_url: avatar_url(user),
            created_at: user.created_at,
        }
    }
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        UserView::from(&user)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NotificationView {
    /// Monotonic: a later notification has a larger id.
    pub id: i64,
    /// `friend_request`, `friend_accepted`, …
    pub kind: String,
    /// Who caused it; `null` for the server or a deleted account.
    pub actor: Option<UserView>,
    /// The event's details (`request_id`, …), with `kind` repeated.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

impl NotificationView {
    /// `actors` holds (at least) the users the notifications name.
    pub fn new(n: StoredNotification, actors: &[User]) -> Self {
        NotificationView {
            actor: n
                .actor_id
                .and_then(|id| actors.iter().find(|u| u.id == id))
                .map(UserView::from),
            id: n.id,
            kind: n.kind,
            payload: n.payload,
            created_at: n.created_at,
            read_at: n.read_at,
        }
    }
}

/// A chat message as clients see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatMessageView {
    /// Monotonic across all conversations.
    pub id: i64,
    pub chat_id: String,
    pub sender_id: i64,
    pub body: String,
    /// The sender's own id for it (lets their other tabs match it).
    pub client_msg_id: String,
    pub created_at: DateTime<Utc>,
}

impl From<ChatMessage> for ChatMessageView {
    fn from(m: ChatMessage) -> Self {
        ChatMessageView {
            id: m.id,
            chat_id: m.chat_id,
            sender_id: m.sender_id,
            body: m.body,
            client_msg_id: m.client_msg_id,
            created_at: m.created_at,
        }
    }
}

/// A value for each side of a match.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct Pair<T> {
    pub left: T,
    pub right: T,
}

impl<T: Copy> Pair<T> {
    pub fn of(values: [T; 2]) -> Self {
        Pair {
            left: values[0],
            right: values[1],
        }
    }
}

/// A match's moving parts after a tick.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub tick: u64,
    pub ball: crate::domain::game::Ball,
    /// Each paddle's centre y.
    pub paddles: Pair<f64>,
    pub score: Pair<u8>,
    /// The last input applied from each player (for client prediction).
    pub last_input_seq: Pair<u64>,
}
