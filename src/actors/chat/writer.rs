//! The chat writer: one per node, on an arbiter of its own. Rooms queue
//! their pending messages with it; it writes whatever has queued up
//! meanwhile in one statement (group commit), which also refuses messages
//! between users who block each other, then, after the commit and in id
//! order, acknowledges each to its sender's socket (or tells it why not)
//! and delivers it to every socket of both participants.
//!
//! Being the only writer, it commits ids in increasing order, and being
//! the only deliverer, each socket receives messages in id order across
//! all its conversations. So a client that saw message N has seen every
//! earlier one of its conversations, and resuming from N is exact.

use actix::prelude::*;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use std::sync::Arc;
use std::time::Instant;

use crate::actors::registry::{Push, SessionRegistry};
use crate::db::DbPool;
use crate::db::chat::{self, ChatMessage, NewMessage};
use crate::domain::chat::ChatId;
use crate::metrics::Metrics;
use crate::protocol::{ChatMessageView, ServerEvent};

/// Most messages written by one statement.
pub const MAX_BATCH_ROWS: usize = 512;
/// Write requests waiting for the writer before rooms wait to hand theirs.
const QUEUE: usize = 1024;

/// One message to write, and whom to acknowledge.
pub struct Post {
    pub message: NewMessage,
    /// The sending socket, which gets the `chat.ack`.
    pub reply_to: Recipient<Push>,
    /// The client's request id, echoed in the ack or the error.
    pub request_id: Option<Value>,
    /// When the message arrived on the sender's socket.
    pub received: Instant,
}

/// What a write request returns: each stored message and whether it is
/// new, or `None` for a message refused because one user blocks the other.
pub type Written = anyhow::Result<Vec<Option<(ChatMessage, bool)>>>;

/// Resolves once the queued messages are committed (or failed).
pub type Receipt = oneshot::Receiver<Written>;

struct Request {
    posts: Vec<Post>,
    done: oneshot::Sender<Written>,
}

/// Where rooms send their messages.
#[derive(Clone)]
pub struct ChatWriter {
    queue: mpsc::Sender<Request>,
}

impl ChatWriter {
    /// Starts the writer on an arbiter of its own.
    pub fn start(db: DbPool, sockets: Arc<SessionRegistry>, metrics: Arc<Metrics>) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        let arbiter = Arbiter::new();
        arbiter.spawn(run(db, sockets, metrics, rx));
        ChatWriter { queue }
    }

    /// Queues `posts` after everything queued before (they are written in
    /// that order); resolves once queued, with the receipt of the commit.
    /// The writer acks and delivers them itself.
    pub async fn queue(&self, posts: Vec<Post>) -> anyhow::Result<Receipt> {
        let (done, receipt) = oneshot::channel();
        self.queue
            .send(Request { posts, done })
            .await
            .map_err(|_| anyhow::anyhow!("the chat writer has stopped"))?;
        Ok(receipt)
    }
}

async fn run(
    db: DbPool,
    sockets: Arc<SessionRegistry>,
    metrics: Arc<Metrics>,
    mut rx: mpsc::Receiver<Request>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let mut rows = batch[0].posts.len();
        while rows < MAX_BATCH_ROWS {
            match rx.try_recv() {
                Ok(request) => {
                    rows += request.posts.len();
                    batch.push(request);
                }
                Err(_) => break,
            }
        }
        #[allow(clippy::cast_precision_loss)]
        metrics.chat_batch_rows.observe(rows as f64);
        let started = std::time::Instant::now();
        write_batch(&db, &sockets, &metrics, batch).await;
        metrics
            .chat_commit_seconds
            .observe_duration(started.elapsed());
    }
    // Every sender (the node's state) is gone: the node is stopping.
    Arbiter::current().stop();
}

async fn write_batch(
    db: &DbPool,
    sockets: &SessionRegistry,
    metrics: &Metrics,
    batch: Vec<Request>,
) {
    let rows: Vec<NewMessage> = batch
        .iter()
        .flat_map(|r| r.posts.iter().map(|p| p.message.clone()))
        .collect();
    let result = async {
        let mut conn = db.get().await?;
        anyhow::Ok(chat::insert_batch(&mut conn, &rows).await?)
    }
    .await;
    tracing::debug!(
        rows = rows.len(),
        requests = batch.len(),
        ok = result.is_ok(),
        "chat batch"
    );
    let stored = match result {
        Ok(stored) => stored,
        Err(e) => {
            let message = e.to_string();
            for request in batch {
                let _ = request.done.send(Err(anyhow::anyhow!("{message}")));
            }
            return;
        }
    };
    let posts: Vec<&Post> = batch.iter().flat_map(|r| r.posts.iter()).collect();
    for (post, _) in posts.iter().zip(&stored).filter(|(_, s)| s.is_none()) {
        post.reply_to.do_send(Push::event(&ServerEvent::error(
            post.request_id.clone(),
            "user_blocked",
            "one of you has blocked the other",
        )));
    }
    // Acks and deliveries in id order (a resend's old message: ack only).
    let mut order: Vec<(usize, &(ChatMessage, bool))> = stored
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((i, s.as_ref()?)))
        .collect();
    order.sort_by_key(|(_, (message, _))| message.id);
    for (i, (message, fresh)) in order {
        let view = ChatMessageView::from(message.clone());
        posts[i]
            .reply_to
            .do_send(Push::event(&ServerEvent::ChatAck {
                id: posts[i].request_id.clone(),
                message: view.clone(),
            }));
        if *fresh && let Some(chat) = ChatId::parse(&message.chat_id) {
            let push = Push::chat_message(view);
            sockets.push(chat.low(), &push);
            sockets.push(chat.high(), &push);
            metrics
                .chat_delivery_seconds
                .observe_duration(posts[i].received.elapsed());
        }
    }
    let mut stored = stored.into_iter();
    for request in batch {
        let mine: Vec<_> = stored.by_ref().take(request.posts.len()).collect();
        let _ = request.done.send(Ok(mine));
    }
}
