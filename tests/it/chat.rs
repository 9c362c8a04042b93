//! Private chat over real sockets and real PostgreSQL: ack after commit,
//! delivery to every session, order, idempotent resends, participants
//! only, blocks, unread counts and receipts, replay, limits, idle rooms.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::ws::WsClient;
use crate::support::{spawn_app, spawn_app_with, wait_for};

fn chat_id(a: i64, b: i64) -> String {
    format!("{}_{}", a.min(b), a.max(b))
}

/// Sends `body` to `to` and returns the acked message (events before the
/// ack, such as the echo of an earlier message, are skipped).
async fn send(ws: &mut WsClient, to: i64, body: &str, client_msg_id: &str) -> Value {
    ws.send(
        json!({"type": "chat.send", "id": client_msg_id, "to": to, "body": body,
        "client_msg_id": client_msg_id}),
    )
    .await;
    let ack = next_of(ws, "chat.ack").await;
    assert_eq!(ack["id"], client_msg_id);
    ack["message"].clone()
}

/// The next `chat.message`, skipping presence and other events.
async fn next_message(ws: &mut WsClient) -> Value {
    loop {
        let event = ws.next().await;
        if event["type"] == "chat.message" {
            return event["message"].clone();
        }
    }
}

/// The next event of `kind`, skipping the others.
async fn next_of(ws: &mut WsClient, kind: &str) -> Value {
    loop {
        let event = ws.next().await;
        if event["type"] == kind {
            return event;
        }
    }
}

#[actix_web::test]
async fn a_message_is_acked_then_reaches_every_session_of_both() {
    let app = spawn_app().await;
    let (alice, a, _) = app.user_with_tokens("alice").await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    let mut alice1 = app.ws(&a).await;
    let mut alice2 = app.ws(&a).await;
    let mut bob1 = app.ws(&b).await;

    let message = send(&mut alice1, bob.id, "  hello bob\n ", "m1").await;
    assert_eq!(message["body"], "hello bob", "trimmed");
    assert_eq!(message["chat_id"], chat_id(alice.id, bob.id));
    assert_eq!(message["sender_id"], alice.id);
    assert!(message["created_at"].is_string());
    for ws in [&mut alice1, &mut alice2, &mut bob1] {
        assert_eq!(next_message(ws).await["id"], message["id"]);
    }

    // The peer answers in the conversation by its id.
    bob1.send(
        json!({"type": "chat.send", "id": 1, "chat_id": chat_id(alice.id, bob.id),
        "body": "hi alice", "client_msg_id": "b1"}),
    )
    .await;
    let ack = bob1.expect("chat.ack").await;
    assert_eq!(ack["id"], 1);
    assert!(ack["message"]["id"].as_i64() > message["id"].as_i64());
    assert_eq!(next_message(&mut alice2).await["body"], "hi alice");

    let history = app
        .get(
            &format!("/api/chats/{}/messages", chat_id(alice.id, bob.id)),
            Some(&a),
        )
        .await;
    let body = history.expect(200);
    let bodies: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["hi alice", "hello bob"], "newest first");
    assert_eq!(body["more"], false);
}

#[actix_web::test]
async fn concurrent_senders_see_one_order() {
    let app = spawn_app_with(|s| {
        s.chat.rate_burst = 1000;
        s.ws.rate_burst = 1000;
    })
    .await;
    let (alice, a, _) = app.user_with_tokens("alice").await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    let (carol, c, _) = app.user_with_tokens("carol").await;
    let mut alice_ws = app.ws(&a).await;
    let mut bob_ws = app.ws(&b).await;
    let mut carol_ws = app.ws(&c).await;
    const N: usize = 40;
    // Alice and Carol both write to Bob at once, without waiting for acks.
    for i in 0..N {
        for (ws, who) in [(&mut alice_ws, "a"), (&mut carol_ws, "c")] {
            ws.send(
                json!({"type": "chat.send", "to": bob.id, "body": format!("{who}{i}"),
                "client_msg_id": format!("{who}{i}")}),
            )
            .await;
        }
    }
    let mut seen = Vec::new();
    while seen.len() < 2 * N {
        seen.push(next_message(&mut bob_ws).await);
    }
    let ids: Vec<i64> = seen.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids ascend: {ids:?}");
    // Each sender's messages keep their sending order.
    for (who, sender) in [("a", alice.id), ("c", carol.id)] {
        let bodies: Vec<String> = seen
            .iter()
            .filter(|m| m["sender_id"] == sender)
            .map(|m| m["body"].as_str().unwrap().to_string())
            .collect();
        let expected: Vec<String> = (0..N).map(|i| format!("{who}{i}")).collect();
        assert_eq!(bodies, expected);
    }
    // Every sender got an ack per message, in order.
    let mut acked = Vec::new();
    while acked.len() < N {
        let event = alice_ws.next().await;
        if event["type"] == "chat.ack" {
            acked.push(event["message"]["id"].as_i64().unwrap());
        }
    }
    assert!(acked.windows(2).all(|w| w[0] < w[1]));
}

