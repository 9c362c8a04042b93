//! One pooled connection that many reads share at once.
//!
//! diesel-async sends a statement as soon as it is issued on a shared
//! `&AsyncPgConnection` and matches the answers in order (pipelining), so
//! the requests a worker serves at once read through one connection: one
//! PostgreSQL backend takes a stream of statements instead of a wakeup per
//! checkout, and neither side waits for the other between them (REST
//! 19,000 → 34,700 requests/s on the machine of docs/benchmarks.md).
//!
//! For single statements outside a transaction that are quick (index
//! lookups with a bounded result): a slow statement holds up those queued
//! behind it, and a transaction needs a connection of its own (the pool's).
//! A read that may scan much (search, the leaderboard's offset, the
//! conversation list's unread counts) goes through the pool.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use diesel_async::AsyncPgConnection;

use super::{DbConn, DbPool};
use crate::error::{AppError, AppResult};

/// A read that takes longer has found its connection hung (a peer gone
/// without a reset): the connection is let go, as a lost one is.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Reader {
    pool: DbPool,
    /// The shared connection, taken from `pool` on the first read.
    held: Mutex<Option<Arc<DbConn>>>,
    /// One read at a time takes a connection from the pool.
    taking: tokio::sync::Mutex<()>,
}

impl Reader {
    pub fn new(pool: DbPool) -> Self {
        Reader {
            pool,
            held: Mutex::new(None),
            taking: tokio::sync::Mutex::new(()),
        }
    }

    /// Runs `read` on the shared connection. A read that finds the
    /// connection lost (`AppError::Unavailable`) or hung (`READ_TIMEOUT`)
    /// lets it go: it returns to the pool, which drops a broken one, and the
    /// next read takes another.
    pub async fn read<T>(
        &self,
        read: impl AsyncFnOnce(&AsyncPgConnection) -> AppResult<T>,
    ) -> AppResult<T> {
        let conn = self.connection().await?;
        let shared: &AsyncPgConnection = &conn;
        let result = tokio::time::timeout(READ_TIMEOUT, read(shared))
            .await
            .unwrap_or_else(|_| Err(AppError::Unavailable("database read timed out".into())));
        if let Err(AppError::Unavailable(_)) = result {
            let mut held = self.held();
            if held.as_ref().is_some_and(|h| Arc::ptr_eq(h, &conn)) {
                *held = None;
            }
        }
        result
    }

    async fn connection(&self) -> AppResult<Arc<DbConn>> {
        if let Some(conn) = self.held().clone() {
            return Ok(conn);
        }
        let _taking = self.taking.lock().await;
        if let Some(conn) = self.held().clone() {
            return Ok(conn);
        }
        let conn = Arc::new(self.pool.get().await?);
        *self.held() = Some(conn.clone());
        Ok(conn)
    }

    fn held(&self) -> MutexGuard<'_, Option<Arc<DbConn>>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}
