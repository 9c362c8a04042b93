//! `UserSession`: one actor per websocket. The socket's message stream is
//! fed into the actor; what it sends goes through its [`Outbox`] (bounded,
//! in order) to a writer task that owns the socket, with control frames
//! (pings, pongs, and a close that cannot wait) on a lane of their own that
//! the writer serves first.
//!
//! Close codes (documented in `docs/protocol.md`):
//! 1000 normal, 1001 server shutting down, 1002 protocol error, 1003 binary frame, 1008 too many bad
//! messages or rate-limit refusals, 1009 frame over 64 KiB, 4000 heartbeat
//! timeout, 4002 slow consumer (the queue overflowed: reconnect and replay).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError};

use diesel_async::AsyncPgConnection;

use super::chat::room::{ChatRoom, PostMessage, Typing};
use super::chat::writer::Post;
use super::game::matchmaker::{AnswerInvite, JoinQueue, LeaveQueue, Matchmaker, SendInvite};
use super::game::pong::{InputSlot, Join, Leave, PongMatch};
use super::notifications::{Explode, NotificationInbox, SessionClosed, unread_changed};
use super::outbox::{Next, Outbox, Reader, Refused, outbox};
use super::registry::{Push, SessionRegistry, Shutdown, Socket, Stream};
use super::replay::ReplayGate;
use super::tournament::{TournamentRunner, Unwatch, Watch};
use crate::app::AppState;
use crate::db::chat::{self, NewMessage};
use crate::db::users::{self, User};
use crate::db::{notifications, social};
use crate::domain::chat::{ChatId, clean_body, valid_client_msg_id};
use crate::domain::game::{DEFAULT_POINTS_TO_WIN, Input, MAX_POINTS_TO_WIN};
use crate::domain::realtime::{StrikeWindow, TokenBucket};
use crate::protocol::{
    self, ChatMessageView, ClientCommand, NotificationView, PanicTarget, ServerEvent, UserView,
};

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

/// The match a socket is attached to (`game.join`).
struct Attached {
    match_id: i64,
    addr: Addr<PongMatch>,
    /// Which of this socket's joins it was (the answer to an earlier join
    /// of the same match is not this one's).
    join: u64,
    seat: Seat,
}

/// Where a socket's `game.input` goes.
enum Seat {
    /// The match has not answered the join yet: the newest input (with
    /// its request id) waits for the answer.
    Joining(Option<(u64, Input, Option<serde_json::Value>)>),
    /// A player's: into the player's slot, which the match reads each tick.
    Player(Arc<InputSlot>),
    /// A spectator's (or the match was over): inputs are refused.
    Watching,
}

/// The refusal of an input from a socket that is not a player's.
const NOT_A_PLAYER: &str = "only the match's players send input";

/// What waits in a socket's queue, in order.
enum Frame {
    Event(Push),
    /// Closes after the events queued before it.
    Close(CloseReason),
}

pub struct UserSession {
    state: AppState,
    /// Who is connected: the public fields only (no password hash or TOTP
    /// secret lives as long as the socket).
    user: UserView,
    registry: Arc<SessionRegistry>,
    key: Option<u64>,
    out: Outbox<Control, Frame>,
    writer: tokio::task::AbortHandle,
    closing: bool,
    last_heard: Instant,
    bad_messages: StrikeWindow,
    rate_refusals: StrikeWindow,
    bucket: TokenBucket,
    /// `game.input` has a rate of its own (players send one per tick).
    input_bucket: TokenBucket,
    game: Option<Attached>,
    /// Joins sent so far (numbers them for `Attached::join`).
    joins: u64,
    /// The tournament this socket watches (`tournament.watch`).
    watching: Option<(i64, Addr<TournamentRunner>)>,
    /// Keep replays and live events apart, one gate per stream.
    notification_gate: ReplayGate,
    chat_gate: ReplayGate,
    /// Replay from here when the socket opens (`?since=`, `?chat_since=`).
    resume: Resume,
}

