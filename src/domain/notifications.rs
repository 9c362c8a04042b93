//! What a user is notified of. Each event is stored (kind + JSON payload) in
//! the same transaction as the change it reports, and delivered to the
//! user's sessions by the real-time side.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notification {
    /// `from` asked to be friends.
    FriendRequest { request_id: i64, from: i64 },
    /// `by` accepted the recipient's request.
    FriendAccepted { request_id: i64, by: i64 },
    /// `from` wrote in `chat_id` while the recipient had no socket open.
    /// One per conversation while unread: later messages bump `count` and
    /// `last_message_id` instead of adding notifications.
    ChatMessage {
        chat_id: String,
        from: i64,
        count: i64,
        last_message_id: i64,
    },
    /// `from` invites the recipient to a match (answer with
    /// `game.invite.accept` / `game.invite.decline` before it expires).
    GameInvite {
        invite_id: i64,
        from: i64,
        points_to_win: u8,
    },
    /// `by` declined the recipient's invitation.
    GameInviteDeclined { invite_id: i64, by: i64 },
    /// The recipient's next tournament match, against `opponent`, is ready:
    /// join it (`game.join`) before `deadline` or forfeit it.
    TournamentMatchReady {
        tournament_id: i64,
        match_id: i64,
        round: i32,
        opponent: i64,
        deadline: chrono::DateTime<chrono::Utc>,
    },
    /// A tournament the recipient played in is over.
    TournamentFinished { tournament_id: i64, champion: i64 },
}

impl Notification {
    /// The stable name stored in `notifications.kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Notification::FriendRequest { .. } => "friend_request",
            Notification::FriendAccepted { .. } => "friend_accepted",
            Notification::ChatMessage { .. } => "chat_message",
            Notification::GameInvite { .. } => "game_invite",
            Notification::GameInviteDeclined { .. } => "game_invite_declined",
            Notification::TournamentMatchReady { .. } => "tournament_match_ready",
            Notification::TournamentFinished { .. } => "tournament_finished",
        }
    }

    /// The user who caused it. Always the server's own knowledge of the
    /// event, never a value a client sent.
    pub fn actor(&self) -> Option<i64> {
        match self {
            Notification::FriendRequest { from, .. } => Some(*from),
            Notification::FriendAccepted { by, .. } => Some(*by),
            Notification::ChatMessage { from, .. } | Notification::GameInvite { from, .. } => {
                Some(*from)
            }
            Notification::GameInviteDeclined { by, .. } => Some(*by),
            Notification::TournamentMatchReady { opponent, .. } => Some(*opponent),
            Notification::TournamentFinished { champion, .. } => Some(*champion),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_matches_the_serialised_tag() {
        for n in [
            Notification::FriendRequest {
                request_id: 1,
                from: 2,
            },
            Notification::FriendAccepted {
                request_id: 1,
                by: 2,
            },
            Notification::ChatMessage {
                chat_id: "1_2".into(),
                from: 2,
                count: 1,
                last_message_id: 9,
            },
            Notification::GameInvite {
                invite_id: 1,
                from: 2,
                points_to_win: 5,
            },
            Notification::GameInviteDeclined {
                invite_id: 1,
                by: 2,
            },
        ] {
            let json = serde_json::to_value(&n).unwrap();
            assert_eq!(json["kind"], n.kind());
            assert_eq!(n.actor(), Some(2));
        }
    }
}
