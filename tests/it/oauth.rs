//! Sign-in with 42 against a loopback OAuth2 server: the whole code flow
//! with PKCE, a wrong state, replays, account creation, linking, and 2FA.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;

use crate::support::fake_oauth::FakeOAuth;
use crate::support::{PASSWORD, Reply, TestApp, spawn_app, spawn_app_with};

async fn spawn_with_provider() -> (TestApp, FakeOAuth) {
    let provider = FakeOAuth::start().await;
    let settings = provider.settings("http://localhost:8000/api/auth/oauth/42/callback");
    let app = spawn_app_with(|s| s.oauth42 = Some(settings)).await;
    (app, provider)
}

/// A started sign-in: the state cookie, and the callback URL (path and
/// query) the provider sent the browser back to.
struct Flow {
    cookie: String,
    callback: String,
}

fn cookie_of(headers: &reqwest::header::HeaderMap) -> String {
    let set = headers[SET_COOKIE].to_str().unwrap();
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Lax"), "{set}");
    set.split(';').next().unwrap().to_string()
}

/// Follows the provider's consent redirect back to our callback URL.
async fn consent(app: &TestApp, authorize_url: &str) -> String {
    let reply = app.client.get(authorize_url).send().await.unwrap();
    assert_eq!(reply.status(), 302);
    let back = url::Url::parse(reply.headers()[LOCATION].to_str().unwrap()).unwrap();
    assert_eq!(back.path(), "/api/auth/oauth/42/callback");
    format!("{}?{}", back.path(), back.query().unwrap())
}

async fn start(app: &TestApp) -> Flow {
    let reply = app.get("/api/auth/oauth/42/authorize", None).await;
    assert_eq!(reply.status, 302);
    let to = reply.headers[LOCATION].to_str().unwrap().to_string();
    assert!(to.contains("code_challenge_method=S256"), "{to}");
    assert!(to.contains("state="), "{to}");
    Flow {
        cookie: cookie_of(&reply.headers),
        callback: consent(app, &to).await,
    }
}

async fn callback(app: &TestApp, path_and_query: &str, cookie: Option<&str>) -> Reply {
    let mut req = app.client.get(app.url(path_and_query));
    if let Some(cookie) = cookie {
        req = req.header(COOKIE, cookie);
    }
    Reply::from(req.send().await.unwrap()).await
}

#[actix_web::test]
async fn endpoints_answer_503_when_not_configured() {
    let app = spawn_app().await;
    app.get("/api/auth/oauth/42/authorize", None)
        .await
        .expect_error(503, "oauth_not_configured");
    app.get("/api/auth/oauth/42/callback?code=x&state=y", None)
        .await
        .expect_error(503, "oauth_not_configured");
}

#[actix_web::test]
async fn first_sign_in_creates_the_account_and_later_ones_find_it() {
    let (app, provider) = spawn_with_provider().await;
    provider.set_profile(4242, "jdoe", "jdoe@student.42.fr");

    let flow = start(&app).await;
    let reply = callback(&app, &flow.callback, Some(&flow.cookie)).await;
    reply.expect(200);
    let access = reply.str("access_token");
    let me = app.get("/api/auth/verify", Some(&access)).await;
    assert_eq!(me.expect(200)["username"], "jdoe");
    let user_id = me.body["user_id"].clone();

    let flow = start(&app).await;
    let reply = callback(&app, &flow.callback, Some(&flow.cookie)).await;
    reply.expect(200);
    let me = app
        .get("/api/auth/verify", Some(&reply.str("access_token")))
        .await;
    assert_eq!(me.body["user_id"], user_id);

    // No password was set, so password logins fail like any wrong password.
    app.login("jdoe", PASSWORD)
        .await
        .expect_error(401, "invalid_credentials");
}

#[actix_web::test]
async fn a_taken_username_gets_a_suffix() {
    let (app, provider) = spawn_with_provider().await;
    app.register("jdoe").await;
    provider.set_profile(7, "jdoe", "other@student.42.fr");
    let flow = start(&app).await;
    let reply = callback(&app, &flow.callback, Some(&flow.cookie)).await;
    let me = app
        .get("/api/auth/verify", Some(&reply.str("access_token")))
        .await;
    assert_eq!(me.body["username"], "jdoe2");
}

#[actix_web::test]
async fn a_state_without_its_cookie_is_refused() {
    let (app, provider) = spawn_with_provider().await;
    provider.set_profile(1, "jdoe", "jdoe@student.42.fr");
    let flow = start(&app).await;
    let other = start(&app).await;
    callback(&app, &flow.callback, None)
        .await
        .expect_error(400, "oauth_state_mismatch");
    callback(&app, &flow.callback, Some(&other.cookie))
        .await
        .expect_error(400, "oauth_state_mismatch");
    // The right cookie still works: the mismatches did not spend the state.
    callback(&app, &flow.callback, Some(&flow.cookie))
        .await
        .expect(200);
}

#[actix_web::test]
async fn a_replayed_callback_or_code_is_refused() {
    let (app, provider) = spawn_with_provider().await;
    provider.set_profile(1, "jdoe", "jdoe@student.42.fr");
    let flow = start(&app).await;
    callback(&app, &flow.callback, Some(&flow.cookie))
        .await
        .expect(200);
    // The same callback again: the state is spent.
    callback(&app, &flow.callback, Some(&flow.cookie))
        .await
        .expect_error(400, "oauth_state_invalid");

    // The old code under a fresh state: the provider refuses the code.
    let fresh = start(&app).await;
    let old_code = url::Url::parse(&format!("http://x{}", flow.callback))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    let fresh_state = url::Url::parse(&format!("http://x{}", fresh.callback))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .to_string();
    let forged = format!("/api/auth/oauth/42/callback?code={old_code}&state={fresh_state}");
    callback(&app, &forged, Some(&fresh.cookie))
        .await
        .expect_error(400, "oauth_code_invalid");
}

