//! Typed settings, read once at start from an optional TOML file and the
//! environment (the environment wins), then validated.
//!
//! The environment names are part of the public contract (see the README's
//! configuration table). Secrets are [`SecretString`]s so that neither `Debug`
//! nor a log line can print them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

/// The smallest JWT secret accepted: HS256 keys shorter than the hash output
/// weaken the signature.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// PostgreSQL connections a node opens by default, over all its pools.
const NODE_CONNECTIONS: usize = 16;
/// Longest token lifetimes accepted: a day for access tokens, 90 days for
/// refresh tokens.
const MAX_ACCESS_TTL_SECS: u64 = 86_400;
const MAX_REFRESH_TTL_SECS: u64 = 90 * 86_400;

/// The database a developer gets in dev mode when `DATABASE_URL` is unset.
pub const DEV_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/transcendence";

/// Everything read from the environment, named as in the environment
/// (lower-cased). Validated into [`Settings`].
#[derive(Debug, Deserialize)]
struct RawSettings {
    app_env: Option<String>,
    database_url: Option<SecretString>,
    redis_url: Option<SecretString>,
    jwt_secret: Option<SecretString>,
    jwt_secret_file: Option<PathBuf>,
    bind_addr: Option<String>,
    public_url: Option<String>,
    allowed_origins: Option<String>,
    data_dir: Option<PathBuf>,
    avatar_dir: Option<PathBuf>,
    web_dir: Option<PathBuf>,
    languages: Option<String>,
    log_format: Option<String>,
    workers: Option<usize>,
    db_pool_size: Option<usize>,
    trusted_proxies: Option<String>,
    jwt_issuer: Option<String>,
    jwt_audience: Option<String>,
    access_token_ttl_secs: Option<u64>,
    refresh_token_ttl_secs: Option<u64>,
    session_cache_ttl_secs: Option<u64>,
    totp_issuer: Option<String>,
    ws_heartbeat_ms: Option<u64>,
    ws_client_timeout_ms: Option<u64>,
    ws_queue_capacity: Option<usize>,
    ws_rate_burst: Option<u32>,
    ws_rate_per_sec: Option<u32>,
    presence_grace_ms: Option<u64>,
    fault_injection: Option<bool>,
    metrics_enabled: Option<bool>,
    chat_room_idle_ms: Option<u64>,
    chat_rate_burst: Option<u32>,
    chat_rate_per_sec: Option<u32>,
    chat_replay_window: Option<usize>,
    game_tick_rate: Option<u32>,
    game_reconnect_grace_ms: Option<u64>,
    game_invite_ttl_ms: Option<u64>,
    game_input_rate: Option<u32>,
    game_time_scale: Option<u32>,
    game_thread_nice: Option<i32>,
    game_thread_rt_priority: Option<i32>,
    oauth42_client_id: Option<String>,
    oauth42_client_secret: Option<SecretString>,
    oauth42_client_secret_file: Option<PathBuf>,
    oauth42_authorize_url: Option<String>,
    oauth42_token_url: Option<String>,
    oauth42_api_url: Option<String>,
    oauth42_redirect_uri: Option<String>,
}

/// The environment variables read, in the order of the README's table.
const ENV_NAMES: &[&str] = &[
    "APP_ENV",
    "DATABASE_URL",
    "REDIS_URL",
    "JWT_SECRET",
    "JWT_SECRET_FILE",
    "BIND_ADDR",
    "PUBLIC_URL",
    "ALLOWED_ORIGINS",
    "DATA_DIR",
    "AVATAR_DIR",
    "WEB_DIR",
    "LANGUAGES",
    "LOG_FORMAT",
    "WORKERS",
    "DB_POOL_SIZE",
    "TRUSTED_PROXIES",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "ACCESS_TOKEN_TTL_SECS",
    "REFRESH_TOKEN_TTL_SECS",
    "SESSION_CACHE_TTL_SECS",
    "TOTP_ISSUER",
    "WS_HEARTBEAT_MS",
    "WS_CLIENT_TIMEOUT_MS",
    "WS_QUEUE_CAPACITY",
    "WS_RATE_BURST",
    "WS_RATE_PER_SEC",
    "PRESENCE_GRACE_MS",
    "FAULT_INJECTION",
    "METRICS_ENABLED",
    "CHAT_ROOM_IDLE_MS",
    "CHAT_RATE_BURST",
    "CHAT_RATE_PER_SEC",
    "CHAT_REPLAY_WINDOW",
    "GAME_TICK_RATE",
    "GAME_RECONNECT_GRACE_MS",
    "GAME_INVITE_TTL_MS",
    "GAME_INPUT_RATE",
    "GAME_TIME_SCALE",
    "GAME_THREAD_NICE",
    "GAME_THREAD_RT_PRIORITY",
    "OAUTH42_CLIENT_ID",
    "OAUTH42_CLIENT_SECRET",
    "OAUTH42_CLIENT_SECRET_FILE",
    "OAUTH42_AUTHORIZE_URL",
    "OAUTH42_TOKEN_URL",
    "OAUTH42_API_URL",
    "OAUTH42_REDIRECT_URI",
];

