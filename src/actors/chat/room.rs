//! `ChatRoom`: one actor per active conversation, under the chat
//! supervisor; started by the first send or typing event, stopped after
//! `CHAT_ROOM_IDLE_MS` without any.
//!
//! The room keeps one write in flight at a time: what arrives meanwhile
//! waits and goes in the next write as one group. Before each write it
//! makes sure the conversation exists (the first message creates it) and
//! that neither user blocks the other. After it, a recipient with no
//! socket open gets a (collapsed) `chat_message` notification.

use std::time::{Duration, Instant};

use actix::prelude::*;

use super::writer::Post;
use crate::actors::notifications;
use crate::actors::registry::Push;
use crate::actors::supervisor::{Child, Lease, Supervisor};
use crate::app::AppState;
use crate::db::{chat, social};
use crate::domain::chat::ChatId;
use crate::protocol::ServerEvent;

pub type ChatRooms = Supervisor<ChatRoom>;

/// A typing event is relayed at most this often per user.
const TYPING_INTERVAL: Duration = Duration::from_millis(1000);
/// How long a "not blocked" answer is trusted for typing relays (sends
/// always check afresh; a block also tells the room at once).
const BLOCK_CACHE: Duration = Duration::from_secs(10);

pub struct ChatRoom {
    lease: Lease<Self>,
    state: AppState,
    chat: ChatId,
    /// The conversation's rows exist.
    ensured: bool,
    waiting: Vec<Post>,
    writing: bool,
    last_activity: Instant,
    /// Whether either user blocks the other, and when that was learnt.
    blocked: Option<(bool, Instant)>,
    /// When each participant's last typing event was relayed.
    typing: [Option<Instant>; 2],
}

impl Actor for ChatRoom {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let idle = self.state.settings.chat.room_idle;
        ctx.run_interval(idle / 2, move |room, ctx| {
            if !room.busy() && room.last_activity.elapsed() >= idle {
                // Leave the directory first, so a send from now on starts
                // a fresh room instead of reaching this stopping one.
                room.lease.release();
                ctx.stop();
            }
        });
    }

    /// A post that reached the room as it was stopping (its sender looked
    /// the address up just before the room left the directory) keeps it
    /// running until written; it stops again once idle.
    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        if self.busy() {
            Running::Continue
        } else {
            Running::Stop
        }
    }
}

impl ChatRoom {
    fn busy(&self) -> bool {
        self.writing || !self.waiting.is_empty()
    }
}

impl Child for ChatRoom {
    /// The conversation id, `"{low}_{high}"`.
    type Key = String;
}

impl ChatRoom {
    /// The room of `chat`, started if it is not running.
    pub fn open(state: &AppState, chat: &ChatId) -> Addr<Self> {
        let for_child = state.clone();
        let id = chat.clone();
        state
            .chat_rooms
            .get_or_start(&chat.to_string(), move |lease, _| ChatRoom {
                lease,
                state: for_child,
                chat: id,
                ensured: false,
                waiting: Vec::new(),
                writing: false,
                last_activity: Instant::now(),
                blocked: None,
                typing: [None, None],
            })
    }

    fn write_next(&mut self, ctx: &mut Context<Self>) {
        if self.writing || self.waiting.is_empty() {
            return;
        }
        self.writing = true;
        let posts = std::mem::take(&mut self.waiting);
        let state = self.state.clone();
        let chat = self.chat.clone();
        let ensured = self.ensured;
        let work = async move {
            let checked = async {
                let mut conn = state.db.get().await?;
                if !ensured && !chat::ensure_chat(&mut conn, &chat).await? {
                    return anyhow::Ok(Refusal::NoSuchUser);
                }
                if social::blocked_either_way(&mut conn, chat.low(), chat.high()).await? {
                    return Ok(Refusal::Blocked);
                }
                Ok(Refusal::None)
            }
            .await;
            (checked, posts)
        };
        // Checks first (on this room's task), then the write; the room
        // does not stop while `writing`, so neither is cut short.
        ctx.spawn(work.into_actor(self).then(|(checked, posts), room, _| {
            let writer = room.state.chat_writer.clone();
            let state = room.state.clone();
            async move {
                let replies = |posts: &[Post]| -> Vec<_> {
                    posts
                        .iter()
                        .map(|p| (p.reply_to.clone(), p.request_id.clone()))
                        .collect()
                };
                match checked {
                    Err(e) => Outcome::Failed(e, replies(&posts)),
                    Ok(Refusal::None) => {
                        let replies = replies(&posts);
                        match writer.write(posts).await {
                            Ok(written) => {
                                // On a task of its own: notification writes
                                // must not hold up the room's next group.
                                actix_web::rt::spawn(async move {
                                    notify_offline(&state, &written).await;
                                });
                                Outcome::Written
                            }
                            Err(e) => Outcome::Failed(e, replies),
                        }
                    }
                    Ok(refusal) => Outcome::Refused(refusal, posts),
                }
            }
            .into_actor(room)
            .map(|outcome, room, ctx| room.written(outcome, ctx))
        }));
    }

