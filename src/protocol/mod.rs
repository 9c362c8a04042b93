//! The wire protocol of the websocket, shared by the server, the tests and
//! the load-test harness: one tagged JSON envelope per message, `type`
//! naming it. Documented, with an example of every message, in
//! `docs/protocol.md`.
//!
//! Client messages may carry an `id` (a string or a number); the reply or
//! the error it causes echoes it.

pub mod dto;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use dto::{ChatMessageView, NotificationView, Pair, Snapshot, TournamentView, UserView};

use crate::domain::game::{Phase, Side};

/// Bumped on any change a client could notice.
pub const PROTOCOL_VERSION: u32 = 1;

/// What a client may send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum ClientCommand {
    /// An application-level ping (the socket's own pings are automatic).
    #[serde(rename = "ping")]
    Ping {},
    /// Marks one notification read.
    #[serde(rename = "notifications.read")]
    ReadNotification { notification_id: i64 },
    /// Marks every notification read.
    #[serde(rename = "notifications.read_all")]
    ReadAllNotifications {},
    /// Sends the notifications after `since` (the last id the client saw),
    /// oldest first.
    #[serde(rename = "notifications.resume")]
    ResumeNotifications { since: i64 },
    /// Sends a private message, to a user (`to`) or in a conversation
    /// (`chat_id`): exactly one of the two. `client_msg_id` (1-64
    /// printable ASCII characters, unique per sender) makes a resend
    /// after a lost ack return the same message.
    #[serde(rename = "chat.send")]
    SendChat {
        to: Option<i64>,
        chat_id: Option<String>,
        body: String,
        client_msg_id: String,
    },
    /// The user is typing in `chat_id`; relayed to the peer, never stored.
    #[serde(rename = "chat.typing")]
    Typing { chat_id: String },
    /// Moves the read marker of `chat_id` up to `up_to_id`.
    #[serde(rename = "chat.read")]
    ReadChat { chat_id: String, up_to_id: i64 },
    /// Sends the chat messages after `since` (the largest message id the
    /// client saw, in any conversation), oldest first.
    #[serde(rename = "chat.resume")]
    ResumeChat { since: i64 },
    /// Invites a user to a match (`points_to_win` 1-21, default 11).
    #[serde(rename = "game.invite")]
    InviteToGame {
        user_id: i64,
        points_to_win: Option<u8>,
    },
    #[serde(rename = "game.invite.accept")]
    AcceptInvite { invite_id: i64 },
    #[serde(rename = "game.invite.decline")]
    DeclineInvite { invite_id: i64 },
    /// Enters the matchmaking queue.
    #[serde(rename = "game.queue.join")]
    JoinQueue {},
    #[serde(rename = "game.queue.leave")]
    LeaveQueue {},
    /// Attaches this socket to a live match: as a player if you are one
    /// (also to come back after a disconnect), as a spectator otherwise.
    #[serde(rename = "game.join")]
    JoinMatch { match_id: i64 },
    /// Detaches this socket from the match (a player's absence counts
    /// against the reconnect grace, as a disconnect does).
    #[serde(rename = "game.leave")]
    LeaveMatch { match_id: i64 },
    /// What a player holds down, numbered by `seq` (increasing; older ones
    /// are ignored). Send it on every change, or at every tick.
    #[serde(rename = "game.input")]
    GameInput {
        match_id: i64,
        seq: u64,
        up: bool,
        down: bool,
    },
    /// Receive `tournament.updated` for a tournament (one at a time per
    /// socket; players of a tournament receive them anyway).
    #[serde(rename = "tournament.watch")]
    WatchTournament { tournament_id: i64 },
    #[serde(rename = "tournament.unwatch")]
    UnwatchTournament { tournament_id: i64 },
    /// Fault injection, honoured only by a server started with the
    /// `FAULT_INJECTION` setting (dev mode only); others answer
    /// `unknown_type`.
    #[serde(rename = "debug.panic")]
    DebugPanic { target: PanicTarget },
}

/// Which actor `debug.panic` makes panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PanicTarget {
    /// The socket's own `UserSession`.
    Session,
    /// The user's `NotificationInbox`.
    Inbox,
}

impl ClientCommand {
    /// The JSON text of the command, with the request `id` if any.
    pub fn to_text(&self, id: Option<Value>) -> String {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let (Some(id), Some(object)) = (id, value.as_object_mut()) {
            object.insert("id".to_string(), id);
        }
        value.to_string()
    }

