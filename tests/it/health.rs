//! Liveness and readiness, including with the database or Redis away.

use std::time::Duration;

use crate::support::db_proxy::DbProxy;
use crate::support::{
    PASSWORD, fresh_database_name, server_url, spawn_app, spawn_app_with, spawn_with_settings,
    test_settings,
};

#[actix_web::test]
async fn healthz_and_readyz_answer_when_all_is_up() {
    let app = spawn_app().await;
    let health = app.get("/healthz", None).await;
    assert_eq!(health.expect(200)["status"], "ok");
    let ready = app.get("/readyz", None).await;
    let body = ready.expect(200);
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["redis"], "not_configured");
}

/// A test server whose database connections go through a `DbProxy`.
async fn app_behind_a_proxy() -> (crate::support::TestApp, DbProxy) {
    let server = url::Url::parse(&server_url()).unwrap();
    let upstream = format!(
        "{}:{}",
        server.host_str().unwrap(),
        server.port().unwrap_or(5432)
    );
    let proxy = DbProxy::start(upstream).await;
    let db_name = fresh_database_name();
    let mut via_proxy = server.clone();
    via_proxy.set_port(Some(proxy.port)).unwrap();
    via_proxy.set_path(&db_name);
    let app = spawn_with_settings(db_name, test_settings(via_proxy.as_str())).await;
    (app, proxy)
}

#[actix_web::test]
async fn readyz_follows_the_database_down_and_back_up() {
    let (app, proxy) = app_behind_a_proxy().await;
    let (_, token, _) = app.user_with_tokens("alice").await;
    app.get("/readyz", None).await.expect(200);
    // Reads share one connection per worker (`db::Reader`): it is taken now.
    let me = app.get("/api/users/me", Some(&token)).await;
    assert_eq!(me.expect(200)["username"], "alice");

    proxy.cut().await;
    let ready = app.get("/readyz", None).await;
    let body = ready.expect(503);
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["database"], "unavailable");
    // The process itself is fine, and requests that need the database get
    // a 503 with a code, not a 500.
    app.get("/healthz", None).await.expect(200);
    app.login("alice", PASSWORD)
        .await
        .expect_error(503, "service_unavailable");
    // The shared read connection is found lost (a 503, never a 500)...
    app.get("/api/users/me", Some(&token))
        .await
        .expect_error(503, "service_unavailable");

    proxy.restore();
    let mut ready = app.get("/readyz", None).await;
    for _ in 0..20 {
        if ready.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        ready = app.get("/readyz", None).await;
    }
    ready.expect(200);
    app.login("alice", PASSWORD).await.expect(200);
    // ...and replaced by the next read.
    let me = app.get("/api/users/me", Some(&token)).await;
    assert_eq!(me.expect(200)["username"], "alice");

    // A connection that went away while idle costs no error: the read
    // that finds it gone runs again on a fresh one.
    proxy.cut().await;
    proxy.restore();
    let me = app.get("/api/users/me", Some(&token)).await;
    assert_eq!(me.expect(200)["username"], "alice");
}

/// A database connection that stops answering without closing (a dead
/// peer) fails the read waiting on it after the reader's timeout, and the
/// next read takes a connection that works.
#[actix_web::test]
async fn a_hung_read_connection_is_given_up_and_replaced() {
    let (app, proxy) = app_behind_a_proxy().await;
    let (_, token, _) = app.user_with_tokens("alice").await;
    app.get("/api/users/me", Some(&token)).await.expect(200);

    proxy.hang();
    app.get("/api/users/me", Some(&token))
        .await
        .expect_error(503, "service_unavailable");

    proxy.restore();
    let me = app.get("/api/users/me", Some(&token)).await;
    assert_eq!(me.expect(200)["username"], "alice");
}

#[actix_web::test]
async fn readyz_checks_redis_when_configured() {
    let app = spawn_app_with(|s| {
        s.redis_url = Some("redis://127.0.0.1:6379".to_string().into());
    })
    .await;
    let body = app.get("/readyz", None).await.expect(200).clone();
    assert_eq!(body["redis"], "ok");

    // Nothing listens on port 1.
    let app = spawn_app_with(|s| {
        s.redis_url = Some("redis://127.0.0.1:1".to_string().into());
    })
    .await;
    let body = app.get("/readyz", None).await.expect(503).clone();
    assert_eq!(body["redis"], "unavailable");
    assert_eq!(body["database"], "ok");
}

/// A request queries through its worker's own pool: it does not wait for
/// the actors' pool, and the metrics count the connections of both.
#[actix_web::test]
async fn each_worker_queries_through_a_pool_of_its_own() {
    let app = spawn_app_with(|s| {
        s.db_pool_size = 2;
        s.metrics_enabled = true;
    })
    .await;
    let held = [
        app.state.db.get().await.expect("an actors' connection"),
        app.state.db.get().await.expect("an actors' connection"),
    ];
    app.register("ada").await;
    let (access, _) = app.tokens("ada").await;
    let me = app.get("/api/users/me", Some(&access)).await;
    assert_eq!(me.expect(200)["username"], "ada");
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("\ntranscendence_db_pool_size 3\n"),
        "the actors' two connections and the worker's one: {metrics}"
    );
    drop(held);
}
