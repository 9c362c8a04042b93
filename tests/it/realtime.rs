//! The websocket: tickets, origins, the hello, bad input and close codes,
//! the rate limit, the heartbeat, and notifications pushed to every socket
//! of a user, with unread counts and replay.

use std::time::Duration;

use serde_json::json;

use crate::support::{TestApp, spawn_app, spawn_app_with, wait_for};

#[actix_web::test]
async fn hello_comes_first_and_pings_are_answered() {
    let app = spawn_app().await;
    let (alice, token, _) = app.user_with_tokens("alice").await;
    let ticket = app.ws_ticket(&token).await;
    let mut ws = app
        .ws_connect(&format!("?ticket={ticket}"), &[])
        .await
        .unwrap();
    let hello = ws.expect("hello").await;
    assert_eq!(hello["protocol_version"], 1);
    assert_eq!(hello["user"]["id"], alice.id);
    assert_eq!(hello["user"]["username"], "alice");
    assert_eq!(hello["heartbeat_interval_ms"], 15000);
    assert!(hello["server_time"].is_string());
    ws.send(json!({"type": "ping", "id": "p1"})).await;
    assert_eq!(ws.expect("pong").await["id"], "p1");
}

#[actix_web::test]
async fn tickets_are_single_use_and_short_lived() {
    let app = spawn_app().await;
    let (_, token, _) = app.user_with_tokens("alice").await;
    let ticket = app.ws_ticket(&token).await;
    app.ws_connect(&format!("?ticket={ticket}"), &[])
        .await
        .unwrap();
    assert_eq!(
        app.ws_connect(&format!("?ticket={ticket}"), &[])
            .await
            .err(),
        Some(401)
    );
    assert_eq!(
        app.ws_connect("?ticket=made-up", &[]).await.err(),
        Some(401)
    );
    assert_eq!(app.ws_connect("", &[]).await.err(), Some(401));
    // A long-lived token is not a ticket.
    assert_eq!(
        app.ws_connect(&format!("?ticket={token}"), &[]).await.err(),
        Some(401)
    );
    // An expired one is refused.
    let stale = app.ws_ticket(&token).await;
    app.sql("UPDATE ws_tickets SET expires_at = now() - interval '1 second'")
        .await;
    assert_eq!(
        app.ws_connect(&format!("?ticket={stale}"), &[]).await.err(),
        Some(401)
    );
    // A ticket of a session that logged out meanwhile is refused.
    let orphan = app.ws_ticket(&token).await;
    app.post("/api/auth/logout-all", json!({}), Some(&token))
        .await
        .expect(204);
    assert_eq!(
        app.ws_connect(&format!("?ticket={orphan}"), &[])
            .await
            .err(),
        Some(401)
    );
    // Non-browser clients may use the Authorization header.
    let (fresh, _) = app.tokens("alice").await;
    let bearer = format!("Bearer {fresh}");
    let mut ws = app
        .ws_connect("", &[("authorization", &bearer)])
        .await
        .unwrap();
    ws.expect("hello").await;
    app.post("/api/auth/ws-ticket", json!({}), None)
        .await
        .expect_error(401, "unauthorized");
}

