//! `UserSession`: one actor per websocket. The socket's message stream is
//! fed into the actor; what it sends goes through a bounded queue to a
//! writer task that owns the socket, with control frames (pings, pongs,
//! and a close that cannot wait) on a channel of their own that the writer
//! serves first.
//!
//! Close codes (documented in `docs/protocol.md`):
//! 1000 normal, 1001 server shutting down, 1002 protocol error, 1003 binary frame, 1008 too many bad
//! messages or rate-limit refusals, 1009 frame over 64 KiB, 4000 heartbeat
//! timeout, 4002 slow consumer (the queue overflowed: reconnect and replay).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError};
use tokio::sync::mpsc;

use super::registry::{Push, SessionRegistry, Shutdown, Socket};
use crate::app::AppState;
use crate::db::notifications;
use crate::db::users::{self, User};
use crate::domain::realtime::{StrikeWindow, TokenBucket};
use crate::protocol::{self, ClientCommand, NotificationView, ServerEvent, UserView};

/// Largest text message accepted (frame or reassembled continuations).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Bad messages tolerated within [`BAD_MESSAGE_WINDOW`] before closing.
const MAX_BAD_MESSAGES: usize = 10;
const BAD_MESSAGE_WINDOW: Duration = Duration::from_secs(10);
/// Rate-limited messages tolerated before closing.
const MAX_RATE_REFUSALS: usize = 20;
/// Notifications sent by one replay at most; the client resumes for more.
/// A replay page also never takes more than half the socket's queue.
pub const REPLAY_LIMIT: usize = 500;
/// How long a close frame may wait to be written before the socket is cut
/// (a client that does not read would otherwise hold it open).
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// Control frames waiting for the writer; beyond this, pongs are dropped
/// (one answers as well as many).
const CONTROL_CAPACITY: usize = 8;

pub const CLOSE_HEARTBEAT_TIMEOUT: u16 = 4000;
pub const CLOSE_SLOW_CONSUMER: u16 = 4002;

enum Control {
    Ping,
    Pong(actix_web::web::Bytes),
    Close(CloseReason),
}

/// What waits in a socket's queue, in order.
enum Frame {
    Event(Push),
    /// Closes after the events queued before it.
    Close(CloseReason),
}

pub struct UserSession {
    state: AppState,
    user: User,
    registry: Arc<SessionRegistry>,
    key: Option<u64>,
    out: mpsc::Sender<Frame>,
    control: mpsc::Sender<Control>,
    writer: tokio::task::AbortHandle,
    closing: bool,
    last_heard: Instant,
    bad_messages: StrikeWindow,
    rate_refusals: StrikeWindow,
    bucket: TokenBucket,
    /// Replays in flight. While any runs, live notifications are held back,
    /// so the client gets each once and replays in id order.
    replays: u32,
    held: Vec<Push>,
    /// A replay in flight had more to send: the held notifications belong
    /// to the client's next page and are dropped.
    drop_held: bool,
    /// Ids the replays sent: a live copy of one of them is not sent again.
    replayed: HashSet<i64>,
    /// Replay from here when the socket opens (`?since=`).
    since: Option<i64>,
}

impl UserSession {
    /// Starts the actor for an upgraded socket.
    pub fn start(
        state: AppState,
        user: User,
        since: Option<i64>,
        socket: actix_ws::Session,
        stream: actix_ws::MessageStream,
    ) -> Addr<Self> {
        let settings = state.settings.ws.clone();
        let (out, out_rx) = mpsc::channel(settings.queue_capacity);
        let (control, control_rx) = mpsc::channel(CONTROL_CAPACITY);
        let writer = actix_web::rt::spawn(write(socket, control_rx, out_rx)).abort_handle();
        let stream = stream
            .max_frame_size(MAX_MESSAGE_BYTES)
            .aggregate_continuations()
            .max_continuation_size(MAX_MESSAGE_BYTES);
        let now = Instant::now();
        UserSession::create(|ctx| {
            ctx.add_stream(stream);
            UserSession {
                registry: state.sockets.clone(),
                state,
                user,
                key: None,
                out,
                control,
                writer,
                closing: false,
                last_heard: now,
                bad_messages: StrikeWindow::new(MAX_BAD_MESSAGES, BAD_MESSAGE_WINDOW),
                rate_refusals: StrikeWindow::new(MAX_RATE_REFUSALS, BAD_MESSAGE_WINDOW),
                bucket: TokenBucket::new(settings.rate_burst, settings.rate_per_sec, now),
                replays: 0,
                held: Vec::new(),
                drop_held: false,
                replayed: HashSet::new(),
                since,
            }
        })
    }

