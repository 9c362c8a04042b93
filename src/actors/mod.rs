//! The actor tree of the real-time side. Messages go to actors by address;
//! there is no hub and no channel layer.
//!
//! ```text
//! UserSession (one per websocket, on the HTTP worker that owns the socket)
//!   registered in the sessions directory (registry::SessionRegistry):
//!   a user's sockets, read without a message hop by whoever delivers
//! supervisor::Supervisor<A>: one per domain, a directory of keyed children
//!   spread over arbiters of its own; a child that stops or panics is
//!   forgotten and the next lookup starts a fresh one
//!   ├─ notifications: NotificationInbox per user with sockets here
//!   ├─ chat:          ChatRoom per active conversation (+ one ChatWriter)
//!   ├─ game:          PongMatch per live match (+ the GameDirectory)
//!   ├─ matchmaking:   the Matchmaker (queue and invitations)
//!   └─ tournaments:   TournamentRunner per tournament in play or watched
//! presence::PresenceTracker: who is online / in a game on this node
//! ```
//!
//! Still to come (see the open issues): cross-node delivery and presence
//! over Redis.

pub mod chat;
pub mod game;
pub mod notifications;
pub mod outbox;
pub mod presence;
pub mod registry;
pub mod replay;
pub mod session;
pub mod supervisor;
pub mod tournament;

/// Waits (up to 2 s, or panics) until `done` holds: for tests of actors,
/// whose effects land a little after their messages are sent.
#[cfg(test)]
pub(crate) async fn until(mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("condition not reached within 2 s");
}
