//! The OpenAPI document covers the routes, and every documented route exists.

use crate::support::spawn_app;

#[actix_web::test]
async fn the_document_lists_every_endpoint_and_each_is_routed() {
    let app = spawn_app().await;
    let doc = app.get("/api/openapi.json", None).await;
    let body = doc.expect(200).clone();
    assert!(body["openapi"].as_str().unwrap().starts_with("3."));
    let paths = body["paths"].as_object().unwrap();
    let expected = [
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("post", "/api/auth/register"),
        ("post", "/api/auth/login"),
        ("post", "/api/auth/login/2fa"),
        ("post", "/api/auth/refresh"),
        ("post", "/api/auth/logout"),
        ("post", "/api/auth/logout-all"),
        ("get", "/api/auth/verify"),
        ("put", "/api/auth/password"),
        ("post", "/api/auth/2fa/setup"),
        ("post", "/api/auth/2fa/enable"),
        ("post", "/api/auth/2fa/disable"),
        ("get", "/api/auth/oauth/42/authorize"),
        ("get", "/api/auth/oauth/42/callback"),
        ("post", "/api/auth/oauth/42/link"),
        ("get", "/api/users/me"),
        ("patch", "/api/users/me"),
        ("put", "/api/users/me/avatar"),
        ("delete", "/api/users/me/avatar"),
        ("get", "/api/users/{id}"),
        ("get", "/api/users/by-username/{username}"),
        ("get", "/api/users"),
        ("post", "/api/friends/requests"),
        ("get", "/api/friends/requests"),
        ("post", "/api/friends/requests/{id}/accept"),
        ("post", "/api/friends/requests/{id}/decline"),
        ("delete", "/api/friends/requests/{id}"),
        ("get", "/api/friends"),
        ("delete", "/api/friends/{user_id}"),
        ("put", "/api/blocks/{user_id}"),
        ("delete", "/api/blocks/{user_id}"),
        ("get", "/api/blocks"),
        ("get", "/api/notifications"),
        ("get", "/api/notifications/unread-count"),
        ("post", "/api/notifications/{id}/read"),
        ("post", "/api/notifications/read-all"),
        ("delete", "/api/notifications/{id}"),
        ("get", "/api/chats"),
        ("get", "/api/chats/{chat_id}/messages"),
        ("post", "/api/chats/{chat_id}/read"),
        ("get", "/api/matches/live"),
        ("get", "/api/matches/{id}"),
        ("get", "/api/users/{id}/matches"),
        ("get", "/api/leaderboard"),
        ("post", "/api/tournaments"),
        ("get", "/api/tournaments"),
        ("get", "/api/tournaments/{id}"),
        ("post", "/api/tournaments/{id}/join"),
        ("post", "/api/tournaments/{id}/leave"),
        ("post", "/api/tournaments/{id}/start"),
        ("post", "/api/auth/ws-ticket"),
        ("get", "/ws"),
        ("get", "/media/avatars/{name}"),
        ("get", "/media/avatars/default/{id}.png"),
    ];
    for (method, path) in expected {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not documented"
        );
    }
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            // Every operation documents its responses, errors included.
            let responses = op["responses"].as_object().unwrap();
            assert!(!responses.is_empty(), "{method} {path}");
            let method: reqwest::Method = method.to_uppercase().parse().unwrap();
            // Path parameters become 1; a handler may still answer 404 for
            // that id, but never with the router's bare "not found".
            let concrete = concrete_path(path);
            let reply = app.send(method.clone(), &concrete, None, None).await;
            let unrouted = reply.status == 405
                || (reply.status == 404 && reply.body["message"] == "not found");
            assert!(
                !unrouted,
                "{method} {path} is documented but not routed ({})",
                reply.status
            );
        }
    }
    let schemas = body["components"]["schemas"].as_object().unwrap();
    assert!(schemas.contains_key("ErrorBody"));
    assert!(schemas.contains_key("ErrorCode"));
    assert!(body["components"]["securitySchemes"]["bearer"].is_object());
}

/// `/a/{id}/b` → `/a/1/b`.
fn concrete_path(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push('1');
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}