    /// Queues an event for this socket only.
    fn send(&mut self, event: &ServerEvent, ctx: &mut Context<Self>) {
        self.enqueue(Push::event(event), ctx);
    }

    fn enqueue(&mut self, push: Push, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        match self.out.try_send(Frame::Event(push)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(Frame::Event(push))) if push.droppable => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(user_id = self.user.id, "slow consumer: closing its socket");
                self.close(
                    CloseCode::Other(CLOSE_SLOW_CONSUMER),
                    "slow consumer: reconnect and replay",
                    ctx,
                );
            }
            Err(mpsc::error::TrySendError::Closed(_)) => ctx.stop(),
        }
    }

    /// Closes after the events already queued (the client sees why, e.g.
    /// the errors before a 1008); a full queue closes at once instead. A
    /// writer still stuck after [`CLOSE_GRACE`] (nobody reads) is cut.
    fn close(&mut self, code: CloseCode, reason: &str, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        self.closing = true;
        let reason = CloseReason {
            code,
            description: Some(reason.to_string()),
        };
        if let Err(e) = self.out.try_send(Frame::Close(reason))
            && let Frame::Close(reason) = e.into_inner()
        {
            let _ = self.control.try_send(Control::Close(reason));
        }
        let writer = self.writer.clone();
        actix_web::rt::spawn(async move {
            tokio::time::sleep(CLOSE_GRACE).await;
            writer.abort();
        });
        ctx.stop();
    }

    fn client_error(
        &mut self,
        id: Option<serde_json::Value>,
        code: &str,
        message: String,
        ctx: &mut Context<Self>,
    ) {
        self.send(&ServerEvent::error(id, code, message), ctx);
        if self.bad_messages.record(Instant::now()) {
            self.close(CloseCode::Policy, "too many bad messages", ctx);
        }
    }

    /// Charges one incoming message (text or ping) to the rate limit; false
    /// when it is refused.
    fn admit(&mut self, ctx: &mut Context<Self>) -> bool {
        let now = Instant::now();
        if self.bucket.take(now) {
            return true;
        }
        self.send(
            &ServerEvent::error(None, "rate_limited", "too many messages; slow down"),
            ctx,
        );
        if self.rate_refusals.record(now) {
            self.close(CloseCode::Policy, "rate limit exceeded", ctx);
        }
        false
    }

    fn on_text(&mut self, text: &str, ctx: &mut Context<Self>) {
        if !self.admit(ctx) {
            return;
        }
        match protocol::parse(text) {
            Err(bad) => self.client_error(bad.id, bad.code, bad.message, ctx),
            Ok(message) => self.dispatch(message, ctx),
        }
    }

    fn dispatch(&mut self, message: protocol::ClientMessage, ctx: &mut Context<Self>) {
        let id = message.id;
        match message.command {
            ClientCommand::Ping {} => self.send(&ServerEvent::Pong { id }, ctx),
            ClientCommand::ReadNotification { notification_id } => {
                self.in_background(id, ctx, move |state, user_id| async move {
                    let mut conn = state.db.get().await?;
                    if !notifications::mark_read(&mut conn, user_id, notification_id).await? {
                        return Ok(Some(("not_found", "no such notification")));
                    }
                    drop(conn);
                    super::registry::push_unread_count(&state, user_id).await?;
                    Ok(None)
                });
            }
            ClientCommand::ReadAllNotifications {} => {
                self.in_background(id, ctx, move |state, user_id| async move {
                    let mut conn = state.db.get().await?;
                    notifications::mark_all_read(&mut conn, user_id).await?;
                    drop(conn);
                    super::registry::push_unread_count(&state, user_id).await?;
                    Ok(None)
                });
            }
            ClientCommand::ResumeNotifications { since } => self.replay(since, id, ctx),
        }
    }

    /// Runs a command's database work on a task of its own, which finishes
    /// even if the socket closes meanwhile (work started with `ctx.spawn`
    /// would die with the actor), then acks or reports an error to this
    /// socket.
    fn in_background<F, Fut>(
        &mut self,
        id: Option<serde_json::Value>,
        ctx: &mut Context<Self>,
        work: F,
    ) where
        F: FnOnce(AppState, i64) -> Fut + 'static,
        Fut: std::future::Future<Output = anyhow::Result<Option<(&'static str, &'static str)>>>
            + 'static,
    {
        let me = ctx.address();
        let state = self.state.clone();
        let user_id = self.user.id;
        actix_web::rt::spawn(async move {
            let event = match work(state, user_id).await {
                Ok(None) => ServerEvent::Ack { id },
                Ok(Some((code, message))) => ServerEvent::error(id, code, message),
                Err(e) => {
                    tracing::warn!(error = %e, user_id, "websocket command failed");
                    ServerEvent::error(id, "service_unavailable", "try again shortly")
                }
            };
            me.do_send(Push::event(&event));
        });
    }

    /// Sends the notifications after `since`, oldest first, a page at a
    /// time; live ones that arrive meanwhile wait, so none is sent twice.
    fn replay(&mut self, since: i64, id: Option<serde_json::Value>, ctx: &mut Context<Self>) {
        if self.replays == 0 {
            self.replayed.clear();
            self.drop_held = false;
        }
        self.replays += 1;
        // A page never fills more than half the queue, so a replay cannot
        // make its own socket a slow consumer.
        let page = REPLAY_LIMIT
            .min(self.state.settings.ws.queue_capacity / 2)
            .max(1);
        let me = ctx.address();
        let state = self.state.clone();
        let user_id = self.user.id;
        actix_web::rt::spawn(async move {
            let result = async {
                let mut conn = state.db.get().await?;
                let fetch = i64::try_from(page + 1).unwrap_or(i64::MAX);
                let rows = notifications::after(&mut conn, user_id, since, fetch).await?;
                let actor_ids: Vec<i64> = rows.iter().filter_map(|n| n.actor_id).collect();
                let actors = users::find_many(&mut conn, &actor_ids).await?;
                anyhow::Ok((rows, actors))
            }
            .await;
            me.do_send(Replayed {
                since,
                id,
                result: result.map(|(mut rows, actors)| {
                    let more = rows.len() > page;
                    rows.truncate(page);
                    let views = rows
                        .into_iter()
                        .map(|n| NotificationView::new(n, &actors))
                        .collect();
                    (views, more)
                }),
            });
        });
    }
}

