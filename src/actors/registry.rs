//! Where each user's live sockets are, and delivery to them. Sending to a
//! user asks no hub: it reads the addresses of that user's `UserSession`s
//! from this directory and sends to each directly. Each event is
//! serialised once, whatever the number of sockets.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use actix::prelude::*;

use crate::app::AppState;
use crate::db::notifications::{self, StoredNotification};
use crate::db::users;
use crate::protocol::{NotificationView, ServerEvent};

/// An event on its way to a socket, already serialised.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Push {
    pub text: Arc<str>,
    /// Set for notifications, so a replay and a live copy are not both sent.
    pub notification_id: Option<i64>,
    /// May be dropped when the socket's queue is full (stale game state);
    /// anything else overflowing closes the socket.
    pub droppable: bool,
}

impl Push {
    pub fn event(event: &ServerEvent) -> Self {
        Push {
            text: event.to_text().into(),
            notification_id: None,
            droppable: false,
        }
    }

    pub fn notification(view: NotificationView) -> Self {
        let id = view.id;
        Push {
            text: ServerEvent::Notification { notification: view }
                .to_text()
                .into(),
            notification_id: Some(id),
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

    /// How many sockets the user has open on this node.
    pub fn count(&self, user_id: i64) -> usize {
        let map = self.by_user.read().unwrap_or_else(|p| p.into_inner());
        map.get(&user_id).map_or(0, Vec::len)
    }

    /// Tells every socket of the user its unread notification count.
    pub fn push_unread(&self, user_id: i64, unread: i64) {
        self.push(
            user_id,
            &Push::event(&ServerEvent::UnreadNotifications { unread }),
        );
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

/// Delivers freshly committed notifications to their users' sockets.
pub async fn push_notifications(
    state: &AppState,
    created: Vec<StoredNotification>,
) -> anyhow::Result<()> {
    if created.is_empty() {
        return Ok(());
    }
    let mut conn = state.db.get().await?;
    let actor_ids: Vec<i64> = created.iter().filter_map(|n| n.actor_id).collect();
    let actors = users::find_many(&mut conn, &actor_ids).await?;
    for n in created {
        let user_id = n.user_id;
        state.sockets.push(
            user_id,
            &Push::notification(NotificationView::new(n, &actors)),
        );
    }
    Ok(())
}

/// Tells every socket of the user its unread count (after a read).
pub async fn push_unread_count(state: &AppState, user_id: i64) -> anyhow::Result<()> {
    if state.sockets.count(user_id) == 0 {
        return Ok(());
    }
    let mut conn = state.db.get().await?;
    let unread = notifications::unread_count(&mut conn, user_id).await?;
    state.sockets.push_unread(user_id, unread);
    Ok(())
}