#[actix_web::test]
async fn a_resend_returns_the_same_message_and_delivers_once() {
    let app = spawn_app().await;
    let (alice, a, _) = app.user_with_tokens("alice").await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    let mut alice_ws = app.ws(&a).await;
    let mut bob_ws = app.ws(&b).await;
    let first = send(&mut alice_ws, bob.id, "once", "same-id").await;
    let again = send(&mut alice_ws, bob.id, "once", "same-id").await;
    assert_eq!(first["id"], again["id"]);
    assert_eq!(first["created_at"], again["created_at"]);
    assert_eq!(next_message(&mut bob_ws).await["id"], first["id"]);
    let marker = send(&mut alice_ws, bob.id, "after", "other-id").await;
    assert_eq!(
        next_message(&mut bob_ws).await["id"],
        marker["id"],
        "no second copy of the resent message"
    );
    let history = app
        .get(
            &format!("/api/chats/{}/messages", chat_id(alice.id, bob.id)),
            Some(&b),
        )
        .await;
    assert_eq!(history.expect(200)["messages"].as_array().unwrap().len(), 2);
}

#[actix_web::test]
async fn only_the_two_participants_read_or_write() {
    let app = spawn_app().await;
    let (alice, a, _) = app.user_with_tokens("alice").await;
    let (bob, _, _) = app.user_with_tokens("bob").await;
    let (_, c, _) = app.user_with_tokens("carol").await;
    let mut alice_ws = app.ws(&a).await;
    send(&mut alice_ws, bob.id, "private", "p1").await;
    let chat = chat_id(alice.id, bob.id);

    app.get(&format!("/api/chats/{chat}/messages"), Some(&c))
        .await
        .expect_error(403, "forbidden");
    app.post(
        &format!("/api/chats/{chat}/read"),
        json!({"up_to_id": 1}),
        Some(&c),
    )
    .await
    .expect_error(403, "forbidden");
    // A chat id that is not canonical names no conversation of anyone's.
    app.get(
        &format!("/api/chats/{}_{}/messages", bob.id, alice.id),
        Some(&a),
    )
    .await
    .expect_error(403, "forbidden");
    let list = app.get("/api/chats", Some(&c)).await;
    assert_eq!(list.expect(200)["items"], json!([]));

    let mut carol_ws = app.ws(&c).await;
    for message in [
        json!({"type": "chat.send", "id": 1, "chat_id": chat, "body": "x", "client_msg_id": "x"}),
        json!({"type": "chat.typing", "id": 2, "chat_id": chat}),
        json!({"type": "chat.read", "id": 3, "chat_id": chat, "up_to_id": 1}),
    ] {
        carol_ws.send(message).await;
        let error = carol_ws.expect("error").await;
        assert_eq!(error["code"], "forbidden", "{error}");
    }
}