/// Why the settings were refused. The message names the variable to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("could not read settings: {0}")]
    Read(String),
    #[error("{name}: {problem}")]
    Invalid { name: &'static str, problem: String },
}

fn invalid(name: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name,
        problem: problem.into(),
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The validated settings every part of the server is built from.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Dev mode: a generated JWT secret kept in `data_dir`, and a default
    /// local database. Never for production.
    pub dev_mode: bool,
    pub database_url: SecretString,
    /// Only needed by several nodes; `/readyz` checks it when set.
    pub redis_url: Option<SecretString>,
    pub jwt: JwtSettings,
    pub bind_addr: SocketAddr,
    /// The address clients use to reach the service (scheme, host, port).
    pub public_url: Url,
    /// Browser origins allowed to open the websocket and call the API.
    pub allowed_origins: Vec<String>,
    pub data_dir: PathBuf,
    /// Where uploaded avatars are stored, under content-addressed names.
    pub avatar_dir: PathBuf,
    /// The built web client (`index.html` and `assets/`), served at `/`.
    pub web_dir: PathBuf,
    /// Languages a profile may choose; the first is the default.
    pub languages: Vec<String>,
    pub log_format: LogFormat,
    /// HTTP worker threads (`WORKERS`, default one per core).
    pub workers: usize,
    /// Connections per pool: one pool per worker, and the actors' pool.
    pub db_pool_size: usize,
    /// Peers whose `X-Forwarded-For` is believed (the gateway). Anyone else's
    /// header is ignored, so a client cannot pick the address it is throttled by.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    pub totp_issuer: String,
    pub ws: WsSettings,
    pub chat: ChatSettings,
    pub game: GameSettings,
    pub oauth42: Option<OAuth42Settings>,
    /// Honour the `debug.panic` socket message (tests of failure
    /// isolation). Dev mode only.
    pub fault_injection: bool,
    /// Serve `GET /metrics` (Prometheus). Off by default: keep it off the
    /// public side (the gateway does not route it).
    pub metrics_enabled: bool,
}

/// The websocket's timings and limits (tests shrink them).
#[derive(Debug, Clone)]
pub struct WsSettings {
    /// How often the server pings.
    pub heartbeat: Duration,
    /// Silence after which a client is disconnected.
    pub client_timeout: Duration,
    /// Outbound frames queued per socket before it counts as a slow consumer.
    pub queue_capacity: usize,
    /// Messages a client may send in a burst, then `rate_per_sec` a second.
    pub rate_burst: u32,
    pub rate_per_sec: u32,
    /// How long after their last socket closes a user still counts as
    /// online (a page reload must not flicker).
    pub presence_grace: Duration,
}

#[derive(Debug, Clone)]
pub struct ChatSettings {
    /// A conversation's room stops after this long without a message.
    pub room_idle: Duration,
    /// Messages a user may send in a burst, then `rate_per_sec` a second.
    pub rate_burst: u32,
    pub rate_per_sec: u32,
    /// Most messages a reconnecting socket is replayed; beyond, it is told
    /// to reload history over REST.
    pub replay_window: usize,
}