/// Where a socket asked, on opening, to resume each stream from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Resume {
    pub notifications: Option<i64>,
    pub chat: Option<i64>,
}

impl UserSession {
    /// Starts the actor for an upgraded socket.
    pub fn start(
        state: AppState,
        user: User,
        resume: Resume,
        socket: actix_ws::Session,
        stream: actix_ws::MessageStream,
    ) -> Addr<Self> {
        let settings = state.settings.ws.clone();
        let input_rate = state.settings.game.input_rate;
        let (out, reader) = outbox(settings.queue_capacity, CONTROL_CAPACITY);
        let writer = actix_web::rt::spawn(write(socket, reader)).abort_handle();
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
                user: UserView::from(&user),
                key: None,
                out,
                writer,
                closing: false,
                last_heard: now,
                bad_messages: StrikeWindow::new(MAX_BAD_MESSAGES, BAD_MESSAGE_WINDOW),
                rate_refusals: StrikeWindow::new(MAX_RATE_REFUSALS, BAD_MESSAGE_WINDOW),
                bucket: TokenBucket::new(settings.rate_burst, settings.rate_per_sec, now),
                input_bucket: TokenBucket::new(input_rate, input_rate, now),
                game: None,
                joins: 0,
                watching: None,
                notification_gate: ReplayGate::default(),
                chat_gate: ReplayGate::default(),
                resume,
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
        // Stale game state goes first: a droppable event is dropped once
        // the queue is half full, so room always remains for the rest.
        let metrics = &self.state.metrics;
        let capacity = self.state.settings.ws.queue_capacity;
        if push.droppable && self.out.queued() > capacity - capacity / 2 {
            metrics.queue_drops.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match self.out.push(Frame::Event(push)) {
            Ok(()) => {
                metrics.messages_out.fetch_add(1, Ordering::Relaxed);
            }
            Err(Refused::Full(Frame::Event(push))) if push.droppable => {
                metrics.queue_drops.fetch_add(1, Ordering::Relaxed);
            }
            Err(Refused::Full(_)) => {
                metrics.slow_consumer_closes.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(user_id = self.user.id, "slow consumer: closing its socket");
                self.close(
                    CloseCode::Other(CLOSE_SLOW_CONSUMER),
                    "slow consumer: reconnect and replay",
                    ctx,
                );
            }
            Err(Refused::Closed(_)) => ctx.stop(),
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
        if let Err(Refused::Full(Frame::Close(reason)) | Refused::Closed(Frame::Close(reason))) =
            self.out.push(Frame::Close(reason))
        {
            self.out.push_control(Control::Close(reason));
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
    /// when it is refused, with an error that echoes the message's `id` so
    /// that a client waiting on it hears at once.
    fn admit(&mut self, id: Option<serde_json::Value>, ctx: &mut Context<Self>) -> bool {
        let now = Instant::now();
        if self.bucket.take(now) {
            return true;
        }
        self.send(
            &ServerEvent::error(id, "rate_limited", "too many messages; slow down"),
            ctx,
        );
        if self.rate_refusals.record(now) {
            self.close(CloseCode::Policy, "rate limit exceeded", ctx);
        }
        false
    }

    fn on_text(&mut self, text: &str, ctx: &mut Context<Self>) {
        let parsed = protocol::parse(text);
        let kind = parsed.as_ref().ok().map(|m| m.command.kind());
        self.state.metrics.message_in(kind);
        match parsed {
            // Inputs over their own rate are dropped without a word: the
            // next one supersedes them anyway.
            Ok(message) if matches!(message.command, ClientCommand::GameInput { .. }) => {
                if self.input_bucket.take(Instant::now()) {
                    self.dispatch(message, ctx);
                }
            }
            parsed => {
                let id = match &parsed {
                    Ok(message) => message.id.clone(),
                    Err(bad) => bad.id.clone(),
                };
                if !self.admit(id, ctx) {
                    return;
                }
                match parsed {
                    Err(bad) => self.client_error(bad.id, bad.code, bad.message, ctx),
                    Ok(message) => self.dispatch(message, ctx),
                }
            }
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
                    unread_changed(&state, user_id);
                    Ok(None)
                });
            }
            ClientCommand::ReadAllNotifications {} => {
                self.in_background(id, ctx, move |state, user_id| async move {
                    let mut conn = state.db.get().await?;
                    notifications::mark_all_read(&mut conn, user_id).await?;
                    unread_changed(&state, user_id);
                    Ok(None)
                });
            }
            ClientCommand::ResumeNotifications { since } => {
                self.replay(Stream::Notifications, since, id, ctx);
            }
            ClientCommand::ResumeChat { since } => self.replay(Stream::Chat, since, id, ctx),
            ClientCommand::SendChat {
                to,
                chat_id,
                body,
                client_msg_id,
            } => self.send_chat(id, to, chat_id, &body, client_msg_id, ctx),
            ClientCommand::Typing { chat_id } => match self.my_chat(&chat_id) {
                Some(chat) => self.typing(chat),
                None => self.not_my_chat(id, ctx),
            },
            ClientCommand::ReadChat { chat_id, up_to_id } => {
                if self.my_chat(&chat_id).is_none() {
                    return self.not_my_chat(id, ctx);
                }
                self.in_background(id, ctx, move |state, user_id| async move {
                    Ok(read_chat(&state, user_id, &chat_id, up_to_id)
                        .await?
                        .is_none()
                        .then_some(("not_found", "no messages in this conversation")))
                });
            }
            ClientCommand::InviteToGame {
                user_id,
                points_to_win,
            } => {
                let points_to_win = points_to_win.unwrap_or(DEFAULT_POINTS_TO_WIN);
                if user_id == self.user.id {
                    let message = "you cannot invite yourself".into();
                    return self.client_error(id, "validation_failed", message, ctx);
                }
                if !(1..=MAX_POINTS_TO_WIN).contains(&points_to_win) {
                    let message = format!("points_to_win must be 1-{MAX_POINTS_TO_WIN}");
                    return self.client_error(id, "validation_failed", message, ctx);
                }
                Matchmaker::get(&self.state).do_send(SendInvite {
                    from: self.user.id,
                    to: user_id,
                    points_to_win,
                    push: ctx.address().recipient(),
                    request_id: id,
                });
            }
            ClientCommand::AcceptInvite { invite_id }
            | ClientCommand::DeclineInvite { invite_id } => {
                let accept = matches!(message.command, ClientCommand::AcceptInvite { .. });
                Matchmaker::get(&self.state).do_send(AnswerInvite {
                    invite_id,
                    user_id: self.user.id,
                    accept,
                    push: ctx.address().recipient(),
                    request_id: id,
                });
            }
            ClientCommand::JoinQueue {} => {
                if let Some(key) = self.key {
                    Matchmaker::get(&self.state).do_send(JoinQueue {
                        user_id: self.user.id,
                        session_key: key,
                        push: ctx.address().recipient(),
                        request_id: id,
                    });
                }
            }
            ClientCommand::LeaveQueue {} => {
                Matchmaker::get(&self.state).do_send(LeaveQueue {
                    user_id: self.user.id,
                    session_key: None,
                    reply: Some((ctx.address().recipient(), id)),
                });
            }
            ClientCommand::JoinMatch { match_id } => self.join_match(match_id, id, ctx),
            ClientCommand::LeaveMatch { match_id } => match self.game.take() {
                Some(attached) if attached.match_id == match_id => {
                    if let Some(key) = self.key {
                        attached.addr.do_send(Leave { key });
                    }
                    self.send(&ServerEvent::Ack { id }, ctx);
                }
                other => {
                    self.game = other;
                    let message = "this socket is not in that match".into();
                    self.client_error(id, "not_found", message, ctx);
                }
            },
            ClientCommand::GameInput {
                match_id,
                seq,
                up,
                down,
            } => {
                let input = Input { up, down };
                match self.game.as_mut().filter(|a| a.match_id == match_id) {
                    Some(Attached { seat, .. }) => match seat {
                        Seat::Player(slot) => slot.offer(seq, input),
                        Seat::Joining(waiting) => {
                            if waiting.as_ref().is_none_or(|(newest, ..)| seq > *newest) {
                                *waiting = Some((seq, input, id));
                            }
                        }
                        // Not a mistake in the message: no strike.
                        Seat::Watching => {
                            self.send(&ServerEvent::error(id, "forbidden", NOT_A_PLAYER), ctx)
                        }
                    },
                    None => {
                        let message = "join the match first (you are not in it)".into();
                        self.client_error(id, "forbidden", message, ctx);
                    }
                }
            }
            ClientCommand::WatchTournament { tournament_id } => {
                let Some(key) = self.key else { return };
                if let Some((_, previous)) = self.watching.take() {
                    previous.do_send(Unwatch { key });
                }
                let runner = TournamentRunner::open(&self.state, tournament_id);
                runner.do_send(Watch {
                    key,
                    push: ctx.address().recipient(),
                    request_id: id,
                });
                self.watching = Some((tournament_id, runner));
            }
            ClientCommand::UnwatchTournament { tournament_id } => match self.watching.take() {
                Some((current, runner)) if current == tournament_id => {
                    if let Some(key) = self.key {
                        runner.do_send(Unwatch { key });
                    }
                    self.send(&ServerEvent::Ack { id }, ctx);
                }
                other => {
                    self.watching = other;
                    let message = "this socket does not watch that tournament".into();
                    self.client_error(id, "not_found", message, ctx);
                }
            },
            ClientCommand::DebugPanic { target } => self.fault(id, target, ctx),
        }
    }

    /// Fault injection (only with the `fault_injection` setting, which
    /// production refuses): makes an actor's handler panic, to show that
    /// the actor alone dies and the node keeps serving.
    fn fault(
        &mut self,
        id: Option<serde_json::Value>,
        target: PanicTarget,
        ctx: &mut Context<Self>,
    ) {
        if !self.state.settings.fault_injection {
            let message = "unknown message type \"debug.panic\"".to_string();
            self.client_error(id, "unknown_type", message, ctx);
            return;
        }
        match target {
            PanicTarget::Session => panic!("fault injection: session of user {}", self.user.id),
            PanicTarget::Inbox => {
                if let Some(inbox) = self.state.inboxes.get(&self.user.id) {
                    inbox.do_send(Explode);
                }
                self.send(&ServerEvent::Ack { id }, ctx);
            }
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

    /// A conversation id naming this user, or `None`.
    fn my_chat(&self, chat_id: &str) -> Option<ChatId> {
        ChatId::parse(chat_id).filter(|c| c.has(self.user.id))
    }

    /// Attaches this socket to a live match (leaving the one it watched).
    fn join_match(
        &mut self,
        match_id: i64,
        id: Option<serde_json::Value>,
        ctx: &mut Context<Self>,
    ) {
        let Some(key) = self.key else { return };
        let Some(addr) = self.state.matches.get(&match_id) else {
            let message = "no live match with this id".into();
            return self.client_error(id, "not_found", message, ctx);
        };
        if let Some(previous) = self.game.take() {
            previous.addr.do_send(Leave { key });
        }
        let join = addr.send(Join {
            key,
            user_id: self.user.id,
            push: ctx.address().recipient(),
            request_id: id,
        });
        self.joins += 1;
        let this_join = self.joins;
        self.game = Some(Attached {
            match_id,
            addr,
            join: this_join,
            seat: Seat::Joining(None),
        });
        // The match answers with the player's input slot, and the newest
        // input sent meanwhile goes into it (or is refused).
        ctx.spawn(join.into_actor(self).map(move |slot, act, ctx| {
            let Some(attached) = act.game.as_mut().filter(|a| a.join == this_join) else {
                return;
            };
            let Seat::Joining(waiting) = &mut attached.seat else {
                return;
            };
            let waiting = waiting.take();
            match slot {
                Ok(Some(slot)) => {
                    if let Some((seq, input, _)) = waiting {
                        slot.offer(seq, input);
                    }
                    attached.seat = Seat::Player(slot);
                }
                Ok(None) | Err(_) => {
                    attached.seat = Seat::Watching;
                    if let Some((_, _, id)) = waiting {
                        act.send(&ServerEvent::error(id, "forbidden", NOT_A_PLAYER), ctx);
                    }
                }
            }
        }));
    }

    /// Relays a typing event through the conversation's room. A room is
    /// only started for a conversation that exists, so typing at random
    /// ids makes no actors.
    fn typing(&mut self, chat: ChatId) {
        let user_id = self.user.id;
        if let Some(room) = self.state.chat_rooms.get(&chat.to_string()) {
            room.do_send(Typing { user_id });
            return;
        }
        let state = self.state.clone();
        actix_web::rt::spawn(async move {
            let exists = async {
                let mut conn = state.db.get().await?;
                anyhow::Ok(chat::is_member(&mut conn, user_id, &chat.to_string()).await?)
            }
            .await;
            if let Ok(true) = exists {
                ChatRoom::open(&state, &chat).do_send(Typing { user_id });
            }
        });
    }

    fn not_my_chat(&mut self, id: Option<serde_json::Value>, ctx: &mut Context<Self>) {
        self.client_error(id, "forbidden", "not your conversation".into(), ctx);
    }

    /// Checks a `chat.send` and hands it to the conversation's room, which
    /// acks (or refuses) it after the commit.
    fn send_chat(
        &mut self,
        id: Option<serde_json::Value>,
        to: Option<i64>,
        chat_id: Option<String>,
        body: &str,
        client_msg_id: String,
        ctx: &mut Context<Self>,
    ) {
        let chat = match (to, chat_id) {
            (Some(to), None) => match ChatId::between(self.user.id, to) {
                Some(chat) => chat,
                None => {
                    let message = "to must be another user's id".into();
                    return self.client_error(id, "validation_failed", message, ctx);
                }
            },
            (None, Some(chat_id)) => match self.my_chat(&chat_id) {
                Some(chat) => chat,
                None => return self.not_my_chat(id, ctx),
            },
            _ => {
                let message = "give exactly one of to and chat_id".into();
                return self.client_error(id, "invalid_message", message, ctx);
            }
        };
        let body = match clean_body(body) {
            Ok(body) => body,
            Err(e) => return self.client_error(id, "validation_failed", e.to_string(), ctx),
        };
        if !valid_client_msg_id(&client_msg_id) {
            let message = "client_msg_id must be 1-64 printable ASCII characters".into();
            return self.client_error(id, "validation_failed", message, ctx);
        }
        if !self.state.chat_limiter.allow(self.user.id) {
            let error = ServerEvent::error(id, "rate_limited", "sending too fast; slow down");
            return self.send(&error, ctx);
        }
        ChatRoom::open(&self.state, &chat).do_send(PostMessage(Post {
            message: NewMessage {
                chat_id: chat.to_string(),
                sender_id: self.user.id,
                body,
                client_msg_id,
            },
            reply_to: ctx.address().recipient(),
            request_id: id,
            received: Instant::now(),
        }));
    }

    fn gate(&mut self, stream: Stream) -> &mut ReplayGate {
        match stream {
            Stream::Notifications => &mut self.notification_gate,
            Stream::Chat => &mut self.chat_gate,
        }
    }

    /// Sends a stream's events after `since`, oldest first, a page at a
    /// time; live ones that arrive meanwhile wait, so none is sent twice.
    fn replay(
        &mut self,
        stream: Stream,
        since: i64,
        id: Option<serde_json::Value>,
        ctx: &mut Context<Self>,
    ) {
        self.gate(stream).begin();
        // A page never fills more than half the queue, so a replay cannot
        // make its own socket a slow consumer.
        let page = REPLAY_LIMIT
            .min(self.state.settings.ws.queue_capacity / 2)
            .max(1);
        let window = self.state.settings.chat.replay_window;
        let me = ctx.address();
        let state = self.state.clone();
        let user_id = self.user.id;
        actix_web::rt::spawn(async move {
            let result = async {
                let mut conn = state.db.get().await?;
                anyhow::Ok(match stream {
                    Stream::Notifications => {
                        replay_notifications(&mut conn, user_id, since, page).await?
                    }
                    Stream::Chat => replay_chat(&mut conn, user_id, since, page, window).await?,
                })
            }
            .await;
            me.do_send(Replayed {
                stream,
                since,
                id,
                result,
            });
        });
    }
}

/// One page of a replay: the events with their ids, in order.
struct ReplayPage {
    events: Vec<(i64, ServerEvent)>,
    more: bool,
    /// More was missed than the chat replay window: nothing is sent.
    fetch_history: bool,
}

async fn replay_notifications(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    since: i64,
    page: usize,
) -> diesel::QueryResult<ReplayPage> {
    let fetch = i64::try_from(page + 1).unwrap_or(i64::MAX);
    let mut rows = notifications::after(conn, user_id, since, fetch).await?;
    let actor_ids: Vec<i64> = rows.iter().filter_map(|n| n.actor_id).collect();
    let actors = users::find_many(conn, &actor_ids).await?;
    let more = rows.len() > page;
    rows.truncate(page);
    Ok(ReplayPage {
        events: rows
            .into_iter()
            .map(|n| {
                let view = NotificationView::new(n, &actors);
                (view.id, ServerEvent::Notification { notification: view })
            })
            .collect(),
        more,
        fetch_history: false,
    })
}

async fn replay_chat(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    since: i64,
    page: usize,
    window: usize,
) -> diesel::QueryResult<ReplayPage> {
    // One row past the window tells whether the client missed too much.
    let fetch = i64::try_from(window.max(page) + 1).unwrap_or(i64::MAX);
    let mut rows = chat::after_for_user(conn, user_id, since, fetch).await?;
    if rows.len() > window {
        return Ok(ReplayPage {
            events: Vec::new(),
            more: false,
            fetch_history: true,
        });
    }
    let more = rows.len() > page;
    rows.truncate(page);
    Ok(ReplayPage {
        events: rows
            .into_iter()
            .map(|m| {
                let view = ChatMessageView::from(m);
                (view.id, ServerEvent::ChatMessage { message: view })
            })
            .collect(),
        more,
        fetch_history: false,
    })
}

/// Moves the user's read marker in `chat_id`; tells the user's sockets the
/// new unread count and, when it moved, the peer's sockets a read receipt
/// (unless one blocks the other). `None` when the user is no member.
pub async fn read_chat(
    state: &AppState,
    user_id: i64,
    chat_id: &str,
    up_to_id: i64,
) -> Result<Option<chat::ReadMarker>, crate::error::AppError> {
    let mut conn = state.db.get().await?;
    let Some(marker) = chat::mark_read(&mut conn, user_id, chat_id, up_to_id).await? else {
        return Ok(None);
    };
    state.sockets.push(
        user_id,
        &Push::event(&ServerEvent::ChatUnread {
            chat_id: chat_id.to_string(),
            unread: marker.unread,
        }),
    );
    let peer = ChatId::parse(chat_id).and_then(|c| c.peer_of(user_id));
    if let Some(peer) = peer
        && marker.moved
        && !social::blocked_either_way(&mut conn, user_id, peer).await?
    {
        state.sockets.push(
            peer,
            &Push::event(&ServerEvent::ChatRead {
                chat_id: chat_id.to_string(),
                user_id,
                up_to_id: marker.last_read_id,
            }),
        );
    }
    Ok(Some(marker))
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
        NotificationInbox::open(&self.state, self.user.id);
        let ws = self.state.settings.ws.clone();
        let hello = ServerEvent::Hello {
            protocol_version: protocol::PROTOCOL_VERSION,
            user: self.user.clone(),
            server_time: chrono::Utc::now(),
            heartbeat_interval_ms: u64::try_from(ws.heartbeat.as_millis()).unwrap_or(u64::MAX),
            client_timeout_ms: u64::try_from(ws.client_timeout.as_millis()).unwrap_or(u64::MAX),
        };
        self.send(&hello, ctx);
        if let Some(since) = self.resume.notifications {
            self.replay(Stream::Notifications, since, None, ctx);
        }
        if let Some(since) = self.resume.chat {
            self.replay(Stream::Chat, since, None, ctx);
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
                act.out.push_control(Control::Ping);
            }
        });
    }
}

