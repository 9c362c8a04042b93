//! Wiring: database creation and migrations, pools, shared services, and the
//! HTTP server. [`Application::build`] binds first, so tests can ask for
//! port 0 and learn the real port.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use secrecy::ExposeSecret;

use crate::actors::chat::SendLimiter;
use crate::actors::chat::writer::ChatWriter;
use crate::actors::supervisor::Supervisor;
use crate::auth::jwt::JwtKeys;
use crate::auth::oauth42::OAuth42;
use crate::auth::password::PasswordHasher;
use crate::auth::session_cache::SessionCache;
use crate::config::Settings;
use crate::db::{self, DbPool};

/// How often expired one-time rows are swept.
const JANITOR_INTERVAL: Duration = Duration::from_secs(600);

/// Everything a request handler may need, cheap to clone (all shared).
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    /// The pool for code on this state's thread: an HTTP worker's own
    /// ([`AppState::for_worker`]), else the actors' pool.
    pub db: DbPool,
    /// Quick single-statement reads, pipelined on one connection of `db`.
    pub reads: Arc<db::Reader>,
    /// The actors' pool, shared by the supervised actors (each on an
    /// arbiter of its own) and the background tasks, and its reader (no
    /// actor reads through one today: it keeps an actor's state from ever
    /// holding a worker's).
    actors_db: DbPool,
    actors_reads: Arc<db::Reader>,
    /// Every pool of the node, for the metrics.
    pub pools: Arc<db::Pools>,
    pub redis: Option<deadpool_redis::Pool>,
    pub jwt: Arc<JwtKeys>,
    pub passwords: PasswordHasher,
    pub sessions: Arc<SessionCache>,
    /// `None` when no client id is configured: the endpoints answer 503.
    pub oauth42: Option<Arc<OAuth42>>,
    /// Image decodes running at once (each may use ~100 MiB): one per core.
    pub image_permits: Arc<tokio::sync::Semaphore>,
    /// The websockets open on this node, by user.
    pub sockets: Arc<crate::actors::registry::SessionRegistry>,
    /// Who is online on this node.
    pub presence: Arc<crate::actors::presence::PresenceTracker>,
    /// The notifications supervisor: one inbox per user with sockets here.
    pub inboxes: crate::actors::notifications::Inboxes,
    /// The chat supervisor: one room per active conversation.
    pub chat_rooms: crate::actors::chat::room::ChatRooms,
    /// Commits chat messages in batches, then delivers them in order.
    pub chat_writer: crate::actors::chat::writer::ChatWriter,
    pub chat_limiter: Arc<crate::actors::chat::SendLimiter>,
    /// The game supervisor: one `PongMatch` per live match.
    pub matches: crate::actors::game::pong::Matches,
    /// Who plays which match on this node.
    pub games: Arc<crate::actors::game::GameDirectory>,
    /// The matchmaking queue and invitations (one actor).
    pub matchmaker: crate::actors::game::matchmaker::Matchmakers,
    /// The tournaments supervisor: a runner per tournament in play or watched.
    pub tournaments: crate::actors::tournament::Tournaments,
    pub metrics: Arc<crate::metrics::Metrics>,
}

pub struct Application {
    port: u16,
    server: Server,
    shutdown: Shutdown,
    state: AppState,
}

/// Stops the node gracefully: stop accepting, close every websocket with
/// 1001 after what is queued for it, let requests in flight finish (10 s at
/// most), then let [`Application::run_until_stopped`] return.
#[derive(Clone)]
pub struct Shutdown {
    server: actix_web::dev::ServerHandle,
    sockets: Arc<crate::actors::registry::SessionRegistry>,
    started: Arc<std::sync::atomic::AtomicBool>,
}

impl Shutdown {
    pub async fn run(&self) {
        if self.started.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        tracing::info!("shutting down: no new connections, closing websockets");
        self.server.pause().await;
        self.sockets.close_all();
        self.server.stop(true).await;
    }