#[derive(Debug, Clone)]
pub struct GameSettings {
    /// Simulation steps (and snapshots) per second.
    pub tick_rate: u32,
    /// How long a player may be away from a live match (or late to join a
    /// new one) before forfeiting it.
    pub reconnect_grace: Duration,
    /// How long an invitation waits for an answer.
    pub invite_ttl: Duration,
    /// `game.input` messages a socket may send per second (and in a burst),
    /// apart from the general message rate limit.
    pub input_rate: u32,
    /// Simulation steps per tick: 1 plays in real time; tests and demos
    /// fast-forward with more (a snapshot still goes out once per tick).
    pub time_scale: u32,
    /// How the game threads are scheduled.
    pub thread_priority: ThreadPriority,
}

/// How the game threads are scheduled (`GAME_THREAD_NICE`, or
/// `GAME_THREAD_RT_PRIORITY`). A negative niceness, or more so a real-time
/// priority, keeps ticks on time on a saturated machine. Each needs
/// `CAP_SYS_NICE`, or else its own limit (`RLIMIT_NICE`, `RLIMIT_RTPRIO`);
/// without them the threads run as usual, and the server says so in its
/// log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadPriority {
    /// As the system schedules any thread.
    Default,
    /// This niceness (-20 to 19, but 0).
    Nice(i32),
    /// The real-time policy `SCHED_FIFO` at this priority (1 to 99): the
    /// threads run before any ordinary thread of the machine.
    Realtime(i32),
}

#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub secret: SecretString,
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// How long a node trusts its cached "session not revoked" answer.
    /// A revocation made on another node takes at most this long to bite.
    pub session_cache_ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct OAuth42Settings {
    pub client_id: String,
    pub client_secret: SecretString,
    pub authorize_url: Url,
    pub token_url: Url,
    /// Base of the provider's API; the profile is read from `{api_url}/v2/me`.
    pub api_url: Url,
    pub redirect_uri: Url,
}

impl Settings {
    /// Reads the optional TOML file, then the environment, and validates.
    /// `dev` forces dev mode (as `APP_ENV=dev` does).
    pub fn load(config_file: Option<&Path>, dev: bool) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = config_file {
            if !path.exists() {
                return Err(ConfigError::Read(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        Self::from_figment(figment.merge(Env::raw().only(ENV_NAMES)), dev)
    }

    /// Validates settings from any figment source, keyed by the lower-cased
    /// environment names (`database_url`, `jwt_secret`, …). Tests use this to
    /// build settings without touching the process environment.
    pub fn from_figment(figment: Figment, dev: bool) -> Result<Self, ConfigError> {
        let raw: RawSettings = figment
            .extract()
            .map_err(|e| ConfigError::Read(e.to_string()))?;
        Self::validate(raw, dev)
    }

    fn validate(raw: RawSettings, dev: bool) -> Result<Self, ConfigError> {
        let dev_mode = dev
            || match raw.app_env.as_deref() {
                None | Some("prod") | Some("production") => false,
                Some("dev") | Some("development") => true,
                Some(other) => {
                    return Err(invalid(
                        "APP_ENV",
                        format!("unknown environment {other:?} (use dev or production)"),
                    ));
                }
            };

        let database_url = match raw.database_url {
            Some(url) => url,
            None if dev_mode => SecretString::from(DEV_DATABASE_URL),
            None => return Err(invalid("DATABASE_URL", "is required")),
        };
        let parsed_db = Url::parse(database_url.expose_secret())
            .map_err(|e| invalid("DATABASE_URL", format!("not a URL: {e}")))?;
        if !matches!(parsed_db.scheme(), "postgres" | "postgresql") {
            return Err(invalid("DATABASE_URL", "must be a postgres:// URL"));
        }
        if parsed_db.path().trim_start_matches('/').is_empty() {
            return Err(invalid("DATABASE_URL", "must name a database"));
        }

        let data_dir = raw.data_dir.unwrap_or_else(|| PathBuf::from("data"));
        let secret = match (raw.jwt_secret, raw.jwt_secret_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "JWT_SECRET",
                    "set JWT_SECRET or JWT_SECRET_FILE, not both",
                ));
            }
            (Some(secret), None) => secret,
            (None, Some(path)) => read_secret_file("JWT_SECRET_FILE", &path)?,
            (None, None) if dev_mode => dev_jwt_secret(&data_dir)?,
            (None, None) => {
                return Err(invalid(
                    "JWT_SECRET",
                    "no JWT secret: set JWT_SECRET or JWT_SECRET_FILE (at least 32 bytes), \
                     or run `transcendence serve --dev` for a generated development secret",
                ));
            }
        };
        if secret.expose_secret().len() < MIN_JWT_SECRET_BYTES {
            return Err(invalid(
                "JWT_SECRET",
                format!("must be at least {MIN_JWT_SECRET_BYTES} bytes"),
            ));
        }

        let bind_addr = raw
            .bind_addr
            .as_deref()
            .unwrap_or("127.0.0.1:8000")
            .parse()
            .map_err(|e| invalid("BIND_ADDR", format!("not an address:port: {e}")))?;

        let public_url = parse_url(
            "PUBLIC_URL",
            raw.public_url.as_deref().unwrap_or("http://localhost:8000"),
        )?;
        let allowed_origins = match raw.allowed_origins.as_deref() {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| parse_origin("ALLOWED_ORIGINS", s))
                .collect::<Result<Vec<_>, _>>()?,
            None => default_origins(&public_url, dev_mode),
        };

