//! Private chat on the real-time side: a [`room::ChatRoom`] per active
//! conversation under the chat supervisor, and one [`writer::ChatWriter`]
//! per node that commits messages in batches and delivers them in order.
//!
//! A send travels: socket → its `UserSession` (checks the shape, the body
//! and the sender's rate) → the conversation's `ChatRoom` (creates the
//! conversation on its first message, hands messages to the writer in
//! arrival order, grouping what arrives during a hand-over) → the writer
//! (one statement for every room's pending messages, refusing those
//! between users who block each other) → after the commit, `chat.ack` (or
//! `user_blocked`) to the sending socket and `chat.message` to every
//! socket of both users.

pub mod room;
pub mod writer;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::domain::realtime::TokenBucket;

/// Per-user send rate limit, shared by all of a user's sockets on this
/// node (a second tab does not double the allowance).
pub struct SendLimiter {
    burst: u32,
    per_sec: u32,
    buckets: Mutex<HashMap<i64, TokenBucket>>,
}

/// Past this many users tracked, buckets that have refilled are dropped.
const SWEEP_ABOVE: usize = 10_000;

impl SendLimiter {
    pub fn new(burst: u32, per_sec: u32) -> Self {
        SendLimiter {
            burst,
            per_sec,
            buckets: Mutex::default(),
        }
    }

    /// Takes one send from the user's allowance; false when there is none.
    pub fn allow(&self, user_id: i64) -> bool {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > SWEEP_ABOVE {
            buckets.retain(|_, bucket| bucket.clone().available(now) < self.burst);
        }
        buckets
            .entry(user_id)
            .or_insert_with(|| TokenBucket::new(self.burst, self.per_sec, now))
            .take(now)
    }
}
