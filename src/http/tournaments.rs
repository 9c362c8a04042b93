//! `/api/tournaments`: create, list, read, join, leave and start. Running
//! a tournament (its matches, its bracket) is the `TournamentRunner`'s
//! job; these handlers change the records and tell the runner.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::actors::tournament::{self as runner, Changed, TournamentRunner};
use crate::app::AppState;
use crate::db::tournaments::{self, Refusal};
use crate::db::users;
use crate::domain::game::{DEFAULT_POINTS_TO_WIN, MAX_POINTS_TO_WIN};
use crate::domain::tournament::{MAX_PLAYERS, MIN_MAX_PLAYERS};
use crate::domain::users::normalize_display_name;
use crate::error::{AppError, AppResult, ErrorBody, ErrorCode};
use crate::http::extractors::AuthUser;
use crate::http::pagination::{Page, PageParams};
use crate::protocol::TournamentView;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(web::resource("/{id}").route(web::get().to(one)))
    .service(web::resource("/{id}/join").route(web::post().to(join)))
    .service(web::resource("/{id}/leave").route(web::post().to(leave)))
    .service(web::resource("/{id}/start").route(web::post().to(start)));
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTournament {
    /// 1–64 visible characters.
    pub name: String,
    /// 4–16.
    pub max_players: i32,
    /// 1–21, default 11.
    pub points_to_win: Option<i32>,
    /// Start by itself when the last place is taken (default false).
    pub starts_when_full: Option<bool>,
}

fn refusal(r: Refusal) -> AppError {
    let (code, message) = match r {
        Refusal::NoSuchTournament => (ErrorCode::NotFound, "no such tournament"),
        Refusal::NotOpen => (
            ErrorCode::TournamentNotOpen,
            "this tournament has started or finished",
        ),
        Refusal::Full => (ErrorCode::TournamentFull, "this tournament is full"),
        Refusal::AlreadyJoined => (
            ErrorCode::AlreadyJoined,
            "you are in this tournament already",
        ),
        Refusal::NotJoined => (ErrorCode::NotFound, "you are not in this tournament"),
        Refusal::AliasTaken => (ErrorCode::AliasTaken, "another player has this alias here"),
        Refusal::NotOwner => (
            ErrorCode::Forbidden,
            "only the owner may start the tournament",
        ),
        Refusal::TooFewPlayers => (
            ErrorCode::TooFewPlayers,
            "a tournament needs at least 3 players to start",
        ),
    };
    AppError::new(code, message)
}

async fn current(state: &AppState, id: i64) -> AppResult<TournamentView> {
    state
        .reads
        .read(async |conn| Ok(runner::view(conn, id).await?))
        .await?
        .ok_or_else(|| refusal(Refusal::NoSuchTournament))
}