    fn written(&mut self, outcome: Outcome, ctx: &mut Context<Self>) {
        self.writing = false;
        match outcome {
            Outcome::Written => {
                self.ensured = true;
                self.blocked = Some((false, Instant::now()));
            }
            Outcome::Refused(refusal, posts) => {
                let (code, message) = match refusal {
                    Refusal::Blocked => {
                        self.blocked = Some((true, Instant::now()));
                        ("user_blocked", "one of you has blocked the other")
                    }
                    _ => ("not_found", "no such user"),
                };
                for post in posts {
                    post.reply_to.do_send(Push::event(&ServerEvent::error(
                        post.request_id,
                        code,
                        message,
                    )));
                }
            }
            Outcome::Failed(e, replies) => {
                // Check the conversation again next time: it may be what failed.
                self.ensured = false;
                tracing::warn!(error = %e, chat = %self.chat, "chat write failed");
                for (reply_to, id) in replies {
                    reply_to.do_send(Push::event(&ServerEvent::error(
                        id,
                        "service_unavailable",
                        "the message was not saved; send it again (same client_msg_id)",
                    )));
                }
            }
        }
        self.write_next(ctx);
    }

    /// Relays a typing event to the peer's sockets if the pair is known
    /// not to block each other.
    fn relay_typing(&self, from: i64) {
        if let Some(peer) = self.chat.peer_of(from) {
            self.state.sockets.push(
                peer,
                &Push::event(&ServerEvent::Typing {
                    chat_id: self.chat.to_string(),
                    user_id: from,
                }),
            );
        }
    }
}

enum Refusal {
    None,
    NoSuchUser,
    Blocked,
}

enum Outcome {
    Written,
    Refused(Refusal, Vec<Post>),
    /// The checks or the write failed: every sender hears so and may resend.
    Failed(
        anyhow::Error,
        Vec<(Recipient<Push>, Option<serde_json::Value>)>,
    ),
}

/// Recipients with no socket on this node get a `chat_message`
/// notification (one per conversation while unread).
async fn notify_offline(state: &AppState, written: &[(chat::ChatMessage, bool)]) {
    for (message, fresh) in written {
        let recipient = ChatId::parse(&message.chat_id).and_then(|c| c.peer_of(message.sender_id));
        let Some(recipient) = recipient else { continue };
        if !fresh || state.sockets.count(recipient) > 0 {
            continue;
        }
        let result = async {
            let mut conn = state.db.get().await?;
            anyhow::Ok(chat::notify_offline(&mut conn, recipient, message).await?)
        }
        .await;
        match result {
            Ok(created) => {
                if let Err(e) = notifications::deliver(state, vec![created]).await {
                    tracing::warn!(error = %e, "delivering a chat notification failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "recording a chat notification failed"),
        }
    }
}

/// A message for the room (already checked by the session).
#[derive(Message)]
#[rtype(result = "()")]
pub struct PostMessage(pub Post);

impl Handler<PostMessage> for ChatRoom {
    type Result = ();

    fn handle(&mut self, PostMessage(post): PostMessage, ctx: &mut Context<Self>) {
        self.last_activity = Instant::now();
        self.waiting.push(post);
        self.write_next(ctx);
    }
}

/// `user_id` is typing here.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Typing {
    pub user_id: i64,
}

impl Handler<Typing> for ChatRoom {
    type Result = ();

    fn handle(&mut self, Typing { user_id }: Typing, ctx: &mut Context<Self>) {
        self.last_activity = Instant::now();
        let slot = usize::from(user_id == self.chat.high());
        if self.typing[slot].is_some_and(|t| t.elapsed() < TYPING_INTERVAL) {
            return;
        }
        self.typing[slot] = Some(Instant::now());
        match self.blocked {
            Some((blocked, at)) if at.elapsed() < BLOCK_CACHE => {
                if !blocked {
                    self.relay_typing(user_id);
                }
            }
            _ => {
                let db = self.state.db.clone();
                let chat = self.chat.clone();
                let check = async move {
                    let mut conn = db.get().await?;
                    anyhow::Ok(
                        social::blocked_either_way(&mut conn, chat.low(), chat.high()).await?,
                    )
                };
                ctx.spawn(check.into_actor(self).map(move |blocked, room, _| {
                    if let Ok(blocked) = blocked {
                        room.blocked = Some((blocked, Instant::now()));
                        if !blocked {
                            room.relay_typing(user_id);
                        }
                    }
                }));
            }
        }
    }
}

/// A block between the two users was added or removed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct BlockChanged;

impl Handler<BlockChanged> for ChatRoom {
    type Result = ();

    fn handle(&mut self, _: BlockChanged, _: &mut Context<Self>) {
        self.blocked = None;
    }
}
