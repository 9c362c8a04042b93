//! Friends, requests and blocks with three users A, B and C.

use serde_json::{Value, json};

use crate::support::{Reply, TestApp, spawn_app};

struct Three {
    app: TestApp,
    a: (i64, String),
    b: (i64, String),
    c: (i64, String),
}

async fn three() -> Three {
    let app = spawn_app().await;
    let (a, ta, _) = app.user_with_tokens("alice").await;
    let (b, tb, _) = app.user_with_tokens("bob").await;
    let (c, tc, _) = app.user_with_tokens("carol").await;
    Three {
        app,
        a: (a.id, ta),
        b: (b.id, tb),
        c: (c.id, tc),
    }
}

impl Three {
    async fn request(&self, from: &(i64, String), to: i64) -> Reply {
        self.app
            .post(
                "/api/friends/requests",
                json!({"user_id": to}),
                Some(&from.1),
            )
            .await
    }

    async fn ids(&self, path: &str, who: &(i64, String)) -> Vec<i64> {
        let reply = self.app.get(path, Some(&who.1)).await;
        reply.expect(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_i64().unwrap())
            .collect()
    }

    async fn block(&self, who: &(i64, String), whom: i64) -> Reply {
        let path = format!("/api/blocks/{whom}");
        self.app
            .send(reqwest::Method::PUT, &path, None, Some(&who.1))
            .await
    }

    async fn unblock(&self, who: &(i64, String), whom: i64) -> Reply {
        let path = format!("/api/blocks/{whom}");
        self.app
            .send(reqwest::Method::DELETE, &path, None, Some(&who.1))
            .await
    }

    async fn relation(&self, who: &(i64, String), other: i64) -> Value {
        let reply = self
            .app
            .get(&format!("/api/users/{other}"), Some(&who.1))
            .await;
        reply.expect(200)["relation"].clone()
    }

    async fn notifications(&self, who: &(i64, String)) -> Vec<Value> {
        let reply = self.app.get("/api/notifications", Some(&who.1)).await;
        reply.expect(200)["items"].as_array().unwrap().clone()
    }
}