#[actix_web::test]
async fn foreign_origins_are_refused() {
    let app = spawn_app().await;
    let (_, token, _) = app.user_with_tokens("alice").await;
    let ticket = app.ws_ticket(&token).await;
    let refused = app
        .ws_connect(
            &format!("?ticket={ticket}"),
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(refused.err(), Some(403));
    let ticket = app.ws_ticket(&token).await;
    let mut ws = app
        .ws_connect(
            &format!("?ticket={ticket}"),
            &[("origin", "http://localhost:8000")],
        )
        .await
        .unwrap();
    ws.expect("hello").await;
}

#[actix_web::test]
async fn bad_messages_get_error_events_then_1008() {
    let app = spawn_app().await;
    let (_, token, _) = app.user_with_tokens("alice").await;
    let mut ws = app.ws(&token).await;
    ws.send_text("{not json").await;
    assert_eq!(ws.expect("error").await["code"], "invalid_json");
    ws.send(json!({"type": "teleport", "id": 9})).await;
    let error = ws.expect("error").await;
    assert_eq!(
        (error["code"].as_str(), error["id"].as_i64()),
        (Some("unknown_type"), Some(9))
    );
    ws.send(json!({"type": "notifications.read", "id": "r"}))
        .await;
    let error = ws.expect("error").await;
    assert_eq!(error["code"], "invalid_message");
    assert_eq!(error["id"], "r");
    // Still open.
    ws.send(json!({"type": "ping"})).await;
    ws.expect("pong").await;
    // Too many mistakes in a short window close the socket.
    for _ in 0..8 {
        ws.send_text("nope").await;
    }
    assert_eq!(ws.closed().await, 1008);
}

#[actix_web::test]
async fn binary_and_oversized_frames_close_the_socket() {
    let app = spawn_app().await;
    let (_, token, _) = app.user_with_tokens("alice").await;
    let mut ws = app.ws(&token).await;
    ws.send_binary(vec![1, 2, 3]).await;
    assert_eq!(ws.closed().await, 1003);

    let mut ws = app.ws(&token).await;
    let big = format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(70 * 1024));
    ws.send_text(&big).await;
    assert_eq!(ws.closed().await, 1009);
}

/// A socket allowed a burst of 5, then 1 a second.
async fn throttled_socket() -> (TestApp, crate::support::ws::WsClient) {
    let app = spawn_app_with(|s| {
        s.ws.rate_burst = 5;
        s.ws.rate_per_sec = 1;
    })
    .await;
    let (_, token, _) = app.user_with_tokens("alice").await;
    let ws = app.ws(&token).await;
    (app, ws)
}

/// Reads until the close: (pongs, rate_limited errors, close code).
async fn tally_until_close(ws: &mut crate::support::ws::WsClient) -> (usize, usize, u16) {
    let (mut pongs, mut refused) = (0, 0);
    loop {
        match ws.next_or_close().await {
            Ok(event) if event["type"] == "pong" => pongs += 1,
            Ok(event) => {
                assert_eq!(event["code"], "rate_limited", "{event}");
                refused += 1;
            }
            Err(code) => return (pongs, refused, code),
        }
    }
}

#[actix_web::test]
async fn a_refused_message_hears_why_under_its_own_id() {
    let (_app, mut ws) = throttled_socket().await;
    for n in 0..6 {
        ws.send(json!({"type": "ping", "id": n})).await;
    }
    for n in 0..5 {
        assert_eq!(ws.expect("pong").await["id"], n);
    }
    let refused = ws.expect("error").await;
    assert_eq!(refused["code"], "rate_limited");
    assert_eq!(refused["id"], 5);
}

#[actix_web::test]
async fn the_rate_limit_refuses_then_closes() {
    let (_app, mut ws) = throttled_socket().await;
    for _ in 0..40 {
        ws.send(json!({"type": "ping"})).await;
    }
    let (pongs, refused, code) = tally_until_close(&mut ws).await;
    assert_eq!(code, 1008);
    assert!((5..=7).contains(&pongs), "{pongs} pongs");
    assert!(refused >= 20, "{refused} refusals");
}

#[actix_web::test]
async fn a_silent_client_is_disconnected() {
    let app = spawn_app_with(|s| {
        s.ws.heartbeat = Duration::from_millis(300);
        s.ws.client_timeout = Duration::from_millis(1500);
    })
    .await;
    let (alice, token, _) = app.user_with_tokens("alice").await;
    let mut ws = app.ws(&token).await;
    // Not reading means not answering the server's pings: the server ends
    // the connection (with 4000, if the close frame survives).
    wait_for(|| app.state.sockets.count(alice.id) == 0).await;
    let code = ws.ended().await;
    assert!(matches!(code, None | Some(4000)), "{code:?}");

    // A client that reads (and so answers pings) stays.
    let mut ws = app.ws(&token).await;
    ws.silent_for(Duration::from_millis(2500)).await;
    ws.send(json!({"type": "ping"})).await;
    ws.expect("pong").await;
}

