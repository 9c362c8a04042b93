//! PostgreSQL through diesel + diesel-async: the pool, database creation,
//! embedded migrations, and one query module per aggregate.
//!
//! Query functions take `&mut AsyncPgConnection` so that callers can compose
//! them inside a transaction.

pub mod chat;
pub mod game;
pub mod notifications;
pub mod oauth;
pub mod reader;
pub mod schema;
pub mod sessions;
pub mod social;
pub mod throttle;
pub mod tournaments;
pub mod two_factor;
pub mod users;

use std::time::Duration;

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use url::Url;

use diesel_async::pooled_connection::PoolableConnection;
pub use diesel_async::pooled_connection::deadpool::PoolError;
pub use reader::Reader;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The one pool type used everywhere.
pub type DbPool = deadpool::managed::Pool<Manager>;
pub type DbConn = deadpool::managed::Object<Manager>;

/// A connection back in the pool within this long of its last use is
/// handed out again without a test query.
const TRUSTED_FOR: Duration = Duration::from_secs(1);

/// diesel-async's manager, but the test query it runs before handing out a
/// connection (a round trip on every checkout: a third of the round trips
/// of a typical request) runs only for connections that sat idle. A busy
/// connection that broke is still caught: `is_broken` sees a closed
/// connection (diesel-async's connection task ends on a connection error)
/// and a transaction left open, and such a connection is not handed out.
pub struct Manager(AsyncDieselConnectionManager<AsyncPgConnection>);

impl deadpool::managed::Manager for Manager {
    type Type = AsyncPgConnection;
    type Error = diesel_async::pooled_connection::PoolError;

    async fn create(&self) -> Result<AsyncPgConnection, Self::Error> {
        self.0.create().await
    }

    async fn recycle(
        &self,
        conn: &mut AsyncPgConnection,
        metrics: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<Self::Error> {
        if metrics.last_used() < TRUSTED_FOR && !conn.is_broken() && !std::thread::panicking() {
            return Ok(());
        }
        self.0.recycle(conn, metrics).await
    }
}

/// The pools of a node: the actors' pool, and one per HTTP worker (see
/// [`crate::app::AppState::for_worker`]). Held weakly: a pool goes with
/// the last state that uses it.
#[derive(Default)]
pub struct Pools(std::sync::Mutex<Vec<deadpool::managed::WeakPool<Manager>>>);

/// Connections over all pools of a node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolTotals {
    /// Open.
    pub size: usize,
    /// Open and idle.
    pub available: usize,
    /// Callers waiting for one.
    pub waiting: usize,
}

impl Pools {
    pub fn add(&self, pool: &DbPool) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(pool.weak());
    }

    pub fn totals(&self) -> PoolTotals {
        let mut pools = self.0.lock().unwrap_or_else(|p| p.into_inner());
        pools.retain(|weak| weak.upgrade().is_some());
        pools
            .iter()
            .filter_map(|weak| weak.upgrade())
            .fold(PoolTotals::default(), |sum, pool| {
                let status = pool.status();
                PoolTotals {
                    size: sum.size + status.size,
                    available: sum.available + status.available,
                    waiting: sum.waiting + status.waiting,
                }
            })
    }
}

/// Any value; it only has to be the same for every node so that two nodes
/// starting at once take turns at migrating.
const MIGRATION_LOCK_KEY: i64 = 0x7472_616e_7363_656e; // "transcen"

/// A bounded wait for a connection, so that a dead database gives a quick 503
/// instead of requests piling up.
pub fn build_pool(database_url: &str, max_size: usize) -> anyhow::Result<DbPool> {
    let manager = Manager(AsyncDieselConnectionManager::new(database_url));
    DbPool::builder(manager)
        .max_size(max_size)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(5)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .context("building the database pool")
}

