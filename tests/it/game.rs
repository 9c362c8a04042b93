//! Pong over real sockets: a full match with a scripted player, results,
//! ratings and history; reconnection within the grace, forfeit past it,
//! abandonment; invitations (accept, decline, expiry, blocks);
//! matchmaking; spectators; inputs refused from non-players, and counted
//! newest first from the players.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::ws::WsClient;
use crate::support::{TestApp, spawn_app, spawn_app_with, wait_for};

/// A server whose matches run four simulation steps per tick and give
/// `grace_ms` to come back (invitations wait the default 30 s).
async fn app(grace_ms: u64) -> TestApp {
    spawn_app_with(|s| {
        s.game.time_scale = 4;
        s.game.reconnect_grace = Duration::from_millis(grace_ms);
    })
    .await
}

/// The next event of `kind`, skipping others (snapshots included).
async fn next_of(ws: &mut WsClient, kind: &str) -> Value {
    loop {
        let event = ws.next().await;
        if event["type"] == kind {
            return event;
        }
    }
}

/// Alice invites Bob, Bob accepts: the match id, once both sockets heard.
async fn invited_match(
    alice_ws: &mut WsClient,
    bob_ws: &mut WsClient,
    bob_id: i64,
    points: u8,
) -> i64 {
    alice_ws
        .send(
            json!({"type": "game.invite", "id": "inv", "user_id": bob_id, "points_to_win": points}),
        )
        .await;
    let sent = next_of(alice_ws, "game.invite_sent").await;
    assert_eq!(sent["id"], "inv");
    let invite_id = sent["invite_id"].as_i64().unwrap();
    let note = next_of(bob_ws, "notification").await["notification"].clone();
    assert_eq!(note["kind"], "game_invite");
    assert_eq!(note["payload"]["invite_id"], invite_id);
    assert_eq!(note["payload"]["points_to_win"], points);
    bob_ws
        .send(json!({"type": "game.invite.accept", "invite_id": invite_id}))
        .await;
    let found = next_of(bob_ws, "game.match_found").await;
    assert_eq!(found["side"], "right");
    let match_id = found["match_id"].as_i64().unwrap();
    let found = next_of(alice_ws, "game.match_found").await;
    assert_eq!(
        (found["match_id"].as_i64(), found["side"].as_str()),
        (Some(match_id), Some("left"))
    );
    match_id
}

async fn join(ws: &mut WsClient, match_id: i64) -> Value {
    ws.send(json!({"type": "game.join", "id": "j", "match_id": match_id}))
        .await;
    let state = next_of(ws, "game.state").await;
    assert_eq!(state["id"], "j");
    state
}

/// Plays the left side, following the ball, until the match ends; the
/// `game.ended` event. Checks snapshots come with increasing ticks.
async fn play_left(ws: &mut WsClient, match_id: i64) -> (Value, Vec<Value>) {
    let mut seq = 0;
    let mut last_tick = 0;
    let mut others = Vec::new();
    loop {
        let event = ws.next().await;
        match event["type"].as_str() {
            Some("game.snapshot") => {
                let tick = event["tick"].as_u64().unwrap();
                assert!(tick > last_tick, "ticks increase");
                last_tick = tick;
                let ball = event["ball"]["y"].as_f64().unwrap();
                let paddle = event["paddles"]["left"].as_f64().unwrap();
                seq += 1;
                ws.send(
                    json!({"type": "game.input", "match_id": match_id, "seq": seq,
                    "up": ball < paddle - 8.0, "down": ball > paddle + 8.0}),
                )
                .await;
            }
            Some("game.ended") => return (event, others),
            _ => others.push(event),
        }
    }
}

