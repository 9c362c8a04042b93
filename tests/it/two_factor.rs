//! TOTP: setup with a QR code that scans to the otpauth URI, enable with
//! recovery codes, login in two steps, replay and drift, disable.

use base64::Engine;
use serde_json::{Value, json};
use transcendence::auth::totp::code_at;

use crate::support::{PASSWORD, TestApp, spawn_app, unix_now, wait_for_step_middle};

/// Decodes a `data:image/png;base64,…` QR code to its text.
fn scan(data_url: &str) -> String {
    let png = base64::engine::general_purpose::STANDARD
        .decode(data_url.strip_prefix("data:image/png;base64,").unwrap())
        .unwrap();
    let image = image::load_from_memory(&png).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "expected one QR code");
    grids[0].decode().unwrap().1
}

fn secret_of(setup: &Value) -> String {
    setup["secret"].as_str().unwrap().to_string()
}

/// Sets up and enables 2FA; returns (secret, recovery codes). The enabling
/// code is the previous step's, leaving the current and next steps unused.
async fn enable(app: &TestApp, access: &str) -> (String, Vec<String>) {
    wait_for_step_middle().await;
    let setup = app
        .post("/api/auth/2fa/setup", json!({}), Some(access))
        .await;
    setup.expect(200);
    let secret = secret_of(&setup.body);
    let code = code_at(&secret, unix_now() - 30).unwrap();
    let reply = app
        .post("/api/auth/2fa/enable", json!({"code": code}), Some(access))
        .await;
    let codes = reply.expect(200)["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    (secret, codes)
}

async fn challenge(app: &TestApp, username: &str) -> String {
    let reply = app.login(username, PASSWORD).await;
    let body = reply.expect(200);
    assert_eq!(body["two_factor_required"], true);
    assert!(body.get("access_token").is_none());
    assert_eq!(body["expires_in"], 300);
    reply.str("challenge")
}

async fn second_step(app: &TestApp, challenge: &str, code: &str) -> crate::support::Reply {
    app.post(
        "/api/auth/login/2fa",
        json!({"challenge": challenge, "code": code}),
        None,
    )
    .await
}

#[actix_web::test]
async fn the_qr_code_scans_to_the_otpauth_uri() {
    let app = spawn_app().await;
    let (_, access, _) = app.user_with_tokens("alice").await;
    let reply = app
        .post("/api/auth/2fa/setup", json!({}), Some(&access))
        .await;
    let body = reply.expect(200);
    let uri = body["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/transcendence:alice?"),
        "{uri}"
    );
    assert!(uri.contains(&format!("secret={}", secret_of(body))));
    assert_eq!(scan(body["qr_code"].as_str().unwrap()), uri);
    assert!(body["qr_code_svg"].as_str().unwrap().contains("<svg"));
    // Not enabled until a code proves the authenticator has it.
    let verify = app.get("/api/auth/verify", Some(&access)).await;
    assert_eq!(verify.body["two_factor_enabled"], false);
    app.login("alice", PASSWORD).await.expect(200);
}

#[actix_web::test]
async fn enabling_needs_setup_and_a_right_code() {
    let app = spawn_app().await;
    let (_, access, _) = app.user_with_tokens("alice").await;
    app.post(
        "/api/auth/2fa/enable",
        json!({"code": "123456"}),
        Some(&access),
    )
    .await
    .expect_error(409, "two_factor_setup_required");

    wait_for_step_middle().await;
    let setup = app
        .post("/api/auth/2fa/setup", json!({}), Some(&access))
        .await;
    let secret = secret_of(&setup.body);
    // Two steps away is beyond the one step of drift allowed.
    for offset in [-60i64, 60] {
        let t = unix_now().checked_add_signed(offset).unwrap();
        let code = code_at(&secret, t).unwrap();
        app.post("/api/auth/2fa/enable", json!({"code": code}), Some(&access))
            .await
            .expect_error(401, "invalid_two_factor_code");
    }
    let (_, codes) = enable(&app, &access).await;
    assert_eq!(codes.len(), 10);
    let unique: std::collections::HashSet<_> = codes.iter().collect();
    assert_eq!(unique.len(), 10);
    app.post("/api/auth/2fa/setup", json!({}), Some(&access))
        .await
        .expect_error(409, "two_factor_already_enabled");
}

