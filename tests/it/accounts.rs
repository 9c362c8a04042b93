//! Registration and login.

use serde_json::json;

use crate::support::{PASSWORD, spawn_app};

#[actix_web::test]
async fn register_returns_the_account() {
    let app = spawn_app().await;
    let reply = app
        .post(
            "/api/auth/register",
            json!({"username": "alice", "email": "Alice@Example.com", "password": PASSWORD}),
            None,
        )
        .await;
    let body = reply.expect(201);
    let user = &body["user"];
    assert!(user["id"].as_i64().unwrap() > 0);
    assert_eq!(user["username"], "alice");
    assert_eq!(user["email"], "Alice@Example.com");
    assert_eq!(user["two_factor_enabled"], false);
    assert!(user["created_at"].is_string());
    assert!(user.get("password_hash").is_none());
}

#[actix_web::test]
async fn usernames_and_emails_are_unique_case_insensitively() {
    let app = spawn_app().await;
    app.register("alice").await;
    let reply = app
        .post(
            "/api/auth/register",
            json!({"username": "ALICE", "email": "other@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    reply.expect_error(409, "username_taken");
    assert_eq!(reply.body["field"], "username");

    let reply = app
        .post(
            "/api/auth/register",
            json!({"username": "bob", "email": "ALICE@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    reply.expect_error(409, "email_taken");
    assert_eq!(reply.body["field"], "email");
}

#[actix_web::test]
async fn invalid_fields_are_named() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"username": "al", "email": "a@b.co", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "a".repeat(21), "email": "a@b.co", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "al ice", "email": "a@b.co", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "alice", "email": "not-an-email", "password": PASSWORD}),
            "email",
        ),
        (
            json!({"username": "alice", "email": "a@b.co", "password": "short"}),
            "password",
        ),
        (
            json!({"username": "alice", "email": "a@b.co", "password": "x".repeat(129)}),
            "password",
        ),
    ];
    for (body, field) in cases {
        let reply = app.post("/api/auth/register", body.clone(), None).await;
        reply.expect_error(422, "validation_failed");
        assert_eq!(reply.body["field"], field, "for {body}");
    }
}

#[actix_web::test]
async fn concurrent_registrations_of_one_name_make_one_account() {
    let app = spawn_app().await;
    let attempts = (0..4).map(|i| {
        app.post(
            "/api/auth/register",
            json!({"username": "racer", "email": format!("racer{i}@example.com"), "password": PASSWORD}),
            None,
        )
    });
    let replies = futures_util::future::join_all(attempts).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(created, 1);
    for reply in replies.iter().filter(|r| r.status != 201) {
        reply.expect_error(409, "username_taken");
    }
}

#[actix_web::test]
async fn login_by_username_or_email_returns_a_token_pair() {
    let app = spawn_app().await;
    let user = app.register("alice").await;
    for login in ["alice", "ALICE", user.email.as_str(), "ALICE@example.com"] {
        let reply = app.login(login, PASSWORD).await;
        let body = reply.expect(200);
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        assert_eq!(body["refresh_expires_in"], 86400);
        assert!(body["access_token"].as_str().unwrap().split('.').count() == 3);
        assert!(body["refresh_token"].is_string());
        assert!(body.get("two_factor_required").is_none());
    }
}

#[actix_web::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let app = spawn_app().await;
    app.register("alice").await;
    let wrong = app.login("alice", "wrong password").await;
    wrong.expect_error(401, "invalid_credentials");
    let unknown = app.login("nobody", PASSWORD).await;
    unknown.expect_error(401, "invalid_credentials");
    assert_eq!(wrong.body, unknown.body);
}

#[actix_web::test]
async fn verify_describes_the_token() {
    let app = spawn_app().await;
    let (user, access, _) = app.user_with_tokens("alice").await;
    let reply = app.get("/api/auth/verify", Some(&access)).await;
    let body = reply.expect(200);
    assert_eq!(body["user_id"], user.id);
    assert_eq!(body["username"], "alice");
    assert_eq!(body["two_factor_enabled"], false);
    assert!(body["session_id"].is_string());
    assert!(body["expires_at"].is_string());

    app.get("/api/auth/verify", None)
        .await
        .expect_error(401, "unauthorized");
}

#[actix_web::test]
async fn password_change_keeps_this_session_and_ends_the_others() {
    let app = spawn_app().await;
    let (_, here, _) = app.user_with_tokens("alice").await;
    let (elsewhere, elsewhere_refresh) = app.tokens("alice").await;

    let reply = app
        .send(
            reqwest::Method::PUT,
            "/api/auth/password",
            Some(json!({"current_password": "nope nope", "new_password": "brand new password"})),
            Some(&here),
        )
        .await;
    reply.expect_error(403, "wrong_password");

    let reply = app
        .send(
            reqwest::Method::PUT,
            "/api/auth/password",
            Some(json!({"current_password": PASSWORD, "new_password": "short"})),
            Some(&here),
        )
        .await;
    reply.expect_error(422, "validation_failed");
    assert_eq!(reply.body["field"], "new_password");

    let reply = app
        .send(
            reqwest::Method::PUT,
            "/api/auth/password",
            Some(json!({"current_password": PASSWORD, "new_password": "brand new password"})),
            Some(&here),
        )
        .await;
    reply.expect(204);

    app.get("/api/auth/verify", Some(&here)).await.expect(200);
    app.get("/api/auth/verify", Some(&elsewhere))
        .await
        .expect_error(401, "session_revoked");
    app.post(
        "/api/auth/refresh",
        json!({"refresh_token": elsewhere_refresh}),
        None,
    )
    .await
    .expect_error(401, "session_revoked");
    app.login("alice", PASSWORD)
        .await
        .expect_error(401, "invalid_credentials");
    app.login("alice", "brand new password").await.expect(200);
}