/// Leaves the directory when the actor is dropped: after it stopped, and
/// also after one of its handlers panicked (`stopped` would not run then).
impl Drop for UserSession {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.registry.unregister(self.user.id, key);
            self.state.presence.closed(&self.state, self.user.id);
            if let Some(inbox) = self.state.inboxes.get(&self.user.id) {
                inbox.do_send(SessionClosed);
            }
            if let Some(attached) = self.game.take() {
                attached.addr.do_send(Leave { key });
            }
            if let Some((_, runner)) = self.watching.take() {
                runner.do_send(Unwatch { key });
            }
            if let Some(matchmaker) = self.state.matchmaker.get(&()) {
                matchmaker.do_send(LeaveQueue {
                    user_id: self.user.id,
                    session_key: Some(key),
                    reply: None,
                });
            }
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
                if self.admit(None, ctx) {
                    self.out.push_control(Control::Pong(bytes));
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
        let push = match push.replay_key {
            Some((stream, id)) => self.gate(stream).live(id, push),
            None => Some(push),
        };
        if let Some(push) = push {
            self.enqueue(push, ctx);
        }
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
    stream: Stream,
    since: i64,
    id: Option<serde_json::Value>,
    result: anyhow::Result<ReplayPage>,
}

impl Handler<Replayed> for UserSession {
    type Result = ();

