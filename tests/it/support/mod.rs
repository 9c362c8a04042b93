//! Test support: a server per test on a database of its own, a client with
//! helpers that speak the API, and loopback stand-ins for what the server
//! talks to (an OAuth provider, a database connection that can be cut).

pub mod db_proxy;
pub mod fake_oauth;
pub mod ws;

use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use figment::Figment;
use figment::providers::{Format, Toml};
use reqwest::StatusCode;
use serde_json::{Value, json};
use transcendence::app::Application;
use transcendence::config::Settings;
use transcendence::db::quote_ident;

/// The JWT secret every test server signs with (tests forge tokens with it).
pub const TEST_JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";
pub const PASSWORD: &str = "correct horse battery";

/// PostgreSQL server the tests use; each test makes its own database there.
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

/// Refuses to touch a database whose name does not say it is for tests.
pub fn assert_test_database(name: &str) {
    assert!(
        name.contains("test"),
        "refusing to touch database {name:?}: its name does not contain \"test\""
    );
}

pub fn fresh_database_name() -> String {
    format!("transcendence_test_{}", uuid::Uuid::new_v4().simple())
}

/// Drops a test database, ending any connections to it.
pub async fn drop_database(name: &str) {
    assert_test_database(name);
    let mut conn = AsyncPgConnection::establish(&format!("{}/postgres", server_url()))
        .await
        .expect("connect to postgres");
    diesel::sql_query(format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_ident(name)
    ))
    .execute(&mut conn)
    .await
    .expect("drop test database");
}

/// Settings for a test server on port 0 and database `db_name`, reached at
/// `database_url` (the server directly, or a proxy in front of it).
pub fn test_settings(database_url: &str) -> Settings {
    let toml = format!(
        r#"
        database_url = "{database_url}"
        jwt_secret = "{TEST_JWT_SECRET}"
        bind_addr = "127.0.0.1:0"
        public_url = "http://localhost:8000"
        workers = 1
        db_pool_size = 4
        session_cache_ttl_secs = 10
        avatar_dir = "{avatar_dir}"
        "#,
        avatar_dir = std::env::temp_dir()
            .join(format!(
                "transcendence-test-avatars-{}",
                uuid::Uuid::new_v4().simple()
            ))
            .display()
    );
    Settings::from_figment(Figment::from(Toml::string(&toml)), false).expect("test settings")
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db_name: String,
    pub settings: Settings,
    /// What SIGTERM does to the server.
    pub shutdown: transcendence::app::Shutdown,
    /// The node's state: its supervisors can be inspected.
    pub state: transcendence::app::AppState,
    handle: actix_web::dev::ServerHandle,
    /// Leave the database behind on drop (a restart reuses it).
    keep_database: bool,
}

/// A server with the default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A server whose settings `customize` may change first.
pub async fn spawn_app_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
    let db_name = fresh_database_name();
    assert_test_database(&db_name);
    let mut settings = test_settings(&format!("{}/{db_name}", server_url()));
    customize(&mut settings);
    spawn_with_settings(db_name, settings).await
}

pub async fn spawn_with_settings(db_name: String, settings: Settings) -> TestApp {
    transcendence::telemetry::init(settings.log_format);
    let app = Application::build(settings.clone())
        .await
        .expect("build the application");
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    let shutdown = app.shutdown();
    let state = app.state().clone();
    actix_web::rt::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    TestApp {
        address,
        client,
        db_name,
        settings,
        shutdown,
        state,
        handle,
        keep_database: false,
    }
}

impl TestApp {
    /// A crash and a restart: every actor stops where it is, the server
    /// stops, and a new one starts on the same database.
    pub async fn crash_and_restart(mut self) -> TestApp {
        self.state.halt_actors();
        self.handle.stop(false).await;
        self.keep_database = true;
        let (db_name, settings) = (self.db_name.clone(), self.settings.clone());
        drop(self);
        spawn_with_settings(db_name, settings).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
        if self.keep_database {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.settings.avatar_dir);
        let name = self.db_name.clone();
        // Drop cannot await: drop the database from a runtime of its own.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(drop_database(&name));
        })
        .join();
    }
}

/// A response read whole: status, headers, and the JSON body (or Null).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub async fn from(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Asserts the status and, for errors, the `{code, message}` shape.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        &self.body
    }

    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) {
        self.expect(status);
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert!(
            self.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error without a message: {}",
            self.body
        );
    }

    pub fn str(&self, field: &str) -> String {
        self.body[field]
            .as_str()
            .unwrap_or_else(|| panic!("no string {field:?} in {}", self.body))
            .to_string()
    }
}

/// A registered user and the password it was made with.
pub struct TestUser {
    pub id: i64,
    pub email: String,
}

impl TestApp {
    /// Runs SQL on the test's own database (to stage what time would do).
    pub async fn sql(&self, query: &str) {
        assert_test_database(&self.db_name);
        let url = format!("{}/{}", server_url(), self.db_name);
        let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
        diesel::sql_query(query).execute(&mut conn).await.unwrap();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut req = self.client.get(self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        Reply::from(req.send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, body: Value, token: Option<&str>) -> Reply {
        self.send(reqwest::Method::POST, path, Some(body), token)
            .await
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> Reply {
        let mut req = self.client.request(method, self.url(path));
        if let Some(body) = body {
            req = req.json(&body);
        }
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        Reply::from(req.send().await.unwrap()).await
    }

    /// The holder of `token` blocks `user`.
    pub async fn block(&self, token: &str, user: i64) {
        self.send(
            reqwest::Method::PUT,
            &format!("/api/blocks/{user}"),
            None,
            Some(token),
        )
        .await
        .expect(204);
    }

    pub async fn register(&self, username: &str) -> TestUser {
        let email = format!("{username}@example.com");
        let reply = self
            .post(
                "/api/auth/register",
                json!({"username": username, "email": email, "password": PASSWORD}),
                None,
            )
            .await;
        let body = reply.expect(201);
        TestUser {
            id: body["user"]["id"].as_i64().unwrap(),
            email,
        }
    }

    pub async fn login(&self, login: &str, password: &str) -> Reply {
        self.post(
            "/api/auth/login",
            json!({"login": login, "password": password}),
            None,
        )
        .await
    }

    /// Logs in a user without 2FA and returns (access, refresh).
    pub async fn tokens(&self, username: &str) -> (String, String) {
        let reply = self.login(username, PASSWORD).await;
        reply.expect(200);
        (reply.str("access_token"), reply.str("refresh_token"))
    }

    /// Registers a user and logs it in.
    pub async fn user_with_tokens(&self, username: &str) -> (TestUser, String, String) {
        let user = self.register(username).await;
        let (access, refresh) = self.tokens(username).await;
        (user, access, refresh)
    }
}

/// Unix time now, in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Waits (5 s at most, then panics) until `done` holds: for state that
/// settles a little after the event a test saw.
pub async fn wait_for(mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("condition not reached within 5 s");
}

/// Waits until the current TOTP step has at least 5 s left, so a test's
/// "now" and the server's "now" fall in the same step.
pub async fn wait_for_step_middle() {
    loop {
        let into_step = unix_now() % 30;
        if (1..25).contains(&into_step) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