    /// The `type` this command travels as.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientCommand::Ping {} => "ping",
            ClientCommand::ReadNotification { .. } => "notifications.read",
            ClientCommand::ReadAllNotifications {} => "notifications.read_all",
            ClientCommand::ResumeNotifications { .. } => "notifications.resume",
            ClientCommand::SendChat { .. } => "chat.send",
            ClientCommand::Typing { .. } => "chat.typing",
            ClientCommand::ReadChat { .. } => "chat.read",
            ClientCommand::ResumeChat { .. } => "chat.resume",
            ClientCommand::InviteToGame { .. } => "game.invite",
            ClientCommand::AcceptInvite { .. } => "game.invite.accept",
            ClientCommand::DeclineInvite { .. } => "game.invite.decline",
            ClientCommand::JoinQueue {} => "game.queue.join",
            ClientCommand::LeaveQueue {} => "game.queue.leave",
            ClientCommand::JoinMatch { .. } => "game.join",
            ClientCommand::LeaveMatch { .. } => "game.leave",
            ClientCommand::GameInput { .. } => "game.input",
            ClientCommand::WatchTournament { .. } => "tournament.watch",
            ClientCommand::UnwatchTournament { .. } => "tournament.unwatch",
            ClientCommand::DebugPanic { .. } => "debug.panic",
        }
    }
}

/// Every `type` a client may send, for telling an unknown type from a
/// known one with bad fields.
pub const CLIENT_TYPES: &[&str] = &[
    "ping",
    "notifications.read",
    "notifications.read_all",
    "notifications.resume",
    "chat.send",
    "chat.typing",
    "chat.read",
    "chat.resume",
    "game.invite",
    "game.invite.accept",
    "game.invite.decline",
    "game.queue.join",
    "game.queue.leave",
    "game.join",
    "game.leave",
    "game.input",
    "tournament.watch",
    "tournament.unwatch",
    "debug.panic",
];

/// A parsed client message.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientMessage {
    pub id: Option<Value>,
    pub command: ClientCommand,
}

/// Why a client message was refused; becomes an `error` event.
#[derive(Debug, Clone, PartialEq)]
pub struct BadMessage {
    pub id: Option<Value>,
    pub code: &'static str,
    pub message: String,
}

/// Parses one text frame. Malformed JSON, an unknown `type` and a known
/// type with missing or wrong fields are told apart by their codes.
pub fn parse(text: &str) -> Result<ClientMessage, BadMessage> {
    let bad = |id: Option<Value>, code, message: String| BadMessage { id, code, message };
    let mut value: Value = serde_json::from_str(text)
        .map_err(|e| bad(None, "invalid_json", format!("malformed JSON: {e}")))?;
    let Some(object) = value.as_object_mut() else {
        return Err(bad(
            None,
            "invalid_message",
            "a message is a JSON object".into(),
        ));
    };
    let id = match object.remove("id") {
        None | Some(Value::Null) => None,
        Some(id @ (Value::String(_) | Value::Number(_))) => Some(id),
        Some(_) => {
            return Err(bad(
                None,
                "invalid_message",
                "id must be a string or a number".into(),
            ));
        }
    };
    let Some(kind) = object.get("type").and_then(Value::as_str) else {
        return Err(bad(id, "invalid_message", "type is required".into()));
    };
    if !CLIENT_TYPES.contains(&kind) {
        let message = format!("unknown message type {kind:?}");
        return Err(bad(id, "unknown_type", message));
    }
    match serde_json::from_value::<ClientCommand>(value) {
        Ok(command) => Ok(ClientMessage { id, command }),
        Err(e) => Err(bad(id, "invalid_message", e.to_string())),
    }
}