/// Creates a tournament; the caller owns it (and joins it like anyone).
#[utoipa::path(post, path = "/api/tournaments", tag = "tournaments",
    security(("bearer" = [])),
    request_body = NewTournament,
    responses((status = 201, body = TournamentView), (status = 422, body = ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    me: AuthUser,
    body: web::Json<NewTournament>,
) -> AppResult<HttpResponse> {
    let body = body.into_inner();
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(AppError::validation(
            "name",
            "must be 1-64 visible characters",
        ));
    }
    let max = i32::try_from(MAX_PLAYERS).unwrap_or(16);
    let min = i32::try_from(MIN_MAX_PLAYERS).unwrap_or(4);
    if !(min..=max).contains(&body.max_players) {
        return Err(AppError::validation(
            "max_players",
            format!("must be {min}-{max}"),
        ));
    }
    let points = body
        .points_to_win
        .unwrap_or(i32::from(DEFAULT_POINTS_TO_WIN));
    if !(1..=i32::from(MAX_POINTS_TO_WIN)).contains(&points) {
        return Err(AppError::validation(
            "points_to_win",
            format!("must be 1-{MAX_POINTS_TO_WIN}"),
        ));
    }
    let t = {
        let mut conn = state.db.get().await?;
        tournaments::create(
            &mut conn,
            me.user_id,
            name,
            body.max_players,
            points,
            body.starts_when_full.unwrap_or(false),
        )
        .await?
    };
    Ok(HttpResponse::Created().json(current(&state, t.id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListParams {
    /// `open`, `running` or `finished`; all when absent.
    pub status: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// A tournament in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct TournamentSummary {
    pub id: i64,
    pub name: String,
    pub owner_id: i64,
    pub status: String,
    pub players: i64,
    pub max_players: i32,
    pub points_to_win: i32,
    pub champion_id: Option<i64>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Tournaments, newest first.
#[utoipa::path(get, path = "/api/tournaments", tag = "tournaments",
    security(("bearer" = [])),
    params(ListParams),
    responses((status = 200, body = Page<TournamentSummary>), (status = 422, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    _me: AuthUser,
    params: web::Query<ListParams>,
) -> AppResult<HttpResponse> {
    let ListParams {
        status,
        limit,
        cursor,
    } = params.into_inner();
    if let Some(s) = status.as_deref()
        && !matches!(s, "open" | "running" | "finished")
    {
        return Err(AppError::validation(
            "status",
            "must be open, running or finished",
        ));
    }
    let page = PageParams { limit, cursor }.check()?;
    let (rows, counts) = state
        .reads
        .read(async |conn| {
            let rows =
                tournaments::list(conn, status.as_deref(), page.before_or_max(), page.fetch())
                    .await?;
            let ids: Vec<i64> = rows.iter().map(|t| t.id).collect();
            let counts = tournaments::player_counts(conn, &ids).await?;
            Ok((rows, counts))
        })
        .await?;
    Ok(HttpResponse::Ok().json(page.page(
        rows,
        |t| t.id,
        |t| {
            TournamentSummary {
                players: counts
                    .iter()
                    .find(|(id, _)| *id == t.id)
                    .map_or(0, |(_, n)| *n),
                id: t.id,
                name: t.name,
                owner_id: t.owner_id,
                status: t.status,
                max_players: t.max_players,
                points_to_win: t.points_to_win,
                champion_id: t.champion_id,
                created_at: t.created_at,
            }
        },
    )))
}

/// A tournament: players with aliases and seeds, the bracket with every
/// match and result, the champion.
#[utoipa::path(get, path = "/api/tournaments/{id}", tag = "tournaments",
    security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = TournamentView), (status = 404, body = ErrorBody)))]
pub async fn one(
    state: web::Data<AppState>,
    _me: AuthUser,
    id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(current(&state, id.into_inner()).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// Your name in this tournament (default: your display name); unique in it.
    pub alias: Option<String>,
}

/// Joins an open tournament.
#[utoipa::path(post, path = "/api/tournaments/{id}/join", tag = "tournaments",
    security(("bearer" = [])),
    params(("id" = i64, Path)),
    request_body = JoinRequest,
    responses((status = 200, body = TournamentView), (status = 404, body = ErrorBody),
        (status = 409, description = "tournament_not_open, tournament_full, already_joined, alias_taken", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn join(
    state: web::Data<AppState>,
    me: AuthUser,
    id: web::Path<i64>,
    req: actix_web::HttpRequest,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    // The body is optional (none: the default alias), but one that is
    // there must be valid.
    let request: JoinRequest = if body.iter().all(u8::is_ascii_whitespace) {
        JoinRequest::default()
    } else if !req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
    {
        // Only JSON is parsed here (and inspected as JSON by the gateway).
        return Err(AppError::new(
            ErrorCode::UnsupportedMediaType,
            "a join request body must be application/json",
        ));
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            AppError::new(
                ErrorCode::InvalidJson,
                format!("malformed join request: {e}"),
            )
        })?
    };
    let mut conn = state.db.get().await?;
    let alias = match request.alias {
        Some(alias) => {
            normalize_display_name(&alias).map_err(|e| AppError::validation("alias", e.message))?
        }
        None => users::find(&conn, me.user_id)
            .await?
            .map(|u| u.shown_name().to_string())
            .ok_or_else(|| AppError::unauthorized("no such user"))?,
    };
    let filled = tournaments::join(&mut conn, id, me.user_id, &alias)
        .await?
        .map_err(refusal)?;
    if filled {
        // Full, and set to start by itself (unless the owner just did; a
        // start that fails here is retried by the tournament sweep).
        match tournaments::start(&mut conn, id, None).await {
            Ok(Ok(()) | Err(Refusal::NotOpen)) => {}
            Ok(Err(other)) => tracing::warn!(?other, tournament = id, "auto-start refused"),
            Err(e) => {
                tracing::warn!(error = %e, tournament = id, "auto-start failed; the sweep retries")
            }
        }
    }
    drop(conn);
    TournamentRunner::open(&state, id).do_send(Changed);
    Ok(HttpResponse::Ok().json(current(&state, id).await?))
}

/// Leaves a tournament before it starts.
#[utoipa::path(post, path = "/api/tournaments/{id}/leave", tag = "tournaments",
    security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody),
        (status = 409, description = "tournament_not_open", body = ErrorBody)))]
pub async fn leave(
    state: web::Data<AppState>,
    me: AuthUser,
    id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let mut conn = state.db.get().await?;
    tournaments::leave(&mut conn, id, me.user_id)
        .await?
        .map_err(refusal)?;
    drop(conn);
    TournamentRunner::open(&state, id).do_send(Changed);
    Ok(HttpResponse::NoContent().finish())
}

/// Starts a tournament (its owner; at least 3 players): seeds by rating,
/// builds the bracket, and the first matches begin.
#[utoipa::path(post, path = "/api/tournaments/{id}/start", tag = "tournaments",
    security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = TournamentView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "tournament_not_open, too_few_players", body = ErrorBody)))]
pub async fn start(
    state: web::Data<AppState>,
    me: AuthUser,
    id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let mut conn = state.db.get().await?;
    tournaments::start(&mut conn, id, Some(me.user_id))
        .await?
        .map_err(refusal)?;
    drop(conn);
    TournamentRunner::open(&state, id).do_send(Changed);
    Ok(HttpResponse::Ok().json(current(&state, id).await?))
}
