//! The OpenAPI 3 document, generated from the handlers' annotations and
//! served at `GET /api/openapi.json`.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::auth::{self, accounts, oauth, two_factor};
use super::{avatars, chats, games, health, notifications, social, tournaments, users, ws};
use crate::error::{ErrorBody, ErrorCode};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "transcendence",
        description = "Backend of an online Pong platform. Every error is `{code, message}` \
                       with a stable snake_case code (see the ErrorCode schema).",
    ),
    paths(
        health::healthz,
        health::readyz,
        accounts::register,
        accounts::login,
        accounts::login_two_factor,
        accounts::refresh,
        accounts::logout,
        accounts::logout_all,
        accounts::verify,
        accounts::change_password,
        two_factor::setup,
        two_factor::enable,
        two_factor::disable,
        oauth::providers,
        oauth::authorize,
        oauth::link,
        oauth::callback,
        users::me,
        users::update_me,
        users::by_id,
        users::by_username,
        users::search,
        avatars::upload,
        avatars::reset,
        avatars::avatar,
        avatars::default_avatar,
        social::send_request,
        social::list_requests,
        social::accept,
        social::decline,
        social::cancel,
        social::friends,
        social::unfriend,
        social::block,
        social::unblock,
        social::blocks,
        notifications::list,
        notifications::unread_count,
        notifications::read,
        notifications::read_all,
        notifications::delete,
        chats::list,
        chats::messages,
        chats::read,
        games::live,
        games::one,
        games::history,
        games::leaderboard,
        tournaments::create,
        tournaments::list,
        tournaments::one,
        tournaments::join,
        tournaments::leave,
        tournaments::start,
        ws::ticket,
        ws::upgrade,
    ),
    components(schemas(ErrorBody, ErrorCode, auth::TokenPair, auth::TwoFactorChallenge)),
    modifiers(&BearerAuth),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "auth", description = "Accounts, tokens and sessions"),
        (name = "two-factor", description = "TOTP two-factor authentication"),
        (name = "oauth", description = "Sign-in with the 42 Intranet"),
        (name = "users", description = "Profiles, avatars and search"),
        (name = "friends", description = "Friend requests and friendships"),
        (name = "blocks", description = "Blocking users"),
        (name = "notifications", description = "What happened while you were away"),
        (name = "game", description = "Pong: live matches, results, history, leaderboard (play over the websocket)"),
        (name = "tournaments", description = "Single-elimination tournaments driven by the server"),
        (name = "chat", description = "Private conversations (messages are sent over the websocket)"),
        (name = "realtime", description = "The websocket (protocol in docs/protocol.md)"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document, serialised once.
pub fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .unwrap_or_else(|e| format!(r#"{{"error":"openapi: {e}"}}"#))
    })
}

pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document())
}
