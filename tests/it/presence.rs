//! Presence: friends see each other come and go, a reload inside the grace
//! does not flicker, and a blocked pair never sees each other.

use std::time::Duration;

use serde_json::json;

use crate::support::{TestApp, spawn_app_with};

async fn app_with_grace(ms: u64) -> TestApp {
    spawn_app_with(|s| s.ws.presence_grace = Duration::from_millis(ms)).await
}

async fn befriend(app: &TestApp, a: &str, b: &str, b_id: i64, a_id: i64) {
    app.post("/api/friends/requests", json!({"user_id": b_id}), Some(a))
        .await
        .expect(201);
    app.post("/api/friends/requests", json!({"user_id": a_id}), Some(b))
        .await
        .expect(200);
}

#[actix_web::test]
async fn friends_see_each_other_come_and_go() {
    let app = app_with_grace(300).await;
    let (alice, a, _) = app.user_with_tokens("alice").await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    befriend(&app, &a, &b, bob.id, alice.id).await;
    let mut bob_ws = app.ws(&b).await;

    let alice_ws = app.ws(&a).await;
    let event = bob_ws.expect("presence").await;
    assert_eq!(
        (event["user_id"].as_i64(), event["status"].as_str()),
        (Some(alice.id), Some("online"))
    );
    let friends = app.get("/api/friends", Some(&b)).await;
    assert_eq!(friends.expect(200)["items"][0]["presence"], "online");
    let profile = app.get(&format!("/api/users/{}", alice.id), Some(&b)).await;
    assert_eq!(profile.expect(200)["presence"], "online");

    drop(alice_ws);
    let event = bob_ws.expect("presence").await;
    assert_eq!(event["status"], "offline");
    assert!(event["last_seen_at"].is_string());
    let profile = app.get(&format!("/api/users/{}", alice.id), Some(&b)).await;
    let body = profile.expect(200);
    assert_eq!(body["presence"], "offline");
    assert!(body["last_seen_at"].is_string());
}

#[actix_web::test]
async fn a_reload_inside_the_grace_does_not_flicker() {
    // The reload (a ticket, an upgrade) must fit in the grace on a slow run.
    let app = app_with_grace(3000).await;
    let (alice, a, _) = app.user_with_tokens("alice").await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    befriend(&app, &a, &b, bob.id, alice.id).await;
    let mut bob_ws = app.ws(&b).await;
    let first = app.ws(&a).await;
    bob_ws.expect("presence").await;
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _second = app.ws(&a).await;
    bob_ws.silent_for(Duration::from_millis(3500)).await;
    let profile = app.get(&format!("/api/users/{}", alice.id), Some(&b)).await;
    assert_eq!(profile.expect(200)["presence"], "online");
}

#[actix_web::test]
async fn a_blocked_pair_never_sees_each_other() {
    let app = app_with_grace(300).await;
    let (alice, a, _) = app.user_with_tokens("alice").await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    let (_, c, _) = app.user_with_tokens("carol").await;
    befriend(&app, &a, &b, bob.id, alice.id).await;
    app.block(&a, bob.id).await;
    let mut bob_ws = app.ws(&b).await;
    let _alice_ws = app.ws(&a).await;
    bob_ws.silent_for(Duration::from_millis(500)).await;
    // Bob sees nothing of Alice; Carol, a stranger, does.
    let seen_by_bob = app.get(&format!("/api/users/{}", alice.id), Some(&b)).await;
    assert_eq!(seen_by_bob.expect(200)["presence"], "offline");
    let seen_by_carol = app.get(&format!("/api/users/{}", alice.id), Some(&c)).await;
    assert_eq!(seen_by_carol.expect(200)["presence"], "online");
    let seen_by_alice = app.get(&format!("/api/users/{}", bob.id), Some(&a)).await;
    assert_eq!(seen_by_alice.expect(200)["presence"], "offline");
}
