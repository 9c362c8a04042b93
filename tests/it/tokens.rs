//! Refresh rotation with reuse detection, logout, and the JWT attack cases.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use serde_json::json;
use transcendence::auth::jwt::{JwtKeys, TokenType};

use crate::support::spawn_app;

#[actix_web::test]
async fn refresh_rotates_and_a_reused_token_revokes_the_family() {
    let app = spawn_app().await;
    let (_, access0, refresh1) = app.user_with_tokens("alice").await;

    let reply = app
        .post(
            "/api/auth/refresh",
            json!({"refresh_token": refresh1}),
            None,
        )
        .await;
    reply.expect(200);
    let (access2, refresh2) = (reply.str("access_token"), reply.str("refresh_token"));
    assert_ne!(refresh1, refresh2);
    app.get("/api/auth/verify", Some(&access2))
        .await
        .expect(200);

    let reply = app
        .post(
            "/api/auth/refresh",
            json!({"refresh_token": refresh2}),
            None,
        )
        .await;
    reply.expect(200);
    let refresh3 = reply.str("refresh_token");

    // refresh1 was already used: whoever presents it again holds a leaked token.
    app.post(
        "/api/auth/refresh",
        json!({"refresh_token": refresh1}),
        None,
    )
    .await
    .expect_error(401, "refresh_token_reused");

    // Every descendant of that login is dead, and so are its access tokens.
    app.post(
        "/api/auth/refresh",
        json!({"refresh_token": refresh3}),
        None,
    )
    .await
    .expect_error(401, "session_revoked");
    for access in [&access0, &access2] {
        app.get("/api/auth/verify", Some(access))
            .await
            .expect_error(401, "session_revoked");
    }
    // Another login is unaffected.
    let (other, _) = app.tokens("alice").await;
    app.get("/api/auth/verify", Some(&other)).await.expect(200);
}

#[actix_web::test]
async fn concurrent_refreshes_with_one_token_let_one_through_at_most() {
    let app = spawn_app().await;
    let (_, _, refresh) = app.user_with_tokens("alice").await;
    let attempts =
        (0..3).map(|_| app.post("/api/auth/refresh", json!({"refresh_token": refresh}), None));
    let replies = futures_util::future::join_all(attempts).await;
    assert!(replies.iter().filter(|r| r.status == 200).count() <= 1);
    assert!(replies.iter().any(|r| r.status == 401));
}

#[actix_web::test]
async fn logout_ends_the_session_and_its_access_tokens() {
    let app = spawn_app().await;
    let (_, access, refresh) = app.user_with_tokens("alice").await;
    let (other_access, _) = app.tokens("alice").await;

    app.post("/api/auth/logout", json!({"refresh_token": refresh}), None)
        .await
        .expect(204);
    app.get("/api/auth/verify", Some(&access))
        .await
        .expect_error(401, "session_revoked");
    app.post("/api/auth/refresh", json!({"refresh_token": refresh}), None)
        .await
        .expect_error(401, "session_revoked");
    app.get("/api/auth/verify", Some(&other_access))
        .await
        .expect(200);

    app.post(
        "/api/auth/logout",
        json!({"refresh_token": "garbage"}),
        None,
    )
    .await
    .expect_error(401, "invalid_token");
}

#[actix_web::test]
async fn logout_all_ends_every_session() {
    let app = spawn_app().await;
    let (_, a, _) = app.user_with_tokens("alice").await;
    let (b, b_refresh) = app.tokens("alice").await;
    let (_, bob, _) = app.user_with_tokens("bob").await;

    app.post("/api/auth/logout-all", json!({}), Some(&a))
        .await
        .expect(204);
    for token in [&a, &b] {
        app.get("/api/auth/verify", Some(token))
            .await
            .expect_error(401, "session_revoked");
    }
    app.post(
        "/api/auth/refresh",
        json!({"refresh_token": b_refresh}),
        None,
    )
    .await
    .expect_error(401, "session_revoked");
    app.get("/api/auth/verify", Some(&bob)).await.expect(200);
    app.post("/api/auth/logout-all", json!({}), None)
        .await
        .expect_error(401, "unauthorized");
}

#[actix_web::test]
async fn token_types_are_not_interchangeable() {
    let app = spawn_app().await;
    let (_, access, refresh) = app.user_with_tokens("alice").await;
    app.get("/api/auth/verify", Some(&refresh))
        .await
        .expect_error(401, "invalid_token");
    app.post("/api/auth/refresh", json!({"refresh_token": access}), None)
        .await
        .expect_error(401, "invalid_token");
}

fn with_header(token: &str, header: &str, signature: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    format!("{}.{payload}.{signature}", URL_SAFE_NO_PAD.encode(header))
}

#[actix_web::test]
async fn forged_tokens_are_refused() {
    let app = spawn_app().await;
    let (user, access, _) = app.user_with_tokens("alice").await;
    let signature = access.split('.').nth(2).unwrap();

    let mut forged = vec![
        with_header(&access, r#"{"alg":"none","typ":"JWT"}"#, ""),
        with_header(&access, r#"{"alg":"none","typ":"JWT"}"#, signature),
        with_header(&access, r#"{"alg":"HS512","typ":"JWT"}"#, signature),
        with_header(&access, r#"{"alg":"RS256","typ":"JWT"}"#, signature),
        "not.a.jwt".to_string(),
        String::new(),
    ];
    // A payload edited to another user keeps the old signature.
    let parts: Vec<&str> = access.split('.').collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = json!((user.id + 1).to_string());
    forged.push(format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    ));
    // Signed with another secret.
    let mut other = app.settings.jwt.clone();
    other.secret = "another-secret-another-secret-another-secret"
        .to_string()
        .into();
    let session = uuid::Uuid::new_v4();
    forged.push(
        JwtKeys::new(&other)
            .unwrap()
            .issue(TokenType::Access, user.id, session, Utc::now())
            .unwrap()
            .token,
    );
    for token in forged {
        let reply = app.get("/api/auth/verify", Some(&token)).await;
        assert_eq!(reply.status, 401, "accepted {token:?}");
    }
}

#[actix_web::test]
async fn expired_and_foreign_audience_tokens_are_refused() {
    let app = spawn_app().await;
    let (user, access, _) = app.user_with_tokens("alice").await;
    let session: uuid::Uuid = app.get("/api/auth/verify", Some(&access)).await.body["session_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let keys = JwtKeys::new(&app.settings.jwt).unwrap();

    // Expired 10 s ago: beyond the few seconds of leeway.
    let issued = Utc::now() - chrono::Duration::seconds(3600 + 10);
    let expired = keys
        .issue(TokenType::Access, user.id, session, issued)
        .unwrap();
    app.get("/api/auth/verify", Some(&expired.token))
        .await
        .expect_error(401, "token_expired");

    // Same secret, another audience or issuer.
    for (aud, iss) in [
        ("elsewhere", "transcendence"),
        ("transcendence", "elsewhere"),
    ] {
        let mut s = app.settings.jwt.clone();
        s.audience = aud.into();
        s.issuer = iss.into();
        let token = JwtKeys::new(&s)
            .unwrap()
            .issue(TokenType::Access, user.id, session, Utc::now())
            .unwrap();
        app.get("/api/auth/verify", Some(&token.token))
            .await
            .expect_error(401, "invalid_token");
    }

    // A well-signed token for a session that never existed.
    let stranger = keys
        .issue(TokenType::Access, user.id, uuid::Uuid::new_v4(), Utc::now())
        .unwrap();
    app.get("/api/auth/verify", Some(&stranger.token))
        .await
        .expect_error(401, "session_revoked");
}
