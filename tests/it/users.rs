//! Profiles and search, with three users: B never reads or changes what
//! belongs to A or C.

use serde_json::json;

use crate::support::{TestApp, spawn_app};

async fn patch(app: &TestApp, token: &str, body: serde_json::Value) -> crate::support::Reply {
    app.send(
        reqwest::Method::PATCH,
        "/api/users/me",
        Some(body),
        Some(token),
    )
    .await
}

#[actix_web::test]
async fn me_shows_the_private_view() {
    let app = spawn_app().await;
    let (alice, token, _) = app.user_with_tokens("alice").await;
    let reply = app.get("/api/users/me", Some(&token)).await;
    let me = reply.expect(200);
    assert_eq!(me["id"], alice.id);
    assert_eq!(me["username"], "alice");
    assert_eq!(me["display_name"], "alice");
    assert_eq!(me["email"], alice.email);
    assert_eq!(me["bio"], "");
    assert_eq!(me["language"], "en");
    assert_eq!(me["two_factor_enabled"], false);
    assert_eq!(me["oauth_accounts"], json!([]));
    assert_eq!(me["languages"], json!(["en", "fr", "de"]));
    assert_eq!(
        me["avatar_url"],
        format!("/media/avatars/default/{}.png", alice.id)
    );
    app.get("/api/users/me", None)
        .await
        .expect_error(401, "unauthorized");
}

#[actix_web::test]
async fn patch_changes_only_what_is_given_and_validates_it() {
    let app = spawn_app().await;
    let (_, token, _) = app.user_with_tokens("alice").await;
    let reply = patch(
        &app,
        &token,
        json!({"display_name": "  Alice W.  ", "bio": "pong\nfan", "language": "FR"}),
    )
    .await;
    let me = reply.expect(200);
    assert_eq!(me["display_name"], "Alice W.");
    assert_eq!(me["bio"], "pong\nfan");
    assert_eq!(me["language"], "fr");

    let me = patch(&app, &token, json!({"bio": "only the bio"})).await;
    assert_eq!(me.body["display_name"], "Alice W.");
    assert_eq!(me.body["language"], "fr");

    for (body, field) in [
        (json!({"display_name": "   "}), "display_name"),
        (json!({"display_name": "x".repeat(33)}), "display_name"),
        (json!({"display_name": "bell\u{7}"}), "display_name"),
        (json!({"bio": "x".repeat(281)}), "bio"),
        (json!({"bio": "nul\u{0}"}), "bio"),
        (json!({"language": "tlh"}), "language"),
    ] {
        let reply = patch(&app, &token, body.clone()).await;
        reply.expect_error(422, "validation_failed");
        assert_eq!(reply.body["field"], field, "{body}");
    }

    // merge-patch+json is JSON too.
    let reply = app
        .client
        .patch(app.url("/api/users/me"))
        .bearer_auth(&token)
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"language": "de"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
}

#[actix_web::test]
async fn display_names_are_unique_and_cannot_impersonate() {
    let app = spawn_app().await;
    let (_, a, _) = app.user_with_tokens("alice").await;
    let (_, b, _) = app.user_with_tokens("bob").await;
    app.user_with_tokens("carol").await;
    patch(&app, &a, json!({"display_name": "Ace"}))
        .await
        .expect(200);
    let reply = patch(&app, &b, json!({"display_name": "ACE"})).await;
    reply.expect_error(409, "display_name_taken");
    assert_eq!(reply.body["field"], "display_name");
    // Another user's username is taken too…
    patch(&app, &b, json!({"display_name": "Carol"}))
        .await
        .expect_error(409, "display_name_taken");
    // …but one's own is fine.
    patch(&app, &b, json!({"display_name": "BOB"}))
        .await
        .expect(200);
}

#[actix_web::test]
async fn public_profiles_by_id_and_username() {
    let app = spawn_app().await;
    let (alice, a, _) = app.user_with_tokens("alice").await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    patch(&app, &a, json!({"display_name": "Ace", "bio": "hi"}))
        .await
        .expect(200);

    for path in [
        format!("/api/users/{}", alice.id),
        "/api/users/by-username/ALICE".to_string(),
    ] {
        let reply = app.get(&path, Some(&b)).await;
        let profile = reply.expect(200);
        assert_eq!(profile["id"], alice.id);
        assert_eq!(profile["display_name"], "Ace");
        assert_eq!(profile["bio"], "hi");
        assert_eq!(profile["relation"], "none");
        // Private fields stay private.
        assert!(profile.get("email").is_none(), "{profile}");
        assert!(profile.get("two_factor_enabled").is_none());
    }
    app.get(&format!("/api/users/{}", bob.id + 1000), Some(&b))
        .await
        .expect_error(404, "not_found");
    app.get("/api/users/by-username/nobody", Some(&b))
        .await
        .expect_error(404, "not_found");
    app.get("/api/users/by-username/a%00b", Some(&b))
        .await
        .expect_error(404, "not_found");
    app.get("/api/users/not-a-number", Some(&b))
        .await
        .expect_error(404, "not_found");
    app.get(&format!("/api/users/{}", alice.id), None)
        .await
        .expect_error(401, "unauthorized");
}

#[actix_web::test]
async fn search_matches_substrings_and_paginates() {
    let app = spawn_app().await;
    let (_, me, _) = app.user_with_tokens("searcher").await;
    for name in ["pong_one", "Pong_Two", "ping", "xpongx"] {
        app.register(name).await;
    }
    let (_, carol, _) = app.user_with_tokens("carol").await;
    patch(&app, &carol, json!({"display_name": "King of PONG"}))
        .await
        .expect(200);

    let reply = app.get("/api/users?q=PoNg", Some(&me)).await;
    let names: Vec<&str> = reply.expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["pong_one", "Pong_Two", "xpongx", "carol"]);
    assert!(reply.body["next_cursor"].is_null());

    // Two at a time, stable order, cursor to the end.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/users?q=pong&limit=2&cursor={c}"),
            None => "/api/users?q=pong&limit=2".to_string(),
        };
        let page = app.get(&path, Some(&me)).await;
        let body = page.expect(200);
        let items = body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|u| u["username"].as_str().unwrap().to_string()),
        );
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, vec!["pong_one", "Pong_Two", "xpongx", "carol"]);

    // The searcher never finds themself; LIKE wildcards are literal.
    let reply = app.get("/api/users?q=searcher", Some(&me)).await;
    assert_eq!(reply.expect(200)["items"], json!([]));
    let reply = app.get("/api/users?q=%25%25", Some(&me)).await;
    assert_eq!(reply.expect(200)["items"], json!([]));

    for bad in [
        "/api/users?q=p",
        "/api/users",
        "/api/users?q=pong&limit=0",
        "/api/users?q=pong&limit=101",
        "/api/users?q=pong&cursor=garbage",
        "/api/users?q=a%00b",
    ] {
        app.get(bad, Some(&me))
            .await
            .expect_error(422, "validation_failed");
    }
}