impl Actor for UserSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let socket = Socket {
            push: ctx.address().recipient(),
            shutdown: ctx.address().recipient(),
        };
        self.key = Some(self.registry.register(self.user.id, socket));
        self.state.presence.opened(&self.state, self.user.id);
        let ws = self.state.settings.ws.clone();
        let hello = ServerEvent::Hello {
            protocol_version: protocol::PROTOCOL_VERSION,
            user: UserView::from(&self.user),
            server_time: chrono::Utc::now(),
            heartbeat_interval_ms: u64::try_from(ws.heartbeat.as_millis()).unwrap_or(u64::MAX),
            client_timeout_ms: u64::try_from(ws.client_timeout.as_millis()).unwrap_or(u64::MAX),
        };
        self.send(&hello, ctx);
        if let Some(since) = self.since {
            self.replay(since, None, ctx);
        }
        let timeout = ws.client_timeout;
        ctx.run_interval(ws.heartbeat, move |act, ctx| {
            if act.last_heard.elapsed() > timeout {
                act.close(
                    CloseCode::Other(CLOSE_HEARTBEAT_TIMEOUT),
                    "heartbeat timeout",
                    ctx,
                );
            } else {
                let _ = act.control.try_send(Control::Ping);
            }
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        if let Some(key) = self.key.take() {
            self.registry.unregister(self.user.id, key);
            self.state.presence.closed(&self.state, self.user.id);
        }
    }
}

