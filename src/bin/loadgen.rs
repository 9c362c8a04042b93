//! `loadgen`: the load-test harness. It talks to a running server (or the
//! gateway) through the documented REST and websocket API only, speaking
//! the server's own protocol types (`transcendence::protocol`).
//!
//! ```text
//! loadgen [--url URL] [--json] [--tokens FILE] <scenario> [options]
//!   connections --users N --hold SECS [--sources K]   idle authenticated sockets
//!   chat        --pairs P --rate MSGS_PER_SEC --secs S [--cold]  paired chatters
//!   pong        --matches M --secs S [--tick-rate 60]  bots playing at the tick rate
//!   rest        --users U --concurrency C --secs S    GET /api/users/me + history
//!   login-storm --pairs P --rate R --logins L --secs S  chat p99, quiet vs storm
//! ```
//!
//! Every scenario is bounded in time and count and stops by itself. Users
//! are registered through the API, or taken from `--tokens` (lines of
//! `id username access_token`, made by `transcendence seed-users`). The
//! server must allow the rates asked for (see `docs/benchmarks.md`).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use transcendence::protocol::{ClientCommand, ServerEvent};

#[derive(Parser)]
#[command(about = "Load generator for the transcendence server")]
struct Cli {
    /// The server (or gateway) base URL.
    #[arg(long, default_value = "http://127.0.0.1:8000", global = true)]
    url: String,
    /// Print the summary as JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    /// Users from `transcendence seed-users` instead of registering.
    #[arg(long, global = true, value_name = "FILE")]
    tokens: Option<PathBuf>,
    /// Exit non-zero on any error, loss or duplicate (CI smoke runs).
    #[arg(long, global = true)]
    strict: bool,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand, Clone)]
enum Scenario {
    /// Open N authenticated idle sockets and hold them.
    Connections {
        #[arg(long, default_value_t = 100)]
        users: usize,
        #[arg(long, default_value_t = 10)]
        hold: u64,
        /// Loopback source addresses to spread over (127.0.0.1, .2, …).
        #[arg(long, default_value_t = 1)]
        sources: u8,
        /// Sockets opened at once.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// P pairs chatting at a total rate.
    Chat {
        #[arg(long, default_value_t = 10)]
        pairs: usize,
        #[arg(long, default_value_t = 100)]
        rate: u64,
        #[arg(long, default_value_t = 10)]
        secs: u64,
        /// Count the conversations' first messages too. Without it, the
        /// first user of each pair sends the second one message before the
        /// clock starts (the first message of a conversation creates it),
        /// and that one is not counted.
        #[arg(long)]
        cold: bool,
    },
    /// M matches between bots sending inputs at the tick rate.
    Pong {
        #[arg(long, default_value_t = 10)]
        matches: usize,
        #[arg(long, default_value_t = 10)]
        secs: u64,
        /// The server's GAME_TICK_RATE.
        #[arg(long, default_value_t = 60)]
        tick_rate: u32,
    },
    /// Authenticated GETs of the profile and a match-history page.
    Rest {
        #[arg(long, default_value_t = 10)]
        users: usize,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        secs: u64,
    },
    /// Chat latency without, then with, logins at a given rate.
    LoginStorm {
        #[arg(long, default_value_t = 10)]
        pairs: usize,
        #[arg(long, default_value_t = 100)]
        rate: u64,
        /// Logins per second during the storm.
        #[arg(long, default_value_t = 20)]
        logins: u64,
        #[arg(long, default_value_t = 10)]
        secs: u64,
    },
}

/// The summary of a run: named values, in order.
#[derive(Default)]
struct Report {
    rows: Vec<(String, Value)>,
    /// Errors, losses or duplicates (fail a `--strict` run).
    failures: u64,
}

impl Report {
    fn add(&mut self, name: &str, value: impl Into<Value>) {
        self.rows.push((name.to_string(), value.into()));
    }

    fn latency(&mut self, name: &str, h: &Histogram<u64>) {
        for (label, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)] {
            self.add(&format!("{name}_{label}_ms"), ms(h.value_at_quantile(q)));
        }
        self.add(&format!("{name}_max_ms"), ms(h.max()));
    }

    fn print(&self, scenario: &str, json: bool) {
        if json {
            let object: serde_json::Map<String, Value> = self.rows.iter().cloned().collect();
            println!("{}", json!({"scenario": scenario, "results": object}));
            return;
        }
        println!("\n{scenario}");
        let width = self.rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        for (name, value) in &self.rows {
            println!("  {name:<width$}  {value}");
        }
    }
}

