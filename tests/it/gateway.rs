//! The NGINX + ModSecurity gateway, for real: a test server behind the
//! gateway started from `gateway/run.sh`, checked through HTTPS.
//!
//! Needs the Debian packages `nginx`, `libnginx-mod-http-modsecurity` and
//! `modsecurity-crs`. Without them these tests say so and pass, unless
//! `REQUIRE_GATEWAY=1` (CI sets it), which makes a missing gateway fail.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use image::{ImageFormat, Rgba, RgbaImage};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::{Reply, TestApp, spawn_app_with};

const MODULE: &str = "/usr/lib/nginx/modules/ngx_http_modsecurity_module.so";

pub(crate) struct Gateway {
    child: Child,
    port: u16,
    http_port: u16,
    pub(crate) origin: String,
    cert: Vec<u8>,
    prefix: PathBuf,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // The master stops its workers on TERM; a KILL would orphan them.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.prefix);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn gateway_installed() -> bool {
    let installed = Path::new(MODULE).exists()
        && Path::new("/usr/share/modsecurity-crs/rules").exists()
        && Command::new("nginx")
            .arg("-v")
            .stderr(Stdio::null())
            .status()
            .is_ok();
    if !installed {
        assert!(
            std::env::var("REQUIRE_GATEWAY").is_err(),
            "REQUIRE_GATEWAY is set but nginx with ModSecurity and the CRS is not installed"
        );
        eprintln!(
            "gateway tests skipped: install nginx, libnginx-mod-http-modsecurity, modsecurity-crs"
        );
    }
    installed
}

/// A test server behind a gateway of its own.
pub(crate) async fn behind_gateway() -> Option<(TestApp, Gateway)> {
    if !gateway_installed() {
        return None;
    }
    let (port, http_port) = (free_port(), free_port());
    let origin = format!("https://localhost:{port}");
    let allowed = origin.clone();
    let app = spawn_app_with(move |s| {
        s.allowed_origins = vec![allowed];
        s.trusted_proxies = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    })
    .await;
    let prefix = std::env::temp_dir().join(format!(
        "transcendence-gw-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway/run.sh");
    let backend = app.address.trim_start_matches("http://").to_string();
    let child = Command::new("bash")
        .arg(script)
        .env("GATEWAY_PREFIX", &prefix)
        .env("GATEWAY_BACKENDS", backend)
        .env("GATEWAY_HTTPS_PORT", port.to_string())
        .env("GATEWAY_HTTP_PORT", http_port.to_string())
        .env("GATEWAY_WORKERS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start gateway/run.sh");
    let mut gateway = Gateway {
        child,
        port,
        http_port,
        origin,
        cert: Vec::new(),
        prefix,
    };
    for _ in 0..100 {
        if let Ok(cert) = std::fs::read(gateway.prefix.join("localhost.crt")) {
            gateway.cert = cert;
            let ready = gateway
                .client(1)
                .get("/healthz", None)
                .await
                .ok()
                .is_some_and(|r| r.status == 200);
            if ready {
                return Some((app, gateway));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the gateway did not come up; its log: {}",
        std::fs::read_to_string(gateway.prefix.join("logs/error.log")).unwrap_or_default()
    );
}

/// An HTTPS client of the gateway, from its own loopback address
/// (127.0.0.`source`), so rate limits of one test do not touch another.
struct Client {
    http: reqwest::Client,
    base: String,
}

impl Gateway {
    fn client(&self, source: u8) -> Client {
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&self.cert).unwrap())
            .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], self.port)))
            .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, source)))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Client {
            http,
            base: format!("https://localhost:{}", self.port),
        }
    }

    /// The access log once it holds `needle` (lines are written when a
    /// request ends).
    async fn wait_for_log(&self, needle: &str) -> String {
        for _ in 0..50 {
            let log =
                std::fs::read_to_string(self.prefix.join("logs/access.log")).unwrap_or_default();
            if log.contains(needle) {
                return log;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{needle:?} never reached the access log");
    }

    /// A websocket through the gateway, past its `hello`.
    async fn ws(&self, client: &Client, token: &str) -> (Ws, String) {
        let ticket = client
            .post("/api/auth/ws-ticket", json!({}), Some(token))
            .await
            .unwrap();
        let ticket = ticket.str("ticket");
        let url = format!("wss://localhost:{}/ws?ticket={ticket}", self.port);
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("origin", self.origin.parse().unwrap());
        let mut roots = rustls::RootCertStore::empty();
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        for cert in CertificateDer::pem_slice_iter(&self.cert) {
            roots.add(cert.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        let (stream, _) = tokio_tungstenite::client_async_tls_with_config(
            request,
            tcp,
            None,
            Some(tokio_tungstenite::Connector::Rustls(Arc::new(config))),
        )
        .await
        .expect("websocket through the gateway");
        let mut ws = Ws { stream };
        assert_eq!(ws.next().await["type"], "hello");
        (ws, ticket)
    }
}

struct Ws {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Ws {
    async fn send(&mut self, value: Value) {
        self.stream
            .send(Message::text(value.to_string()))
            .await
            .unwrap();
    }

    async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), self.stream.next())
                .await
                .expect("no event within the timeout")
                .expect("socket ended")
                .expect("socket error");
            if let Message::Text(text) = message {
                return serde_json::from_str(&text).unwrap();
            }
        }
    }

    async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let event = self.next().await;
            if event["type"] == kind {
                return event;
            }
        }
    }
}