#[actix_web::test]
async fn a_full_match_is_played_recorded_and_rated() {
    let app = app(5000).await;
    let (alice, a, _) = app.user_with_tokens("alice").await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    let mut alice_ws = app.ws(&a).await;
    let mut bob_ws = app.ws(&b).await;
    let match_id = invited_match(&mut alice_ws, &mut bob_ws, bob.id, 3).await;

    let state = join(&mut alice_ws, match_id).await;
    assert_eq!(state["role"], "left");
    assert_eq!(state["players"]["right"]["id"], bob.id);
    assert_eq!(state["points_to_win"], 3);
    join(&mut bob_ws, match_id).await;
    let live = app.get("/api/matches/live", Some(&a)).await;
    assert_eq!(live.expect(200)[0]["match_id"], match_id);

    let (ended, others) = play_left(&mut alice_ws, match_id).await;
    assert_eq!(ended["winner"], alice.id);
    assert_eq!(ended["reason"], "score");
    assert_eq!(ended["score"], json!({"left": 3, "right": 0}));
    assert_eq!(ended["rating_changes"], json!({"left": 16, "right": -16}));
    let points = others.iter().filter(|e| e["type"] == "game.point").count();
    assert_eq!(points, 3);
    assert!(
        others
            .iter()
            .any(|e| e["type"] == "game.countdown" && e["seconds"] == 3)
    );
    assert_eq!(next_of(&mut bob_ws, "game.ended").await["winner"], alice.id);

    let record = app.get(&format!("/api/matches/{match_id}"), Some(&b)).await;
    let record = record.expect(200);
    assert_eq!(record["status"], "finished");
    assert_eq!(record["winner_id"], alice.id);
    assert_eq!(record["score"], json!({"left": 3, "right": 0}));
    assert!(record["duration_ms"].as_i64().unwrap() > 0);
    let history = app
        .get(&format!("/api/users/{}/matches", bob.id), Some(&a))
        .await;
    let item = history.expect(200)["items"][0].clone();
    assert_eq!(
        (item["result"].as_str(), item["rating_change"].as_i64()),
        (Some("loss"), Some(-16))
    );
    assert_eq!(item["opponent"]["id"], alice.id);
    let profile = app.get(&format!("/api/users/{}", bob.id), Some(&a)).await;
    assert_eq!(
        profile.expect(200)["stats"],
        json!({"rating": 1184, "wins": 0, "losses": 1, "streak": -1})
    );
    let board = app.get("/api/leaderboard", Some(&a)).await;
    let board = board.expect(200);
    assert_eq!(board["items"][0]["user"]["id"], alice.id);
    assert_eq!(board["items"][0]["rank"], 1);
    assert_eq!(board["items"][0]["stats"]["rating"], 1216);
    let live = app.get("/api/matches/live", Some(&a)).await;
    assert_eq!(live.expect(200), &json!([]));
}

#[actix_web::test]
async fn a_player_who_comes_back_within_the_grace_resumes_the_match() {
    let app = app(10_000).await;
    let (_, a, _) = app.user_with_tokens("alice").await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    let mut alice_ws = app.ws(&a).await;
    let mut bob_ws = app.ws(&b).await;
    let match_id = invited_match(&mut alice_ws, &mut bob_ws, bob.id, 5).await;
    join(&mut alice_ws, match_id).await;
    join(&mut bob_ws, match_id).await;
    next_of(&mut alice_ws, "game.snapshot").await;

    drop(bob_ws);
    let paused = next_of(&mut alice_ws, "game.paused").await;
    assert_eq!(paused["waiting_for"], json!([bob.id]));
    assert_eq!(paused["grace_ms"], 10_000);
    let mut bob_ws = app.ws(&b).await;
    let state = join(&mut bob_ws, match_id).await;
    assert_eq!(state["role"], "right");
    assert!(
        state["snapshot"]["tick"].as_u64().unwrap() > 0,
        "the current state"
    );
    next_of(&mut alice_ws, "game.resumed").await;
    next_of(&mut bob_ws, "game.snapshot").await;
}

/// The left player's `last_input_seq` in the first snapshot (of at most
/// 600, ten seconds) where `done` says it is final.
async fn left_seq_until(ws: &mut WsClient, done: impl Fn(u64) -> bool) -> u64 {
    for _ in 0..600 {
        let snapshot = next_of(ws, "game.snapshot").await;
        let seq = snapshot["last_input_seq"]["left"].as_u64().unwrap();
        if done(seq) {
            return seq;
        }
    }
    panic!("no snapshot showed the input");
}