async fn friend_request(app: &TestApp, from: &str, to: i64) -> i64 {
    let reply = app
        .post("/api/friends/requests", json!({"user_id": to}), Some(from))
        .await;
    reply.expect(201)["request"]["id"].as_i64().unwrap()
}

#[actix_web::test]
async fn every_socket_of_a_user_gets_its_notifications() {
    let app = spawn_app().await;
    let (alice, a, _) = app.user_with_tokens("alice").await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    let (_, c, _) = app.user_with_tokens("carol").await;
    let mut tab1 = app.ws(&b).await;
    let mut tab2 = app.ws(&b).await;
    let mut carol = app.ws(&c).await;

    let request_id = friend_request(&app, &a, bob.id).await;
    for tab in [&mut tab1, &mut tab2] {
        let n = tab.expect("notification").await["notification"].clone();
        assert_eq!(n["kind"], "friend_request");
        assert_eq!(n["actor"]["id"], alice.id);
        assert_eq!(n["payload"]["request_id"], request_id);
        assert!(n["read_at"].is_null());
    }
    carol.silent_for(Duration::from_millis(300)).await;

    // Bob accepts: Alice, online now, hears of it.
    let mut alice_ws = app.ws(&a).await;
    app.post(
        &format!("/api/friends/requests/{request_id}/accept"),
        json!({}),
        Some(&b),
    )
    .await
    .expect(200);
    let n = alice_ws.expect("notification").await;
    assert_eq!(n["notification"]["kind"], "friend_accepted");
    assert_eq!(n["notification"]["actor"]["id"], bob.id);
}

#[actix_web::test]
async fn reading_on_one_socket_updates_the_others() {
    let app = spawn_app().await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    let (_, a, _) = app.user_with_tokens("alice").await;
    let (_, c, _) = app.user_with_tokens("carol").await;
    let mut tab1 = app.ws(&b).await;
    let mut tab2 = app.ws(&b).await;
    friend_request(&app, &a, bob.id).await;
    friend_request(&app, &c, bob.id).await;
    let first = tab1.expect("notification").await["notification"]["id"]
        .as_i64()
        .unwrap();
    tab1.expect("notification").await;
    tab2.expect("notification").await;
    tab2.expect("notification").await;

    tab1.send(json!({"type": "notifications.read", "notification_id": first, "id": 1}))
        .await;
    let mut got_ack = false;
    let mut unread = None;
    while !(got_ack && unread.is_some()) {
        let event = tab1.next().await;
        match event["type"].as_str() {
            Some("ack") => {
                assert_eq!(event["id"], 1);
                got_ack = true;
            }
            Some("notifications.unread") => unread = event["unread"].as_i64(),
            _ => panic!("unexpected {event}"),
        }
    }
    assert_eq!(unread, Some(1));
    assert_eq!(tab2.expect("notifications.unread").await["unread"], 1);

    // Over REST too.
    app.post("/api/notifications/read-all", json!({}), Some(&b))
        .await
        .expect(200);
    assert_eq!(tab1.expect("notifications.unread").await["unread"], 0);
    assert_eq!(tab2.expect("notifications.unread").await["unread"], 0);

    // Someone else's notification is not found.
    let (_, d, _) = app.user_with_tokens("dave").await;
    let mut dave = app.ws(&d).await;
    dave.send(json!({"type": "notifications.read", "notification_id": first, "id": "x"}))
        .await;
    let error = dave.expect("error").await;
    assert_eq!(
        (error["code"].as_str(), error["id"].as_str()),
        (Some("not_found"), Some("x"))
    );
}