impl Client {
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> reqwest::Result<Reply> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(&body);
        }
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        Ok(Reply::from(req.send().await?).await)
    }

    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Result<Reply> {
        self.send(Method::GET, path, None, token, &[]).await
    }

    async fn post(&self, path: &str, body: Value, token: Option<&str>) -> reqwest::Result<Reply> {
        self.send(Method::POST, path, Some(body), token, &[]).await
    }

    /// Registers and logs in; the access token.
    async fn sign_up(&self, username: &str, password: &str) -> (i64, String) {
        let reply = self
            .post(
                "/api/auth/register",
                json!({"username": username, "email": format!("{username}@example.com"), "password": password}),
                None,
            )
            .await
            .unwrap();
        let id = reply.expect(201)["user"]["id"].as_i64().unwrap();
        let login = self
            .post(
                "/api/auth/login",
                json!({"login": username, "password": password}),
                None,
            )
            .await
            .unwrap();
        login.expect(200);
        (id, login.str("access_token"))
    }
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = RgbaImage::from_pixel(w, h, Rgba([200, 40, 90, 255]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).unwrap();
    out.into_inner()
}

#[actix_web::test]
async fn everyday_use_passes_through_untouched() {
    let Some((_app, gw)) = behind_gateway().await else {
        return;
    };
    let (alice_client, bob_client) = (gw.client(2), gw.client(3));
    // Passwords full of punctuation, the kind that look like injections.
    let alice_password = r#"p@ss'; DROP--"<x>`1=1"#;
    let (_, alice) = alice_client.sign_up("alice", alice_password).await;
    let (bob_id, bob) = bob_client.sign_up("bob", r#"1' OR '1'='1 -- &&|%"#).await;

    // 2FA, then a login through both steps.
    let setup = alice_client
        .post("/api/auth/2fa/setup", json!({}), Some(&alice))
        .await
        .unwrap();
    let secret = setup.str("secret");
    crate::support::wait_for_step_middle().await;
    let code =
        transcendence::auth::totp::code_at(&secret, crate::support::unix_now() - 30).unwrap();
    alice_client
        .post("/api/auth/2fa/enable", json!({"code": code}), Some(&alice))
        .await
        .unwrap()
        .expect(200);
    let challenge = alice_client
        .post(
            "/api/auth/login",
            json!({"login": "alice", "password": alice_password}),
            None,
        )
        .await
        .unwrap()
        .str("challenge");
    let code = transcendence::auth::totp::code_at(&secret, crate::support::unix_now()).unwrap();
    let second = alice_client
        .post(
            "/api/auth/login/2fa",
            json!({"challenge": challenge, "code": code}),
            None,
        )
        .await
        .unwrap();
    let alice = second.str("access_token");

    // A new password, punctuation again; a profile with ordinary text.
    alice_client
        .send(
            Method::PUT,
            "/api/auth/password",
            Some(json!({"current_password": alice_password, "new_password": r#"<script>"; SELECT 1;#"#})),
            Some(&alice),
            &[],
        )
        .await
        .unwrap()
        .expect(204);
    let profile = alice_client
        .send(
            Method::PATCH,
            "/api/users/me",
            Some(json!({"display_name": "Alice B.", "bio": "Pong since 1972. I drop shots, then select my next move!"})),
            Some(&alice),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(profile.expect(200)["display_name"], "Alice B.");
    let avatar = reqwest::multipart::Form::new().part(
        "avatar",
        reqwest::multipart::Part::bytes(png(96, 96))
            .file_name("me.png")
            .mime_str("image/png")
            .unwrap(),
    );
    let upload = alice_client
        .http
        .put(format!("{}/api/users/me/avatar", alice_client.base))
        .bearer_auth(&alice)
        .multipart(avatar)
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 200);

    // A friend request, accepted.
    let request = alice_client
        .post(
            "/api/friends/requests",
            json!({"user_id": bob_id}),
            Some(&alice),
        )
        .await
        .unwrap();
    let request_id = request.expect(201)["request"]["id"].as_i64().unwrap();
    bob_client
        .post(
            &format!("/api/friends/requests/{request_id}/accept"),
            json!({}),
            Some(&bob),
        )
        .await
        .unwrap()
        .expect(200);

    // A websocket session: a chat message (with SQL words in it) and an
    // invitation to a match.
    let (mut ws, ticket) = gw.ws(&alice_client, &alice).await;
    ws.send(json!({"type": "chat.send", "id": 1, "to": bob_id,
        "body": "select your paddle; drop the ball -- or union with me?", "client_msg_id": "m1"}))
        .await;
    assert_eq!(ws.next_of("chat.ack").await["id"], 1);
    ws.send(json!({"type": "game.invite", "id": 2, "user_id": bob_id}))
        .await;
    assert_eq!(ws.next_of("game.invite_sent").await["id"], 2);

    // CORS preflight from the allowed origin.
    let preflight = alice_client
        .send(
            Method::OPTIONS,
            "/api/users/me",
            None,
            None,
            &[
                ("origin", &gw.origin),
                ("access-control-request-method", "PATCH"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.headers["access-control-allow-origin"],
        gw.origin.as_str()
    );
    assert!(
        preflight.headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("PATCH")
    );

    // Security headers, and one request id in the response and both logs.
    let me = alice_client
        .get("/api/users/me", Some(&alice))
        .await
        .unwrap();
    me.expect(200);
    for header in [
        "strict-transport-security",
        "x-content-type-options",
        "referrer-policy",
    ] {
        assert!(me.headers.contains_key(header), "{header} missing");
    }
    assert!(
        me.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    // The backend echoes the id it was given: the gateway's own (32 hex
    // digits), which the gateway's log carries too.
    let id = me.headers["x-request-id"].to_str().unwrap().to_string();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    gw.wait_for_log(&format!("id={id}")).await;
    // The ticket never reaches the log (a websocket is logged when it ends).
    ws.stream.close(None).await.unwrap();
    let log = gw.wait_for_log("GET /ws?").await;
    assert!(log.contains("GET /ws?ticket=*** "), "{log}");
    assert!(!log.contains(&ticket));
}

#[actix_web::test]
async fn attacks_are_refused() {
    let Some((_app, gw)) = behind_gateway().await else {
        return;
    };
    let client = gw.client(4);
    let (_, token) = client.sign_up("carol", "an ordinary passphrase").await;
    for path in [
        "/api/users?q=1%27%20OR%20%271%27%3D%271",
        "/api/users?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/api/users?q=..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    ] {
        let reply = client.get(path, Some(&token)).await.unwrap();
        assert_eq!(reply.status, 403, "{path}");
    }
    for body in [
        json!({"bio": "1' UNION SELECT password FROM users--"}),
        json!({"bio": {"nested": ["<script>alert(document.cookie)</script>"]}}),
        json!({"display_name": "x", "extra": {"deeper": {"q": "'; DROP TABLE users; --"}}}),
    ] {
        let reply = client
            .send(
                Method::PATCH,
                "/api/users/me",
                Some(body.clone()),
                Some(&token),
                &[],
            )
            .await
            .unwrap();
        assert_eq!(reply.status, 403, "{body}");
    }
    let scanner = client
        .send(
            Method::GET,
            "/healthz",
            None,
            None,
            &[("user-agent", "sqlmap/1.7.2#stable")],
        )
        .await
        .unwrap();
    assert_eq!(scanner.status, 403);

    // A foreign origin: no CORS headers, and no websocket.
    let foreign = [("origin", "https://evil.example")];
    let reply = client
        .send(Method::GET, "/api/users/me", None, Some(&token), &foreign)
        .await
        .unwrap();
    assert!(!reply.headers.contains_key("access-control-allow-origin"));
    let preflight = client
        .send(
            Method::OPTIONS,
            "/api/users/me",
            None,
            None,
            &[foreign[0], ("access-control-request-method", "PATCH")],
        )
        .await
        .unwrap();
    assert!(
        !preflight
            .headers
            .contains_key("access-control-allow-origin")
    );
    assert!(
        !preflight
            .headers
            .contains_key("access-control-allow-methods")
    );
    let upgrade = client
        .send(
            Method::GET,
            "/ws?ticket=x",
            None,
            None,
            &[
                foreign[0],
                ("connection", "upgrade"),
                ("upgrade", "websocket"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(upgrade.status, 403);
}

#[actix_web::test]
async fn the_sixth_rapid_login_is_refused_with_429() {
    let Some((_app, gw)) = behind_gateway().await else {
        return;
    };
    let client = gw.client(5);
    // Six at once (so no slot refills meanwhile), for different unknown
    // accounts: the backend's own per-account limit never trips; only the
    // gateway's per-address one can.
    let attempts = (0..6).map(|i| {
        client.post(
            "/api/auth/login",
            json!({"login": format!("ghost{i}"), "password": "nope nope nope"}),
            None,
        )
    });
    let replies: Vec<Reply> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 401).count(),
        5,
        "{statuses:?}"
    );
    let sixth = replies.iter().find(|r| r.status == 429).expect("one 429");
    assert_eq!(sixth.body["code"], "too_many_attempts");
    assert!(
        sixth.body["message"]
            .as_str()
            .unwrap()
            .contains("your address")
    );
    assert!(sixth.headers.contains_key("retry-after"));
    // Another address is not affected.
    let other = gw
        .client(6)
        .post(
            "/api/auth/login",
            json!({"login": "ghost7", "password": "nope nope nope"}),
            None,
        )
        .await
        .unwrap();
    assert_eq!(other.status, 401);
}

#[actix_web::test]
async fn the_gateways_own_errors_are_json() {
    let Some((app, gw)) = behind_gateway().await else {
        return;
    };
    let client = gw.client(7);
    let missing = client.get("/nowhere", None).await.unwrap();
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["code"], "not_found");
    let big = json!({"bio": "a".repeat(70_000)});
    let too_large = client
        .send(Method::PATCH, "/api/users/me", Some(big), None, &[])
        .await
        .unwrap();
    assert_eq!(too_large.status, 413);
    assert_eq!(too_large.body["code"], "payload_too_large");
    // Plain HTTP redirects to HTTPS.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{}/api/users/me", gw.http_port))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 301);
    assert!(
        plain.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("https://")
    );
    // The backend gone: a JSON 503.
    app.shutdown.run().await;
    let down = client.get("/api/users/me", None).await.unwrap();
    assert_eq!(down.status, 503);
    assert_eq!(down.body["code"], "service_unavailable");
}

#[actix_web::test]
async fn the_web_client_is_served_with_one_strict_policy() {
    let Some((_app, gw)) = behind_gateway().await else {
        return;
    };
    let client = gw.client(8);
    for page in ["/", "/oauth/42"] {
        let reply = client.get(page, None).await.unwrap();
        assert_eq!(reply.status, 200, "{page}");
        assert!(
            reply.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        // The gateway's policy only (the backend's copy is dropped), and
        // nothing from elsewhere: not even another host's websocket.
        let policies: Vec<_> = reply
            .headers
            .get_all("content-security-policy")
            .iter()
            .collect();
        assert_eq!(policies.len(), 1, "{policies:?}");
        let policy = policies[0].to_str().unwrap();
        assert!(policy.contains("connect-src 'self';"), "{policy}");
        assert!(
            !policy.contains("wss:") && !policy.contains('*'),
            "{policy}"
        );
        assert_eq!(reply.headers.get_all("x-frame-options").iter().count(), 1);
    }
}