/// Microseconds to milliseconds, rounded to 0.01.
fn ms(micros: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let ms = micros as f64 / 1000.0;
    (ms * 100.0).round() / 100.0
}

fn histogram() -> Histogram<u64> {
    // Microseconds, from 1 µs to 100 s, 3 significant figures.
    Histogram::new_with_bounds(1, 100_000_000, 3).expect("histogram bounds")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

fn progress(label: &str, secs: u64) -> ProgressBar {
    let bar = ProgressBar::new(secs);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}s")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(label.to_string());
    let ticking = bar.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        while !ticking.is_finished() && ticking.position() < ticking.length().unwrap_or(0) {
            tick.tick().await;
            ticking.inc(1);
        }
    });
    bar
}

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// A user the harness acts as.
#[derive(Clone)]
struct User {
    id: i64,
    token: String,
}

struct Api {
    http: reqwest::Client,
    base: String,
    ws_base: String,
    host: SocketAddr,
}

impl Api {
    fn new(url: &str) -> anyhow::Result<Self> {
        let parsed = url::Url::parse(url)?;
        let host = parsed
            .socket_addrs(|| None)?
            .into_iter()
            .next()
            .ok_or_else(|| anyhow::anyhow!("cannot resolve {url}"))?;
        let ws_base = url.replacen("http", "ws", 1);
        Ok(Api {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .timeout(Duration::from_secs(30))
                .build()?,
            base: url.trim_end_matches('/').to_string(),
            ws_base: ws_base.trim_end_matches('/').to_string(),
            host,
        })
    }

    async fn post(
        &self,
        path: &str,
        body: Value,
        token: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let response = req.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// Registers a user through the API; their id.
    async fn register(&self, username: &str, password: &str) -> anyhow::Result<i64> {
        let (status, body) = self
            .post(
                "/api/auth/register",
                json!({"username": username, "email": format!("{username}@load.invalid"), "password": password}),
                None,
            )
            .await?;
        anyhow::ensure!(status == 201, "register: {status} {body}");
        Ok(body["user"]["id"].as_i64().unwrap_or_default())
    }

    async fn login(&self, username: &str, password: &str) -> anyhow::Result<String> {
        let (status, body) = self
            .post(
                "/api/auth/login",
                json!({"login": username, "password": password}),
                None,
            )
            .await?;
        anyhow::ensure!(status == 200, "login {username}: {status} {body}");
        body["access_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("no token in {body}"))
    }

    /// `n` users: from the tokens file, or registered now.
    async fn users(&self, n: usize, tokens: Option<&PathBuf>) -> anyhow::Result<Vec<User>> {
        if let Some(path) = tokens {
            let text = std::fs::read_to_string(path)?;
            let users: Vec<User> = text
                .lines()
                .filter_map(|line| {
                    let mut parts = line.split_whitespace();
                    let id = parts.next()?.parse().ok()?;
                    let _name = parts.next()?;
                    Some(User {
                        id,
                        token: parts.next()?.to_string(),
                    })
                })
                .take(n)
                .collect();
            anyhow::ensure!(
                users.len() == n,
                "{} has {} users, {n} needed",
                path.display(),
                users.len()
            );
            return Ok(users);
        }
        let run = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let password = "load-test password";
        let bar = ProgressBar::new(n as u64);
        bar.set_message("registering users");
        let users = futures_util::stream::iter(0..n)
            .map(|i| async move {
                let username = format!("lg{run}x{i}");
                let id = self.register(&username, password).await?;
                let token = self.login(&username, password).await?;
                anyhow::Ok(User { id, token })
            })
            .buffered(8)
            .inspect(|_| bar.inc(1))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<anyhow::Result<Vec<_>>>();
        bar.finish_and_clear();
        users
    }

    /// A socket for `user`, from loopback source address `source` (0: any),
    /// past its `hello`.
    async fn ws(&self, user: &User, source: Option<Ipv4Addr>) -> anyhow::Result<Ws> {
        let (status, body) = self
            .post("/api/auth/ws-ticket", json!({}), Some(&user.token))
            .await?;
        anyhow::ensure!(status == 200, "ticket: {status} {body}");
        let ticket = body["ticket"].as_str().unwrap_or_default();
        let url = format!("{}/ws?ticket={ticket}", self.ws_base);
        let socket = TcpSocket::new_v4()?;
        if let Some(source) = source {
            socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
        }
        let stream = socket.connect(self.host).await?;
        // As browsers do for websockets: every frame leaves at once.
        stream.set_nodelay(true)?;
        // tungstenite zeroes its whole read buffer (128 KiB by default)
        // before each read: 4 KiB holds any event and costs a thirtieth.
        let config = WebSocketConfig::default().read_buffer_size(4096);
        let (mut ws, _) = tokio_tungstenite::client_async_with_config(
            url,
            MaybeTlsStream::Plain(stream),
            Some(config),
        )
        .await?;
        match next_event(&mut ws).await? {
            ServerEvent::Hello { .. } => Ok(ws),
            other => anyhow::bail!("expected hello, got {other:?}"),
        }
    }

    /// Process RSS and sockets, from `/metrics` (if the server serves it).
    async fn server_memory(&self) -> Option<(f64, f64)> {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let value = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name) && l.as_bytes().get(name.len()) == Some(&b' '))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        };
        Some((
            value("process_resident_memory_bytes")?,
            value("transcendence_sessions")?,
        ))
    }
}

