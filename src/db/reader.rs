//! One pooled connection that many reads share at once.
//!
//! diesel-async sends a statement as soon as it is issued on a shared
//! `&AsyncPgConnection` and matches the answers in order (pipelining), so
//! the requests a worker serves at once read through one connection: one
//! PostgreSQL backend takes a stream of statements instead of a wakeup per
//! checkout, and neither side waits for the other between them (REST
//! 19,077 → 33,560–35,184 requests/s on the machine of
//! docs/benchmarks.md).
//!
//! For single statements outside a transaction that are quick (index
//! lookups with a bounded result): a slow statement holds up those queued
//! behind it, and a transaction needs a connection of its own (the pool's).
//! A read that may scan much (search, the leaderboard's offset, unread
//! counts) goes through the pool.

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

/// How a read on the shared connection failed.
enum Lost {
    /// The connection is gone (the database answered `Unavailable`).
    Gone(String),
    /// No answer within `READ_TIMEOUT`.
    Hung,
    /// Any other error: the connection is fine.
    Not(AppError),
}

impl Lost {
    fn into_error(self) -> AppError {
        match self {
            Lost::Gone(cause) => AppError::Unavailable(cause),
            Lost::Hung => AppError::Unavailable("database read timed out".into()),
            Lost::Not(e) => e,
        }
    }
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
    /// lets it go: it returns to the pool, which drops a broken one. A read
    /// that lost a connection it did not open itself (one that went away
    /// while idle: a database restart, an idle timeout) runs once more on a
    /// fresh one, as a checkout from the pool would have tested it first.
    pub async fn read<T>(
        &self,
        read: impl AsyncFn(&AsyncPgConnection) -> AppResult<T>,
    ) -> AppResult<T> {
        let (conn, fresh) = self.connection().await?;
        match self.read_on(&conn, &read).await {
            Err(Lost::Gone(_)) if !fresh => {
                let (conn, _) = self.connection().await?;
                self.read_on(&conn, &read).await.map_err(Lost::into_error)
            }
            result => result.map_err(Lost::into_error),
        }
    }

    async fn read_on<T>(
        &self,
        conn: &Arc<DbConn>,
        read: &impl AsyncFn(&AsyncPgConnection) -> AppResult<T>,
    ) -> Result<T, Lost> {
        let shared: &AsyncPgConnection = conn;
        let result = match tokio::time::timeout(READ_TIMEOUT, read(shared)).await {
            Ok(Err(AppError::Unavailable(cause))) => Err(Lost::Gone(cause)),
            Ok(result) => result.map_err(Lost::Not),
            Err(_) => Err(Lost::Hung),
        };
        if let Err(Lost::Gone(_) | Lost::Hung) = result {
            let mut held = self.held();
            if held.as_ref().is_some_and(|h| Arc::ptr_eq(h, conn)) {
                *held = None;
            }
        }
        result
    }

    /// The shared connection, and whether this call took it from the pool.
    async fn connection(&self) -> AppResult<(Arc<DbConn>, bool)> {
        if let Some(conn) = self.held().clone() {
            return Ok((conn, false));
        }
        let _taking = self.taking.lock().await;
        if let Some(conn) = self.held().clone() {
            return Ok((conn, false));
        }
        let conn = Arc::new(self.pool.get().await?);
        *self.held() = Some(conn.clone());
        Ok((conn, true))
    }

    fn held(&self) -> MutexGuard<'_, Option<Arc<DbConn>>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}
