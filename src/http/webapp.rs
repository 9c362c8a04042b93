//! The web client (`web/`): its built files, read from `WEB_DIR`
//! (`web/dist` by default), served at `/` with a CSP that allows nothing
//! from elsewhere. The server needs no Node: when the client is not built,
//! `/` says how to build it.
//!
//! The client routes with the URL fragment (`/#/chat`), so the only pages
//! are `/` and `/oauth/42` (where the 42 Intranet sends the browser back);
//! both are `index.html`. Assets have content-hashed names: cached for a
//! year.

use std::path::Path;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};

use crate::app::AppState;
use crate::error::{AppError, AppResult, ErrorCode};

/// The policy for every page: scripts, styles, images and connections
/// (the websocket included) from this origin only; images also from
/// `data:`/`blob:` (the 2FA QR code, avatar previews).
pub const CSP: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data: blob:; \
    style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'self'; \
    form-action 'self'; frame-ancestors 'none'";

const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>transcendence</title></head>
<body>
<h1>transcendence</h1>
<p>The server is running, but the web client is not built.</p>
<p>Build it once (Node.js 20.19 or newer), then reload this page:</p>
<pre>npm --prefix web ci
npm --prefix web run build</pre>
<p>The server reads it from <code>WEB_DIR</code> (default <code>web/dist</code>).
The API is under <code>/api</code>; <code>/api/openapi.json</code> describes it.</p>
</body>
</html>
"#;

/// Says so at startup when `web_dir` holds no built client (`/` then only
/// explains how to build it).
pub fn check_built(web_dir: &Path) {
    if !web_dir.join("index.html").is_file() {
        tracing::warn!(
            web_dir = %web_dir.display(),
            "no web client in WEB_DIR: / serves a page that says how to build it"
        );
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").route(web::get().to(index)))
        .service(web::resource("/oauth/42").route(web::get().to(index)))
        .service(web::resource("/assets/{name}").route(web::get().to(asset)));
}

fn page(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        // Always revalidated: a new build must show at once.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

/// `index.html` of the built client, or the page that says how to build it.
/// Read at each request (the OS caches it), so a rebuild needs no restart.
async fn index(state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let path = state.settings.web_dir.join("index.html");
    match tokio::fs::read(&path).await {
        Ok(body) => Ok(page(body)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(page(NOT_BUILT.into())),
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot read the web client");
            Err(AppError::new(
                ErrorCode::ServiceUnavailable,
                "the web client cannot be read",
            ))
        }
    }
}

/// The content type of a built asset, by extension; `None` for anything a
/// build does not make (it is not served).
fn content_type(name: &str) -> Option<&'static str> {
    let ext = Path::new(name).extension()?.to_str()?;
    Some(match ext {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "map" | "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

/// One file of `assets/`, by a plain name (no path separators, no leading
/// dot), so nothing outside the folder can be named.
async fn asset(state: web::Data<AppState>, name: web::Path<String>) -> AppResult<HttpResponse> {
    let name = name.into_inner();
    let plain = !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    let not_found = || AppError::new(ErrorCode::NotFound, "no such asset");
    let kind = content_type(&name)
        .filter(|_| plain)
        .ok_or_else(not_found)?;
    let body = tokio::fs::read(state.settings.web_dir.join("assets").join(&name))
        .await
        .map_err(|_| not_found())?;
    let mut res = HttpResponse::Ok()
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(body);
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    Ok(res)
}

/// Dev mode's convenience: when the client's sources sit next to its
/// build folder (`web/package.json` for `web/dist`) and the build is
/// missing or older than them, build it with npm, so `serve --dev` alone
/// serves the current client. Without npm, or when the build fails, it
/// says so and the server serves the page that explains the build.
pub fn build_for_dev(web_dir: &Path) {
    let Some(project) = web_dir
        .parent()
        .filter(|p| p.join("package.json").is_file())
    else {
        return;
    };
    let built = modified(&web_dir.join("index.html"));
    let sources = [
        "src",
        "index.html",
        "package.json",
        "package-lock.json",
        "tsconfig.json",
        "vite.config.ts",
    ]
    .iter()
    .filter_map(|p| newest(&project.join(p)))
    .max();
    if built.is_some() && built >= sources {
        return;
    }
    let npm = |args: &[&str]| {
        tracing::info!(dir = %project.display(), "dev mode: npm {}", args.join(" "));
        std::process::Command::new("npm")
            .args(args)
            .current_dir(project)
            .stdout(std::process::Stdio::null())
            .status()
    };
    // npm ci writes node_modules/.package-lock.json: older than the
    // lockfile means the dependencies changed since.
    let current = modified(&project.join("node_modules/.package-lock.json"))
        >= modified(&project.join("package-lock.json"));
    let installed = current || npm(&["ci", "--no-audit", "--no-fund"]).is_ok_and(|s| s.success());
    match installed.then(|| npm(&["run", "build"])) {
        Some(Ok(status)) if status.success() => {
            tracing::info!("dev mode: web client built");
        }
        other => tracing::warn!(
            result = ?other.map(|r| r.map(|s| s.code())),
            "dev mode: could not build the web client (is Node.js 20.19+ installed?); \
             `/` explains how to build it"
        ),
    }
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time under `path` (a file or a folder).
fn newest(path: &Path) -> Option<std::time::SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| newest(&entry.path()))
        .max()
}

#[cfg(test)]
mod tests {
    use super::content_type;

    #[test]
    fn only_built_kinds_have_a_type() {
        assert_eq!(
            content_type("index-3f2a.js"),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(
            content_type("index-3f2a.css"),
            Some("text/css; charset=utf-8")
        );
        assert_eq!(content_type("passwd"), None);
        assert_eq!(content_type("x.html"), None);
    }
}