#[actix_web::test]
async fn inputs_count_from_the_join_newest_first_and_anew_on_a_fresh_socket() {
    let app = app(10_000).await;
    let (_, a, _) = app.user_with_tokens("alice").await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    let mut alice_ws = app.ws(&a).await;
    let mut bob_ws = app.ws(&b).await;
    let match_id = invited_match(&mut alice_ws, &mut bob_ws, bob.id, 21).await;
    join(&mut bob_ws, match_id).await;

    // Inputs right behind the join (most likely before the match has
    // answered it): the newest one counts, a late older one never does.
    let input = |seq: u64, up: bool| json!({"type": "game.input", "match_id": match_id, "seq": seq, "up": up, "down": !up});
    alice_ws
        .send(json!({"type": "game.join", "id": "j", "match_id": match_id}))
        .await;
    alice_ws.send(input(4, true)).await;
    alice_ws.send(input(5, true)).await;
    alice_ws.send(input(3, false)).await;
    assert_eq!(
        left_seq_until(&mut bob_ws, |seq| seq >= 5 || seq == 3).await,
        5
    );
    alice_ws.send(input(2, false)).await;
    alice_ws.send(input(6, true)).await;
    assert_eq!(left_seq_until(&mut bob_ws, |seq| seq != 5).await, 6);

    // Back on a fresh socket, Alice numbers her inputs from 1 again.
    drop(alice_ws);
    next_of(&mut bob_ws, "game.paused").await;
    let mut alice_ws = app.ws(&a).await;
    join(&mut alice_ws, match_id).await;
    alice_ws.send(input(1, true)).await;
    // (0 until it arrives; 6 for good, were the old numbering kept)
    assert_eq!(
        left_seq_until(&mut bob_ws, |seq| seq != 0 && seq != 6).await,
        1
    );
}

#[actix_web::test]
async fn a_player_away_past_the_grace_forfeits() {
    // Joining late counts as away too: the grace covers both joins.
    let app = app(2000).await;
    let (alice, a, _) = app.user_with_tokens("alice").await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    let mut alice_ws = app.ws(&a).await;
    let mut bob_ws = app.ws(&b).await;
    let match_id = invited_match(&mut alice_ws, &mut bob_ws, bob.id, 5).await;
    join(&mut alice_ws, match_id).await;
    join(&mut bob_ws, match_id).await;
    next_of(&mut alice_ws, "game.snapshot").await;
    drop(bob_ws);
    let ended = next_of(&mut alice_ws, "game.ended").await;
    assert_eq!(
        (ended["winner"].as_i64(), ended["reason"].as_str()),
        (Some(alice.id), Some("forfeit"))
    );
    let record = app.get(&format!("/api/matches/{match_id}"), Some(&a)).await;
    assert_eq!(record.expect(200)["reason"], "forfeit");
}

