//! Where each user's live sockets are, and delivery to them. Sending to a
//! user asks no hub: it reads the addresses of that user's `UserSession`s
//! from this directory and sends to each directly. Each event is
//! serialised once, whatever the number of sockets.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use actix::prelude::*;
use bytestring::ByteString;

use crate::protocol::{ChatMessageView, NotificationView, ServerEvent};

/// The streams a socket can replay after a reconnect, each ordered by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Notifications,
    Chat,
}

/// An event on its way to a socket, already serialised.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Push {
    /// Shared by every socket it goes to, and written as it is.
    pub text: ByteString,
    /// Set for replayable events (notifications, chat messages), so a
    /// replay and a live copy are not both sent.
    pub replay_key: Option<(Stream, i64)>,
    /// May be dropped when the socket's queue is full (stale game state);
    /// anything else overflowing closes the socket.
    pub droppable: bool,
}

impl Push {
    pub fn event(event: &ServerEvent) -> Self {
        Push {
            text: event.to_text().into(),
            replay_key: None,
            droppable: false,
        }
    }

    pub fn chat_message(view: ChatMessageView) -> Self {
        let id = view.id;
        Push {
            text: ServerEvent::ChatMessage { message: view }.to_text().into(),
            replay_key: Some((Stream::Chat, id)),
            droppable: false,
        }
    }

    pub fn notification(view: NotificationView) -> Self {
        let id = view.id;
        Push {
            text: ServerEvent::Notification { notification: view }
                .to_text()
                .into(),
            replay_key: Some((Stream::Notifications, id)),
            droppable: false,
        }
    }
}

/// Asks a socket to close because the node is shutting down.
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub struct Shutdown;

/// How to reach one socket's actor.
#[derive(Clone)]
pub struct Socket {
    pub push: Recipient<Push>,
    pub shutdown: Recipient<Shutdown>,
}

/// One user's sockets, each with the key it was registered under.
type Sockets = Vec<(u64, Socket)>;

/// The sockets of every user connected to this node.
#[derive(Default)]
pub struct SessionRegistry {
    by_user: RwLock<HashMap<i64, Sockets>>,
    next_key: AtomicU64,
}

impl SessionRegistry {
    pub fn register(&self, user_id: i64, socket: Socket) -> u64 {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let mut map = self.by_user.write().unwrap_or_else(|p| p.into_inner());
        map.entry(user_id).or_default().push((key, socket));
        key
    }

    pub fn unregister(&self, user_id: i64, key: u64) {
        let mut map = self.by_user.write().unwrap_or_else(|p| p.into_inner());
        if let Some(sockets) = map.get_mut(&user_id) {
            sockets.retain(|(k, _)| *k != key);
            if sockets.is_empty() {
                map.remove(&user_id);
            }
        }
    }

    /// Users with a socket here, and sockets in all.
    pub fn totals(&self) -> (usize, usize) {
        let map = self.by_user.read().unwrap_or_else(|p| p.into_inner());
        (map.len(), map.values().map(Vec::len).sum())
    }

    /// How many sockets the user has open on this node.
    pub fn count(&self, user_id: i64) -> usize {
        let map = self.by_user.read().unwrap_or_else(|p| p.into_inner());
        map.get(&user_id).map_or(0, Vec::len)
    }

    /// Sends `push` to every socket of the user.
    pub fn push(&self, user_id: i64, push: &Push) {
        let map = self.by_user.read().unwrap_or_else(|p| p.into_inner());
        for (_, socket) in map.get(&user_id).into_iter().flatten() {
            socket.push.do_send(push.clone());
        }
    }

    /// Asks every socket on this node to close (1001), after what is
    /// already queued for it.
    pub fn close_all(&self) {
        let map = self.by_user.read().unwrap_or_else(|p| p.into_inner());
        for (_, socket) in map.values().flatten() {
            socket.shutdown.do_send(Shutdown);
        }
    }
}