#[actix_web::test]
async fn a_request_accepted_makes_friends_and_notifies_both_ways() {
    let t = three().await;
    let sent = t.request(&t.a, t.b.0).await;
    let body = sent.expect(201);
    assert_eq!(body["status"], "pending");
    let request_id = body["request"]["id"].as_i64().unwrap();
    assert_eq!(body["request"]["from"]["id"], t.a.0);
    assert_eq!(body["request"]["to"]["id"], t.b.0);
    assert_eq!(t.relation(&t.a, t.b.0).await, "request_sent");
    assert_eq!(t.relation(&t.b, t.a.0).await, "request_received");

    // Listed on both sides, and nowhere else.
    let incoming = t
        .app
        .get("/api/friends/requests?direction=incoming", Some(&t.b.1))
        .await;
    assert_eq!(incoming.expect(200)["items"][0]["id"], request_id);
    let outgoing = t
        .app
        .get("/api/friends/requests?direction=outgoing", Some(&t.a.1))
        .await;
    assert_eq!(outgoing.expect(200)["items"][0]["id"], request_id);
    let theirs = t.app.get("/api/friends/requests", Some(&t.c.1)).await;
    assert_eq!(theirs.expect(200)["items"], json!([]));

    // B is told.
    let notes = t.notifications(&t.b).await;
    assert_eq!(notes[0]["kind"], "friend_request");
    assert_eq!(notes[0]["actor"]["id"], t.a.0);
    assert_eq!(notes[0]["payload"]["from"], t.a.0);
    assert_eq!(notes[0]["payload"]["request_id"], request_id);

    // Only the addressee accepts; a stranger to it gets a 404.
    let accept = format!("/api/friends/requests/{request_id}/accept");
    t.app
        .post(&accept, json!({}), Some(&t.a.1))
        .await
        .expect_error(403, "forbidden");
    t.app
        .post(&accept, json!({}), Some(&t.c.1))
        .await
        .expect_error(404, "not_found");
    let reply = t.app.post(&accept, json!({}), Some(&t.b.1)).await;
    assert_eq!(reply.expect(200)["id"], t.a.0);
    t.app
        .post(&accept, json!({}), Some(&t.b.1))
        .await
        .expect_error(404, "not_found");

    assert_eq!(t.ids("/api/friends", &t.a).await, vec![t.b.0]);
    assert_eq!(t.ids("/api/friends", &t.b).await, vec![t.a.0]);
    assert_eq!(t.ids("/api/friends", &t.c).await, Vec::<i64>::new());
    assert_eq!(t.relation(&t.a, t.b.0).await, "friends");
    let notes = t.notifications(&t.a).await;
    assert_eq!(notes[0]["kind"], "friend_accepted");
    assert_eq!(notes[0]["actor"]["id"], t.b.0);
    // C's inbox holds nothing of theirs.
    assert!(t.notifications(&t.c).await.is_empty());

    t.request(&t.a, t.b.0)
        .await
        .expect_error(409, "already_friends");
    // C cannot end A and B's friendship: C is not A's friend.
    t.app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/friends/{}", t.b.0),
            None,
            Some(&t.c.1),
        )
        .await
        .expect_error(404, "not_friends");
    t.app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/friends/{}", t.b.0),
            None,
            Some(&t.a.1),
        )
        .await
        .expect(204);
    assert_eq!(t.ids("/api/friends", &t.b).await, Vec::<i64>::new());
    t.app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/friends/{}", t.b.0),
            None,
            Some(&t.a.1),
        )
        .await
        .expect_error(404, "not_friends");
}

#[actix_web::test]
async fn crossing_requests_make_friends() {
    let t = three().await;
    t.request(&t.a, t.b.0).await.expect(201);
    t.request(&t.a, t.b.0)
        .await
        .expect_error(409, "friend_request_exists");
    let reply = t.request(&t.b, t.a.0).await;
    assert_eq!(reply.expect(200)["status"], "friends");
    assert_eq!(t.ids("/api/friends", &t.a).await, vec![t.b.0]);
    let pending = t
        .app
        .get("/api/friends/requests?direction=outgoing", Some(&t.a.1))
        .await;
    assert_eq!(pending.expect(200)["items"], json!([]));
}

#[actix_web::test]
async fn decline_and_cancel_belong_to_their_side() {
    let t = three().await;
    let id = t.request(&t.a, t.b.0).await.body["request"]["id"]
        .as_i64()
        .unwrap();
    let decline = format!("/api/friends/requests/{id}/decline");
    let cancel = format!("/api/friends/requests/{id}");
    t.app
        .post(&decline, json!({}), Some(&t.a.1))
        .await
        .expect_error(403, "forbidden");
    t.app
        .send(reqwest::Method::DELETE, &cancel, None, Some(&t.b.1))
        .await
        .expect_error(403, "forbidden");
    t.app
        .send(reqwest::Method::DELETE, &cancel, None, Some(&t.c.1))
        .await
        .expect_error(404, "not_found");
    t.app
        .post(&decline, json!({}), Some(&t.b.1))
        .await
        .expect(204);
    t.app
        .post(&decline, json!({}), Some(&t.b.1))
        .await
        .expect_error(404, "not_found");

    let id = t.request(&t.a, t.b.0).await.body["request"]["id"]
        .as_i64()
        .unwrap();
    t.app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/friends/requests/{id}"),
            None,
            Some(&t.a.1),
        )
        .await
        .expect(204);
    assert_eq!(t.relation(&t.b, t.a.0).await, "none");
}