#[actix_web::test]
async fn a_match_nobody_joins_is_abandoned_without_a_result() {
    let app = app(300).await;
    let (alice, a, _) = app.user_with_tokens("alice").await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    let mut alice_ws = app.ws(&a).await;
    let mut bob_ws = app.ws(&b).await;
    let match_id = invited_match(&mut alice_ws, &mut bob_ws, bob.id, 5).await;
    let mut record = Value::Null;
    for _ in 0..100 {
        let reply = app.get(&format!("/api/matches/{match_id}"), Some(&a)).await;
        record = reply.expect(200).clone();
        if record["status"] != "live" {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(record["status"], "abandoned");
    assert_eq!(record["winner_id"], Value::Null);
    assert_eq!(record["rating_changes"], Value::Null);
    let me = app.get(&format!("/api/users/{}", alice.id), Some(&b)).await;
    assert_eq!(me.expect(200)["stats"]["rating"], 1200);
    // Both are free to play again (the match lets them go just after its
    // record is written).
    wait_for(|| !app.state.games.is_playing(alice.id)).await;
}

#[actix_web::test]
async fn an_unanswered_invitation_expires_for_both() {
    let app = spawn_app_with(|s| s.game.invite_ttl = Duration::from_millis(300)).await;
    let (_, a, _) = app.user_with_tokens("alice").await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    let mut alice_ws = app.ws(&a).await;
    let mut bob_ws = app.ws(&b).await;
    alice_ws
        .send(json!({"type": "game.invite", "user_id": bob.id, "points_to_win": 1}))
        .await;
    let invite_id = next_of(&mut alice_ws, "game.invite_sent").await["invite_id"].clone();
    assert_eq!(
        next_of(&mut alice_ws, "game.invite_expired").await["invite_id"],
        invite_id
    );
    assert_eq!(
        next_of(&mut bob_ws, "game.invite_expired").await["invite_id"],
        invite_id
    );
    // Answering it now: it is gone.
    bob_ws
        .send(json!({"type": "game.invite.accept", "id": "x", "invite_id": invite_id}))
        .await;
    assert_eq!(next_of(&mut bob_ws, "error").await["code"], "not_found");
}

#[actix_web::test]
async fn invitations_are_declined_and_respect_blocks() {
    let app = app(3000).await;
    let (alice, a, _) = app.user_with_tokens("alice").await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    let (carol, c, _) = app.user_with_tokens("carol").await;
    let mut alice_ws = app.ws(&a).await;
    let mut bob_ws = app.ws(&b).await;

    // Declined: Alice is told.
    alice_ws
        .send(json!({"type": "game.invite", "user_id": bob.id}))
        .await;
    let invite_id = next_of(&mut alice_ws, "game.invite_sent").await["invite_id"].clone();
    next_of(&mut bob_ws, "notification").await;
    bob_ws
        .send(json!({"type": "game.invite.decline", "id": "d", "invite_id": invite_id}))
        .await;
    assert_eq!(next_of(&mut bob_ws, "ack").await["id"], "d");
    let note = next_of(&mut alice_ws, "notification").await["notification"].clone();
    assert_eq!(note["kind"], "game_invite_declined");
    assert_eq!(note["actor"]["id"], bob.id);
    assert_eq!(note["payload"]["invite_id"], invite_id);
    // Answering it again: it is gone.
    bob_ws
        .send(json!({"type": "game.invite.accept", "id": "x", "invite_id": invite_id}))
        .await;
    assert_eq!(next_of(&mut bob_ws, "error").await["code"], "not_found");

    // Only the invitee may answer.
    alice_ws
        .send(json!({"type": "game.invite", "user_id": bob.id}))
        .await;
    let invite_id = next_of(&mut alice_ws, "game.invite_sent").await["invite_id"].clone();
    let mut carol_ws = app.ws(&c).await;
    carol_ws
        .send(json!({"type": "game.invite.accept", "invite_id": invite_id}))
        .await;
    assert_eq!(next_of(&mut carol_ws, "error").await["code"], "not_found");

    // Blocked pairs cannot invite, either way; bad invitations are refused.
    app.block(&c, alice.id).await;
    alice_ws
        .send(json!({"type": "game.invite", "user_id": carol.id}))
        .await;
    assert_eq!(
        next_of(&mut alice_ws, "error").await["code"],
        "user_blocked"
    );
    for (message, code) in [
        (
            json!({"type": "game.invite", "user_id": alice.id}),
            "validation_failed",
        ),
        (
            json!({"type": "game.invite", "user_id": bob.id, "points_to_win": 22}),
            "validation_failed",
        ),
        (
            json!({"type": "game.invite", "user_id": 999_999}),
            "not_found",
        ),
    ] {
        alice_ws.send(message).await;
        assert_eq!(next_of(&mut alice_ws, "error").await["code"], code);
    }
}

#[actix_web::test]
async fn matchmaking_pairs_queued_players() {
    // Nobody joins the match: the grace must outlast the checks below.
    let app = app(10_000).await;
    let (alice, a, _) = app.user_with_tokens("alice").await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    let (carol, c, _) = app.user_with_tokens("carol").await;
    // Carol queues, then disconnects: she leaves the queue.
    let mut carol_ws = app.ws(&c).await;
    carol_ws
        .send(json!({"type": "game.queue.join", "id": 1}))
        .await;
    assert_eq!(next_of(&mut carol_ws, "ack").await["id"], 1);
    drop(carol_ws);
    wait_for(|| app.state.sockets.count(carol.id) == 0).await;

    let mut alice_ws = app.ws(&a).await;
    let mut bob_ws = app.ws(&b).await;
    alice_ws.send(json!({"type": "game.queue.join"})).await;
    bob_ws.send(json!({"type": "game.queue.join"})).await;
    let found_a = next_of(&mut alice_ws, "game.match_found").await;
    let found_b = next_of(&mut bob_ws, "game.match_found").await;
    assert_eq!(found_a["match_id"], found_b["match_id"]);
    assert_eq!(found_a["opponent"]["id"], bob.id);
    assert_eq!(found_b["opponent"]["id"], alice.id);
    // Playing: the queue is refused until the match ends.
    alice_ws
        .send(json!({"type": "game.queue.join", "id": 2}))
        .await;
    assert_eq!(
        next_of(&mut alice_ws, "error").await["code"],
        "already_in_match"
    );
    // Leaving the queue when not in it is fine.
    bob_ws
        .send(json!({"type": "game.queue.leave", "id": 3}))
        .await;
    assert_eq!(next_of(&mut bob_ws, "ack").await["id"], 3);
}

#[actix_web::test]
async fn spectators_watch_but_cannot_play() {
    let app = app(3000).await;
    let (alice, a, _) = app.user_with_tokens("alice").await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    let (_, c, _) = app.user_with_tokens("carol").await;
    let (_, d, _) = app.user_with_tokens("dave").await;
    let mut alice_ws = app.ws(&a).await;
    let mut bob_ws = app.ws(&b).await;
    // Nobody plays: 21 points take the idle players about 23 s, time for
    // the spectators' checks below on a slow run.
    let match_id = invited_match(&mut alice_ws, &mut bob_ws, bob.id, 21).await;
    join(&mut alice_ws, match_id).await;
    join(&mut bob_ws, match_id).await;

    let mut carol_ws = app.ws(&c).await;
    // Inputs before joining, or for another match, are refused.
    carol_ws
        .send(json!({"type": "game.input", "id": 1, "match_id": match_id, "seq": 1, "up": true, "down": false}))
        .await;
    assert_eq!(next_of(&mut carol_ws, "error").await["code"], "forbidden");
    let state = join(&mut carol_ws, match_id).await;
    assert_eq!(state["role"], "spectator");
    let snapshot = next_of(&mut carol_ws, "game.snapshot").await;
    assert_eq!(snapshot["match_id"], match_id);
    carol_ws
        .send(json!({"type": "game.input", "id": 2, "match_id": match_id, "seq": 1, "up": true, "down": false}))
        .await;
    let error = next_of(&mut carol_ws, "error").await;
    assert_eq!(
        (error["id"].as_i64(), error["code"].as_str()),
        (Some(2), Some("forbidden"))
    );
    // A spectator's keys are refused each time, but are no misbehaviour
    // that closes the socket (ten bad messages would).
    for n in 3..20 {
        carol_ws
            .send(json!({"type": "game.input", "id": n, "match_id": match_id, "seq": n, "up": true, "down": false}))
            .await;
    }
    for n in 3..20 {
        assert_eq!(next_of(&mut carol_ws, "error").await["id"], n);
    }
    next_of(&mut carol_ws, "game.snapshot").await;

    // Someone Alice blocked may not watch.
    let dave = app.get("/api/users/me", Some(&d)).await.expect(200)["id"].clone();
    app.send(
        reqwest::Method::PUT,
        &format!("/api/blocks/{dave}"),
        None,
        Some(&a),
    )
    .await
    .expect(204);
    let mut dave_ws = app.ws(&d).await;
    dave_ws
        .send(json!({"type": "game.join", "match_id": match_id}))
        .await;
    assert_eq!(next_of(&mut dave_ws, "error").await["code"], "not_allowed");
    // No such match.
    dave_ws
        .send(json!({"type": "game.join", "match_id": 999_999}))
        .await;
    assert_eq!(next_of(&mut dave_ws, "error").await["code"], "not_found");
    assert!(app.state.games.is_playing(alice.id));
}

#[actix_web::test]
async fn friends_see_a_player_in_game() {
    // Nobody joins the match: the grace must outlast the checks below.
    let app = app(10_000).await;
    let (alice, a, _) = app.user_with_tokens("alice").await;
    let (bob, b, _) = app.user_with_tokens("bob").await;
    app.post(
        "/api/friends/requests",
        json!({"user_id": bob.id}),
        Some(&a),
    )
    .await
    .expect(201);
    app.post(
        "/api/friends/requests",
        json!({"user_id": alice.id}),
        Some(&b),
    )
    .await
    .expect(200);
    let mut alice_ws = app.ws(&a).await;
    let mut bob_ws = app.ws(&b).await;
    invited_match(&mut alice_ws, &mut bob_ws, bob.id, 5).await;
    loop {
        let event = next_of(&mut bob_ws, "presence").await;
        if event["user_id"] == alice.id && event["status"] == "in_game" {
            break;
        }
    }
    let friends = app.get("/api/friends", Some(&b)).await;
    assert_eq!(friends.expect(200)["items"][0]["presence"], "in_game");
}

/// A history page is one statement: newest first, each match with the
/// opponent as others see them, paged by cursor, live matches left out;
/// an empty page for a player without matches, 404 for no such player.
#[actix_web::test]
async fn history_pages_newest_first_and_tells_empty_from_unknown() {
    use transcendence::db::game::{self, Outcome};

    let app = spawn_app().await;
    let (alice, a, _) = app.user_with_tokens("alice").await;
    let bob = app.register("bob").await;
    let (carol, c, _) = app.user_with_tokens("carol").await;
    app.send(
        reqwest::Method::PATCH,
        "/api/users/me",
        Some(json!({"display_name": "Caro"})),
        Some(&c),
    )
    .await
    .expect(200);
    let mut conn = app.state.db.get().await.unwrap();
    let mut ids = Vec::new();
    for (left, right, winner) in [
        (alice.id, bob.id, 0),
        (carol.id, alice.id, 0),
        (alice.id, bob.id, 1),
    ] {
        let match_id = game::create(&mut conn, left, right, 3, None).await.unwrap();
        let score = if winner == 0 { [3, 1] } else { [1, 3] };
        let outcome = Outcome {
            match_id,
            score,
            winner: Some(winner),
            reason: "score",
        };
        game::finish(&mut conn, outcome).await.unwrap();
        ids.push(match_id);
    }
    game::create(&mut conn, alice.id, carol.id, 3, None)
        .await
        .unwrap();
    drop(conn);

    let first = app
        .get(
            &format!("/api/users/{}/matches?limit=2", alice.id),
            Some(&a),
        )
        .await;
    let first = first.expect(200);
    let items = first["items"].as_array().unwrap();
    let seen: Vec<_> = items
        .iter()
        .map(|i| {
            (
                i["match_id"].as_i64().unwrap(),
                i["opponent"]["id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen, [(ids[2], bob.id), (ids[1], carol.id)]);
    assert_eq!(
        (
            items[0]["side"].as_str(),
            items[0]["result"].as_str(),
            items[0]["score"].as_i64()
        ),
        (Some("left"), Some("loss"), Some(1))
    );
    assert_eq!(items[1]["side"], "right");
    assert_eq!(items[1]["opponent"]["display_name"], "Caro");
    assert_eq!(
        items[1]["opponent"]["avatar_url"],
        format!("/media/avatars/default/{}.png", carol.id)
    );
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let second = app
        .get(
            &format!("/api/users/{}/matches?limit=2&cursor={cursor}", alice.id),
            Some(&a),
        )
        .await;
    let second = second.expect(200);
    assert_eq!(second["items"][0]["match_id"], ids[0]);
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert!(second["next_cursor"].is_null());

    let dave = app.register("dave").await;
    let empty = app
        .get(&format!("/api/users/{}/matches", dave.id), Some(&a))
        .await;
    assert_eq!(empty.expect(200)["items"], json!([]));
    app.get("/api/users/999999999/matches", Some(&a))
        .await
        .expect_error(404, "not_found");
}