/// One batch statement refuses the rows of a blocked pair and stores the
/// others in input order, a resend within the batch or after it (even
/// after a block) getting the stored message back.
#[actix_web::test]
async fn a_batch_refuses_blocked_pairs_and_keeps_the_rest_in_order() {
    use transcendence::db::chat::{NewMessage, ensure_chat, insert_batch};
    use transcendence::domain::chat::ChatId;

    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    let carol = app.register("carol").await;
    app.block(&b, carol.id).await;
    let mut conn = app.state.db.get().await.unwrap();
    for (x, y) in [(alice.id, bob.id), (carol.id, bob.id)] {
        assert!(
            ensure_chat(&mut conn, &ChatId::between(x, y).unwrap())
                .await
                .unwrap()
        );
    }
    let row = |from: i64, to: i64, key: &str| NewMessage {
        chat_id: chat_id(from, to),
        sender_id: from,
        body: format!("body {key}"),
        client_msg_id: key.to_string(),
    };
    let batch = [
        row(alice.id, bob.id, "a1"),
        row(carol.id, bob.id, "c1"),
        row(alice.id, bob.id, "a1"),
        row(bob.id, alice.id, "b1"),
        row(bob.id, carol.id, "b2"),
    ];
    let stored = insert_batch(&mut conn, &batch).await.unwrap();
    let outcome: Vec<Option<(&str, bool)>> = stored
        .iter()
        .map(|s| {
            s.as_ref()
                .map(|(m, fresh)| (m.client_msg_id.as_str(), *fresh))
        })
        .collect();
    assert_eq!(
        outcome,
        [
            Some(("a1", true)),
            None,
            Some(("a1", false)),
            Some(("b1", true)),
            None
        ]
    );
    let id = |i: usize| stored[i].as_ref().unwrap().0.id;
    assert_eq!(id(0), id(2), "a resend in the batch is the same message");
    assert!(id(0) < id(3), "ids follow the input order");

    // Once bob blocks alice too, a resend of what she sent before still
    // gets its message back; anything new is refused.
    app.block(&b, alice.id).await;
    let later = [
        batch[0].clone(),
        row(alice.id, bob.id, "a3"),
        batch[1].clone(),
    ];
    let again = insert_batch(&mut conn, &later).await.unwrap();
    let outcome: Vec<Option<(i64, bool)>> = again
        .iter()
        .map(|s| s.as_ref().map(|(m, fresh)| (m.id, *fresh)))
        .collect();
    assert_eq!(outcome, [Some((id(0), false)), None, None]);
}

#[actix_web::test]
async fn a_block_stops_sending_both_ways_but_keeps_history() {
    let app = spawn_app().await;
    let (alice, a, _) = app.user_with_tokens("alice").await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    let mut alice_ws = app.ws(&a).await;
    let mut bob_ws = app.ws(&b).await;
    send(&mut alice_ws, bob.id, "before", "m1").await;
    app.block(&b, alice.id).await;

    alice_ws
        .send(
            json!({"type": "chat.send", "id": "x", "to": bob.id, "body": "hey",
            "client_msg_id": "m2"}),
        )
        .await;
    let error = next_of(&mut alice_ws, "error").await;
    assert_eq!(
        (error["id"].as_str(), error["code"].as_str()),
        (Some("x"), Some("user_blocked"))
    );
    bob_ws
        .send(
            json!({"type": "chat.send", "id": "y", "to": alice.id, "body": "hey",
            "client_msg_id": "b1"}),
        )
        .await;
    assert_eq!(next_of(&mut bob_ws, "error").await["code"], "user_blocked");

    let history = app
        .get(
            &format!("/api/chats/{}/messages", chat_id(alice.id, bob.id)),
            Some(&a),
        )
        .await;
    assert_eq!(history.expect(200)["messages"].as_array().unwrap().len(), 1);

    app.send(
        reqwest::Method::DELETE,
        &format!("/api/blocks/{}", alice.id),
        None,
        Some(&b),
    )
    .await
    .expect(204);
    send(&mut alice_ws, bob.id, "again", "m3").await;
}

