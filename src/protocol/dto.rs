//! Shapes shared by REST responses and websocket events.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::chat::ChatMessage;
use crate::db::notifications::StoredNotification;
use crate::db::users::User;

/// What anyone may see of a user.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
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

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub tick: u64,
    pub ball: crate::domain::game::Ball,
    /// Each paddle's centre y.
    pub paddles: Pair<f64>,
    pub score: Pair<u8>,
    /// The last input applied from each player (for client prediction).
    pub last_input_seq: Pair<u64>,
}

/// A tournament with its players and bracket (REST and `tournament.updated`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TournamentView {
    pub id: i64,
    pub name: String,
    pub owner_id: i64,
    /// `open`, `running` or `finished`.
    pub status: String,
    pub max_players: i32,
    pub points_to_win: i32,
    pub starts_when_full: bool,
    pub players: Vec<TournamentPlayerView>,
    /// Every round, first to final; empty until the start.
    pub rounds: Vec<RoundView>,
    pub champion_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TournamentPlayerView {
    pub user: UserView,
    /// The name shown in this tournament.
    pub alias: String,
    /// 1 = best rating at the start; null before it.
    pub seed: Option<i32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoundView {
    pub round: i32,
    pub matches: Vec<BracketMatchView>,
}

/// One pairing of the bracket; players by user id.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BracketMatchView {
    pub slot: i32,
    pub player_a: Option<i64>,
    pub player_b: Option<i64>,
    /// `pending`, `playing` or `done`.
    pub status: String,
    /// The match being (or last) played for it.
    pub match_id: Option<i64>,
    /// Players who have not joined their match by then forfeit it.
    pub deadline: Option<DateTime<Utc>>,
    pub winner_id: Option<i64>,
    /// `score`, `forfeit`, `no_show` or `bye`.
    pub result: Option<String>,
}

impl TournamentView {
    /// `users` holds (at least) the players.
    pub fn new(
        t: crate::db::tournaments::Tournament,
        players: Vec<crate::db::tournaments::Player>,
        users: &[User],
        bracket: Vec<crate::db::tournaments::BracketRow>,
    ) -> Self {
        let mut rounds: Vec<RoundView> = Vec::new();
        for row in bracket {
            let view = BracketMatchView {
                slot: row.slot,
                player_a: row.player_a,
                player_b: row.player_b,
                status: row.status,
                match_id: row.match_id,
                deadline: row.deadline,
                winner_id: row.winner_id,
                result: row.result,
            };
            match rounds.last_mut() {
                Some(round) if round.round == row.round => round.matches.push(view),
                _ => rounds.push(RoundView {
                    round: row.round,
                    matches: vec![view],
                }),
            }
        }
        TournamentView {
            players: players
                .into_iter()
                .filter_map(|p| {
                    let user = users.iter().find(|u| u.id == p.user_id)?;
                    Some(TournamentPlayerView {
                        user: UserView::from(user),
                        alias: p.alias,
                        seed: p.seed,
                    })
                })
                .collect(),
            rounds,
            id: t.id,
            name: t.name,
            owner_id: t.owner_id,
            status: t.status,
            max_players: t.max_players,
            points_to_win: t.points_to_win,
            starts_when_full: t.starts_when_full,
            champion_id: t.champion_id,
            created_at: t.created_at,
            started_at: t.started_at,
            finished_at: t.finished_at,
        }
    }
}