#[actix_web::test]
async fn a_refusal_at_the_provider_is_reported() {
    let (app, _provider) = spawn_with_provider().await;
    let flow = start(&app).await;
    callback(
        &app,
        "/api/auth/oauth/42/callback?error=access_denied&state=x",
        Some(&flow.cookie),
    )
    .await
    .expect_error(400, "oauth_denied");
    callback(&app, "/api/auth/oauth/42/callback", Some(&flow.cookie))
        .await
        .expect_error(400, "invalid_request");
}

#[actix_web::test]
async fn an_existing_email_is_not_taken_over_but_can_be_linked() {
    let (app, provider) = spawn_with_provider().await;
    let (alice, access, _) = app.user_with_tokens("alice").await;
    provider.set_profile(99, "alice42", &alice.email.to_uppercase());

    let flow = start(&app).await;
    callback(&app, &flow.callback, Some(&flow.cookie))
        .await
        .expect_error(409, "oauth_email_in_use");

    // Logged in, Alice links the 42 account to hers.
    app.post("/api/auth/oauth/42/link", json!({}), None)
        .await
        .expect_error(401, "unauthorized");
    let reply = app
        .post("/api/auth/oauth/42/link", json!({}), Some(&access))
        .await;
    reply.expect(200);
    let cookie = cookie_of(&reply.headers);
    let back = consent(&app, &reply.str("authorize_url")).await;
    let linked = callback(&app, &back, Some(&cookie)).await;
    let body = linked.expect(200);
    assert_eq!(body["linked"], true);
    assert_eq!(body["login"], "alice42");
    let me = app.get("/api/users/me", Some(&access)).await;
    let accounts = &me.expect(200)["oauth_accounts"];
    assert_eq!(accounts.as_array().unwrap().len(), 1, "{accounts}");
    assert_eq!(accounts[0]["provider"], "42");
    assert_eq!(accounts[0]["login"], "alice42");

    // From now on, signing in with 42 is signing in as Alice.
    let flow = start(&app).await;
    let reply = callback(&app, &flow.callback, Some(&flow.cookie)).await;
    let me = app
        .get("/api/auth/verify", Some(&reply.str("access_token")))
        .await;
    assert_eq!(me.body["user_id"], alice.id);

    app.post("/api/auth/oauth/42/link", json!({}), Some(&access))
        .await
        .expect_error(409, "oauth_already_linked");
}

#[actix_web::test]
async fn a_42_account_linked_elsewhere_cannot_be_linked_again() {
    let (app, provider) = spawn_with_provider().await;
    provider.set_profile(5, "jdoe", "jdoe@student.42.fr");
    let flow = start(&app).await;
    callback(&app, &flow.callback, Some(&flow.cookie))
        .await
        .expect(200);

    let (_, bob, _) = app.user_with_tokens("bob").await;
    let reply = app
        .post("/api/auth/oauth/42/link", json!({}), Some(&bob))
        .await;
    let cookie = cookie_of(&reply.headers);
    let back = consent(&app, &reply.str("authorize_url")).await;
    callback(&app, &back, Some(&cookie))
        .await
        .expect_error(409, "oauth_account_linked_elsewhere");
}

#[actix_web::test]
async fn two_factor_still_applies_to_42_sign_in() {
    let (app, provider) = spawn_with_provider().await;
    let (_, access, _) = app.user_with_tokens("alice").await;
    provider.set_profile(11, "alice42", "alice42@student.42.fr");
    let reply = app
        .post("/api/auth/oauth/42/link", json!({}), Some(&access))
        .await;
    let cookie = cookie_of(&reply.headers);
    let back = consent(&app, &reply.str("authorize_url")).await;
    callback(&app, &back, Some(&cookie)).await.expect(200);

    crate::support::wait_for_step_middle().await;
    let setup = app
        .post("/api/auth/2fa/setup", json!({}), Some(&access))
        .await;
    let secret = setup.str("secret");
    let now = crate::support::unix_now();
    let code = transcendence::auth::totp::code_at(&secret, now - 30).unwrap();
    app.post("/api/auth/2fa/enable", json!({"code": code}), Some(&access))
        .await
        .expect(200);

    let flow = start(&app).await;
    let reply = callback(&app, &flow.callback, Some(&flow.cookie)).await;
    assert_eq!(reply.expect(200)["two_factor_required"], true);
    assert!(reply.body.get("access_token").is_none());
    let code = transcendence::auth::totp::code_at(&secret, now).unwrap();
    app.post(
        "/api/auth/login/2fa",
        json!({"challenge": reply.str("challenge"), "code": code}),
        None,
    )
    .await
    .expect(200);
}

#[actix_web::test]
async fn a_link_does_not_complete_after_its_session_ends() {
    let (app, provider) = spawn_with_provider().await;
    let (_, access, _) = app.user_with_tokens("alice").await;
    provider.set_profile(77, "alice42", "alice42@student.42.fr");
    let reply = app
        .post("/api/auth/oauth/42/link", json!({}), Some(&access))
        .await;
    let cookie = cookie_of(&reply.headers);
    let back = consent(&app, &reply.str("authorize_url")).await;
    app.post("/api/auth/logout-all", json!({}), Some(&access))
        .await
        .expect(204);
    callback(&app, &back, Some(&cookie))
        .await
        .expect_error(401, "session_revoked");
}
