//! Tournaments over real sockets: eight bots played to a champion, five
//! with byes, a no-show forfeit, the rules around joining and starting,
//! and a crash in the middle resumed from the database.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::support::ws::WsClient;
use crate::support::{TestApp, spawn_app_with};

async fn app() -> TestApp {
    spawn_app_with(|s| {
        s.game.time_scale = 8;
        s.game.reconnect_grace = Duration::from_millis(2000);
    })
    .await
}

/// Registers `n` players; their ids and tokens.
async fn players(app: &TestApp, n: usize) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for i in 0..n {
        let (user, token, _) = app.user_with_tokens(&format!("player{i}")).await;
        out.push((user.id, token));
    }
    out
}

async fn create(app: &TestApp, token: &str, body: Value) -> i64 {
    let reply = app.post("/api/tournaments", body, Some(token)).await;
    reply.expect(201)["id"].as_i64().unwrap()
}

async fn join(app: &TestApp, id: i64, token: &str, alias: &str) -> Value {
    let reply = app
        .post(
            &format!("/api/tournaments/{id}/join"),
            json!({"alias": alias}),
            Some(token),
        )
        .await;
    reply.expect(200).clone()
}

async fn view(app: &TestApp, id: i64, token: &str) -> Value {
    app.get(&format!("/api/tournaments/{id}"), Some(token))
        .await
        .expect(200)
        .clone()
}

/// A bot: joins each match it is given (without moving: points are short)
/// until the tournament is over; the final `tournament.updated`. `current`
/// is a match already made for it before it connected.
async fn bot(mut ws: WsClient, tournament: i64, current: Option<i64>) -> Value {
    if let Some(match_id) = current {
        ws.send(json!({"type": "game.join", "match_id": match_id}))
            .await;
    }
    loop {
        let event = ws.next().await;
        match event["type"].as_str() {
            Some("game.match_found") => {
                assert_eq!(event["tournament_id"], tournament);
                let match_id = event["match_id"].clone();
                ws.send(json!({"type": "game.join", "match_id": match_id}))
                    .await;
            }
            Some("tournament.updated") if event["tournament"]["status"] == "finished" => {
                return event["tournament"].clone();
            }
            _ => {}
        }
    }
}

/// Every pairing, flattened.
fn pairings(view: &Value) -> Vec<Value> {
    view["rounds"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["matches"].as_array().unwrap().clone())
        .collect()
}

#[actix_web::test]
async fn eight_players_play_to_a_champion() {
    let app = app().await;
    let players = players(&app, 8).await;
    let owner = &players[0].1;
    let id = create(
        &app,
        owner,
        json!({"name": "Friday cup", "max_players": 8, "points_to_win": 1}),
    )
    .await;
    for (i, (_, token)) in players.iter().enumerate() {
        join(&app, id, token, &format!("Ace {i}")).await;
    }
    // Everyone connects before the start, so no event is missed.
    let mut sockets = Vec::new();
    for (_, token) in &players {
        sockets.push(app.ws(token).await);
    }
    let started = app
        .post(
            &format!("/api/tournaments/{id}/start"),
            json!({}),
            Some(owner),
        )
        .await;
    let started = started.expect(200);
    assert_eq!(started["status"], "running");
    assert_eq!(started["rounds"].as_array().unwrap().len(), 3);
    assert!(
        started["players"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["seed"].is_i64())
    );

    let finals = join_all(sockets.into_iter().map(|ws| bot(ws, id, None))).await;
    let last = view(&app, id, owner).await;
    assert_eq!(last["status"], "finished");
    let champion = last["champion_id"].as_i64().expect("a champion");
    assert!(finals.iter().all(|f| f["champion_id"] == champion));
    let all = pairings(&last);
    assert_eq!(all.len(), 7);
    assert!(
        all.iter()
            .all(|p| p["status"] == "done" && p["result"] == "score"),
        "{all:?}"
    );
    assert_eq!(all[6]["winner_id"], champion);
    // Every match is in the players' histories, tied to the tournament.
    let history = app
        .get(&format!("/api/users/{champion}/matches"), Some(owner))
        .await;
    let items = history.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 3);
    assert!(
        items
            .iter()
            .all(|m| m["tournament_id"] == id && m["result"] == "win")
    );
    // Everyone was told the outcome (the notices are written by tasks of
    // their own, which may trail the last update).
    let mut kinds: Vec<Value> = Vec::new();
    for _ in 0..100 {
        let notes = app.get("/api/notifications", Some(&players[7].1)).await;
        kinds = notes.expect(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["kind"].clone())
            .collect();
        if kinds.contains(&json!("tournament_finished")) {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(kinds.contains(&json!("tournament_finished")), "{kinds:?}");
    assert!(
        kinds.contains(&json!("tournament_match_ready")),
        "{kinds:?}"
    );
    let finished = app
        .get("/api/tournaments?status=finished", Some(owner))
        .await;
    assert_eq!(finished.expect(200)["items"][0]["id"], id);
}

#[actix_web::test]
async fn five_players_get_byes() {
    let app = app().await;
    let players = players(&app, 5).await;
    let owner = &players[0].1;
    let id = create(
        &app,
        owner,
        json!({"name": "Odd cup", "max_players": 8, "points_to_win": 1}),
    )
    .await;
    for (i, (_, token)) in players.iter().enumerate() {
        join(&app, id, token, &format!("p{i}")).await;
    }
    let mut sockets = Vec::new();
    for (_, token) in &players {
        sockets.push(app.ws(token).await);
    }
    let started = app
        .post(
            &format!("/api/tournaments/{id}/start"),
            json!({}),
            Some(owner),
        )
        .await;
    let first = started.expect(200)["rounds"][0]["matches"].clone();
    let byes = first
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["result"] == "bye")
        .count();
    assert_eq!(byes, 3);

    join_all(sockets.into_iter().map(|ws| bot(ws, id, None))).await;
    let last = view(&app, id, owner).await;
    assert_eq!(last["status"], "finished");
    assert!(last["champion_id"].is_i64());
    let played = pairings(&last)
        .iter()
        .filter(|p| p["result"] == "score")
        .count();
    assert_eq!(played, 4, "5 players: 4 matches");
}

