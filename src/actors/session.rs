//! `UserSession`: one actor per websocket. The socket's message stream is
//! fed into the actor; what it sends goes through a bounded queue to a
//! writer task that owns the socket, with control frames (pings, pongs,
//! and a close that cannot wait) on a channel of their own that the writer
//! serves first.
//!
//! Close codes (documented in `docs/protocol.md`):
//! 1000 normal, 1002 protocol error, 1003 binary frame, 1008 too many bad
//! messages or rate-limit refusals, 1009 frame over 64 KiB, 4000 heartbeat
//! timeout, 4002 slow consumer (the queue overflowed: reconnect and replay).

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError};
use tokio::sync::mpsc;

use super::registry::{Push, SessionRegistry};
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
/// Notifications sent by one replay; the client resumes again for more.
pub const REPLAY_LIMIT: i64 = 500;
/// How long a slow consumer's close frame may wait before the socket is cut.
const SLOW_CONSUMER_GRACE: Duration = Duration::from_secs(1);

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
    control: mpsc::UnboundedSender<Control>,
    writer: tokio::task::AbortHandle,
    last_heard: Instant,
    bad_messages: StrikeWindow,
    rate_refusals: StrikeWindow,
    bucket: TokenBucket,
    /// Live notifications held back while a replay runs, so the client gets
    /// every notification once and in id order.
    replaying: Option<Vec<Push>>,
    /// Notifications up to here went out in a replay: a live copy of one
    /// of them is not sent again.
    replayed_up_to: i64,
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
        let (control, control_rx) = mpsc::unbounded_channel();
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
                last_heard: now,
                bad_messages: StrikeWindow::new(MAX_BAD_MESSAGES, BAD_MESSAGE_WINDOW),
                rate_refusals: StrikeWindow::new(MAX_RATE_REFUSALS, BAD_MESSAGE_WINDOW),
                bucket: TokenBucket::new(settings.rate_burst, settings.rate_per_sec, now),
                replaying: None,
                replayed_up_to: 0,
                since,
            }
        })
    }

    /// Queues an event for this socket only.
    fn send(&mut self, event: &ServerEvent, ctx: &mut Context<Self>) {
        self.enqueue(Push::event(event), ctx);
    }

    fn enqueue(&mut self, push: Push, ctx: &mut Context<Self>) {
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
                // The writer may be stuck on a socket nobody reads: cut it.
                let writer = self.writer.clone();
                actix_web::rt::spawn(async move {
                    tokio::time::sleep(SLOW_CONSUMER_GRACE).await;
                    writer.abort();
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => ctx.stop(),
        }
    }

    /// Closes after the events already queued (the client sees why, e.g.
    /// the errors before a 1008); a full queue closes at once instead.
    fn close(&mut self, code: CloseCode, reason: &str, ctx: &mut Context<Self>) {
        let reason = CloseReason {
            code,
            description: Some(reason.to_string()),
        };
        if let Err(e) = self.out.try_send(Frame::Close(reason))
            && let Frame::Close(reason) = e.into_inner()
        {
            let _ = self.control.send(Control::Close(reason));
        }
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

    fn on_text(&mut self, text: &str, ctx: &mut Context<Self>) {
        let now = Instant::now();
        if !self.bucket.take(now) {
            self.send(
                &ServerEvent::error(None, "rate_limited", "too many messages; slow down"),
                ctx,
            );
            if self.rate_refusals.record(now) {
                self.close(CloseCode::Policy, "rate limit exceeded", ctx);
            }
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

    /// Sends the notifications after `since`, oldest first; live ones that
    /// arrive meanwhile wait, so none is sent twice or out of order.
    fn replay(&mut self, since: i64, id: Option<serde_json::Value>, ctx: &mut Context<Self>) {
        if self.replaying.is_none() {
            self.replaying = Some(Vec::new());
        }
        let me = ctx.address();
        let state = self.state.clone();
        let user_id = self.user.id;
        actix_web::rt::spawn(async move {
            let result = async {
                let mut conn = state.db.get().await?;
                let rows =
                    notifications::after(&mut conn, user_id, since, REPLAY_LIMIT + 1).await?;
                let actor_ids: Vec<i64> = rows.iter().filter_map(|n| n.actor_id).collect();
                let actors = users::find_many(&mut conn, &actor_ids).await?;
                anyhow::Ok((rows, actors))
            }
            .await;
            me.do_send(Replayed {
                since,
                id,
                result: result.map(|(mut rows, actors)| {
                    let more = rows.len() as i64 > REPLAY_LIMIT;
                    rows.truncate(REPLAY_LIMIT as usize);
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
        self.key = Some(
            self.registry
                .register(self.user.id, ctx.address().recipient()),
        );
        let ws = self.state.settings.ws.clone();
        let hello = ServerEvent::Hello {
            protocol_version: protocol::PROTOCOL_VERSION,
            user: UserView::from(&self.user),
            server_time: chrono::Utc::now(),
            heartbeat_interval_ms: ws.heartbeat.as_millis() as u64,
            client_timeout_ms: ws.client_timeout.as_millis() as u64,
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
                let _ = act.control.send(Control::Ping);
            }
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        if let Some(key) = self.key.take() {
            self.registry.unregister(self.user.id, key);
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
                let _ = self.control.send(Control::Pong(bytes));
            }
            Ok(AggregatedMessage::Pong(_)) => {}
            Ok(AggregatedMessage::Close(_)) => {
                self.close(CloseCode::Normal, "bye", ctx);
            }
            Err(ProtocolError::Overflow) => {
                self.close(CloseCode::Size, "message over 64 KiB", ctx);
            }
            Err(ProtocolError::Io(e)) if e.to_string().contains("size") => {
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

impl Handler<Push> for UserSession {
    type Result = ();

    fn handle(&mut self, push: Push, ctx: &mut Self::Context) {
        if let Some(id) = push.notification_id {
            if let Some(held) = self.replaying.as_mut() {
                held.push(push);
                return;
            }
            if id <= self.replayed_up_to {
                return; // already sent by a replay
            }
        }
        self.enqueue(push, ctx);
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
        let held = self.replaying.take().unwrap_or_default();
        let (views, more) = match msg.result {
            Ok(found) => found,
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
                return;
            }
        };
        let mut last = msg.since;
        for view in views {
            last = last.max(view.id);
            self.send(&ServerEvent::Notification { notification: view }, ctx);
        }
        self.replayed_up_to = self.replayed_up_to.max(last);
        self.send(
            &ServerEvent::NotificationsReplayed {
                id: msg.id,
                up_to: last,
                more,
            },
            ctx,
        );
        for push in held {
            if push
                .notification_id
                .is_some_and(|id| id > self.replayed_up_to)
            {
                self.enqueue(push, ctx);
            }
        }
    }
}

/// The writer: owns the socket, serves control frames first, then queued
/// events in order. Ends when the actor is gone or the socket closes.
async fn write(
    mut socket: actix_ws::Session,
    mut control: mpsc::UnboundedReceiver<Control>,
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
