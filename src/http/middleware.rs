//! Request ids and structured request logs, and JSON bodies for the errors
//! actix produces on its own (405 and the like).

use std::time::Instant;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers, Next};
use actix_web::{Error, HttpResponse};
use tracing::Instrument;

use crate::error::{ErrorBody, ErrorCode};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// An incoming id (from the gateway) is kept when it is short and plain, so
/// both logs can be joined; otherwise a fresh one is made.
fn incoming_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(&REQUEST_ID)?.to_str().ok()?;
    let plain = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    plain.then(|| value.to_string())
}

/// Puts every log line of a request in a span carrying its id, logs one line
/// per request, and echoes the id in `X-Request-Id`. Only the path is
/// logged, never the query string: it may carry a ticket or an OAuth code.
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = incoming_id(&req).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.path(),
    );
    let started = Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    let status = res.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| tracing::info!(status, elapsed_ms, "request completed"));
    Ok(res)
}

/// Gives a JSON body to the error responses actix builds itself (a method
/// not allowed on a route, for one). Responses that already are JSON pass.
pub fn json_errors<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new()
        .handler(StatusCode::METHOD_NOT_ALLOWED, |res| {
            replace_body(
                res,
                ErrorCode::MethodNotAllowed,
                "method not allowed on this path",
            )
        })
        .handler(StatusCode::NOT_FOUND, |res| {
            replace_body(res, ErrorCode::NotFound, "not found")
        })
}

fn replace_body<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
    code: ErrorCode,
    message: &str,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let (req, old) = res.into_parts();
    let mut new = HttpResponse::build(old.status()).json(ErrorBody {
        code,
        message: message.into(),
        field: None,
    });
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().insert(name.clone(), value.clone());
        }
    }
    let res: ServiceResponse<EitherBody<B, BoxBody>> =
        ServiceResponse::new(req, new).map_into_right_body();
    Ok(ErrorHandlerResponse::Response(res))
}
