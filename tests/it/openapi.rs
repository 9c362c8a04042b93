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
            let reply = app.send(method.clone(), path, None, None).await;
            assert!(
                reply.status != 404 && reply.status != 405,
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
