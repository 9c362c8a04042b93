//! `ChatRoom`: one actor per active conversation, under the chat
//! supervisor; started by the first send or typing event, stopped after
//! `CHAT_ROOM_IDLE_MS` without any.
//!
//! The room hands its messages to the node's chat writer in arrival order:
//! one hand-over at a time, and what arrives meanwhile goes in the next as
//! one group. It does not wait for a group's commit before handing over
//! the next (the writer keeps their order), so a busy conversation gets
//! into every batch. Before the first hand-over it makes sure the
//! conversation exists (the first message creates it); the writer's
//! statement refuses messages between users who block each other. After
//! the commit, a recipient with no socket open gets a (collapsed)
//! `chat_message` notification.

use std::time::{Duration, Instant};

use actix::prelude::*;

use super::writer::{Post, Receipt};
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
    /// A group is being handed to the writer.
    handing_over: bool,
    /// Groups handed over and not yet committed.
    in_flight: usize,
    last_activity: Instant,
    /// Whether either user blocks the other, and when that was learnt.
    blocked: Option<(bool, Instant)>,
    /// Counts the blocks and unblocks told to the room: an answer learnt
    /// before the latest one (a check or a commit that started earlier)
    /// is not kept.
    block_changes: u64,
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
        self.handing_over || self.in_flight > 0 || !self.waiting.is_empty()
    }
}

impl Child for ChatRoom {
    /// The conversation id, `"{low}_{high}"`.
    type Key = String;
}

impl ChatRoom {
    /// The room of `chat`, started if it is not running.
    pub fn open(state: &AppState, chat: &ChatId) -> Addr<Self> {
        let for_child = state.for_actors();
        let id = chat.clone();
        state
            .chat_rooms
            .get_or_start(&chat.to_string(), move |lease, _| ChatRoom {
                lease,
                state: for_child,
                chat: id,
                ensured: false,
                waiting: Vec::new(),
                handing_over: false,
                in_flight: 0,
                last_activity: Instant::now(),
                blocked: None,
                block_changes: 0,
                typing: [None, None],
            })
    }

    fn write_next(&mut self, ctx: &mut Context<Self>) {
        if self.handing_over || self.waiting.is_empty() {
            return;
        }
        self.handing_over = true;
        let posts = std::mem::take(&mut self.waiting);
        let state = self.state.clone();
        let chat = self.chat.clone();
        let ensured = self.ensured;
        let block_changes = self.block_changes;
        let work = async move {
            if !ensured {
                let made = async {
                    let mut conn = state.db.get().await?;
                    anyhow::Ok(chat::ensure_chat(&mut conn, &chat).await?)
                }
                .await;
                match made {
                    Ok(true) => {}
                    Ok(false) => return HandOver::NoSuchUser(posts),
                    Err(e) => return HandOver::Failed(e, replies(&posts)),
                }
            }
            let replies = replies(&posts);
            match state.chat_writer.queue(posts).await {
                Ok(receipt) => HandOver::Queued(receipt, replies),
                Err(e) => HandOver::Failed(e, replies),
            }
        };
        // The room does not stop while a group is handed over or in
        // flight, so neither is cut short.
        ctx.spawn(work.into_actor(self).map(move |handed, room, ctx| {
            room.handing_over = false;
            match handed {
                HandOver::Queued(receipt, replies) => {
                    room.ensured = true;
                    room.in_flight += 1;
                    ctx.spawn(receipt.into_actor(room).map(move |written, room, ctx| {
                        room.in_flight -= 1;
                        match written {
                            Ok(Ok(written)) => room.committed(written, block_changes),
                            Ok(Err(e)) => room.failed(&e, replies),
                            Err(_) => room
                                .failed(&anyhow::anyhow!("the chat writer has stopped"), replies),
                        }
                        room.write_next(ctx);
                    }));
                }
                HandOver::NoSuchUser(posts) => {
                    for post in posts {
                        post.reply_to.do_send(Push::event(&ServerEvent::error(
                            post.request_id,
                            "not_found",
                            "no such user",
                        )));
                    }
                }
                HandOver::Failed(e, replies) => room.failed(&e, replies),
            }
            room.write_next(ctx);
        }));
    }

    /// A group is committed: the writer acked and delivered it.
    /// `block_changes` is the count when it was handed over.
    fn committed(&mut self, written: Vec<Option<(chat::ChatMessage, bool)>>, block_changes: u64) {
        // A refused row says the pair is blocked, a new message that it is
        // not; resends of earlier messages say nothing.
        let blocked = written.iter().any(Option::is_none);
        let allowed = written.iter().flatten().any(|(_, fresh)| *fresh);
        if block_changes == self.block_changes && (blocked || allowed) {
            self.blocked = Some((blocked, Instant::now()));
        }
        let written: Vec<_> = written.into_iter().flatten().collect();
        let state = self.state.clone();
        // On a task of its own: notification writes must not hold up the
        // room's next group.
        actix_web::rt::spawn(async move {
            notify_offline(&state, &written).await;
        });
    }

    /// The hand-over or the write failed: every sender hears so and may
    /// resend.
    fn failed(&mut self, e: &anyhow::Error, replies: Replies) {
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

/// Whom to tell when a group fails: each sending socket and request id.
type Replies = Vec<(Recipient<Push>, Option<serde_json::Value>)>;

fn replies(posts: &[Post]) -> Replies {
    posts
        .iter()
        .map(|p| (p.reply_to.clone(), p.request_id.clone()))
        .collect()
}

enum HandOver {
    /// With the writer: the receipt resolves after the commit.
    Queued(Receipt, Replies),
    NoSuchUser(Vec<Post>),
    Failed(anyhow::Error, Replies),
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
                let block_changes = self.block_changes;
                let check = async move {
                    let mut conn = db.get().await?;
                    anyhow::Ok(
                        social::blocked_either_way(&mut conn, chat.low(), chat.high()).await?,
                    )
                };
                ctx.spawn(check.into_actor(self).map(move |blocked, room, _| {
                    if let Ok(blocked) = blocked
                        && block_changes == room.block_changes
                    {
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
        self.block_changes += 1;
    }
}
