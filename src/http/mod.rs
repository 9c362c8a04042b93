//! The HTTP surface: the route table below, extractors, middleware, and one
//! module per domain. Nothing depends on `http`; `http` depends on the rest.

pub mod auth;
pub mod avatars;
pub mod chats;
pub mod extractors;
pub mod games;
pub mod health;
pub mod middleware;
pub mod notifications;
pub mod openapi;
pub mod pagination;
pub mod social;
pub mod tournaments;
pub mod users;
pub mod webapp;
pub mod ws;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::{HttpRequest, mime, web};

use crate::error::{AppError, ErrorCode};

/// Largest JSON body accepted.
pub const JSON_LIMIT: usize = 64 * 1024;

/// The route table: every endpoint of the service, in one place. Unknown
/// paths (404) and methods (405) get their JSON bodies from
/// [`middleware::json_errors`].
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config())
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(web::PathConfig::default().error_handler(path_error))
        .service(web::resource("/healthz").route(web::get().to(health::healthz)))
        .service(web::resource("/readyz").route(web::get().to(health::readyz)))
        .service(web::resource("/metrics").route(web::get().to(health::metrics)))
        .service(web::resource("/api/openapi.json").route(web::get().to(openapi::openapi_json)))
        .service(web::resource("/ws").route(web::get().to(ws::upgrade)))
        .service(web::resource("/api/auth/ws-ticket").route(web::post().to(ws::ticket)))
        .service(web::scope("/api/auth").configure(auth::configure))
        .service(web::scope("/api/users").configure(users::configure))
        .service(web::scope("/api/notifications").configure(notifications::configure))
        .service(web::scope("/api/chats").configure(chats::configure))
        .service(web::scope("/api/matches").configure(games::configure_matches))
        .service(web::scope("/api/leaderboard").configure(games::configure_leaderboard))
        .service(web::scope("/api/tournaments").configure(tournaments::configure))
        .service(web::scope("/api").configure(social::configure))
        .service(web::scope("/media/avatars").configure(avatars::configure))
        .configure(webapp::configure);
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(JSON_LIMIT)
        // application/json, and the +json family (merge-patch+json for PATCH).
        .content_type(|mime| mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
        .error_handler(json_error)
}

/// Malformed JSON, a wrong content type or an oversized body are the
/// client's mistakes: a 4xx with a code, never a 500.
fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let app = match &err {
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => AppError::new(
            ErrorCode::PayloadTooLarge,
            format!("the JSON body is larger than {limit} bytes"),
        ),
        JsonPayloadError::ContentType => AppError::new(
            ErrorCode::UnsupportedMediaType,
            "the body must be JSON (Content-Type: application/json)",
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            AppError::new(ErrorCode::ValidationFailed, format!("invalid body: {e}"))
        }
        JsonPayloadError::Deserialize(e) => {
            AppError::new(ErrorCode::InvalidJson, format!("malformed JSON: {e}"))
        }
        other => AppError::new(
            ErrorCode::InvalidRequest,
            format!("unreadable body: {other}"),
        ),
    };
    app.into()
}

fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    AppError::new(
        ErrorCode::InvalidRequest,
        format!("invalid query string: {err}"),
    )
    .into()
}

fn path_error(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    AppError::new(ErrorCode::NotFound, format!("no such resource: {err}")).into()
}
