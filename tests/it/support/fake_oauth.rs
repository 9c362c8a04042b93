//! A small OAuth2 authorization server on loopback, shaped like the 42
//! Intranet: `/oauth/authorize` (code flow, PKCE S256 required),
//! `/oauth/token` (single-use codes, checks the verifier, the client and the
//! redirect URI) and `/v2/me`. It approves every authorization as the
//! profile the test set last.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use transcendence::config::OAuth42Settings;

pub const CLIENT_ID: &str = "test-client";
pub const CLIENT_SECRET: &str = "test-client-secret";

#[derive(Clone)]
struct Grant {
    challenge: String,
    redirect_uri: String,
    profile: Value,
}

#[derive(Default)]
struct State {
    profile: Value,
    codes: HashMap<String, Grant>,
    tokens: HashMap<String, Value>,
}

pub struct FakeOAuth {
    pub base_url: String,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

impl FakeOAuth {
    pub async fn start() -> FakeOAuth {
        let state = Arc::new(Mutex::new(State::default()));
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/oauth/authorize", web::get().to(authorize))
                .route("/oauth/token", web::post().to(token))
                .route("/v2/me", web::get().to(me))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        FakeOAuth {
            base_url: format!("http://127.0.0.1:{port}"),
            state,
            handle,
        }
    }

    /// Server settings that sign in with this provider, sending the browser
    /// back to `redirect_uri`.
    pub fn settings(&self, redirect_uri: &str) -> OAuth42Settings {
        let base = &self.base_url;
        OAuth42Settings {
            client_id: CLIENT_ID.into(),
            client_secret: SecretString::from(CLIENT_SECRET),
            authorize_url: format!("{base}/oauth/authorize").parse().unwrap(),
            token_url: format!("{base}/oauth/token").parse().unwrap(),
            api_url: base.parse().unwrap(),
            redirect_uri: redirect_uri.parse().unwrap(),
        }
    }

    /// The profile the next authorizations approve as.
    pub fn set_profile(&self, id: i64, login: &str, email: &str) {
        self.state.lock().unwrap().profile = json!({
            "id": id, "login": login, "email": email, "displayname": login,
        });
    }
}

impl Drop for FakeOAuth {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

fn oauth_error(error: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({"error": error, "error_description": error}))
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    state: String,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

async fn authorize(state: web::Data<Mutex<State>>, q: web::Query<AuthorizeQuery>) -> HttpResponse {
    if q.response_type != "code" || q.client_id != CLIENT_ID {
        return oauth_error("invalid_request");
    }
    let (Some(challenge), Some("S256")) =
        (q.code_challenge.clone(), q.code_challenge_method.as_deref())
    else {
        return oauth_error("invalid_request");
    };
    let code = uuid::Uuid::new_v4().simple().to_string();
    let mut s = state.lock().unwrap();
    let profile = s.profile.clone();
    s.codes.insert(
        code.clone(),
        Grant {
            challenge,
            redirect_uri: q.redirect_uri.clone(),
            profile,
        },
    );
    let mut location = url::Url::parse(&q.redirect_uri).unwrap();
    location
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &q.state);
    HttpResponse::Found()
        .insert_header(("Location", location.to_string()))
        .finish()
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    code: String,
    redirect_uri: String,
    code_verifier: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

async fn token(state: web::Data<Mutex<State>>, form: web::Form<TokenForm>) -> HttpResponse {
    if form.grant_type != "authorization_code" {
        return oauth_error("unsupported_grant_type");
    }
    if form.client_id.as_deref() != Some(CLIENT_ID)
        || form.client_secret.as_deref() != Some(CLIENT_SECRET)
    {
        return HttpResponse::Unauthorized().json(json!({"error": "invalid_client"}));
    }
    let mut s = state.lock().unwrap();
    // Codes are single-use: removed whether or not the rest checks out.
    let Some(grant) = s.codes.remove(&form.code) else {
        return oauth_error("invalid_grant");
    };
    let Some(verifier) = form.code_verifier.as_deref() else {
        return oauth_error("invalid_grant");
    };
    let computed =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier));
    if computed != grant.challenge || form.redirect_uri != grant.redirect_uri {
        return oauth_error("invalid_grant");
    }
    let access_token = uuid::Uuid::new_v4().simple().to_string();
    s.tokens.insert(access_token.clone(), grant.profile);
    HttpResponse::Ok().json(json!({
        "access_token": access_token, "token_type": "bearer", "expires_in": 7200, "scope": "public",
    }))
}

async fn me(state: web::Data<Mutex<State>>, req: HttpRequest) -> HttpResponse {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    match state.lock().unwrap().tokens.get(token) {
        Some(profile) => HttpResponse::Ok().json(profile),
        None => HttpResponse::Unauthorized().json(json!({"error": "invalid_token"})),
    }
}