/// Splits `postgres://…/name` into the maintenance database URL and `name`.
fn maintenance_url(database_url: &str) -> anyhow::Result<(String, String)> {
    let mut url = Url::parse(database_url).context("DATABASE_URL is not a URL")?;
    let name = url.path().trim_start_matches('/').to_string();
    anyhow::ensure!(!name.is_empty(), "DATABASE_URL names no database");
    url.set_path("/postgres");
    Ok((url.to_string(), name))
}

/// Quotes an identifier for PostgreSQL (`"` doubled).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[derive(diesel::QueryableByName)]
struct Exists {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    exists: bool,
}

/// Creates the database named in `database_url` when it does not exist yet.
pub async fn create_database_if_missing(database_url: &str) -> anyhow::Result<()> {
    let (admin_url, name) = maintenance_url(database_url)?;
    let mut conn = AsyncPgConnection::establish(&admin_url)
        .await
        .context("connecting to the postgres maintenance database")?;
    let found: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<diesel::sql_types::Text, _>(&name)
            .get_result(&mut conn)
            .await?;
    if !found.exists {
        let created = diesel::sql_query(format!("CREATE DATABASE {}", quote_ident(&name)))
            .execute(&mut conn)
            .await;
        match created {
            Ok(_) => tracing::info!(database = %name, "created database"),
            // Another node created it between our check and our create.
            Err(diesel::result::Error::DatabaseError(_, info))
                if info.message().contains("already exists") => {}
            Err(e) => return Err(e).context("creating the database"),
        }
    }
    Ok(())
}

/// Applies pending migrations under an advisory lock, on a thread of its own:
/// diesel's migration harness is synchronous and must not block the runtime.
pub async fn run_migrations(database_url: &str) -> anyhow::Result<Vec<String>> {
    let url = database_url.to_string();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("migrations".into())
        .spawn(move || {
            let _ = tx.send(migrate_blocking(&url));
        })
        .context("spawning the migration thread")?;
    rx.await.context("migration thread died")?
}

fn migrate_blocking(url: &str) -> anyhow::Result<Vec<String>> {
    let mut conn =
        <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(url)
            .context("connecting to run migrations")?;
    conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|versions| versions.iter().map(|v| v.to_string()).collect())
        .map_err(|e| anyhow::anyhow!("running migrations: {e}"));
    conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))?;
    applied
}

/// Reverts every migration (tests check that each `down.sql` reverses its `up.sql`).
pub async fn revert_all_migrations(database_url: &str) -> anyhow::Result<()> {
    let url = database_url.to_string();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let result = (|| {
            let mut conn =
                <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&url)?;
            conn.revert_all_migrations(MIGRATIONS)
                .map_err(|e| anyhow::anyhow!("reverting migrations: {e}"))?;
            Ok(())
        })();
        let _ = tx.send(result);
    });
    rx.await.context("migration thread died")?
}

/// A cheap round trip, for readiness.
pub async fn ping(pool: &DbPool) -> anyhow::Result<()> {
    let mut conn = pool.get().await?;
    diesel::sql_query("SELECT 1").execute(&mut conn).await?;
    Ok(())
}

/// Deletes expired one-time rows (challenges, OAuth states, spent refresh
/// tokens). Cheap, idempotent, and safe to run on every node.
pub async fn delete_expired(conn: &mut AsyncPgConnection) -> diesel::QueryResult<usize> {
    Ok(two_factor::delete_expired_challenges(conn).await?
        + oauth::delete_expired_states(conn).await?
        + sessions::delete_expired_refresh_tokens(conn).await?
        + sessions::delete_expired_ws_tickets(conn).await?
        + throttle::delete_stale(conn).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maintenance_url_keeps_credentials_and_options() {
        let (url, name) = maintenance_url("postgres://u:p@db:5433/app_db?sslmode=disable").unwrap();
        assert_eq!(url, "postgres://u:p@db:5433/postgres?sslmode=disable");
        assert_eq!(name, "app_db");
        assert!(maintenance_url("postgres://db:5432/").is_err());
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
