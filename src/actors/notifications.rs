//! `NotificationInbox`: one actor per user with live sessions on this
//! node, under the notifications [`Supervisor`]. It starts with the user's
//! first socket and stops after their last one closes; a user with no
//! socket just gets rows (read back by replay or REST).
//!
//! Notifications are created only by the server, inside the transaction of
//! the change they report (see `db::notifications::record`); the inbox
//! delivers committed ones to every socket of its user and keeps the
//! unread count those sockets show in step: count refreshes run one at a
//! time, and a refresh asked for while one runs is run again after it, so
//! the last count a socket receives is never older than the last change.

use actix::prelude::*;

use super::registry::Push;
use super::supervisor::{Child, Lease, Supervisor};
use crate::app::AppState;
use crate::db::notifications::{self, StoredNotification};
use crate::db::users;
use crate::domain::notifications::Notification;
use crate::protocol::{NotificationView, ServerEvent};

pub type Inboxes = Supervisor<NotificationInbox>;

pub struct NotificationInbox {
    lease: Lease<Self>,
    state: AppState,
    /// A count refresh is running.
    refreshing: bool,
    /// Another refresh was asked for while one ran.
    stale: bool,
}

impl Actor for NotificationInbox {
    type Context = Context<Self>;
}

impl Child for NotificationInbox {
    /// The user id.
    type Key = i64;
}

impl NotificationInbox {
    /// The inbox of a user whose socket just opened.
    pub fn open(state: &AppState, user_id: i64) -> Addr<Self> {
        let for_child = state.for_actors();
        state
            .inboxes
            .get_or_start(&user_id, move |lease, _| NotificationInbox {
                lease,
                state: for_child,
                refreshing: false,
                stale: false,
            })
    }

    /// The inbox of a user with sockets on this node (restarted if it
    /// stopped or panicked); `None` for a user with none.
    pub fn of(state: &AppState, user_id: i64) -> Option<Addr<Self>> {
        (state.sockets.count(user_id) > 0).then(|| Self::open(state, user_id))
    }

    fn user_id(&self) -> i64 {
        *self.lease.key()
    }
}

/// Committed notifications for this inbox's user.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver(pub Vec<NotificationView>);

impl Handler<Deliver> for NotificationInbox {
    type Result = ();

    fn handle(&mut self, Deliver(views): Deliver, _: &mut Context<Self>) {
        for view in views {
            self.state
                .sockets
                .push(self.user_id(), &Push::notification(view));
        }
    }
}

/// The unread count may have changed: tell every socket the new one.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RefreshUnread;

impl Handler<RefreshUnread> for NotificationInbox {
    type Result = ();

    fn handle(&mut self, _: RefreshUnread, ctx: &mut Context<Self>) {
        if self.refreshing {
            self.stale = true;
            return;
        }
        self.refreshing = true;
        let db = self.state.db.clone();
        let user_id = self.user_id();
        let count = async move {
            let conn = db.get().await?;
            anyhow::Ok(notifications::unread_count(&conn, user_id).await?)
        };
        ctx.spawn(count.into_actor(self).map(|result, act, ctx| {
            act.refreshing = false;
            match result {
                Ok(unread) => act.state.sockets.push(
                    act.user_id(),
                    &Push::event(&ServerEvent::UnreadNotifications { unread }),
                ),
                Err(e) => {
                    tracing::warn!(error = %e, user_id = act.user_id(), "unread count failed");
                }
            }
            if std::mem::take(&mut act.stale) {
                ctx.notify(RefreshUnread);
            }
        }));
    }
}

/// One of the user's sockets closed: the inbox stops with the last one.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SessionClosed;

impl Handler<SessionClosed> for NotificationInbox {
    type Result = ();

    fn handle(&mut self, _: SessionClosed, ctx: &mut Context<Self>) {
        if self.state.sockets.count(self.user_id()) == 0 {
            // Leave the directory first: a socket opening from now on
            // starts a fresh inbox rather than finding this stopping one.
            self.lease.release();
            ctx.stop();
        }
    }
}

/// Makes the inbox's handler panic (fault injection, for the tests that
/// show a panicking actor is reaped while the node keeps serving).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Explode;

impl Handler<Explode> for NotificationInbox {
    type Result = ();

    fn handle(&mut self, _: Explode, _: &mut Context<Self>) {
        panic!(
            "fault injection: notification inbox of user {}",
            self.user_id()
        );
    }
}

/// Delivers freshly committed notifications to their users' inboxes (users
/// with no socket on this node have none, and read them later).
pub async fn deliver(state: &AppState, created: Vec<StoredNotification>) -> anyhow::Result<()> {
    let created: Vec<_> = created
        .into_iter()
        .filter(|n| state.sockets.count(n.user_id) > 0)
        .collect();
    if created.is_empty() {
        return Ok(());
    }
    let conn = state.db.get().await?;
    let actor_ids: Vec<i64> = created.iter().filter_map(|n| n.actor_id).collect();
    let actors = users::find_many(&conn, &actor_ids).await?;
    drop(conn);
    for n in created {
        let user_id = n.user_id;
        if let Some(inbox) = NotificationInbox::of(state, user_id) {
            inbox.do_send(Deliver(vec![NotificationView::new(n, &actors)]));
        }
    }
    Ok(())
}

/// Records a notification the server made outside any other change (an
/// invitation, a tournament match) and delivers it, on a task of its own:
/// an actor that stops meanwhile does not cut it short.
pub fn notify(state: &AppState, user_id: i64, event: Notification) {
    let state = state.clone();
    actix_web::rt::spawn(async move {
        let result = async {
            let mut conn = state.db.get().await?;
            let stored = notifications::record(&mut conn, user_id, &event).await?;
            drop(conn);
            deliver(&state, vec![stored]).await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, user_id, kind = event.kind(), "a notification failed");
        }
    });
}

/// The user's unread count may have changed (a read, a delete).
pub fn unread_changed(state: &AppState, user_id: i64) {
    if let Some(inbox) = NotificationInbox::of(state, user_id) {
        inbox.do_send(RefreshUnread);
    }
}