async fn send(ws: &mut Ws, command: &ClientCommand) -> anyhow::Result<()> {
    ws.send(Message::text(command.to_text(None))).await?;
    Ok(())
}

/// The next server event (pings are answered by the library).
async fn next_event(ws: &mut Ws) -> anyhow::Result<ServerEvent> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .map_err(|_| anyhow::anyhow!("no event within 30 s"))?
            .ok_or_else(|| anyhow::anyhow!("socket ended"))??;
        if let Message::Text(text) = message {
            return Ok(serde_json::from_str(&text)?);
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let api = Arc::new(Api::new(&cli.url)?);
    let (name, report) = match cli.scenario.clone() {
        Scenario::Connections {
            users,
            hold,
            sources,
            concurrency,
        } => (
            "connections",
            connections(&api, &cli, users, hold, sources, concurrency).await?,
        ),
        Scenario::Chat {
            pairs,
            rate,
            secs,
            cold,
        } => {
            let users = api.users(pairs * 2, cli.tokens.as_ref()).await?;
            ("chat", chat(&api, users, rate, secs, !cold, None).await?)
        }
        Scenario::Pong {
            matches,
            secs,
            tick_rate,
        } => ("pong", pong(&api, &cli, matches, secs, tick_rate).await?),
        Scenario::Rest {
            users,
            concurrency,
            secs,
        } => ("rest", rest(&api, &cli, users, concurrency, secs).await?),
        Scenario::LoginStorm {
            pairs,
            rate,
            logins,
            secs,
        } => (
            "login-storm",
            login_storm(&api, pairs, rate, logins, secs).await?,
        ),
    };
    report.print(name, cli.json);
    if cli.strict && report.failures > 0 {
        anyhow::bail!("{} errors, losses or duplicates", report.failures);
    }
    Ok(())
}

