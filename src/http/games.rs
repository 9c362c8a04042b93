//! Pong over REST: live matches, one match, a player's history, and the
//! leaderboard. Playing happens over the websocket (`game.*` messages).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::db::game::{self, MatchRow, Stats};
use crate::db::users::{self, User};
use crate::error::{AppError, AppResult, ErrorBody, ErrorCode};
use crate::http::extractors::AuthUser;
use crate::http::pagination::{Page, PageParams};
use crate::protocol::{Pair, UserView};

/// Under `/api/matches`.
pub fn configure_matches(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/live").route(web::get().to(live)))
        .service(web::resource("/{id}").route(web::get().to(one)));
}

/// Under `/api/leaderboard`.
pub fn configure_leaderboard(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("").route(web::get().to(leaderboard)));
}

/// A match being played now.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveMatchView {
    pub match_id: i64,
    pub players: Pair<UserView>,
    pub score: Pair<u8>,
    pub points_to_win: u8,
    pub tournament_id: Option<i64>,
    pub started_at: DateTime<Utc>,
}

/// Matches being played on this node, oldest first. Watch one with
/// `game.join` over the websocket.
#[utoipa::path(get, path = "/api/matches/live", tag = "game",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<LiveMatchView>), (status = 401, body = ErrorBody)))]
pub async fn live(state: web::Data<AppState>, _me: AuthUser) -> AppResult<HttpResponse> {
    let live = state.games.live();
    let ids: Vec<i64> = live.iter().flat_map(|m| m.players).collect();
    let found = state
        .reads
        .read(async |conn| Ok(users::find_many(conn, &ids).await?))
        .await?;
    let view = |id: i64| found.iter().find(|u| u.id == id).map(UserView::from);
    let views: Vec<LiveMatchView> = live
        .into_iter()
        .filter_map(|m| {
            Some(LiveMatchView {
                match_id: m.match_id,
                players: Pair {
                    left: view(m.players[0])?,
                    right: view(m.players[1])?,
                },
                score: Pair::of(m.score),
                points_to_win: m.points_to_win,
                tournament_id: m.tournament_id,
                started_at: m.started_at,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// A match, live or over.
#[derive(Debug, Serialize, ToSchema)]
pub struct MatchView {
    pub match_id: i64,
    pub players: Pair<UserView>,
    pub points_to_win: i32,
    /// `live`, `finished` or `abandoned`.
    pub status: String,
    pub score: Pair<i32>,
    pub winner_id: Option<i64>,
    /// `score`, `forfeit`, `abandoned` (both away) or `interrupted` (a
    /// restart); null while live.
    pub reason: Option<String>,
    pub rating_changes: Option<Pair<i32>>,
    pub tournament_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
}

fn match_view(row: MatchRow, players: &[User]) -> Option<MatchView> {
    let view = |id: i64| players.iter().find(|u| u.id == id).map(UserView::from);
    let score = Pair::of([row.score_left, row.score_right]);
    let rating_changes = match (row.rating_change_left, row.rating_change_right) {
        (Some(left), Some(right)) => Some(Pair { left, right }),
        _ => None,
    };
    Some(MatchView {
        match_id: row.id,
        players: Pair {
            left: view(row.player_left)?,
            right: view(row.player_right)?,
        },
        points_to_win: row.points_to_win,
        status: row.status,
        score,
        winner_id: row.winner_id,
        reason: row.reason,
        rating_changes,
        tournament_id: row.tournament_id,
        created_at: row.created_at,
        duration_ms: row
            .ended_at
            .map(|end| (end - row.created_at).num_milliseconds()),
        ended_at: row.ended_at,
    })
}

/// One match.
#[utoipa::path(get, path = "/api/matches/{id}", tag = "game",
    security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = MatchView), (status = 404, body = ErrorBody)))]
pub async fn one(
    state: web::Data<AppState>,
    _me: AuthUser,
    id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let not_found = || AppError::new(ErrorCode::NotFound, "no such match");
    let id = id.into_inner();
    let (row, players) = state
        .reads
        .read(async |conn| {
            let row = game::find(conn, id).await?.ok_or_else(not_found)?;
            let players = users::find_many(conn, &[row.player_left, row.player_right]).await?;
            Ok((row, players))
        })
        .await?;
    let live_score = state
        .games
        .live()
        .into_iter()
        .find(|m| m.match_id == row.id)
        .map(|m| m.score);
    let mut view = match_view(row, &players).ok_or_else(not_found)?;
    if let Some(score) = live_score {
        view.score = Pair::of(score.map(i32::from));
    }
    Ok(HttpResponse::Ok().json(view))
}

/// A match from one player's side.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryItem {
    pub match_id: i64,
    pub opponent: UserView,
    /// `left` or `right`.
    pub side: &'static str,
    pub score: i32,
    pub opponent_score: i32,
    /// `win`, `loss` or `abandoned`.
    pub result: &'static str,
    /// `score`, `forfeit`, `abandoned` or `interrupted`.
    pub reason: Option<String>,
    pub rating_change: Option<i32>,
    pub tournament_id: Option<i64>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// A player's finished matches, newest first.
#[utoipa::path(get, path = "/api/users/{id}/matches", tag = "game",
    security(("bearer" = [])),
    params(("id" = i64, Path), PageParams),
    responses((status = 200, body = Page<HistoryItem>), (status = 404, body = ErrorBody)))]