impl StreamHandler<Result<AggregatedMessage, ProtocolError>> for UserSession {
    fn handle(&mut self, item: Result<AggregatedMessage, ProtocolError>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        match item {
            Ok(AggregatedMessage::Text(text)) => self.on_text(&text, ctx),
            Ok(AggregatedMessage::Binary(_)) => {
                self.close(CloseCode::Unsupported, "only JSON text frames", ctx);
            }
            Ok(AggregatedMessage::Ping(bytes)) => {
                // Pings count against the rate limit like any message; a
                // full control queue already holds a pong.
                if self.admit(ctx) {
                    let _ = self.control.try_send(Control::Pong(bytes));
                }
            }
            Ok(AggregatedMessage::Pong(_)) => {}
            Ok(AggregatedMessage::Close(_)) => {
                self.close(CloseCode::Normal, "bye", ctx);
            }
            Err(e) if is_too_large(&e) => {
                self.close(CloseCode::Size, "message over 64 KiB", ctx);
            }
            Err(e) => {
                let reason = e.to_string();
                self.close(CloseCode::Protocol, &reason, ctx);
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

/// A frame over the limit, or continuations adding up past it (actix-ws
/// reports the latter as an I/O error naming the continuation size).
fn is_too_large(e: &ProtocolError) -> bool {
    match e {
        ProtocolError::Overflow => true,
        ProtocolError::Io(io) => io.to_string().contains("continuation size"),
        _ => false,
    }
}

impl Handler<Push> for UserSession {
    type Result = ();

    fn handle(&mut self, push: Push, ctx: &mut Self::Context) {
        if let Some(id) = push.notification_id {
            if self.replays > 0 {
                self.held.push(push);
                return;
            }
            if self.replayed.remove(&id) {
                return; // a replay sent it already
            }
        }
        self.enqueue(push, ctx);
    }
}

impl Handler<Shutdown> for UserSession {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Self::Context) {
        self.close(CloseCode::Away, "server shutting down", ctx);
    }
}

/// A replay's result, back from its task.
#[derive(Message)]
#[rtype(result = "()")]
struct Replayed {
    since: i64,
    id: Option<serde_json::Value>,
    result: anyhow::Result<(Vec<NotificationView>, bool)>,
}

impl Handler<Replayed> for UserSession {
    type Result = ();

    fn handle(&mut self, msg: Replayed, ctx: &mut Self::Context) {
        self.replays = self.replays.saturating_sub(1);
        match msg.result {
            Ok((views, more)) => {
                let mut up_to = msg.since;
                for view in views {
                    up_to = up_to.max(view.id);
                    self.replayed.insert(view.id);
                    self.send(&ServerEvent::Notification { notification: view }, ctx);
                }
                self.drop_held |= more;
                self.send(
                    &ServerEvent::NotificationsReplayed {
                        id: msg.id,
                        up_to,
                        more,
                    },
                    ctx,
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, user_id = self.user.id, "replay failed");
                self.send(
                    &ServerEvent::error(
                        msg.id,
                        "service_unavailable",
                        "replay failed; resume again",
                    ),
                    ctx,
                );
            }
        }
        if self.replays > 0 {
            return;
        }
        // Every replay is done: release what was held, unless a page said
        // there is more (then those belong to the client's next resume).
        let held = std::mem::take(&mut self.held);
        if self.drop_held {
            return;
        }
        for push in held {
            if push
                .notification_id
                .is_some_and(|id| self.replayed.remove(&id))
            {
                continue;
            }
            self.enqueue(push, ctx);
        }
    }
}

/// The writer: owns the socket, serves control frames first, then queued
/// events in order. Ends when the actor is gone or the socket closes.
async fn write(
    mut socket: actix_ws::Session,
    mut control: mpsc::Receiver<Control>,
    mut out: mpsc::Receiver<Frame>,
) {
    // Once the actor is gone its control channel closes; what it queued
    // before (a close frame with its reason, say) is still written.
    let mut control_open = true;
    loop {
        tokio::select! {
            biased;
            c = control.recv(), if control_open => match c {
                Some(Control::Ping) => {
                    if socket.ping(b"").await.is_err() {
                        return;
                    }
                }
                Some(Control::Pong(bytes)) => {
                    if socket.pong(&bytes).await.is_err() {
                        return;
                    }
                }
                Some(Control::Close(reason)) => {
                    let _ = socket.close(Some(reason)).await;
                    return;
                }
                None => control_open = false,
            },
            frame = out.recv() => match frame {
                Some(Frame::Event(push)) => {
                    if socket.text(push.text.to_string()).await.is_err() {
                        return;
                    }
                }
                Some(Frame::Close(reason)) => {
                    let _ = socket.close(Some(reason)).await;
                    return;
                }
                None => {
                    let _ = socket.close(None).await;
                    return;
                }
            },
        }
    }
}