    /// Runs the shutdown on SIGTERM or SIGINT.
    pub fn on_signals(self) {
        actix_web::rt::spawn(async move {
            let terminate = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot listen for SIGTERM");
                        std::future::pending::<()>().await;
                    }
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = terminate => {}
            }
            self.run().await;
        });
    }
}

impl Application {
    /// Creates the database if needed, migrates it, binds the listener and
    /// prepares the server (which runs once awaited).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let database_url = settings.database_url.expose_secret().to_string();
        db::create_database_if_missing(&database_url).await?;
        let applied = db::run_migrations(&database_url).await?;
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, "applied migrations");
        }
        let state = AppState::new(settings)?;
        // Matches live in memory: any still live in the database died with
        // the previous process of this node.
        let abandoned = {
            let mut conn = state.db.get().await?;
            db::game::abandon_live(&mut conn).await?
        };
        if abandoned > 0 {
            tracing::warn!(
                matches = abandoned,
                "settled matches cut by a restart as interrupted"
            );
        }
        let resumed = crate::actors::tournament::resume_all(&state).await?;
        if resumed > 0 {
            tracing::info!(tournaments = resumed, "resumed running tournaments");
        }
        actix_web::rt::spawn(crate::actors::tournament::sweep(state.clone()));
        let listener = TcpListener::bind(state.settings.bind_addr)
            .with_context(|| format!("binding {}", state.settings.bind_addr))?;
        let port = listener.local_addr()?.port();
        tracing::info!(address = %listener.local_addr()?, "listening");

        actix_web::rt::spawn(janitor(state.db.clone()));

        let sockets = state.sockets.clone();
        let shared = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(crate::http::middleware::json_errors())
                .wrap(actix_web::middleware::from_fn(
                    crate::http::middleware::request_id,
                ))
                .app_data(web::Data::new(shared.for_worker()))
                .configure(crate::http::configure)
        })
        .workers(state.settings.workers)
        // Real-time pushes are small frames that must leave at once: with
        // Nagle's algorithm a frame written while the previous one is
        // unacknowledged waits for the peer's delayed ACK (up to 40 ms).
        .tcp_nodelay(true)
        .shutdown_timeout(10)
        // Signals are ours: websockets must be closed before the server stops.
        .disable_signals()
        .listen(listener)?
        .run();
        let shutdown = Shutdown {
            server: server.handle(),
            sockets,
            started: Arc::default(),
        };
        Ok(Application {
            port,
            server,
            shutdown,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server at once (tests tearing down).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// The node's shared state (supervisors, directories), for inspection.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The graceful way to stop (what SIGTERM does).
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Serves until stopped (see [`Shutdown`]).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

impl AppState {
    /// Stops every supervised actor at once, as a crash would (matches,
    /// tournament runners, chat rooms, inboxes, the matchmaker): nothing
    /// they were about to write is written. For recovery tests.
    pub fn halt_actors(&self) {
        self.matches.halt();
        self.tournaments.halt();
        self.chat_rooms.halt();
        self.inboxes.halt();
        self.matchmaker.halt();
    }

    /// This state for one HTTP worker: the same but for a pool of the
    /// worker's own. A connection's I/O task runs on the thread that
    /// opened it, so a worker querying through connections opened on
    /// another thread would wake that thread twice per query (about a
    /// fifth of the REST throughput, docs/benchmarks.md); the worker's
    /// own connections keep each query on its thread.
    pub fn for_worker(&self) -> AppState {
        let db = db::build_pool(
            self.settings.database_url.expose_secret(),
            self.settings.db_pool_size,
        )
        // Only a pool without a runtime for its timeouts fails to build, and
        // build_pool names one; the node's own pool was built the same way.
        .expect("the worker pool builds like the node's");
        self.pools.add(&db);
        AppState {
            reads: Arc::new(db::Reader::new(db.clone())),
            db,
            ..self.clone()
        }
    }

    /// This state for a supervised actor: queries go through the actors'
    /// pool, whichever thread started the actor (a worker's pool would
    /// keep its connections' I/O on that worker's thread, and outlive it).
    pub fn for_actors(&self) -> AppState {
        AppState {
            db: self.actors_db.clone(),
            reads: self.actors_reads.clone(),
            ..self.clone()
        }
    }

    pub fn new(settings: Settings) -> anyhow::Result<Self> {
        let db = db::build_pool(settings.database_url.expose_secret(), settings.db_pool_size)?;
        let pools = Arc::<db::Pools>::default();
        pools.add(&db);
        let reads = Arc::new(db::Reader::new(db.clone()));
        let redis = settings
            .redis_url
            .as_ref()
            .map(|url| {
                deadpool_redis::Config::from_url(url.expose_secret())
                    .create_pool(Some(deadpool_redis::Runtime::Tokio1))
                    .context("building the Redis pool")
            })
            .transpose()?;
        let parallelism = std::thread::available_parallelism().map_or(2, |n| n.get());
        let sockets = Arc::<crate::actors::registry::SessionRegistry>::default();
        let metrics = Arc::<crate::metrics::Metrics>::default();
        let matches = Supervisor::new("game", parallelism);
        let priority = settings.game.thread_priority;
        if priority != crate::config::ThreadPriority::Default {
            matches.on_each_arbiter(move || {
                match crate::actors::game::ticker::set_thread_priority(priority) {
                    Ok(()) => tracing::info!(?priority, "a game thread's priority is set"),
                    Err(e) => tracing::warn!(
                        error = %e,
                        ?priority,
                        "the game threads' priority is not set (it needs CAP_SYS_NICE, or RLIMIT_NICE for a niceness and RLIMIT_RTPRIO for a real-time priority): they run as usual"
                    ),
                }
            });
        }
        Ok(AppState {
            jwt: Arc::new(JwtKeys::new(&settings.jwt)?),
            passwords: PasswordHasher::new(parallelism)?,
            sessions: Arc::new(SessionCache::new(settings.jwt.session_cache_ttl)),
            oauth42: settings
                .oauth42
                .as_ref()
                .map(OAuth42::new)
                .transpose()?
                .map(Arc::new),
            image_permits: Arc::new(tokio::sync::Semaphore::new(parallelism)),
            chat_rooms: Supervisor::new("chat", parallelism),
            chat_writer: ChatWriter::start(db.clone(), sockets.clone(), metrics.clone()),
            metrics,
            chat_limiter: Arc::new(SendLimiter::new(
                settings.chat.rate_burst,
                settings.chat.rate_per_sec,
            )),
            matches,
            games: Arc::default(),
            matchmaker: Supervisor::new("matchmaking", 1),
            tournaments: Supervisor::new("tournaments", 1),
            sockets,
            presence: Arc::new(crate::actors::presence::PresenceTracker::new(
                settings.ws.presence_grace,
            )),
            inboxes: Supervisor::new("notifications", 1),
            settings: Arc::new(settings),
            actors_db: db.clone(),
            actors_reads: reads.clone(),
            reads,
            db,
            pools,
            redis,
        })
    }
}

/// Sweeps expired challenges, OAuth states, refresh tokens and stale
/// throttles. Failures are logged and retried at the next tick.
async fn janitor(pool: DbPool) {
    let mut tick = tokio::time::interval(JANITOR_INTERVAL);
    loop {
        tick.tick().await;
        let result = async {
            let mut conn = pool.get().await?;
            anyhow::Ok(db::delete_expired(&mut conn).await?)
        }
        .await;
        match result {
            Ok(0) => {}
            Ok(n) => tracing::debug!(rows = n, "swept expired rows"),
            Err(e) => tracing::warn!(error = %e, "janitor sweep failed"),
        }
    }
}