pub async fn history(
    state: web::Data<AppState>,
    _me: AuthUser,
    id: web::Path<i64>,
    params: web::Query<PageParams>,
) -> AppResult<HttpResponse> {
    let user_id = id.into_inner();
    let page = params.check()?;
    let (rows, found) = state
        .reads
        .read(async |conn| {
            let rows = game::history(conn, user_id, page.before_or_max(), page.fetch()).await?;
            // Only an empty page needs to know whether the user exists at all.
            if rows.is_empty() && users::find(conn, user_id).await?.is_none() {
                return Err(AppError::new(ErrorCode::NotFound, "no such user"));
            }
            let opponents: Vec<i64> = rows
                .iter()
                .map(|r| {
                    if r.player_left == user_id {
                        r.player_right
                    } else {
                        r.player_left
                    }
                })
                .collect();
            let found = users::find_many(conn, &opponents).await?;
            Ok((rows, found))
        })
        .await?;
    let items: Vec<(i64, HistoryItem)> = rows
        .into_iter()
        .filter_map(|r| {
            let left = r.player_left == user_id;
            let opponent_id = if left { r.player_right } else { r.player_left };
            let opponent = found.iter().find(|u| u.id == opponent_id)?;
            let (score, opponent_score, change) = if left {
                (r.score_left, r.score_right, r.rating_change_left)
            } else {
                (r.score_right, r.score_left, r.rating_change_right)
            };
            let result = match r.winner_id {
                None => "abandoned",
                Some(w) if w == user_id => "win",
                Some(_) => "loss",
            };
            Some((
                r.id,
                HistoryItem {
                    match_id: r.id,
                    opponent: UserView::from(opponent),
                    side: if left { "left" } else { "right" },
                    score,
                    opponent_score,
                    result,
                    reason: r.reason,
                    rating_change: change,
                    tournament_id: r.tournament_id,
                    ended_at: r.ended_at,
                },
            ))
        })
        .collect();
    Ok(HttpResponse::Ok().json(page.page(items, |(key, _)| *key, |(_, item)| item)))
}

/// Ranks beyond this are not paged to (and a forged cursor cannot overflow).
const MAX_RANK: i64 = 1_000_000_000;

#[derive(Debug, Serialize, ToSchema)]
pub struct LeaderboardEntry {
    /// 1 for the best rating.
    pub rank: i64,
    pub user: UserView,
    pub stats: Stats,
}

/// Players by rating, best first. The cursor is a rank: a page is a view
/// of the ranking at the time it is read.
#[utoipa::path(get, path = "/api/leaderboard", tag = "game",
    security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, body = Page<LeaderboardEntry>), (status = 401, body = ErrorBody)))]
pub async fn leaderboard(
    state: web::Data<AppState>,
    _me: AuthUser,
    params: web::Query<PageParams>,
) -> AppResult<HttpResponse> {
    let page = params.check()?;
    // The key of the last entry seen is its rank; the next page starts there.
    let offset = page.after.unwrap_or(0).clamp(0, MAX_RANK);
    let mut conn = state.db.get().await?;
    let rows = game::leaderboard(&mut conn, offset, page.fetch()).await?;
    let entries: Vec<LeaderboardEntry> = rows
        .into_iter()
        .zip(offset + 1..)
        .map(|((user, stats), rank)| LeaderboardEntry {
            rank,
            user: UserView::from(&user),
            stats,
        })
        .collect();
    Ok(HttpResponse::Ok().json(page.page(entries, |e| e.rank, |e| e)))
}