#[actix_web::test]
async fn login_with_totp_accepts_each_code_once_and_one_step_of_drift() {
    let app = spawn_app().await;
    let (_, access, _) = app.user_with_tokens("alice").await;
    let (secret, _) = enable(&app, &access).await;
    let now = unix_now();

    // The current step's code works once.
    let current = code_at(&secret, now).unwrap();
    let c = challenge(&app, "alice").await;
    let reply = second_step(&app, &c, &current).await;
    reply.expect(200);
    app.get("/api/auth/verify", Some(&reply.str("access_token")))
        .await
        .expect(200);
    // The challenge is single-use.
    second_step(&app, &c, &current)
        .await
        .expect_error(401, "invalid_challenge");
    // Replaying the code on a fresh challenge is refused.
    let c = challenge(&app, "alice").await;
    second_step(&app, &c, &current)
        .await
        .expect_error(401, "invalid_two_factor_code");
    // One step ahead (a fast phone clock) is accepted.
    let next = code_at(&secret, now + 30).unwrap();
    second_step(&app, &c, &next).await.expect(200);
    // Two steps ahead is not (of the time now: the logins above take a
    // while, and the step may have turned since `now`).
    let c = challenge(&app, "alice").await;
    let far = code_at(&secret, unix_now() + 60).unwrap();
    second_step(&app, &c, &far)
        .await
        .expect_error(401, "invalid_two_factor_code");
}

#[actix_web::test]
async fn recovery_codes_work_once() {
    let app = spawn_app().await;
    let (_, access, _) = app.user_with_tokens("alice").await;
    let (_, codes) = enable(&app, &access).await;

    let c = challenge(&app, "alice").await;
    second_step(&app, &c, &codes[0].to_uppercase())
        .await
        .expect(200);
    let c = challenge(&app, "alice").await;
    second_step(&app, &c, &codes[0])
        .await
        .expect_error(401, "invalid_two_factor_code");
    second_step(&app, &c, &codes[1].replace('-', ""))
        .await
        .expect(200);
}

#[actix_web::test]
async fn a_challenge_is_burnt_after_five_wrong_codes() {
    let app = spawn_app().await;
    let (_, access, _) = app.user_with_tokens("alice").await;
    let (secret, _) = enable(&app, &access).await;
    let c = challenge(&app, "alice").await;
    for _ in 0..5 {
        second_step(&app, &c, "000000")
            .await
            .expect_error(401, "invalid_two_factor_code");
    }
    let good = code_at(&secret, unix_now()).unwrap();
    second_step(&app, &c, &good)
        .await
        .expect_error(401, "invalid_challenge");
    second_step(&app, "made-up", &good)
        .await
        .expect_error(401, "invalid_challenge");
}

#[actix_web::test]
async fn wrong_codes_lock_the_second_factor() {
    let app = spawn_app().await;
    let (_, access, _) = app.user_with_tokens("alice").await;
    let (secret, _) = enable(&app, &access).await;
    for _ in 0..5 {
        let c = challenge(&app, "alice").await;
        second_step(&app, &c, "000000")
            .await
            .expect_error(401, "invalid_two_factor_code");
    }
    let c = challenge(&app, "alice").await;
    let good = code_at(&secret, unix_now()).unwrap();
    let reply = second_step(&app, &c, &good).await;
    reply.expect_error(429, "too_many_attempts");
    let retry: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "Retry-After {retry}");
}

#[actix_web::test]
async fn disable_needs_a_code_and_turns_2fa_off() {
    let app = spawn_app().await;
    let (_, access, _) = app.user_with_tokens("alice").await;
    app.post(
        "/api/auth/2fa/disable",
        json!({"code": "123456"}),
        Some(&access),
    )
    .await
    .expect_error(409, "two_factor_not_enabled");
    let (secret, codes) = enable(&app, &access).await;
    app.post(
        "/api/auth/2fa/disable",
        json!({"code": "000000"}),
        Some(&access),
    )
    .await
    .expect_error(401, "invalid_two_factor_code");
    let code = code_at(&secret, unix_now()).unwrap();
    app.post(
        "/api/auth/2fa/disable",
        json!({"code": code}),
        Some(&access),
    )
    .await
    .expect(204);
    let reply = app.login("alice", PASSWORD).await;
    reply.expect(200);
    assert!(reply.body["access_token"].is_string());
    // Old recovery codes died with it.
    let (_, _) = enable(&app, &access).await;
    let c = challenge(&app, "alice").await;
    second_step(&app, &c, &codes[2])
        .await
        .expect_error(401, "invalid_two_factor_code");
}

#[actix_web::test]
async fn one_challenge_yields_one_session_even_with_two_good_codes_at_once() {
    let app = spawn_app().await;
    let (_, access, _) = app.user_with_tokens("alice").await;
    let (secret, codes) = enable(&app, &access).await;
    let c = challenge(&app, "alice").await;
    let totp = code_at(&secret, unix_now()).unwrap();
    let (first, second) = futures_util::join!(
        second_step(&app, &c, &totp),
        second_step(&app, &c, &codes[0]),
    );
    let wins = [&first, &second].iter().filter(|r| r.status == 200).count();
    assert_eq!(wins, 1, "{} / {}", first.body, second.body);
    // The losing code was not spent.
    let c = challenge(&app, "alice").await;
    let loser = if first.status == 200 {
        &codes[0]
    } else {
        &totp
    };
    second_step(&app, &c, loser).await.expect(200);
}