#[actix_web::test]
async fn a_player_who_does_not_show_up_forfeits() {
    let app = spawn_app_with(|s| {
        s.game.time_scale = 8;
        // The others must join their matches within it.
        s.game.reconnect_grace = Duration::from_millis(2000);
    })
    .await;
    let players = players(&app, 4).await;
    let owner = &players[0].1;
    let id = create(
        &app,
        owner,
        json!({"name": "Full start", "max_players": 4, "points_to_win": 1, "starts_when_full": true}),
    )
    .await;
    let mut sockets = Vec::new();
    for (_, token) in &players[..3] {
        sockets.push(app.ws(token).await);
    }
    for (i, (_, token)) in players.iter().enumerate() {
        join(&app, id, token, &format!("p{i}")).await;
    }
    // The fourth join filled it: it started by itself. Player 3 never
    // connects, so never joins a match.
    let absent = players[3].0;
    join_all(sockets.into_iter().map(|ws| bot(ws, id, None))).await;
    let last = view(&app, id, owner).await;
    assert_eq!(last["status"], "finished");
    let theirs = pairings(&last)
        .into_iter()
        .find(|p| p["player_a"] == absent || p["player_b"] == absent)
        .unwrap();
    assert_eq!(theirs["result"], "forfeit");
    assert_ne!(theirs["winner_id"], absent);
    assert_ne!(last["champion_id"], absent);
}

