//! Avatar upload (multipart or a raw image body), reset to the generated
//! default, and serving under `/media/avatars/`.

use actix_multipart::Multipart;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::db::users;
use crate::domain::avatars::{self, AvatarError, MAX_BYTES};
use crate::error::{AppError, AppResult, ErrorBody, ErrorCode};
use crate::http::auth::load_user;
use crate::http::extractors::AuthUser;
use crate::http::users::avatar_url;

/// Served names never change content: cache for a year.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/default/{id}.png").route(web::get().to(default_avatar)))
        .service(web::resource("/{name}").route(web::get().to(avatar)));
}

#[derive(Serialize, ToSchema)]
pub struct AvatarResponse {
    pub avatar_url: String,
}

fn too_large() -> AppError {
    AppError::new(
        ErrorCode::PayloadTooLarge,
        format!("the image is larger than {} MiB", MAX_BYTES / (1024 * 1024)),
    )
}

/// Reads a stream of chunks, spending from `budget` (bytes still allowed
/// for the whole request); 413 once it runs out, without buffering the rest.
async fn read_capped<S, E>(mut stream: S, budget: &mut usize) -> AppResult<Vec<u8>>
where
    S: futures_util::Stream<Item = Result<web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            AppError::new(
                ErrorCode::InvalidRequest,
                format!("reading the upload: {e}"),
            )
        })?;
        *budget = budget.checked_sub(chunk.len()).ok_or_else(too_large)?;
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The image bytes of the request: the first file part of a multipart
/// form, or the whole body. The declared type is ignored: the bytes decide.
/// Either way the request may carry at most [`MAX_BYTES`] in all.
async fn image_bytes(req: &HttpRequest, payload: web::Payload) -> AppResult<Vec<u8>> {
    let mut budget = MAX_BYTES;
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_multipart {
        return read_capped(payload, &mut budget).await;
    }
    let mut form = Multipart::new(req.headers(), payload);
    while let Some(field) = form.next().await {
        let field = field.map_err(|e| {
            AppError::new(
                ErrorCode::InvalidRequest,
                format!("malformed multipart body: {e}"),
            )
        })?;
        let is_file = field
            .content_disposition()
            .is_some_and(|cd| cd.get_filename().is_some());
        let content = read_capped(field, &mut budget).await?;
        if is_file {
            return Ok(content);
        }
    }
    Err(AppError::new(
        ErrorCode::InvalidRequest,
        "the multipart form has no file",
    ))
}

/// Sets the caller's avatar. PNG, JPEG, WebP or GIF (first frame), at most
/// 2 MiB and 4096×4096; re-encoded to a 256×256 PNG.
#[utoipa::path(put, path = "/api/users/me/avatar", tag = "users",
    security(("bearer" = [])),
    request_body(content = Vec<u8>, description = "the image, raw or as the file part of multipart/form-data",
        content_type = "image/png"),
    responses(
        (status = 200, body = AvatarResponse),
        (status = 401, body = ErrorBody),
        (status = 413, description = "payload_too_large", body = ErrorBody),
        (status = 415, description = "unsupported_media_type: not PNG, JPEG, WebP or GIF (SVG is refused)", body = ErrorBody),
        (status = 422, description = "invalid_image or image_too_large", body = ErrorBody),
    ))]
pub async fn upload(
    state: web::Data<AppState>,
    me: AuthUser,
    req: HttpRequest,
    payload: web::Payload,
) -> AppResult<HttpResponse> {
    let bytes = image_bytes(&req, payload).await?;
    // Decoding and resizing are CPU work: off the async workers.
    let permit = state
        .image_permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    let avatar = web::block(move || {
        let _permit = permit;
        avatars::process(&bytes)
    })
    .await?
    .map_err(|e| match e {
        AvatarError::UnsupportedType => {
            AppError::new(ErrorCode::UnsupportedMediaType, e.to_string())
        }
        AvatarError::TooLarge => AppError::new(ErrorCode::ImageTooLarge, e.to_string()),
        AvatarError::Invalid(_) => AppError::new(ErrorCode::InvalidImage, e.to_string()),
    })?;
    store(&state, &avatar).await?;
    let mut conn = state.db.get().await?;
    users::set_avatar(&mut conn, me.user_id, Some(&avatar.name)).await?;
    let user = load_user(&mut conn, me.user_id).await?;
    Ok(HttpResponse::Ok().json(AvatarResponse {
        avatar_url: avatar_url(&user),
    }))
}

/// Writes the avatar under its content name (atomically: a temporary file
/// renamed into place). An existing file already holds the same bytes.
async fn store(state: &AppState, avatar: &avatars::Avatar) -> AppResult<()> {
    let dir = state.settings.avatar_dir.clone();
    let path = dir.join(&avatar.name);
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Ok(());
    }
    let temp = dir.join(format!(
        ".{}.{}",
        avatar.name,
        uuid::Uuid::new_v4().simple()
    ));
    let write = async {
        tokio::fs::create_dir_all(&dir).await?;
        tokio::fs::write(&temp, &avatar.png).await?;
        tokio::fs::rename(&temp, &path).await
    };
    if let Err(e) = write.await {
        let _ = tokio::fs::remove_file(&temp).await;
        return Err(AppError::Internal(
            anyhow::Error::new(e).context(format!("storing avatar in {}", dir.display())),
        ));
    }
    Ok(())
}

/// Restores the generated default avatar.
#[utoipa::path(delete, path = "/api/users/me/avatar", tag = "users",
    security(("bearer" = [])),
    responses((status = 200, body = AvatarResponse), (status = 401, body = ErrorBody)))]
pub async fn reset(state: web::Data<AppState>, me: AuthUser) -> AppResult<HttpResponse> {
    let mut conn = state.db.get().await?;
    users::set_avatar(&mut conn, me.user_id, None).await?;
    let user = load_user(&mut conn, me.user_id).await?;
    Ok(HttpResponse::Ok().json(AvatarResponse {
        avatar_url: avatar_url(&user),
    }))
}

fn image_response(png: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::png())
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header((header::CACHE_CONTROL, IMMUTABLE))
        .body(png)
}

fn no_such_avatar() -> AppError {
    AppError::new(ErrorCode::NotFound, "no such avatar")
}

/// An uploaded avatar, by its content name.
#[utoipa::path(get, path = "/media/avatars/{name}", tag = "users",
    params(("name" = String, Path, description = "`<sha256>.png`")),
    responses(
        (status = 200, content_type = "image/png", description = "the image, cacheable forever"),
        (status = 404, body = ErrorBody),
    ))]
pub async fn avatar(
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> AppResult<HttpResponse> {
    if !avatars::is_avatar_name(&name) {
        return Err(no_such_avatar());
    }
    match tokio::fs::read(state.settings.avatar_dir.join(name.as_str())).await {
        Ok(png) => Ok(image_response(png)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(no_such_avatar()),
        Err(e) => Err(AppError::Internal(
            anyhow::Error::new(e).context("reading avatar"),
        )),
    }
}

/// The generated default avatar of a user (an identicon).
#[utoipa::path(get, path = "/media/avatars/default/{id}.png", tag = "users",
    params(("id" = i64, Path, description = "user id")),
    responses((status = 200, content_type = "image/png", description = "the identicon")))]
pub async fn default_avatar(id: web::Path<i64>) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let png = web::block(move || avatars::identicon(id)).await?;
    Ok(image_response(png))
}
