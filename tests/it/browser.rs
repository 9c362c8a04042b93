//! The web client in a real browser: a test server serving `web/dist`,
//! bots over the API, and `web/e2e/flow.mjs` driving headless Chromium
//! (Debian's `chromium`, through `playwright-core`) as three users.
//!
//! Needs `/usr/bin/chromium`, `node`, and the client built
//! (`npm --prefix web ci && npm --prefix web run build`). Without them this
//! test says so and passes, unless `REQUIRE_BROWSER=1` (CI sets it).

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::support::fake_oauth::FakeOAuth;
use crate::support::ws::WsClient;
use crate::support::{PASSWORD, TestApp, spawn_app_with};

const CHROMIUM: &str = "/usr/bin/chromium";
/// The whole browser flow must finish within this.
const FLOW_TIMEOUT: Duration = Duration::from_secs(300);

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("web")
}

fn browser_ready() -> bool {
    let web = web_dir();
    let missing: Vec<&str> = [
        (!Path::new(CHROMIUM).exists()).then_some("chromium (apt-get install chromium)"),
        Command::new("node")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
            .then_some("node"),
        (!web.join("node_modules/playwright-core").exists())
            .then_some("web/node_modules (npm --prefix web ci)"),
        (!web.join("dist/index.html").exists()).then_some("web/dist (npm --prefix web run build)"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if missing.is_empty() {
        return true;
    }
    let required = std::env::var("REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "REQUIRE_BROWSER=1 but missing: {}",
        missing.join(", ")
    );
    eprintln!("skipping the browser test; missing: {}", missing.join(", "));
    false
}

/// A bot: joins every match it is given and holds no key.
fn spawn_bot(mut ws: WsClient, name: &'static str) {
    actix_web::rt::spawn(async move {
        while let Ok(event) = ws.next_within(Duration::from_secs(1)).await {
            let Some(event) = event else { continue };
            if event["type"] == "game.match_found" {
                let id = event["match_id"].clone();
                eprintln!("bot {name}: joining match {id}");
                ws.send(json!({"type": "game.join", "id": "j", "match_id": id}))
                    .await;
            }
        }
    });
}

/// Runs `web/e2e/{script}` against `base` and fails with its output when
/// it fails. Past [`FLOW_TIMEOUT`] the script and its browser are killed
/// (a process group of their own), so a hung browser cannot hang CI.
async fn run_script(script: &str, base: &str, env: &[(&str, &str)]) {
    let log_path = std::env::temp_dir().join(format!(
        "transcendence-e2e-{}.log",
        uuid::Uuid::new_v4().simple()
    ));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut command = Command::new("node");
    command
        .arg(web_dir().join("e2e").join(script))
        .env("BASE_URL", base)
        .env("CHROMIUM", CHROMIUM)
        .env("ARTIFACTS", web_dir().join("e2e/artifacts"))
        .env("PASSWORD", PASSWORD)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("node runs");
    let deadline = std::time::Instant::now() + FLOW_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    let _ = std::fs::remove_file(&log_path);
    eprintln!("--- {script}\n{output}");
    match status {
        Some(status) => assert!(status.success(), "{script} failed:\n{output}"),
        None => panic!("{script} did not finish within {FLOW_TIMEOUT:?}:\n{output}"),
    }
}

async fn bot(app: &TestApp, name: &'static str) -> (i64, String) {
    let user = app.register(name).await;
    let (access, _) = app.tokens(name).await;
    spawn_bot(app.ws(&access).await, name);
    (user.id, access)
}

#[actix_web::test]
async fn two_players_and_a_tournament_in_a_real_browser() {
    if !browser_ready() {
        return;
    }
    // The browser's origin must be the server's own: pick the port first.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let provider = FakeOAuth::start().await;
    provider.set_profile(4242, "marvin", "marvin@student.42.fr");
    let app = spawn_app_with(|s| {
        s.bind_addr = format!("127.0.0.1:{port}").parse().unwrap();
        s.public_url = base.parse().unwrap();
        s.allowed_origins = vec![base.clone()];
        s.web_dir = web_dir().join("dist");
        s.game.reconnect_grace = Duration::from_secs(10);
        s.oauth42 = Some(provider.settings(&format!("{base}/oauth/42")));
    })
    .await;
    assert_eq!(app.address, base);

    // Three bots open a 4-player tournament that starts when full; the
    // browser's third user fills it.
    let (_, owner) = bot(&app, "bot_ada").await;
    let (_, second) = bot(&app, "bot_bea").await;
    let (_, third) = bot(&app, "bot_cy").await;
    let created = app
        .post(
            "/api/tournaments",
            json!({"name": "Bot cup", "max_players": 4, "points_to_win": 1, "starts_when_full": true}),
            Some(&owner),
        )
        .await;
    let tournament = created.expect(201)["id"].as_i64().unwrap();
    for token in [&owner, &second, &third] {
        app.post(
            &format!("/api/tournaments/{tournament}/join"),
            json!({}),
            Some(token),
        )
        .await
        .expect(200);
    }

    run_script("flow.mjs", &base, &[("TOURNAMENT_NAME", "Bot cup")]).await;

    // What the browser did is what the server recorded.
    let alice = app.login("alice", PASSWORD).await;
    assert_eq!(
        alice.body["two_factor_required"], true,
        "alice turned 2FA on"
    );
    let bob = app.tokens("bob").await.0;
    app.get("/api/users/by-username/marvin", Some(&bob))
        .await
        .expect(200);
    let me = app.get("/api/users/me", Some(&bob)).await;
    let bob_id = me.expect(200)["id"].as_i64().unwrap();
    let history = app
        .get(&format!("/api/users/{bob_id}/matches"), Some(&bob))
        .await;
    let items = history.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["opponent"]["username"], "alice");
    let friends = app.get("/api/friends", Some(&bob)).await;
    assert_eq!(friends.expect(200)["items"][0]["username"], "alice");
    let cup = app
        .get(&format!("/api/tournaments/{tournament}"), Some(&bob))
        .await;
    let cup = cup.expect(200);
    assert_eq!(cup["status"], "finished", "{cup}");
    assert!(cup["champion_id"].is_i64());
    assert!(
        cup["players"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["alias"] == "Caz"),
        "{cup}"
    );
}

/// The same client through the TLS gateway: its CSP must let the page load
/// its assets and open its websocket.
#[actix_web::test]
async fn the_client_signs_up_and_connects_through_the_gateway() {
    if !browser_ready() {
        return;
    }
    let Some((_app, gateway)) = crate::gateway::behind_gateway().await else {
        return;
    };
    run_script("smoke.mjs", &gateway.origin, &[]).await;
}