#[actix_web::test]
async fn unread_counts_and_read_receipts_reach_every_session() {
    let app = spawn_app().await;
    let (alice, a, _) = app.user_with_tokens("alice").await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    let mut alice_ws = app.ws(&a).await;
    let mut bob1 = app.ws(&b).await;
    let mut bob2 = app.ws(&b).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            send(&mut alice_ws, bob.id, &format!("m{i}"), &format!("m{i}")).await["id"].clone(),
        );
    }
    let chat = chat_id(alice.id, bob.id);

    let list = app.get("/api/chats", Some(&b)).await;
    let item = list.expect(200)["items"][0].clone();
    assert_eq!(item["chat_id"], chat);
    assert_eq!(item["peer"]["id"], alice.id);
    assert_eq!(item["peer_presence"]["presence"], "online");
    assert_eq!(item["unread"], 3);
    assert_eq!(item["last_message"]["id"], ids[2]);
    let mine = app.get("/api/chats", Some(&a)).await;
    assert_eq!(
        mine.expect(200)["items"][0]["unread"],
        0,
        "your own messages are read"
    );

    let read = app
        .post(
            &format!("/api/chats/{chat}/read"),
            json!({"up_to_id": ids[1]}),
            Some(&b),
        )
        .await;
    assert_eq!(read.expect(200)["unread"], 1);
    for ws in [&mut bob1, &mut bob2] {
        let event = next_of(ws, "chat.unread").await;
        assert_eq!(
            (event["chat_id"].as_str(), event["unread"].as_i64()),
            (Some(chat.as_str()), Some(1))
        );
    }
    let receipt = next_of(&mut alice_ws, "chat.read").await;
    assert_eq!(receipt["user_id"], bob.id);
    assert_eq!(receipt["up_to_id"], ids[1]);

    // Over the socket too; a marker never moves back.
    bob2.send(json!({"type": "chat.read", "id": "r", "chat_id": chat, "up_to_id": ids[2]}))
        .await;
    assert_eq!(next_of(&mut bob1, "chat.unread").await["unread"], 0);
    let back = app
        .post(
            &format!("/api/chats/{chat}/read"),
            json!({"up_to_id": ids[0]}),
            Some(&b),
        )
        .await;
    assert_eq!(back.expect(200)["last_read_id"], ids[2]);

    // The sender's list carries the receipt too (for a client that loads).
    let list = app.get("/api/chats", Some(&a)).await;
    let row = &list.expect(200)["items"][0];
    assert_eq!(row["peer_last_read_id"], ids[2]);
    assert_eq!(row["last_read_id"], 0);
}