#[actix_web::test]
async fn a_reconnecting_socket_replays_what_it_missed() {
    let app = spawn_app().await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    let mut ws = app.ws(&b).await;
    let (_, f1, _) = app.user_with_tokens("fan1").await;
    friend_request(&app, &f1, bob.id).await;
    let seen = ws.expect("notification").await["notification"]["id"]
        .as_i64()
        .unwrap();
    drop(ws);

    // Two more while Bob is away.
    for name in ["fan2", "fan3"] {
        let (_, token, _) = app.user_with_tokens(name).await;
        friend_request(&app, &token, bob.id).await;
    }
    let mut ws = app.ws_since(&b, Some(seen)).await;
    let missed: Vec<String> = vec![
        ws.expect("notification").await["notification"]["actor"]["username"]
            .as_str()
            .unwrap()
            .to_string(),
        ws.expect("notification").await["notification"]["actor"]["username"]
            .as_str()
            .unwrap()
            .to_string(),
    ];
    assert_eq!(missed, vec!["fan2", "fan3"]);
    let done = ws.expect("notifications.replayed").await;
    assert_eq!(done["more"], false);
    let up_to = done["up_to"].as_i64().unwrap();
    assert!(up_to > seen);

    // Resuming on an open socket works the same, and a live one still comes.
    ws.send(json!({"type": "notifications.resume", "since": seen, "id": "r"}))
        .await;
    assert_eq!(
        ws.expect("notification").await["notification"]["actor"]["username"],
        "fan2"
    );
    assert_eq!(
        ws.expect("notification").await["notification"]["actor"]["username"],
        "fan3"
    );
    let done = ws.expect("notifications.replayed").await;
    assert_eq!(
        (done["id"].as_str(), done["up_to"].as_i64()),
        (Some("r"), Some(up_to))
    );
    let (_, f4, _) = app.user_with_tokens("fan4").await;
    friend_request(&app, &f4, bob.id).await;
    assert_eq!(
        ws.expect("notification").await["notification"]["actor"]["username"],
        "fan4"
    );
}

#[actix_web::test]
async fn shutdown_closes_sockets_with_1001_and_stops_accepting() {
    let app = spawn_app().await;
    let (_, token, _) = app.user_with_tokens("alice").await;
    let mut first = app.ws(&token).await;
    let mut second = app.ws(&token).await;
    let ticket = app.ws_ticket(&token).await;
    tokio::time::timeout(Duration::from_secs(15), app.shutdown.run())
        .await
        .expect("shutdown took too long");
    assert_eq!(first.closed().await, 1001);
    assert_eq!(second.closed().await, 1001);
    let url = format!(
        "{}/ws?ticket={ticket}",
        app.address.replace("http://", "ws://")
    );
    assert!(tokio_tungstenite::connect_async(url).await.is_err());
}