async fn connections(
    api: &Arc<Api>,
    cli: &Cli,
    n: usize,
    hold: u64,
    sources: u8,
    concurrency: usize,
) -> anyhow::Result<Report> {
    let users = api.users(n, cli.tokens.as_ref()).await?;
    let before = api.server_memory().await;
    let bar = ProgressBar::new(n as u64);
    bar.set_message("connecting");
    let failures = AtomicU64::new(0);
    let started = Instant::now();
    let sockets: Vec<Ws> = futures_util::stream::iter(users.iter().enumerate())
        .map(|(i, user)| {
            let api = api.clone();
            let source = (sources > 1).then(|| {
                let k = u8::try_from(i % usize::from(sources)).unwrap_or(0);
                Ipv4Addr::new(127, 0, 0, 1 + k)
            });
            async move { api.ws(user, source).await }
        })
        .buffer_unordered(concurrency.max(1))
        .inspect(|_| bar.inc(1))
        .filter_map(|r| {
            let failures = &failures;
            async move {
                match r {
                    Ok(ws) => Some(ws),
                    Err(e) => {
                        if failures.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("connect failed: {e}");
                        }
                        None
                    }
                }
            }
        })
        .collect()
        .await;
    let connect_time = started.elapsed();
    bar.finish_and_clear();
    let open = sockets.len();
    // Hold them, answering pings (the library does, while we read).
    let bar = progress("holding", hold);
    let mut readers = Vec::new();
    for mut ws in sockets {
        readers.push(tokio::spawn(async move {
            let deadline = tokio::time::sleep(Duration::from_secs(hold));
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    () = &mut deadline => break,
                    m = ws.next() => if m.is_none() { return false },
                }
            }
            true
        }));
    }
    tokio::time::sleep(Duration::from_secs(hold / 2)).await;
    let during = api.server_memory().await;
    let mut survived = 0;
    for reader in readers {
        survived += usize::from(reader.await.unwrap_or(false));
    }
    bar.finish_and_clear();
    let mut report = Report::default();
    report.add("sessions_requested", n);
    report.add("sessions_open", open);
    report.add("connect_failures", failures.load(Ordering::Relaxed));
    #[allow(clippy::cast_precision_loss)]
    report.add(
        "connect_rate_per_s",
        (open as f64 / connect_time.as_secs_f64()).round(),
    );
    report.add("held_to_the_end", survived);
    if let (Some((rss0, s0)), Some((rss1, s1))) = (before, during) {
        let added = (s1 - s0).max(1.0);
        report.add("server_rss_mb", (rss1 / 1e6).round());
        report.add("server_bytes_per_session", ((rss1 - rss0) / added).round());
    } else {
        report.add(
            "server_bytes_per_session",
            "n/a (start the server with METRICS_ENABLED=true)",
        );
    }
    report.failures = failures.load(Ordering::Relaxed) + (open - survived) as u64;
    Ok(report)
}

/// What chat receivers saw.
#[derive(Default)]
struct ChatTally {
    latency: Option<Histogram<u64>>,
    received: u64,
    duplicates: u64,
    /// When the first and the last message arrived (µs from the start).
    first: Option<u64>,
    last: u64,
}