/// The list is read from the messages themselves: the conversation with
/// the newest message first, paged by cursor, and a conversation whose
/// only message was refused is not listed.
#[actix_web::test]
async fn the_conversation_list_pages_from_the_newest_message() {
    let app = spawn_app().await;
    let (alice, a, _) = app.user_with_tokens("alice").await;
    let (bob, _, _) = app.user_with_tokens("bob").await;
    let (carol, _, _) = app.user_with_tokens("carol").await;
    let (dave, _, _) = app.user_with_tokens("dave").await;
    let (erin, e, _) = app.user_with_tokens("erin").await;
    let mut alice_ws = app.ws(&a).await;
    send(&mut alice_ws, bob.id, "1", "m1").await;
    send(&mut alice_ws, carol.id, "2", "m2").await;
    send(&mut alice_ws, dave.id, "3", "m3").await;
    let newest = send(&mut alice_ws, bob.id, "4", "m4").await;
    app.block(&e, alice.id).await;
    alice_ws
        .send(
            json!({"type": "chat.send", "id": "x", "to": erin.id, "body": "5",
            "client_msg_id": "m5"}),
        )
        .await;
    assert_eq!(
        next_of(&mut alice_ws, "error").await["code"],
        "user_blocked"
    );

    let first = app
        .get("/api/chats?limit=2", Some(&a))
        .await
        .expect(200)
        .clone();
    let items = first["items"].as_array().unwrap();
    let peers: Vec<_> = items.iter().map(|i| i["peer"]["id"].clone()).collect();
    assert_eq!(peers, [json!(bob.id), json!(dave.id)]);
    assert_eq!(items[0]["last_message"], newest);
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let rest = app
        .get(&format!("/api/chats?limit=2&cursor={cursor}"), Some(&a))
        .await
        .expect(200)
        .clone();
    let items = rest["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "erin's conversation has no message: {rest}");
    assert_eq!(items[0]["peer"]["id"], carol.id);
    assert_eq!(items[0]["last_message"]["body"], "2");
    assert!(rest["next_cursor"].is_null());
}

#[actix_web::test]
async fn a_reconnecting_session_gets_what_it_missed_in_order() {
    let app = spawn_app_with(|s| s.chat.replay_window = 5).await;
    let (_, a, _) = app.user_with_tokens("alice").await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    let mut alice_ws = app.ws(&a).await;
    let mut bob_ws = app.ws(&b).await;
    let first = send(&mut alice_ws, bob.id, "seen", "m0").await;
    assert_eq!(next_message(&mut bob_ws).await["id"], first["id"]);
    drop(bob_ws);

    let mut missed = Vec::new();
    for i in 1..=3 {
        missed.push(
            send(&mut alice_ws, bob.id, &format!("m{i}"), &format!("m{i}")).await["id"].clone(),
        );
    }
    let ticket = app.ws_ticket(&b).await;
    let mut bob_ws = app
        .ws_connect(&format!("?ticket={ticket}&chat_since={}", first["id"]), &[])
        .await
        .unwrap();
    bob_ws.expect("hello").await;
    let mut got = Vec::new();
    let done = loop {
        let event = bob_ws.next().await;
        match event["type"].as_str() {
            Some("chat.message") => got.push(event["message"]["id"].clone()),
            Some("chat.replayed") => break event,
            _ => {}
        }
    };
    assert_eq!(got, missed);
    assert_eq!(done["up_to"], missed[2]);
    assert_eq!(
        (done["more"].as_bool(), done["fetch_history"].as_bool()),
        (Some(false), Some(false))
    );
    // Live messages after the replay follow, once each.
    let live = send(&mut alice_ws, bob.id, "live", "m4").await;
    assert_eq!(next_message(&mut bob_ws).await["id"], live["id"]);

    // More missed than the window: told to reload over REST instead.
    for i in 5..=10 {
        send(&mut alice_ws, bob.id, &format!("m{i}"), &format!("m{i}")).await;
    }
    bob_ws
        .send(json!({"type": "chat.resume", "id": "r", "since": first["id"]}))
        .await;
    let done = next_of(&mut bob_ws, "chat.replayed").await;
    assert_eq!(done["id"], "r");
    assert_eq!(done["fetch_history"], true);
}

#[actix_web::test]
async fn bad_messages_get_clear_errors() {
    let app = spawn_app_with(|s| {
        s.chat.rate_burst = 3;
        s.chat.rate_per_sec = 1;
    })
    .await;
    let (alice, a, _) = app.user_with_tokens("alice").await;
    let (bob, _, _) = app.user_with_tokens("bob").await;
    let mut ws = app.ws(&a).await;
    let cases = [
        (
            json!({"to": bob.id, "body": "  \n ", "client_msg_id": "a"}),
            "validation_failed",
        ),
        (
            json!({"to": bob.id, "body": "é".repeat(2001), "client_msg_id": "b"}),
            "validation_failed",
        ),
        (
            json!({"to": bob.id, "body": "bell\u{7}", "client_msg_id": "c"}),
            "validation_failed",
        ),
        (
            json!({"to": bob.id, "body": "ok", "client_msg_id": "has space"}),
            "validation_failed",
        ),
        (
            json!({"to": bob.id, "body": "ok", "client_msg_id": ""}),
            "validation_failed",
        ),
        (
            json!({"to": alice.id, "body": "me", "client_msg_id": "d"}),
            "validation_failed",
        ),
        (
            json!({"body": "ok", "client_msg_id": "e"}),
            "invalid_message",
        ),
        (
            json!({"to": bob.id, "chat_id": chat_id(alice.id, bob.id), "body": "ok",
            "client_msg_id": "f"}),
            "invalid_message",
        ),
        (
            json!({"to": bob.id, "client_msg_id": "g"}),
            "invalid_message",
        ),
        (
            json!({"to": 999_999, "body": "ghost", "client_msg_id": "h"}),
            "not_found",
        ),
    ];
    for (i, (fields, code)) in cases.into_iter().enumerate() {
        let mut message = fields;
        message["type"] = json!("chat.send");
        message["id"] = json!(i);
        ws.send(message).await;
        let error = ws.expect("error").await;
        assert_eq!(
            (error["id"].as_u64(), error["code"].as_str()),
            (Some(i as u64), Some(code)),
            "{error}"
        );
    }
    // The rate limit: a burst of 3 (the unknown user above took one),
    // then one a second. Six at once: some are refused, each under its
    // own id (however slow this machine, the bucket cannot refill six).
    for i in 0..6 {
        ws.send(
            json!({"type": "chat.send", "id": format!("burst{i}"), "to": bob.id,
            "body": "one more", "client_msg_id": format!("burst{i}")}),
        )
        .await;
    }
    let error = next_of(&mut ws, "error").await;
    assert_eq!(error["code"], "rate_limited", "{error}");
    assert!(
        error["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("burst")),
        "{error}"
    );
    // The socket is still open.
    ws.send(json!({"type": "ping", "id": "p"})).await;
    assert_eq!(next_of(&mut ws, "pong").await["id"], "p");

    let page = app
        .get(
            &format!(
                "/api/chats/{}/messages?limit=101",
                chat_id(alice.id, bob.id)
            ),
            Some(&a),
        )
        .await;
    page.expect_error(422, "validation_failed");
}

#[actix_web::test]
async fn typing_reaches_the_peer_at_a_limited_rate() {
    let app = spawn_app().await;
    let (alice, a, _) = app.user_with_tokens("alice").await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    let mut alice_ws = app.ws(&a).await;
    let mut bob_ws = app.ws(&b).await;
    let chat = chat_id(alice.id, bob.id);
    // Typing in a conversation that does not exist yet goes nowhere.
    alice_ws
        .send(json!({"type": "chat.typing", "chat_id": chat}))
        .await;
    bob_ws.silent_for(Duration::from_millis(300)).await;
    send(&mut alice_ws, bob.id, "hello", "h1").await;
    next_message(&mut bob_ws).await;
    for _ in 0..5 {
        alice_ws
            .send(json!({"type": "chat.typing", "chat_id": chat}))
            .await;
    }
    let typing = next_of(&mut bob_ws, "chat.typing").await;
    assert_eq!(
        (typing["chat_id"].as_str(), typing["user_id"].as_i64()),
        (Some(chat.as_str()), Some(alice.id))
    );
    // The other four fell within the relay interval: a message is next.
    let message = send(&mut alice_ws, bob.id, "typed", "t1").await;
    let next = bob_ws.next().await;
    assert_eq!(
        (next["type"].as_str(), next["message"]["id"].clone()),
        (Some("chat.message"), message["id"].clone())
    );
    let history = app
        .get(&format!("/api/chats/{chat}/messages"), Some(&b))
        .await;
    assert_eq!(
        history.expect(200)["messages"].as_array().unwrap().len(),
        2,
        "typing is not stored"
    );
}

#[actix_web::test]
async fn an_offline_recipient_gets_one_notification_per_conversation() {
    let app = spawn_app().await;
    let (alice, a, _) = app.user_with_tokens("alice").await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    let mut alice_ws = app.ws(&a).await;
    let mut last = Value::Null;
    for i in 0..3 {
        last = send(&mut alice_ws, bob.id, &format!("m{i}"), &format!("m{i}")).await;
    }
    // Notifications are written after the ack: wait for the third bump.
    let mut items = Value::Null;
    for _ in 0..100 {
        let list = app.get("/api/notifications", Some(&b)).await;
        items = list.expect(200)["items"].clone();
        if items[0]["payload"]["count"] == 3 {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(items.as_array().unwrap().len(), 1, "{items}");
    let note = &items[0];
    assert_eq!(note["kind"], "chat_message");
    assert_eq!(note["actor"]["id"], alice.id);
    assert_eq!(note["payload"]["chat_id"], chat_id(alice.id, bob.id));
    assert_eq!(note["payload"]["count"], 3);
    assert_eq!(note["payload"]["last_message_id"], last["id"]);

    // A recipient with a socket open gets the message live, no notification.
    let mut bob_ws = app.ws(&b).await;
    send(&mut alice_ws, bob.id, "live", "m9").await;
    next_message(&mut bob_ws).await;
    let count = app.get("/api/notifications/unread-count", Some(&b)).await;
    assert_eq!(count.expect(200)["unread"], 1);
}

#[actix_web::test]
async fn an_idle_room_stops_and_the_next_message_restarts_it() {
    // Long enough that a slow commit does not see the room stop before the
    // test has looked at it.
    let app = spawn_app_with(|s| s.chat.room_idle = Duration::from_secs(1)).await;
    let (_, a, _) = app.user_with_tokens("alice").await;
    let (bob, _, _) = app.user_with_tokens("bob").await;
    let mut ws = app.ws(&a).await;
    let first = send(&mut ws, bob.id, "one", "m1").await;
    assert_eq!(app.state.chat_rooms.len(), 1);
    wait_for(|| app.state.chat_rooms.is_empty()).await;
    let second = send(&mut ws, bob.id, "two", "m2").await;
    assert!(second["id"].as_i64() > first["id"].as_i64());
    assert_eq!(app.state.chat_rooms.len(), 1);
}
