//! The binary as a newcomer runs it: refusing to start without a secret,
//! `migrate`, and `serve --dev` creating its database and keeping its
//! generated secret across restarts.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{PASSWORD, drop_database, fresh_database_name, server_url};

const BIN: &str = env!("CARGO_BIN_EXE_transcendence");

fn command(database_url: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "info");
    cmd
}

#[test]
fn refuses_to_start_without_a_secret_or_with_a_short_one() {
    let out = command("postgres://postgres@127.0.0.1:5432/transcendence_test_never")
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("JWT_SECRET"), "{stderr}");

    let out = command("postgres://postgres@127.0.0.1:5432/transcendence_test_never")
        .env("JWT_SECRET", "too-short")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("at least 32 bytes"), "{stderr}");
    assert!(
        !stderr.contains("too-short"),
        "the secret was printed: {stderr}"
    );
}

struct Server {
    child: Child,
    address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `transcendence serve --dev` on a free port and waits for its
/// "listening" line.
fn serve_dev(database_url: &str, data_dir: &std::path::Path) -> Server {
    let mut child = command(database_url)
        .args(["serve", "--dev"])
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("DATA_DIR", data_dir)
        // Not the repository's web/dist: dev mode would build the client
        // there (with npm) while other tests serve it.
        .env("WEB_DIR", data_dir.join("web"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // Owned from here on: a failed wait below still kills the child.
    let mut server = Server {
        child,
        address: String::new(),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.split("address=").nth(1) {
                let _ = tx.send(addr.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    let address = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the server did not say where it listens");
    server.address = format!("http://{address}");
    server
}

async fn wait_ready(client: &reqwest::Client, server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = client
            .get(format!("{}/readyz", server.address))
            .send()
            .await;
        if reply.is_ok_and(|r| r.status() == 200) {
            return;
        }
        assert!(Instant::now() < deadline, "server never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Registers `username` on the running binary and returns an access token.
async fn sign_up(client: &reqwest::Client, server: &Server, username: &str) -> String {
    let register = client
        .post(format!("{}/api/auth/register", server.address))
        .json(&json!({
            "username": username,
            "email": format!("{username}@example.com"),
            "password": PASSWORD,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(register.status(), 201);
    let login: serde_json::Value = client
        .post(format!("{}/api/auth/login", server.address))
        .json(&json!({"login": username, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    login["access_token"].as_str().unwrap().to_string()
}

#[actix_web::test]
async fn serve_dev_creates_its_database_and_keeps_its_secret() {
    let name = fresh_database_name();
    let url = format!("{}/{name}", server_url());
    let data_dir = std::env::temp_dir().join(format!("transcendence-it-{name}"));
    let client = reqwest::Client::new();

    let server = serve_dev(&url, &data_dir);
    wait_ready(&client, &server).await;
    let access = sign_up(&client, &server, "newcomer").await;
    drop(server);

    // A restart reads the same generated secret: the token still verifies.
    let server = serve_dev(&url, &data_dir);
    wait_ready(&client, &server).await;
    let verify = client
        .get(format!("{}/api/auth/verify", server.address))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(verify.status(), 200);
    drop(server);

    drop_database(&name).await;
    std::fs::remove_dir_all(&data_dir).unwrap();
}

#[actix_web::test]
async fn migrate_creates_and_migrates_then_exits() {
    let name = fresh_database_name();
    let url = format!("{}/{name}", server_url());
    let out = command(&url)
        .env("JWT_SECRET", "a".repeat(32))
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Running it again finds nothing to do.
    let again = command(&url)
        .env("JWT_SECRET", "a".repeat(32))
        .arg("migrate")
        .output()
        .unwrap();
    assert!(again.status.success());
    drop_database(&name).await;
}

#[actix_web::test]
async fn sigterm_closes_sockets_and_exits() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    let name = fresh_database_name();
    let url = format!("{}/{name}", server_url());
    let data_dir = std::env::temp_dir().join(format!("transcendence-it-{name}"));
    let client = reqwest::Client::new();
    let mut server = serve_dev(&url, &data_dir);
    wait_ready(&client, &server).await;
    let access = sign_up(&client, &server, "leaver").await;
    let ticket: serde_json::Value = client
        .post(format!("{}/api/auth/ws-ticket", server.address))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ws_url = format!(
        "{}/ws?ticket={}",
        server.address.replace("http://", "ws://"),
        ticket["ticket"].as_str().unwrap()
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();

    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let code = loop {
        let message = tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("no close frame after SIGTERM");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => break u16::from(frame.code),
            Some(Ok(_)) => {}
            other => panic!("socket ended without a close frame: {other:?}"),
        }
    };
    assert_eq!(code, 1001);
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = server.child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "{exit:?}");
    drop(server);
    drop_database(&name).await;
    std::fs::remove_dir_all(&data_dir).unwrap();
}