#[actix_web::test]
async fn joining_leaving_and_starting_follow_the_rules() {
    // Nobody plays: a long grace keeps it running through the checks.
    let app = spawn_app_with(|s| s.game.reconnect_grace = Duration::from_secs(60)).await;
    let players = players(&app, 4).await;
    let (owner, other) = (&players[0].1, &players[1].1);
    for bad in [
        json!({"name": "x", "max_players": 3}),
        json!({"name": "x", "max_players": 17}),
        json!({"name": "  ", "max_players": 4}),
        json!({"name": "x", "max_players": 4, "points_to_win": 0}),
    ] {
        app.post("/api/tournaments", bad, Some(owner))
            .await
            .expect_error(422, "validation_failed");
    }
    let id = create(&app, owner, json!({"name": "Rules", "max_players": 4})).await;
    join(&app, id, owner, "Boss").await;
    app.post(
        &format!("/api/tournaments/{id}/join"),
        json!({"alias": "boss"}),
        Some(other),
    )
    .await
    .expect_error(409, "alias_taken");
    // No alias: the display name (here the username).
    let joined = app
        .post(
            &format!("/api/tournaments/{id}/join"),
            json!({}),
            Some(other),
        )
        .await;
    let aliases: Vec<Value> = joined.expect(200)["players"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["alias"].clone())
        .collect();
    assert_eq!(aliases, [json!("Boss"), json!("player1")]);
    app.post(
        &format!("/api/tournaments/{id}/join"),
        json!({}),
        Some(other),
    )
    .await
    .expect_error(409, "already_joined");

    // Two players are too few; a non-owner may not start.
    app.post(
        &format!("/api/tournaments/{id}/start"),
        json!({}),
        Some(owner),
    )
    .await
    .expect_error(409, "too_few_players");
    join(&app, id, &players[2].1, "Third").await;
    app.post(
        &format!("/api/tournaments/{id}/start"),
        json!({}),
        Some(other),
    )
    .await
    .expect_error(403, "forbidden");

    // Leaving before the start.
    app.post(
        &format!("/api/tournaments/{id}/leave"),
        json!({}),
        Some(&players[2].1),
    )
    .await
    .expect(204);
    app.post(
        &format!("/api/tournaments/{id}/leave"),
        json!({}),
        Some(&players[2].1),
    )
    .await
    .expect_error(404, "not_found");
    assert_eq!(
        view(&app, id, owner).await["players"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    join(&app, id, &players[2].1, "Third").await;
    app.post(
        &format!("/api/tournaments/{id}/start"),
        json!({}),
        Some(owner),
    )
    .await
    .expect(200);
    // Started: no more joining or leaving.
    app.post(
        &format!("/api/tournaments/{id}/join"),
        json!({}),
        Some(&players[3].1),
    )
    .await
    .expect_error(409, "tournament_not_open");
    app.post(
        &format!("/api/tournaments/{id}/leave"),
        json!({}),
        Some(other),
    )
    .await
    .expect_error(409, "tournament_not_open");
    app.get("/api/tournaments/999999", Some(owner))
        .await
        .expect_error(404, "not_found");
    app.get("/api/tournaments?status=nope", Some(owner))
        .await
        .expect_error(422, "validation_failed");
    let running = app
        .get("/api/tournaments?status=running", Some(owner))
        .await;
    assert_eq!(running.expect(200)["items"][0]["players"], 3);

    // A watcher sees the bracket now and at every change.
    let mut watcher = app.ws(&players[3].1).await;
    watcher
        .send(json!({"type": "tournament.watch", "id": "w", "tournament_id": id}))
        .await;
    // (A change broadcast to watchers may come first.)
    let update = loop {
        let event = watcher.next().await;
        if event["type"] == "tournament.updated" && event["id"] == "w" {
            break event;
        }
    };
    assert_eq!(update["tournament"]["status"], "running");
}

#[actix_web::test]
async fn a_crash_in_the_middle_is_resumed_from_the_database() {
    let app = app().await;
    let players = players(&app, 4).await;
    let owner = players[0].1.clone();
    let id = create(
        &app,
        &owner,
        json!({"name": "Phoenix", "max_players": 4, "points_to_win": 1}),
    )
    .await;
    for (i, (_, token)) in players.iter().enumerate() {
        join(&app, id, token, &format!("p{i}")).await;
    }
    app.post(
        &format!("/api/tournaments/{id}/start"),
        json!({}),
        Some(&owner),
    )
    .await
    .expect(200);
    // The first round's matches start; nobody has joined them yet.
    let mut before = Vec::new();
    for _ in 0..100 {
        before = pairings(&view(&app, id, &owner).await)
            .into_iter()
            .filter(|p| p["status"] == "playing")
            .filter_map(|p| p["match_id"].as_i64())
            .collect();
        if before.len() == 2 {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(before.len(), 2);

    let app = app.crash_and_restart().await;
    // The cut matches are settled as interrupted and played again.
    for match_id in &before {
        let old = app
            .get(&format!("/api/matches/{match_id}"), Some(&owner))
            .await;
        let old = old.expect(200);
        assert_eq!(
            (old["status"].as_str(), old["reason"].as_str()),
            (Some("abandoned"), Some("interrupted"))
        );
    }
    let mut replayed = Vec::new();
    for _ in 0..100 {
        let now = view(&app, id, &owner).await;
        assert_eq!(now["status"], "running");
        replayed = pairings(&now)
            .into_iter()
            .filter(|p| p["status"] == "playing")
            .collect();
        // (A pairing being started shows `playing` before its match id.)
        let fresh = replayed
            .iter()
            .all(|p| p["match_id"].as_i64().is_some_and(|m| !before.contains(&m)));
        if replayed.len() == 2 && fresh {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(replayed.len(), 2);
    assert!(
        replayed
            .iter()
            .all(|p| !before.contains(&p["match_id"].as_i64().unwrap()))
    );

    // The players come back and play it out.
    let mut bots = Vec::new();
    for (user, token) in &players {
        let current = replayed
            .iter()
            .find(|p| p["player_a"] == *user || p["player_b"] == *user)
            .and_then(|p| p["match_id"].as_i64());
        bots.push(bot(app.ws(token).await, id, current));
    }
    join_all(bots).await;
    let last = view(&app, id, &owner).await;
    assert_eq!(last["status"], "finished");
    assert!(last["champion_id"].is_i64());
}