#[actix_web::test]
async fn requests_to_nobody_or_oneself_are_refused() {
    let t = three().await;
    t.request(&t.a, t.a.0)
        .await
        .expect_error(422, "validation_failed");
    t.request(&t.a, 999_999)
        .await
        .expect_error(404, "not_found");
    t.app
        .post(
            "/api/friends/requests",
            json!({"user_id": "x"}),
            Some(&t.a.1),
        )
        .await
        .expect_error(422, "validation_failed");
    t.app
        .get("/api/friends/requests?direction=sideways", Some(&t.a.1))
        .await
        .expect_error(422, "validation_failed");
}

#[actix_web::test]
async fn blocking_severs_everything_and_stays_quiet() {
    let t = three().await;
    // A and B are friends, C asked A.
    t.request(&t.a, t.b.0).await;
    t.request(&t.b, t.a.0).await.expect(200);
    t.request(&t.c, t.a.0).await.expect(201);

    t.block(&t.a, t.b.0).await.expect(204);
    t.block(&t.a, t.c.0).await.expect(204);
    t.block(&t.a, t.b.0)
        .await
        .expect_error(409, "already_blocked");
    assert_eq!(t.ids("/api/friends", &t.a).await, Vec::<i64>::new());
    assert_eq!(t.ids("/api/friends", &t.b).await, Vec::<i64>::new());
    let incoming = t.app.get("/api/friends/requests", Some(&t.a.1)).await;
    assert_eq!(incoming.expect(200)["items"], json!([]));
    let mut blocked = t.ids("/api/blocks", &t.a).await;
    blocked.sort();
    assert_eq!(blocked, vec![t.b.0, t.c.0]);
    assert_eq!(t.ids("/api/blocks", &t.b).await, Vec::<i64>::new());

    // The blocked side gets a generic refusal and sees no relation.
    t.request(&t.b, t.a.0)
        .await
        .expect_error(403, "not_allowed");
    assert_eq!(t.relation(&t.b, t.a.0).await, "none");
    assert_eq!(t.relation(&t.a, t.b.0).await, "blocking");
    // The blocker is told why.
    t.request(&t.a, t.b.0)
        .await
        .expect_error(409, "user_blocked");

    // Neither finds the other in search.
    let found = t.app.get("/api/users?q=alice", Some(&t.b.1)).await;
    assert_eq!(found.expect(200)["items"], json!([]));
    let found = t.app.get("/api/users?q=bob", Some(&t.a.1)).await;
    assert_eq!(found.expect(200)["items"], json!([]));
    let found = t.app.get("/api/users?q=bob", Some(&t.c.1)).await;
    assert_eq!(found.expect(200)["items"][0]["id"], t.b.0);

    // B cannot lift A's block; A can.
    t.unblock(&t.b, t.a.0)
        .await
        .expect_error(404, "not_blocked");
    t.unblock(&t.a, t.b.0).await.expect(204);
    t.unblock(&t.a, t.b.0)
        .await
        .expect_error(404, "not_blocked");
    t.request(&t.b, t.a.0).await.expect(201);
}

#[actix_web::test]
async fn lists_paginate_with_cursors() {
    let t = three().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let (user, token, _) = t.app.user_with_tokens(&format!("fan{i}")).await;
        t.app
            .post(
                "/api/friends/requests",
                json!({"user_id": t.a.0}),
                Some(&token),
            )
            .await
            .expect(201);
        ids.push(user.id);
    }
    let mut seen = Vec::new();
    let mut path = "/api/friends/requests?limit=2".to_string();
    loop {
        let reply = t.app.get(&path, Some(&t.a.1)).await;
        let body = reply.expect(200).clone();
        seen.extend(
            body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["from"]["id"].as_i64().unwrap()),
        );
        match body["next_cursor"].as_str() {
            Some(c) => path = format!("/api/friends/requests?limit=2&cursor={c}"),
            None => break,
        }
    }
    ids.reverse(); // newest first
    assert_eq!(seen, ids);
}