        let log_format = match raw.log_format.as_deref().unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(invalid(
                    "LOG_FORMAT",
                    format!("{other:?} is not text or json"),
                ));
            }
        };

        let trusted_proxies = raw
            .trusted_proxies
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse()
                    .map_err(|_| invalid("TRUSTED_PROXIES", format!("{s:?} is not an IP address")))
            })
            .collect::<Result<Vec<_>, _>>()?;

        let access_ttl = raw.access_token_ttl_secs.unwrap_or(3600);
        let refresh_ttl = raw.refresh_token_ttl_secs.unwrap_or(86_400);
        if !(1..=MAX_ACCESS_TTL_SECS).contains(&access_ttl) {
            return Err(invalid(
                "ACCESS_TOKEN_TTL_SECS",
                format!("must be 1-{MAX_ACCESS_TTL_SECS} seconds"),
            ));
        }
        if !(1..=MAX_REFRESH_TTL_SECS).contains(&refresh_ttl) {
            return Err(invalid(
                "REFRESH_TOKEN_TTL_SECS",
                format!("must be 1-{MAX_REFRESH_TTL_SECS} seconds"),
            ));
        }
        let workers = match raw.workers.unwrap_or(0) {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        // By default about 16 connections a node, over its workers' pools
        // and the actors' one, but at least 4 in each.
        let db_pool_size = raw
            .db_pool_size
            .unwrap_or((NODE_CONNECTIONS / (workers + 1)).max(4));
        // One connection of each pool is its reader's (`db::Reader`).
        if db_pool_size < 2 {
            return Err(invalid("DB_POOL_SIZE", "must be at least 2"));
        }

        let oauth42 = match raw.oauth42_client_id.filter(|id| !id.is_empty()) {
            None => None,
            Some(client_id) => {
                let client_secret =
                    match (raw.oauth42_client_secret, raw.oauth42_client_secret_file) {
                        (Some(secret), None) => secret,
                        (None, Some(path)) => {
                            read_secret_file("OAUTH42_CLIENT_SECRET_FILE", &path)?
                        }
                        _ => {
                            return Err(invalid(
                                "OAUTH42_CLIENT_SECRET",
                                "set exactly one of OAUTH42_CLIENT_SECRET or \
                                 OAUTH42_CLIENT_SECRET_FILE when OAUTH42_CLIENT_ID is set",
                            ));
                        }
                    };
                let default_redirect = public_url
                    .join("/oauth/42")
                    .map_err(|e| invalid("PUBLIC_URL", e.to_string()))?;
                Some(OAuth42Settings {
                    client_id,
                    client_secret,
                    authorize_url: parse_url(
                        "OAUTH42_AUTHORIZE_URL",
                        raw.oauth42_authorize_url
                            .as_deref()
                            .unwrap_or("https://api.intra.42.fr/oauth/authorize"),
                    )?,
                    token_url: parse_url(
                        "OAUTH42_TOKEN_URL",
                        raw.oauth42_token_url
                            .as_deref()
                            .unwrap_or("https://api.intra.42.fr/oauth/token"),
                    )?,
                    api_url: parse_url(
                        "OAUTH42_API_URL",
                        raw.oauth42_api_url
                            .as_deref()
                            .unwrap_or("https://api.intra.42.fr"),
                    )?,
                    redirect_uri: match raw.oauth42_redirect_uri.as_deref() {
                        Some(uri) => parse_url("OAUTH42_REDIRECT_URI", uri)?,
                        None => default_redirect,
                    },
                })
            }
        };

        let languages: Vec<String> = raw
            .languages
            .as_deref()
            .unwrap_or("en,fr,de")
            .split(',')
            .map(|l| l.trim().to_lowercase())
            .filter(|l| !l.is_empty())
            .collect();
        if languages.is_empty() {
            return Err(invalid("LANGUAGES", "needs at least one language"));
        }
        let avatar_dir = raw.avatar_dir.unwrap_or_else(|| data_dir.join("avatars"));

        let ws = WsSettings {
            heartbeat: Duration::from_millis(raw.ws_heartbeat_ms.unwrap_or(15_000)),
            client_timeout: Duration::from_millis(raw.ws_client_timeout_ms.unwrap_or(45_000)),
            queue_capacity: raw.ws_queue_capacity.unwrap_or(256),
            rate_burst: raw.ws_rate_burst.unwrap_or(30),
            rate_per_sec: raw.ws_rate_per_sec.unwrap_or(10),
            presence_grace: Duration::from_millis(raw.presence_grace_ms.unwrap_or(5_000)),
        };
        if ws.heartbeat.is_zero() || ws.client_timeout <= ws.heartbeat {
            return Err(invalid(
                "WS_CLIENT_TIMEOUT_MS",
                "must be longer than WS_HEARTBEAT_MS, which must be positive",
            ));
        }
        if ws.queue_capacity == 0 || ws.rate_burst == 0 || ws.rate_per_sec == 0 {
            return Err(invalid(
                "WS_QUEUE_CAPACITY",
                "WS_QUEUE_CAPACITY, WS_RATE_BURST and WS_RATE_PER_SEC must be positive",
            ));
        }

        let chat = ChatSettings {
            room_idle: Duration::from_millis(raw.chat_room_idle_ms.unwrap_or(60_000)),
            rate_burst: raw.chat_rate_burst.unwrap_or(20),
            rate_per_sec: raw.chat_rate_per_sec.unwrap_or(5),
            replay_window: raw.chat_replay_window.unwrap_or(1000),
        };
        if chat.room_idle < Duration::from_millis(10) {
            return Err(invalid("CHAT_ROOM_IDLE_MS", "must be at least 10"));
        }
        if chat.rate_burst == 0 || chat.rate_per_sec == 0 || chat.replay_window == 0 {
            return Err(invalid(
                "CHAT_RATE_BURST",
                "CHAT_RATE_BURST, CHAT_RATE_PER_SEC and CHAT_REPLAY_WINDOW must be positive",
            ));
        }

        let game = GameSettings {
            tick_rate: raw.game_tick_rate.unwrap_or(60),
            reconnect_grace: Duration::from_millis(raw.game_reconnect_grace_ms.unwrap_or(15_000)),
            invite_ttl: Duration::from_millis(raw.game_invite_ttl_ms.unwrap_or(30_000)),
            input_rate: raw.game_input_rate.unwrap_or(120),
            time_scale: raw.game_time_scale.unwrap_or(1),
            thread_priority: match (
                raw.game_thread_nice.unwrap_or(0),
                raw.game_thread_rt_priority.unwrap_or(0),
            ) {
                (0, 0) => ThreadPriority::Default,
                (nice, 0) if (-20..=19).contains(&nice) => ThreadPriority::Nice(nice),
                (_, 0) => return Err(invalid("GAME_THREAD_NICE", "must be -20 to 19")),
                (0, rt) if (1..=99).contains(&rt) => ThreadPriority::Realtime(rt),
                (0, _) => return Err(invalid("GAME_THREAD_RT_PRIORITY", "must be 0 to 99")),
                _ => {
                    return Err(invalid(
                        "GAME_THREAD_RT_PRIORITY",
                        "set GAME_THREAD_NICE or GAME_THREAD_RT_PRIORITY, not both",
                    ));
                }
            },
        };
        if !(1..=16).contains(&game.time_scale) {
            return Err(invalid("GAME_TIME_SCALE", "must be 1-16"));
        }
        if !(10..=240).contains(&game.tick_rate) {
            return Err(invalid("GAME_TICK_RATE", "must be 10-240"));
        }
        if game.input_rate == 0 {
            return Err(invalid("GAME_INPUT_RATE", "must be positive"));
        }
        if game.reconnect_grace < Duration::from_millis(100) {
            return Err(invalid("GAME_RECONNECT_GRACE_MS", "must be at least 100"));
        }
        if game.invite_ttl < Duration::from_millis(100) {
            return Err(invalid("GAME_INVITE_TTL_MS", "must be at least 100"));
        }

        let fault_injection = raw.fault_injection.unwrap_or(false);
        if fault_injection && !dev_mode {
            return Err(invalid(
                "FAULT_INJECTION",
                "lets any client crash actors: only allowed in dev mode",
            ));
        }

        Ok(Settings {
            dev_mode,
            database_url,
            redis_url: raw.redis_url.filter(|u| !u.expose_secret().is_empty()),
            jwt: JwtSettings {
                secret,
                issuer: raw.jwt_issuer.unwrap_or_else(|| "transcendence".into()),
                audience: raw.jwt_audience.unwrap_or_else(|| "transcendence".into()),
                access_ttl: Duration::from_secs(access_ttl),
                refresh_ttl: Duration::from_secs(refresh_ttl),
                session_cache_ttl: Duration::from_secs(raw.session_cache_ttl_secs.unwrap_or(10)),
            },
            bind_addr,
            public_url,
            allowed_origins,
            data_dir,
            avatar_dir,
            web_dir: raw.web_dir.unwrap_or_else(|| PathBuf::from("web/dist")),
            languages,
            log_format,
            workers,
            db_pool_size,
            trusted_proxies,
            totp_issuer: raw.totp_issuer.unwrap_or_else(|| "transcendence".into()),
            ws,
            chat,
            game,
            oauth42,
            fault_injection,
            metrics_enabled: raw.metrics_enabled.unwrap_or(false),
        })
    }

    /// Whether cookies must carry `Secure` (the public address is HTTPS).
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

