//! Failed logins lock the account, then the address, with growing lockouts.

use serde_json::json;

use crate::support::{PASSWORD, spawn_app};

#[actix_web::test]
async fn five_failures_lock_the_account_even_for_the_right_password() {
    let app = spawn_app().await;
    app.register("alice").await;
    app.register("bob").await;
    for _ in 0..5 {
        app.login("alice", "wrong password")
            .await
            .expect_error(401, "invalid_credentials");
    }
    let reply = app.login("alice", PASSWORD).await;
    reply.expect_error(429, "too_many_attempts");
    let retry: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "Retry-After {retry}");
    // By email too: the lock is on the account's login string.
    let reply = app.login("ALICE", PASSWORD).await;
    reply.expect_error(429, "too_many_attempts");
    // Other accounts from the same address are not locked yet.
    app.login("bob", PASSWORD).await.expect(200);
}

#[actix_web::test]
async fn unknown_accounts_lock_like_real_ones() {
    let app = spawn_app().await;
    for _ in 0..5 {
        app.login("ghost", PASSWORD)
            .await
            .expect_error(401, "invalid_credentials");
    }
    app.login("ghost", PASSWORD)
        .await
        .expect_error(429, "too_many_attempts");
}

#[actix_web::test]
async fn a_success_resets_the_account_counter() {
    let app = spawn_app().await;
    app.register("alice").await;
    for _ in 0..4 {
        app.login("alice", "wrong password").await.expect(401);
    }
    app.login("alice", PASSWORD).await.expect(200);
    for _ in 0..4 {
        app.login("alice", "wrong password").await.expect(401);
    }
    app.login("alice", PASSWORD).await.expect(200);
}

#[actix_web::test]
async fn many_failures_from_one_address_lock_the_address() {
    let app = spawn_app().await;
    app.register("alice").await;
    // 30 failures spread over accounts, none of which reaches its own limit.
    for i in 0..30 {
        app.login(&format!("user{}", i % 10), "wrong password")
            .await
            .expect(401);
    }
    app.login("alice", PASSWORD)
        .await
        .expect_error(429, "too_many_attempts");
    // Registration is not a login: the gateway rate-limits it instead.
    app.post(
        "/api/auth/register",
        json!({"username": "carol", "email": "carol@example.com", "password": PASSWORD}),
        None,
    )
    .await
    .expect(201);
}

#[actix_web::test]
async fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
    let app = spawn_app_with_proxy().await;
    app.register("alice").await;
    // Behind the trusted proxy, each forwarded client is counted apart.
    for i in 0..30 {
        let reply = app
            .client
            .post(app.url("/api/auth/login"))
            .header("x-forwarded-for", "203.0.113.7")
            .json(&json!({"login": format!("user{}", i % 10), "password": "wrong password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 401);
    }
    let from = |addr: &'static str| {
        app.client
            .post(app.url("/api/auth/login"))
            .header("x-forwarded-for", addr)
            .json(&json!({"login": "alice", "password": PASSWORD}))
            .send()
    };
    assert_eq!(from("203.0.113.7").await.unwrap().status(), 429);
    assert_eq!(from("198.51.100.1").await.unwrap().status(), 200);
}

async fn spawn_app_with_proxy() -> crate::support::TestApp {
    crate::support::spawn_app_with(|s| {
        s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await
}

#[actix_web::test]
async fn an_untrusted_peer_cannot_choose_its_address() {
    let app = spawn_app().await;
    app.register("alice").await;
    for i in 0..30 {
        let reply = app
            .client
            .post(app.url("/api/auth/login"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&json!({"login": format!("user{}", i % 10), "password": "wrong password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 401);
    }
    app.login("alice", PASSWORD)
        .await
        .expect_error(429, "too_many_attempts");
}

#[actix_web::test]
async fn a_burst_of_guesses_cannot_outrun_the_lock() {
    let app = spawn_app().await;
    app.register("alice").await;
    let app = &app;
    let guesses = (0..20).map(|i| async move { app.login("alice", &format!("guess {i}")).await });
    let replies = futures_util::future::join_all(guesses).await;
    let checked = replies.iter().filter(|r| r.status == 401).count();
    let refused = replies.iter().filter(|r| r.status == 429).count();
    assert_eq!(checked + refused, 20);
    // Each attempt is counted before it is checked: at most 5 get checked.
    assert!(checked <= 5, "{checked} guesses were checked");
}

#[actix_web::test]
async fn absurd_logins_are_plain_failures() {
    let app = spawn_app().await;
    for login in ["a\u{0}b", &"x".repeat(10_000), "\u{7}", "   "] {
        app.login(login, PASSWORD)
            .await
            .expect_error(401, "invalid_credentials");
    }
}