/// What the server sends (and clients such as the load generator read).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ServerEvent {
    /// The first message on every socket.
    #[serde(rename = "hello")]
    Hello {
        protocol_version: u32,
        user: UserView,
        /// RFC 3339.
        server_time: chrono::DateTime<chrono::Utc>,
        /// The server pings this often; a client silent for
        /// `client_timeout_ms` is disconnected.
        heartbeat_interval_ms: u64,
        client_timeout_ms: u64,
    },
    #[serde(rename = "pong")]
    Pong { id: Option<Value> },
    /// A command was carried out.
    #[serde(rename = "ack")]
    Ack { id: Option<Value> },
    #[serde(rename = "error")]
    Error {
        id: Option<Value>,
        code: String,
        message: String,
    },
    /// A new notification, or one replayed after `notifications.resume` or
    /// `?since=`.
    #[serde(rename = "notification")]
    Notification { notification: NotificationView },
    /// A replay is complete: every notification up to `up_to` was sent;
    /// with `more`, resume again from `up_to` for the rest.
    #[serde(rename = "notifications.replayed")]
    NotificationsReplayed {
        id: Option<Value>,
        up_to: i64,
        more: bool,
    },
    /// A friend came online or went offline.
    #[serde(rename = "presence")]
    Presence {
        user_id: i64,
        /// `online`, `in_game` or `offline`.
        status: String,
        /// Set when going offline.
        last_seen_at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// The unread count changed (read here, on another session, or by REST).
    #[serde(rename = "notifications.unread")]
    UnreadNotifications { unread: i64 },
    /// Your `chat.send` was committed: the stored message (the same one
    /// again for a resend with the same `client_msg_id`).
    #[serde(rename = "chat.ack")]
    ChatAck {
        id: Option<Value>,
        message: ChatMessageView,
    },
    /// A new message in one of your conversations (sent to every session
    /// of both participants, the sender's included), or a replayed one.
    #[serde(rename = "chat.message")]
    ChatMessage { message: ChatMessageView },
    /// The peer is typing.
    #[serde(rename = "chat.typing")]
    Typing { chat_id: String, user_id: i64 },
    /// Your unread count in a conversation changed (a read on any session).
    #[serde(rename = "chat.unread")]
    ChatUnread { chat_id: String, unread: i64 },
    /// Read receipt: `user_id` has read `chat_id` up to `up_to_id`.
    #[serde(rename = "chat.read")]
    ChatRead {
        chat_id: String,
        user_id: i64,
        up_to_id: i64,
    },
    /// A chat replay is complete up to `up_to`; with `more`, resume from
    /// `up_to` for the next page. With `fetch_history`, more was missed
    /// than the replay window: nothing was sent, reload the conversations
    /// over REST (`GET /api/chats`, then their messages).
    #[serde(rename = "chat.replayed")]
    ChatReplayed {
        id: Option<Value>,
        up_to: i64,
        more: bool,
        fetch_history: bool,
    },
    /// Your invitation was sent; it expires at `expires_at`.
    #[serde(rename = "game.invite_sent")]
    InviteSent {
        id: Option<Value>,
        invite_id: i64,
        to: i64,
        points_to_win: u8,
        expires_at: chrono::DateTime<chrono::Utc>,
    },
    /// An invitation (yours, or to you) expired unanswered.
    #[serde(rename = "game.invite_expired")]
    InviteExpired { invite_id: i64 },
    /// A match was made for you (invitation accepted, matchmaking, or a
    /// tournament): send `game.join` with its id.
    #[serde(rename = "game.match_found")]
    MatchFound {
        match_id: i64,
        side: Side,
        opponent: UserView,
        points_to_win: u8,
        tournament_id: Option<i64>,
    },
    /// The whole state of a match, sent to a socket that joins it.
    #[serde(rename = "game.state")]
    MatchState {
        id: Option<Value>,
        match_id: i64,
        /// `left`, `right` or `spectator`.
        role: String,
        players: Pair<UserView>,
        points_to_win: u8,
        tick_rate: u32,
        phase: Phase,
        /// Players the match waits for (it is paused while any is away).
        waiting_for: Vec<i64>,
        /// Seconds left before the next serve (0 while the ball is in play).
        countdown: u32,
        snapshot: Snapshot,
    },
    /// The state after a tick (sent every tick; may be dropped for a slow
    /// socket, the next one supersedes it).
    #[serde(rename = "game.snapshot")]
    GameSnapshot {
        match_id: i64,
        #[serde(flatten)]
        snapshot: Snapshot,
    },
    /// A countdown second before a serve.
    #[serde(rename = "game.countdown")]
    Countdown { match_id: i64, seconds: u32 },
    #[serde(rename = "game.point")]
    Point {
        match_id: i64,
        scorer: Side,
        score: Pair<u8>,
    },
    /// The match waits for absent players; each forfeits if still away
    /// after `grace_ms` from when they left.
    #[serde(rename = "game.paused")]
    Paused {
        match_id: i64,
        waiting_for: Vec<i64>,
        grace_ms: u64,
    },
    #[serde(rename = "game.resumed")]
    Resumed { match_id: i64 },
    /// A tournament you play in or watch changed: the whole of it.
    #[serde(rename = "tournament.updated")]
    TournamentUpdated {
        id: Option<Value>,
        tournament: Box<TournamentView>,
    },
    /// The match is over (and recorded). `winner` is null when abandoned.
    #[serde(rename = "game.ended")]
    GameEnded {
        match_id: i64,
        winner: Option<i64>,
        score: Pair<u8>,
        /// `score`, `forfeit` or `abandoned`.
        reason: String,
        rating_changes: Option<Pair<i32>>,
    },
}