#[actix_web::test]
async fn a_long_replay_comes_in_pages_that_fit_the_queue() {
    let app = spawn_app_with(|s| s.ws.queue_capacity = 8).await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    for i in 0..6 {
        let (_, token, _) = app.user_with_tokens(&format!("fan{i}")).await;
        friend_request(&app, &token, bob.id).await;
    }
    // Half the queue per page: 4, then the other 2.
    let mut ws = app.ws_since(&b, Some(0)).await;
    let mut names = Vec::new();
    for _ in 0..4 {
        let n = ws.expect("notification").await;
        names.push(
            n["notification"]["actor"]["username"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let page = ws.expect("notifications.replayed").await;
    assert_eq!(page["more"], true);
    let up_to = page["up_to"].as_i64().unwrap();
    ws.send(json!({"type": "notifications.resume", "since": up_to}))
        .await;
    for _ in 0..2 {
        let n = ws.expect("notification").await;
        names.push(
            n["notification"]["actor"]["username"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(ws.expect("notifications.replayed").await["more"], false);
    assert_eq!(names, (0..6).map(|i| format!("fan{i}")).collect::<Vec<_>>());
    // The socket is still healthy.
    ws.send(json!({"type": "ping"})).await;
    ws.expect("pong").await;
}

#[actix_web::test]
async fn pings_count_against_the_rate_limit() {
    let (_app, mut ws) = throttled_socket().await;
    for _ in 0..40 {
        ws.send_ping().await;
    }
    let (pongs, refused, code) = tally_until_close(&mut ws).await;
    assert_eq!((code, pongs), (1008, 0));
    assert!(refused >= 20, "{refused} refusals");
}

#[actix_web::test]
async fn a_client_that_does_not_read_is_cut_off_alone_and_recovers_by_replay() {
    let app = spawn_app_with(|s| {
        s.ws.queue_capacity = 16;
        s.ws.rate_burst = 10_000;
        s.chat.rate_burst = 10_000;
        s.chat.replay_window = 10_000;
    })
    .await;
    let (_, a, _) = app.user_with_tokens("alice").await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    let mut alice_ws = app.ws(&a).await;
    let _stalled = app.ws_tiny_buffer(&b).await;
    // 6 KB of UTF-8 per message, so the buffers between fill sooner.
    let body = "中".repeat(2000);
    // Alice reads her acks as she goes, five at a time (ten events: within
    // her queue of 16 even as one burst); Bob reads nothing.
    let mut sent = 0;
    while app.state.sockets.count(bob.id) > 0 {
        assert!(sent < 3000, "the stalled socket was never closed");
        for _ in 0..5 {
            alice_ws
                .send(json!({"type": "chat.send", "to": bob.id, "body": body,
                    "client_msg_id": format!("m{sent}")}))
                .await;
            sent += 1;
        }
        for _ in 0..5 {
            alice_ws.expect("chat.ack").await;
            alice_ws.expect("chat.message").await;
        }
    }
    // Alice was unaffected: her socket still answers.
    alice_ws.send(json!({"type": "ping", "id": 1})).await;
    alice_ws.expect("pong").await;

    // Bob reconnects and replays everything, in pages, in order, once.
    let mut bob_ws = app.ws(&b).await;
    let mut ids: Vec<i64> = Vec::new();
    let mut since = 0;
    loop {
        bob_ws
            .send(json!({"type": "chat.resume", "since": since}))
            .await;
        let done = loop {
            let event = bob_ws.next().await;
            match event["type"].as_str() {
                Some("chat.message") => ids.push(event["message"]["id"].as_i64().unwrap()),
                Some("chat.replayed") => break event,
                _ => {}
            }
        };
        since = done["up_to"].as_i64().unwrap();
        if done["more"] == false {
            break;
        }
    }
    assert_eq!(ids.len(), sent);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
}

#[actix_web::test]
async fn a_panicking_actor_dies_alone_and_the_node_keeps_serving() {
    let app = spawn_app_with(|s| s.fault_injection = true).await;
    let (alice, a, _) = app.user_with_tokens("alice").await;
    let (_, b, _) = app.user_with_tokens("bob").await;
    let (_, c, _) = app.user_with_tokens("carol").await;
    let mut doomed = app.ws(&a).await;
    let mut alice_ws = app.ws(&a).await;
    let mut bob_ws = app.ws(&b).await;

    // A session whose handler panics: its socket ends, the directory
    // forgets it, and everyone else is still served.
    doomed
        .send(json!({"type": "debug.panic", "target": "session"}))
        .await;
    doomed.ended().await;
    wait_for(|| app.state.sockets.count(alice.id) == 1).await;
    bob_ws.send(json!({"type": "ping", "id": "b"})).await;
    assert_eq!(bob_ws.expect("pong").await["id"], "b");
    app.get("/api/users/me", Some(&a)).await.expect(200);
    friend_request(&app, &b, alice.id).await;
    assert_eq!(
        alice_ws.expect("notification").await["notification"]["kind"],
        "friend_request"
    );

    // The notification inbox panics: it is reaped, and the next delivery
    // starts a fresh one.
    alice_ws
        .send(json!({"type": "debug.panic", "id": 1, "target": "inbox"}))
        .await;
    assert_eq!(alice_ws.expect("ack").await["id"], 1);
    wait_for(|| app.state.inboxes.get(&alice.id).is_none()).await;
    friend_request(&app, &c, alice.id).await;
    let n = alice_ws.expect("notification").await;
    assert_eq!(n["notification"]["kind"], "friend_request");
    assert!(app.state.inboxes.get(&alice.id).is_some());
}

#[actix_web::test]
async fn fault_injection_is_off_by_default() {
    let app = spawn_app().await;
    let (_, a, _) = app.user_with_tokens("alice").await;
    let mut ws = app.ws(&a).await;
    ws.send(json!({"type": "debug.panic", "id": 1, "target": "session"}))
        .await;
    let error = ws.expect("error").await;
    assert_eq!(error["code"], "unknown_type");
    ws.send(json!({"type": "ping", "id": 2})).await;
    ws.expect("pong").await;
}