/// P pairs, each user sending to its peer; `during` runs alongside.
async fn chat(
    api: &Arc<Api>,
    users: Vec<User>,
    rate: u64,
    secs: u64,
    warm_up: bool,
    during: Option<tokio::task::JoinHandle<()>>,
) -> anyhow::Result<Report> {
    let pairs = users.len() / 2;
    let epoch = Instant::now();
    // Client ids are unique per run: a second run with the same users must
    // not be taken for resends of the first.
    let run: u32 = rand::random();
    let per_user = (rate as f64 / users.len().max(1) as f64).max(0.01);
    let interval = Duration::from_secs_f64(1.0 / per_user);
    let sent = Arc::new(AtomicU64::new(0));
    let acked = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let tally = Arc::new(Mutex::new(ChatTally {
        latency: Some(histogram()),
        ..ChatTally::default()
    }));
    let mut sockets = Vec::new();
    for user in &users {
        sockets.push(api.ws(user, None).await?);
    }
    if warm_up {
        start_conversations(&mut sockets, &users, run).await?;
    }
    let bar = progress("chatting", secs);
    let mut tasks = Vec::new();
    for (i, ws) in sockets.into_iter().enumerate() {
        let me = users[i].clone();
        let peer = users[if i < pairs { i + pairs } else { i - pairs }].clone();
        let (sent, acked, errors, tally) =
            (sent.clone(), acked.clone(), errors.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            let (mut tx, mut rx) = ws.split();
            let sender = async {
                let mut tick = tokio::time::interval(interval);
                let stop = Instant::now() + Duration::from_secs(secs);
                let mut seq = 0u64;
                while Instant::now() < stop {
                    // Stamped with when it was due, so a sender that falls
                    // behind shows as latency.
                    let due = tick.tick().await.into_std();
                    seq += 1;
                    let at = micros(due.saturating_duration_since(epoch));
                    let command = ClientCommand::SendChat {
                        to: Some(peer.id),
                        chat_id: None,
                        body: format!("{seq} {at}"),
                        client_msg_id: format!("lg-{run:08x}-{seq}"),
                    };
                    if tx.send(Message::text(command.to_text(None))).await.is_err() {
                        break;
                    }
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                tx
            };
            let receiver = async {
                let mut seen = HashSet::new();
                // Stop reading a while after the senders stop.
                let deadline = tokio::time::sleep(Duration::from_secs(secs + 3));
                tokio::pin!(deadline);
                loop {
                    let message = tokio::select! {
                        () = &mut deadline => break,
                        m = rx.next() => m,
                    };
                    let text = match message {
                        Some(Ok(Message::Text(text))) => text,
                        None => {
                            // The socket ended early: whatever it missed is lost.
                            errors.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        Some(_) => continue,
                    };
                    match serde_json::from_str::<ServerEvent>(&text) {
                        Ok(ServerEvent::ChatAck { .. }) => {
                            acked.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(ServerEvent::ChatMessage { message }) if message.sender_id != me.id => {
                            let now = micros(epoch.elapsed());
                            let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
                            if !seen.insert(message.id) {
                                t.duplicates += 1;
                                continue;
                            }
                            t.received += 1;
                            t.first.get_or_insert(now);
                            t.last = now;
                            let at: u64 = message
                                .body
                                .split(' ')
                                .nth(1)
                                .and_then(|s| s.parse().ok())
                                .unwrap_or(now);
                            if let Some(h) = t.latency.as_mut() {
                                let _ = h.record(now.saturating_sub(at).max(1));
                            }
                        }
                        Ok(ServerEvent::Error { code, .. }) => {
                            let seen = errors.fetch_add(1, Ordering::Relaxed);
                            if seen < 3 {
                                eprintln!("chat error: {code}");
                            }
                        }
                        _ => {}
                    }
                }
            };
            let (_tx, ()) = tokio::join!(sender, receiver);
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    if let Some(during) = during {
        during.abort();
    }
    bar.finish_and_clear();
    let t = tally.lock().unwrap_or_else(|p| p.into_inner());
    let acked = acked.load(Ordering::Relaxed);
    let mut report = Report::default();
    report.add("pairs", pairs);
    report.add("sent", sent.load(Ordering::Relaxed));
    report.add("acked", acked);
    report.add("delivered", t.received);
    // Over the time messages actually arrived.
    let span = t.last.saturating_sub(t.first.unwrap_or(t.last)).max(1);
    #[allow(clippy::cast_precision_loss)]
    report.add(
        "delivered_per_s",
        (t.received as f64 * 1e6 / span as f64).round(),
    );
    // Acked but not delivered, and sent but never acked.
    let lost =
        acked.saturating_sub(t.received) + sent.load(Ordering::Relaxed).saturating_sub(acked);
    report.add("lost", lost);
    report.add("duplicates", t.duplicates);
    report.add("errors", errors.load(Ordering::Relaxed));
    if let Some(h) = t.latency.as_ref() {
        report.latency("latency", h);
    }
    report.failures = lost + t.duplicates + errors.load(Ordering::Relaxed);
    Ok(report)
}

/// Sends one message from each pair's first user to the second, and reads
/// its ack and deliveries, so that the conversations exist.
async fn start_conversations(sockets: &mut [Ws], users: &[User], run: u32) -> anyhow::Result<()> {
    let pairs = users.len() / 2;
    for (ws, peer) in sockets.iter_mut().zip(&users[pairs..]) {
        let command = ClientCommand::SendChat {
            to: Some(peer.id),
            chat_id: None,
            body: "hello".into(),
            client_msg_id: format!("lg-{run:08x}-hello"),
        };
        send(ws, &command).await?;
    }
    for (i, ws) in sockets.iter_mut().enumerate() {
        // The sender gets its ack and the message; the peer, the message.
        let mut expected = if i < pairs { 2 } else { 1 };
        while expected > 0 {
            match next_event(ws).await? {
                ServerEvent::ChatAck { .. } | ServerEvent::ChatMessage { .. } => expected -= 1,
                ServerEvent::Error { code, message, .. } => {
                    anyhow::bail!("starting the conversations: {code}: {message}")
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// What the pong bots measured.
struct PongTally {
    jitter: Histogram<u64>,
    input_latency: Histogram<u64>,
    snapshots: u64,
    missed_ticks: u64,
}

async fn pong(
    api: &Arc<Api>,
    cli: &Cli,
    matches: usize,
    secs: u64,
    tick_rate: u32,
) -> anyhow::Result<Report> {
    let period = Duration::from_secs_f64(1.0 / f64::from(tick_rate.max(1)));
    let users = api.users(matches * 2, cli.tokens.as_ref()).await?;
    let mut sockets = Vec::new();
    for user in &users {
        sockets.push(api.ws(user, None).await?);
    }
    // Pair them: the first half invites the second; each accepts.
    let mut match_ids = Vec::new();
    for i in 0..matches {
        let (a, b) = (i, i + matches);
        send(
            &mut sockets[a],
            &ClientCommand::InviteToGame {
                user_id: users[b].id,
                points_to_win: Some(21),
            },
        )
        .await?;
        let invite_id = loop {
            if let ServerEvent::Notification { notification } = next_event(&mut sockets[b]).await?
                && notification.kind == "game_invite"
            {
                break notification.payload["invite_id"]
                    .as_i64()
                    .unwrap_or_default();
            }
        };
        send(&mut sockets[b], &ClientCommand::AcceptInvite { invite_id }).await?;
        let match_id = loop {
            if let ServerEvent::MatchFound { match_id, .. } = next_event(&mut sockets[a]).await? {
                break match_id;
            }
        };
        match_ids.push(match_id);
    }
    let tally = Arc::new(Mutex::new(PongTally {
        jitter: histogram(),
        input_latency: histogram(),
        snapshots: 0,
        missed_ticks: 0,
    }));
    let errors = Arc::new(AtomicUsize::new(0));
    let bar = progress("playing", secs);
    let mut tasks = Vec::new();
    for (i, mut ws) in sockets.into_iter().enumerate() {
        let match_id = match_ids[i % matches];
        let left = i < matches;
        let (tally, errors) = (tally.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            if send(&mut ws, &ClientCommand::JoinMatch { match_id })
                .await
                .is_err()
            {
                errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let (mut tx, mut rx) = ws.split();
            let sent_at: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
            let target = Arc::new(Mutex::new(200.0_f64));
            let stop = Instant::now() + Duration::from_secs(secs);
            let inputs = {
                let (sent_at, target) = (sent_at.clone(), target.clone());
                async move {
                    let mut tick = tokio::time::interval(period);
                    let mut seq = 0;
                    while Instant::now() < stop {
                        tick.tick().await;
                        seq += 1;
                        let (up, down) = {
                            let t = *target.lock().unwrap_or_else(|p| p.into_inner());
                            (t < 0.0, t > 0.0)
                        };
                        sent_at
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(seq, Instant::now());
                        let command = ClientCommand::GameInput {
                            match_id,
                            seq,
                            up,
                            down,
                        };
                        if tx.send(Message::text(command.to_text(None))).await.is_err() {
                            break;
                        }
                    }
                }
            };
            let snapshots = async move {
                // The first snapshot sets the schedule; each later one is
                // measured against when its tick was due on it.
                let mut first: Option<(Instant, u64)> = None;
                let mut last_tick = None;
                let mut acked_seq = 0;
                while Instant::now() < stop {
                    let message = tokio::time::timeout(Duration::from_secs(5), rx.next()).await;
                    let text = match message {
                        Ok(Some(Ok(Message::Text(text)))) => text,
                        Ok(None) | Err(_) => break,
                        Ok(Some(_)) => continue,
                    };
                    let Ok(ServerEvent::GameSnapshot { snapshot, .. }) =
                        serde_json::from_str::<ServerEvent>(&text)
                    else {
                        continue;
                    };
                    let now = Instant::now();
                    let mine = if left {
                        snapshot.last_input_seq.left
                    } else {
                        snapshot.last_input_seq.right
                    };
                    let paddle = if left {
                        snapshot.paddles.left
                    } else {
                        snapshot.paddles.right
                    };
                    // Follow the ball: the next inputs say where to go.
                    *target.lock().unwrap_or_else(|p| p.into_inner()) = snapshot.ball.y - paddle;
                    let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
                    t.snapshots += 1;
                    let (start, first_tick) = *first.get_or_insert((now, snapshot.tick));
                    let ticks =
                        u32::try_from(snapshot.tick.saturating_sub(first_tick)).unwrap_or(u32::MAX);
                    let due = start + period * ticks;
                    let off = if now >= due { now - due } else { due - now };
                    let _ = t.jitter.record(micros(off));
                    if let Some(previous) = last_tick {
                        t.missed_ticks += snapshot.tick.saturating_sub(previous + 1);
                    }
                    last_tick = Some(snapshot.tick);
                    if mine > acked_seq {
                        acked_seq = mine;
                        // Every input this snapshot is the first to reflect.
                        let mut sent = sent_at.lock().unwrap_or_else(|p| p.into_inner());
                        let done: Vec<u64> = sent.keys().copied().filter(|s| *s <= mine).collect();
                        for seq in done {
                            if let Some(at) = sent.remove(&seq) {
                                let _ = t.input_latency.record(micros(now - at));
                            }
                        }
                    }
                }
            };
            tokio::join!(inputs, snapshots);
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    bar.finish_and_clear();
    let t = tally.lock().unwrap_or_else(|p| p.into_inner());
    let mut report = Report::default();
    report.add("matches", matches);
    report.add("snapshots_received", t.snapshots);
    report.latency("snapshot_jitter", &t.jitter);
    report.latency("input_to_snapshot", &t.input_latency);
    report.add("missed_ticks", t.missed_ticks);
    let errors = errors.load(Ordering::Relaxed) as u64;
    report.add("errors", errors);
    report.failures = errors + u64::from(t.snapshots == 0);
    Ok(report)
}

async fn rest(
    api: &Arc<Api>,
    cli: &Cli,
    users: usize,
    concurrency: usize,
    secs: u64,
) -> anyhow::Result<Report> {
    let users = api.users(users, cli.tokens.as_ref()).await?;
    let latency = Arc::new(Mutex::new(histogram()));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let stop = Instant::now() + Duration::from_secs(secs);
    let bar = progress("requesting", secs);
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let user = users[worker % users.len()].clone();
        let (api, latency, ok, failed) = (api.clone(), latency.clone(), ok.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut local = histogram();
            let mut n = 0u64;
            while Instant::now() < stop {
                n += 1;
                let path = if n.is_multiple_of(2) {
                    format!("/api/users/{}/matches", user.id)
                } else {
                    "/api/users/me".to_string()
                };
                let started = Instant::now();
                let result = api
                    .http
                    .get(format!("{}{path}", api.base))
                    .bearer_auth(&user.token)
                    .send()
                    .await;
                match result {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        let _ = local.record(micros(started.elapsed()));
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => {
                        if failed.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("GET {path}: {}", r.status());
                        }
                    }
                    Err(e) => {
                        if failed.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("GET {path}: {e}");
                        }
                    }
                }
            }
            let _ = latency
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .add(&local);
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    bar.finish_and_clear();
    let ok = ok.load(Ordering::Relaxed);
    let failed = failed.load(Ordering::Relaxed);
    let mut report = Report::default();
    report.add("concurrency", concurrency);
    report.add("requests", ok);
    #[allow(clippy::cast_precision_loss)]
    report.add("requests_per_s", (ok as f64 / secs.max(1) as f64).round());
    report.add("errors", failed);
    report.latency(
        "latency",
        &latency.lock().unwrap_or_else(|p| p.into_inner()),
    );
    report.failures = failed;
    Ok(report)
}

async fn login_storm(
    api: &Arc<Api>,
    pairs: usize,
    rate: u64,
    logins: u64,
    secs: u64,
) -> anyhow::Result<Report> {
    let users = api.users(pairs * 2, None).await?;
    // One account logs in over and over (its password is known here).
    let run = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let username = format!("storm{run}");
    let password = "storm password";
    api.register(&username, password).await?;
    let quiet = chat(api, users.clone(), rate, secs, true, None).await?;
    let login_ok = Arc::new(AtomicU64::new(0));
    let storm = {
        let (api, login_ok) = (api.clone(), login_ok.clone());
        tokio::spawn(async move {
            let mut tick =
                tokio::time::interval(Duration::from_secs_f64(1.0 / logins.max(1) as f64));
            loop {
                tick.tick().await;
                let (api, login_ok, username) = (api.clone(), login_ok.clone(), username.clone());
                tokio::spawn(async move {
                    if api.login(&username, password).await.is_ok() {
                        login_ok.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        })
    };
    let stormy = chat(api, users, rate, secs, true, Some(storm)).await?;
    let p99 = |r: &Report| {
        r.rows
            .iter()
            .find(|(n, _)| n == "latency_p99_ms")
            .and_then(|(_, v)| v.as_f64())
            .unwrap_or(0.0)
    };
    let mut report = Report::default();
    report.add("chat_rate", rate);
    report.add("logins_per_s_asked", logins);
    report.add("logins_done", login_ok.load(Ordering::Relaxed));
    report.add("quiet_p99_ms", p99(&quiet));
    report.add("storm_p99_ms", p99(&stormy));
    let ratio = if p99(&quiet) > 0.0 {
        p99(&stormy) / p99(&quiet)
    } else {
        0.0
    };
    report.add("storm_over_quiet", (ratio * 100.0).round() / 100.0);
    report.failures = quiet.failures + stormy.failures;
    Ok(report)
}