fn parse_url(name: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| invalid(name, format!("{value:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(name, format!("{value:?} must be http(s)")));
    }
    Ok(url)
}

/// The browser origins allowed when `ALLOWED_ORIGINS` is not set: the
/// origin of `PUBLIC_URL`. In dev mode also its loopback twin (`localhost`
/// and `127.0.0.1` name the same server) and the Vite dev server of `web/`,
/// so the web client works however a developer opens it.
fn default_origins(public_url: &Url, dev_mode: bool) -> Vec<String> {
    let origin = public_url.origin().ascii_serialization();
    let mut origins = vec![origin.clone()];
    if dev_mode {
        let twin = match public_url.host_str() {
            Some("localhost") => Some(origin.replacen("localhost", "127.0.0.1", 1)),
            Some("127.0.0.1") => Some(origin.replacen("127.0.0.1", "localhost", 1)),
            _ => None,
        };
        origins.extend(twin);
        for vite in ["http://localhost:5173", "http://127.0.0.1:5173"] {
            if !origins.iter().any(|o| o == vite) {
                origins.push(vite.to_string());
            }
        }
    }
    origins
}

fn parse_origin(name: &'static str, value: &str) -> Result<String, ConfigError> {
    let url = parse_url(name, value)?;
    Ok(url.origin().ascii_serialization())
}

fn read_secret_file(name: &'static str, path: &Path) -> Result<SecretString, ConfigError> {
    let content = std::fs::read_to_string(path)
        .map_err(|e| invalid(name, format!("cannot read {}: {e}", path.display())))?;
    Ok(SecretString::from(content.trim_end_matches(['\n', '\r'])))
}

/// Dev mode's JWT secret: generated once and kept in `data_dir` so tokens
/// survive a restart.
fn dev_jwt_secret(data_dir: &Path) -> Result<SecretString, ConfigError> {
    let path = data_dir.join("jwt_secret");
    if path.exists() {
        return read_secret_file("DATA_DIR", &path);
    }
    let fail = |e: std::io::Error| invalid("DATA_DIR", format!("{}: {e}", path.display()));
    std::fs::create_dir_all(data_dir).map_err(fail)?;
    let secret = crate::auth::random_token(48);
    write_private_file(&path, secret.as_bytes()).map_err(fail)?;
    Ok(SecretString::from(secret))
}

#[cfg(unix)]
fn write_private_file(path: &Path, content: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(content)
}

#[cfg(not(unix))]
fn write_private_file(path: &Path, content: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, content)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawSettings {
        RawSettings {
            app_env: None,
            database_url: Some(SecretString::from("postgres://u:hunter2@localhost/db")),
            redis_url: None,
            jwt_secret: Some(SecretString::from("x".repeat(32))),
            jwt_secret_file: None,
            bind_addr: None,
            public_url: None,
            allowed_origins: None,
            data_dir: None,
            avatar_dir: None,
            web_dir: None,
            languages: None,
            log_format: None,
            workers: None,
            db_pool_size: None,
            trusted_proxies: None,
            jwt_issuer: None,
            jwt_audience: None,
            access_token_ttl_secs: None,
            refresh_token_ttl_secs: None,
            session_cache_ttl_secs: None,
            totp_issuer: None,
            ws_heartbeat_ms: None,
            ws_client_timeout_ms: None,
            ws_queue_capacity: None,
            ws_rate_burst: None,
            ws_rate_per_sec: None,
            presence_grace_ms: None,
            fault_injection: None,
            metrics_enabled: None,
            chat_room_idle_ms: None,
            chat_rate_burst: None,
            chat_rate_per_sec: None,
            chat_replay_window: None,
            game_tick_rate: None,
            game_reconnect_grace_ms: None,
            game_invite_ttl_ms: None,
            game_input_rate: None,
            game_time_scale: None,
            game_thread_nice: None,
            game_thread_rt_priority: None,
            oauth42_client_id: None,
            oauth42_client_secret: None,
            oauth42_client_secret_file: None,
            oauth42_authorize_url: None,
            oauth42_token_url: None,
            oauth42_api_url: None,
            oauth42_redirect_uri: None,
        }
    }

    #[test]
    fn defaults_apply() {
        let s = Settings::validate(raw(), false).unwrap();
        assert_eq!(s.bind_addr.to_string(), "127.0.0.1:8000");
        assert_eq!(s.allowed_origins, vec!["http://localhost:8000".to_string()]);
        assert_eq!(s.jwt.access_ttl, Duration::from_secs(3600));
        assert_eq!(s.jwt.refresh_ttl, Duration::from_secs(86_400));
        assert!(s.oauth42.is_none());
    }

    /// A deserializer that only records the field names it is asked for.
    struct FieldNames(std::cell::RefCell<Vec<&'static str>>);

    impl<'de> serde::Deserializer<'de> for &FieldNames {
        type Error = serde::de::value::Error;

        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            self.0.borrow_mut().extend(fields);
            Err(serde::de::Error::custom("only the field names were wanted"))
        }

        fn deserialize_any<V: serde::de::Visitor<'de>>(
            self,
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            Err(serde::de::Error::custom("unexpected"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }

    #[test]
    fn a_node_opens_about_16_connections_by_default() {
        let pool = |workers| {
            let mut r = raw();
            r.workers = Some(workers);
            Settings::validate(r, false).unwrap().db_pool_size
        };
        // One pool per worker and the actors' pool, at least 4 each.
        assert_eq!((pool(1), pool(2), pool(3), pool(16)), (8, 5, 4, 4));
        let mut r = raw();
        r.db_pool_size = Some(20);
        assert_eq!(Settings::validate(r, false).unwrap().db_pool_size, 20);
        // A pool's reader keeps one connection: one alone is too few.
        let mut r = raw();
        r.db_pool_size = Some(1);
        assert!(Settings::validate(r, false).is_err());
    }

    #[test]
    fn every_setting_is_read_from_the_environment() {
        let names = FieldNames(std::cell::RefCell::default());
        let _ = RawSettings::deserialize(&names);
        let fields = names.0.into_inner();
        assert!(fields.len() > 40, "{fields:?}");
        for field in fields {
            let variable = field.to_uppercase();
            assert!(
                ENV_NAMES.contains(&variable.as_str()),
                "{variable} is a setting but not in ENV_NAMES"
            );
        }
    }

    #[test]
    fn dev_mode_also_allows_the_loopback_twin_and_the_vite_dev_server() {
        let s = Settings::validate(raw(), true).unwrap();
        assert_eq!(
            s.allowed_origins,
            vec![
                "http://localhost:8000",
                "http://127.0.0.1:8000",
                "http://localhost:5173",
                "http://127.0.0.1:5173"
            ]
        );
        let mut r = raw();
        r.allowed_origins = Some("https://pong.example".into());
        let s = Settings::validate(r, true).unwrap();
        assert_eq!(s.allowed_origins, vec!["https://pong.example"]);
    }

    #[test]
    fn refuses_to_start_without_a_secret_outside_dev_mode() {
        let mut r = raw();
        r.jwt_secret = None;
        let err = Settings::validate(r, false).unwrap_err().to_string();
        assert!(err.contains("JWT_SECRET"), "{err}");
        assert!(err.contains("--dev"), "{err}");
    }

    #[test]
    fn refuses_a_short_secret() {
        let mut r = raw();
        r.jwt_secret = Some(SecretString::from("x".repeat(31)));
        let err = Settings::validate(r, false).unwrap_err().to_string();
        assert!(err.contains("at least 32 bytes"), "{err}");
    }

    #[test]
    fn dev_mode_generates_and_keeps_a_secret() {
        let dir = std::env::temp_dir().join(format!("transcendence-cfg-{}", uuid::Uuid::new_v4()));
        let mut r = raw();
        r.jwt_secret = None;
        r.data_dir = Some(dir.clone());
        let first = Settings::validate(r, true).unwrap();
        let mut r = raw();
        r.jwt_secret = None;
        r.data_dir = Some(dir.clone());
        let second = Settings::validate(r, true).unwrap();
        assert_eq!(
            first.jwt.secret.expose_secret(),
            second.jwt.secret.expose_secret()
        );
        assert!(first.jwt.secret.expose_secret().len() >= MIN_JWT_SECRET_BYTES);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn secrets_never_print() {
        let s = Settings::validate(raw(), false).unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains(&"x".repeat(32)), "{debug}");
    }

    #[test]
    fn origins_are_normalised_and_checked() {
        let mut r = raw();
        r.allowed_origins = Some("https://pong.example/, http://localhost:5173".into());
        let s = Settings::validate(r, false).unwrap();
        assert_eq!(
            s.allowed_origins,
            vec!["https://pong.example", "http://localhost:5173"]
        );
        let mut r = raw();
        r.allowed_origins = Some("ftp://nope".into());
        assert!(Settings::validate(r, false).is_err());
    }

    #[test]
    fn game_thread_priority_is_a_niceness_or_a_real_time_priority() {
        let priority = |nice, rt| {
            let mut r = raw();
            r.game_thread_nice = nice;
            r.game_thread_rt_priority = rt;
            Settings::validate(r, false).map(|s| s.game.thread_priority)
        };
        assert_eq!(priority(None, None).unwrap(), ThreadPriority::Default);
        assert_eq!(priority(Some(0), Some(0)).unwrap(), ThreadPriority::Default);
        for ok in [-20, 19] {
            assert_eq!(priority(Some(ok), None).unwrap(), ThreadPriority::Nice(ok));
        }
        for ok in [1, 99] {
            assert_eq!(
                priority(None, Some(ok)).unwrap(),
                ThreadPriority::Realtime(ok)
            );
        }
        for (nice, rt, named) in [
            (Some(-21), None, "GAME_THREAD_NICE"),
            (Some(20), None, "GAME_THREAD_NICE"),
            (None, Some(-1), "GAME_THREAD_RT_PRIORITY"),
            (None, Some(100), "GAME_THREAD_RT_PRIORITY"),
            (Some(-10), Some(10), "not both"),
        ] {
            let err = priority(nice, rt).unwrap_err().to_string();
            assert!(err.contains(named), "{err}");
        }
    }

    #[test]
    fn oauth_needs_a_secret_and_defaults_to_the_intranet() {
        let mut r = raw();
        r.oauth42_client_id = Some("uid".into());
        assert!(Settings::validate(r, false).is_err());
        let mut r = raw();
        r.oauth42_client_id = Some("uid".into());
        r.oauth42_client_secret = Some(SecretString::from("s"));
        let s = Settings::validate(r, false).unwrap();
        let o = s.oauth42.unwrap();
        assert_eq!(o.token_url.as_str(), "https://api.intra.42.fr/oauth/token");
        assert_eq!(o.redirect_uri.as_str(), "http://localhost:8000/oauth/42");
    }
}