    fn handle(&mut self, msg: Replayed, ctx: &mut Self::Context) {
        let Replayed {
            stream,
            since,
            id,
            result,
        } = msg;
        let more = match result {
            Ok(page) => {
                let mut up_to = since;
                for (event_id, event) in page.events {
                    up_to = up_to.max(event_id);
                    self.gate(stream).sent(event_id);
                    self.send(&event, ctx);
                }
                let done = match stream {
                    Stream::Notifications => ServerEvent::NotificationsReplayed {
                        id,
                        up_to,
                        more: page.more,
                    },
                    Stream::Chat => ServerEvent::ChatReplayed {
                        id,
                        up_to,
                        more: page.more,
                        fetch_history: page.fetch_history,
                    },
                };
                self.send(&done, ctx);
                page.more || page.fetch_history
            }
            Err(e) => {
                tracing::warn!(error = %e, user_id = self.user.id, "replay failed");
                let error =
                    ServerEvent::error(id, "service_unavailable", "replay failed; resume again");
                self.send(&error, ctx);
                true
            }
        };
        // What was held is released now, unless the client must resume
        // anyway (then its next replay carries those events, in order).
        for push in self.gate(stream).end(more) {
            self.enqueue(push, ctx);
        }
    }
}

/// The writer: owns the socket, serves control frames first, then queued
/// events in order. Ends when the actor is gone or the socket closes.
async fn write(mut socket: actix_ws::Session, mut outbox: Reader<Control, Frame>) {
    // Once the actor is gone, what it queued before (a close frame with its
    // reason, say) is still written.
    loop {
        let written = match outbox.next().await {
            Some(Next::Control(Control::Ping)) => socket.ping(b"").await,
            Some(Next::Control(Control::Pong(bytes))) => socket.pong(&bytes).await,
            Some(Next::Control(Control::Close(reason)) | Next::Frame(Frame::Close(reason))) => {
                let _ = socket.close(Some(reason)).await;
                return;
            }
            Some(Next::Frame(Frame::Event(push))) => socket.text(push.text).await,
            None => {
                let _ = socket.close(None).await;
                return;
            }
        };
        if written.is_err() {
            return;
        }
    }
}
