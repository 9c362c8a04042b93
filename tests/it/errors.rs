//! Bad requests get a 4xx with `{code, message}`, never a 500.

use crate::support::{Reply, spawn_app};

#[actix_web::test]
async fn malformed_bodies_get_coded_errors() {
    let app = spawn_app().await;
    let post = |body: &'static str, content_type: &'static str| {
        app.client
            .post(app.url("/api/auth/register"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    Reply::from(post("{not json", "application/json").await.unwrap())
        .await
        .expect_error(400, "invalid_json");
    Reply::from(
        post(r#"{"username": "alice"}"#, "application/json")
            .await
            .unwrap(),
    )
    .await
    .expect_error(422, "validation_failed");
    Reply::from(
        post(
            r#"{"username": 5, "email": [], "password": {}}"#,
            "application/json",
        )
        .await
        .unwrap(),
    )
    .await
    .expect_error(422, "validation_failed");
    Reply::from(
        post("username=alice", "application/x-www-form-urlencoded")
            .await
            .unwrap(),
    )
    .await
    .expect_error(415, "unsupported_media_type");
    Reply::from(post("", "application/json").await.unwrap())
        .await
        .expect_error(400, "invalid_json");
}

#[actix_web::test]
async fn oversized_bodies_are_refused() {
    let app = spawn_app().await;
    let huge = format!(
        r#"{{"login": "{}", "password": "x"}}"#,
        "a".repeat(100 * 1024)
    );
    let reply = app
        .client
        .post(app.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    Reply::from(reply)
        .await
        .expect_error(413, "payload_too_large");
}

#[actix_web::test]
async fn unknown_paths_and_methods_are_json_errors() {
    let app = spawn_app().await;
    app.get("/api/nothing-here", None)
        .await
        .expect_error(404, "not_found");
    app.get("/api/auth/login", None)
        .await
        .expect_error(405, "method_not_allowed");
}

#[actix_web::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let reply = app.client.get(app.url("/healthz")).send().await.unwrap();
    let id = reply.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    // A plain incoming id (from the gateway) is kept; anything else replaced.
    let reply = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "gw-1234.abc")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.headers()["x-request-id"], "gw-1234.abc");
    let reply = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "evil\tvalue with spaces")
        .send()
        .await
        .unwrap();
    assert_ne!(reply.headers()["x-request-id"], "evil\tvalue with spaces");
}

#[actix_web::test]
async fn malformed_authorization_headers_are_401() {
    let app = spawn_app().await;
    for header in [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "token abc",
        "Bearer a.b.c",
    ] {
        let reply = app
            .client
            .get(app.url("/api/auth/verify"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        let reply = Reply::from(reply).await;
        assert_eq!(reply.status, 401, "{header:?}: {}", reply.body);
        assert!(reply.body["code"].is_string());
    }
}
