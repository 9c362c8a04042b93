//! The chat writer: one per node, on an arbiter of its own. Rooms queue
//! their pending messages with it; it writes whatever has queued up
//! meanwhile in one statement (group commit), which also refuses messages
//! between users who block each other, then, after the commit and in id
//! order, acknowledges each to its sender's socket (or tells it why not)
//! and delivers it to every socket of both participants.
//!
//! A batch is written as `LANES` transactions at once, on as many
//! connections, each taking the conversations that hash to it: their
//! statements touch disjoint rows (messages and members of their own
//! conversations), so they never wait for each other, and PostgreSQL runs
//! them on as many cores.
//!
//! Ids are taken for the whole batch first, ascending lane after lane, and
//! each lane commits only once the lane before it has finished; a batch
//! starts once the one before has. So the messages committed at any moment
//! are those up to some id (but for ids never used): a reader (a replay, a
//! history page) that sees message N sees every earlier one. Being the only
//! deliverer, and delivering a batch in id order, the writer also gives
//! each socket its messages in id order across all its conversations. So
//! a client that saw message N has seen every earlier one of its
//! conversations, and resuming from N is exact.

use actix::prelude::*;
use diesel_async::AsyncConnection;
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
/// Statements (and connections) a batch is split over, by conversation.
const LANES: usize = 2;

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

/// The lane that writes a conversation's messages (FNV-1a of its id: the
/// same on every build).
pub fn lane(chat_id: &str) -> usize {
    let hash = chat_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    usize::try_from(hash % LANES as u64).unwrap_or(0)
}

/// The lane of a request: that of its conversation (a room's request
/// holds messages of its one conversation).
fn lane_of(request: &Request) -> usize {
    request
        .posts
        .first()
        .map_or(0, |post| lane(&post.message.chat_id))
}

fn rows_of(requests: &[Request]) -> Vec<NewMessage> {
    requests
        .iter()
        .flat_map(|r| r.posts.iter().map(|p| p.message.clone()))
        .collect()
}

/// Writes one lane's requests in one statement, in a transaction that
/// commits once `after` (the lane before) has finished; finishing, however
/// it ends, drops `done` (this lane's turn for the next).
async fn write_lane(
    db: &DbPool,
    requests: &[Request],
    ids: &[i64],
    after: Option<oneshot::Receiver<()>>,
    done: oneshot::Sender<()>,
) -> Written {
    let mut after = after;
    let result = async {
        let rows = rows_of(requests);
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = db.get().await?;
        let stored = conn
            .transaction(async |conn| {
                let stored = chat::insert_batch(conn, &rows, ids).await?;
                if let Some(after) = after.take() {
                    // Err: the lane before dropped its turn, which is how
                    // it tells it has finished.
                    let _ = after.await;
                }
                diesel::QueryResult::Ok(stored)
            })
            .await?;
        anyhow::Ok(stored)
    }
    .await;
    // A lane that ended early (no rows, a failure) still waits its turn.
    if let Some(after) = after {
        let _ = after.await;
    }
    drop(done);
    result
}

async fn write_batch(
    db: &DbPool,
    sockets: &SessionRegistry,
    metrics: &Metrics,
    batch: Vec<Request>,
) {
    let mut lanes: [Vec<Request>; LANES] = Default::default();
    for request in batch {
        lanes[lane_of(&request)].push(request);
    }
    let rows: usize = lanes.iter().flatten().map(|r| r.posts.len()).sum();
    let reserved = async {
        let mut conn = db.get().await?;
        anyhow::Ok(chat::reserve_ids(&mut conn, rows).await?)
    }
    .await;
    let mut ids = match reserved {
        Ok(ids) => ids.into_iter(),
        Err(e) => {
            let message = e.to_string();
            for request in lanes.into_iter().flatten() {
                let _ = request.done.send(Err(anyhow::anyhow!("{message}")));
            }
            return;
        }
    };
    // Ascending ids lane after lane; each lane's turn to commit comes when
    // the one before has finished.
    let lane_ids: Vec<Vec<i64>> = lanes
        .iter()
        .map(|lane| {
            let n = lane.iter().map(|r| r.posts.len()).sum();
            ids.by_ref().take(n).collect()
        })
        .collect();
    let mut turn = None;
    let writes = lanes.iter().zip(&lane_ids).map(|(requests, ids)| {
        let (done, next) = oneshot::channel();
        write_lane(db, requests, ids, turn.replace(next), done)
    });
    let results = futures_util::future::join_all(writes).await;
    // A lane that failed fails its own requests only.
    let mut batch = Vec::new();
    let mut stored = Vec::new();
    for (requests, result) in lanes.into_iter().zip(results) {
        tracing::debug!(
            requests = requests.len(),
            ok = result.is_ok(),
            "chat batch lane"
        );
        match result {
            Ok(rows) => {
                batch.extend(requests);
                stored.extend(rows);
            }
            Err(e) => {
                let message = e.to_string();
                for request in requests {
                    let _ = request.done.send(Err(anyhow::anyhow!("{message}")));
                }
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversations_spread_over_the_lanes() {
        let mut counts = [0; LANES];
        for peer in 2..402 {
            counts[lane(&format!("1_{peer}"))] += 1;
        }
        assert!(counts.iter().all(|&n| n > 400 / LANES / 2), "{counts:?}");
    }
}
