//! Notification inbox over REST: unread counts, read, read-all, delete,
//! and nobody touches another user's notifications.

use serde_json::json;

use crate::support::{TestApp, spawn_app};

async fn unread(app: &TestApp, token: &str) -> i64 {
    let reply = app
        .get("/api/notifications/unread-count", Some(token))
        .await;
    reply.expect(200)["unread"].as_i64().unwrap()
}

#[actix_web::test]
async fn the_inbox_counts_reads_and_forgets() {
    let app = spawn_app().await;
    let (_, b, _) = app.user_with_tokens("bob").await;
    let (_, c, _) = app.user_with_tokens("carol").await;
    let bob_id = app.get("/api/users/me", Some(&b)).await.body["id"]
        .as_i64()
        .unwrap();
    // Three fans ask Bob.
    for name in ["fan1", "fan2", "fan3"] {
        let (_, token, _) = app.user_with_tokens(name).await;
        app.post(
            "/api/friends/requests",
            json!({"user_id": bob_id}),
            Some(&token),
        )
        .await
        .expect(201);
    }
    assert_eq!(unread(&app, &b).await, 3);
    assert_eq!(unread(&app, &c).await, 0);

    let list = app.get("/api/notifications?limit=2", Some(&b)).await;
    let body = list.expect(200).clone();
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["kind"], "friend_request");
    assert_eq!(items[0]["actor"]["username"], "fan3");
    assert!(items[0]["read_at"].is_null());
    assert!(items[0]["id"].as_i64() > items[1]["id"].as_i64());
    let newest = items[0]["id"].as_i64().unwrap();
    let cursor = body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!("/api/notifications?limit=2&cursor={cursor}"),
            Some(&b),
        )
        .await;
    assert_eq!(rest.expect(200)["items"][0]["actor"]["username"], "fan1");

    // Carol can neither read nor delete Bob's notification.
    let read = format!("/api/notifications/{newest}/read");
    app.post(&read, json!({}), Some(&c))
        .await
        .expect_error(404, "not_found");
    app.send(
        reqwest::Method::DELETE,
        &format!("/api/notifications/{newest}"),
        None,
        Some(&c),
    )
    .await
    .expect_error(404, "not_found");
    assert_eq!(unread(&app, &b).await, 3);

    let reply = app.post(&read, json!({}), Some(&b)).await;
    assert_eq!(reply.expect(200)["unread"], 2);
    app.post(&read, json!({}), Some(&b)).await.expect(200);
    let unread_list = app
        .get("/api/notifications?unread_only=true", Some(&b))
        .await;
    let ids: Vec<i64> = unread_list.expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(!ids.contains(&newest));

    app.post("/api/notifications/read-all", json!({}), Some(&b))
        .await
        .expect(200);
    assert_eq!(unread(&app, &b).await, 0);

    app.send(
        reqwest::Method::DELETE,
        &format!("/api/notifications/{newest}"),
        None,
        Some(&b),
    )
    .await
    .expect(204);
    let all = app.get("/api/notifications", Some(&b)).await;
    assert_eq!(all.expect(200)["items"].as_array().unwrap().len(), 2);
    app.get("/api/notifications?unread_only=maybe", Some(&b))
        .await
        .expect_error(400, "invalid_request");
}