impl ServerEvent {
    pub fn error(id: Option<Value>, code: &str, message: impl Into<String>) -> Self {
        ServerEvent::Error {
            id,
            code: code.to_string(),
            message: message.into(),
        }
    }

    /// The JSON text of the event (serialised once, sent to every session).
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(r#"{{"type":"error","code":"internal_error","message":"{e}"}}"#)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_commands_and_keeps_the_id() {
        let m = parse(r#"{"type":"notifications.read","notification_id":4,"id":"a1"}"#).unwrap();
        assert_eq!(m.id, Some(json!("a1")));
        assert_eq!(
            m.command,
            ClientCommand::ReadNotification { notification_id: 4 }
        );
        let m = parse(r#"{"type":"ping","id":7}"#).unwrap();
        assert_eq!(m.id, Some(json!(7)));
    }

    #[test]
    fn tells_bad_messages_apart() {
        assert_eq!(parse("{nope").unwrap_err().code, "invalid_json");
        assert_eq!(parse("[1]").unwrap_err().code, "invalid_message");
        assert_eq!(parse(r#"{"id":1}"#).unwrap_err().code, "invalid_message");
        let e = parse(r#"{"type":"teleport","id":"x"}"#).unwrap_err();
        assert_eq!((e.code, e.id), ("unknown_type", Some(json!("x"))));
        let e = parse(r#"{"type":"notifications.read","id":2}"#).unwrap_err();
        assert_eq!((e.code, e.id), ("invalid_message", Some(json!(2))));
        assert_eq!(
            parse(r#"{"type":"ping","extra":true}"#).unwrap_err().code,
            "invalid_message"
        );
        assert_eq!(
            parse(r#"{"type":"ping","id":[1]}"#).unwrap_err().code,
            "invalid_message"
        );
    }

    #[test]
    fn every_client_type_is_listed() {
        for (text, kind) in [
            (r#"{"type":"ping"}"#, "ping"),
            (
                r#"{"type":"notifications.read","notification_id":1}"#,
                "notifications.read",
            ),
            (
                r#"{"type":"notifications.read_all"}"#,
                "notifications.read_all",
            ),
            (
                r#"{"type":"notifications.resume","since":0}"#,
                "notifications.resume",
            ),
            (
                r#"{"type":"chat.send","to":2,"body":"hi","client_msg_id":"c1"}"#,
                "chat.send",
            ),
            (r#"{"type":"chat.typing","chat_id":"1_2"}"#, "chat.typing"),
            (
                r#"{"type":"chat.read","chat_id":"1_2","up_to_id":5}"#,
                "chat.read",
            ),
            (r#"{"type":"chat.resume","since":0}"#, "chat.resume"),
            (r#"{"type":"game.invite","user_id":2}"#, "game.invite"),
            (
                r#"{"type":"game.invite.accept","invite_id":2}"#,
                "game.invite.accept",
            ),
            (
                r#"{"type":"game.invite.decline","invite_id":2}"#,
                "game.invite.decline",
            ),
            (r#"{"type":"game.queue.join"}"#, "game.queue.join"),
            (r#"{"type":"game.queue.leave"}"#, "game.queue.leave"),
            (r#"{"type":"game.join","match_id":1}"#, "game.join"),
            (r#"{"type":"game.leave","match_id":1}"#, "game.leave"),
            (
                r#"{"type":"game.input","match_id":1,"seq":1,"up":true,"down":false}"#,
                "game.input",
            ),
            (
                r#"{"type":"tournament.watch","tournament_id":1}"#,
                "tournament.watch",
            ),
            (
                r#"{"type":"tournament.unwatch","tournament_id":1}"#,
                "tournament.unwatch",
            ),
            (r#"{"type":"debug.panic","target":"inbox"}"#, "debug.panic"),
        ] {
            assert!(CLIENT_TYPES.contains(&kind));
            assert_eq!(parse(text).unwrap().command.kind(), kind, "{text}");
        }
        assert_eq!(CLIENT_TYPES.len(), 19);
    }

    #[test]
    fn events_are_tagged() {
        let text = ServerEvent::UnreadNotifications { unread: 3 }.to_text();
        assert_eq!(text, r#"{"type":"notifications.unread","unread":3}"#);
        let text = ServerEvent::error(Some(json!(1)), "unknown_type", "x").to_text();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["id"], 1);
    }
}
