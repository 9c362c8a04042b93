//! Liveness and readiness probes.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::db;
use crate::error::{AppError, AppResult, ErrorCode};

/// A probe that takes longer than this counts as a failure.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`
    status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`
    status: &'static str,
    /// `ok` or `unavailable`
    database: &'static str,
    /// `ok`, `unavailable`, or `not_configured`
    redis: &'static str,
}

/// The process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// The dependencies answer: PostgreSQL always, Redis when configured.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = match tokio::time::timeout(PROBE_TIMEOUT, db::ping(&state.db)).await {
        Ok(Ok(())) => "ok",
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database unavailable");
            "unavailable"
        }
        Err(_) => "unavailable",
    };
    let redis = match &state.redis {
        None => "not_configured",
        Some(pool) => match tokio::time::timeout(PROBE_TIMEOUT, redis_ping(pool)).await {
            Ok(Ok(())) => "ok",
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness: redis unavailable");
                "unavailable"
            }
            Err(_) => "unavailable",
        },
    };
    let ready = database == "ok" && redis != "unavailable";
    let body = Readiness {
        status: if ready { "ready" } else { "unavailable" },
        database,
        redis,
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn redis_ping(pool: &deadpool_redis::Pool) -> anyhow::Result<()> {
    let mut conn = pool.get().await?;
    let pong: String = deadpool_redis::redis::cmd("PING")
        .query_async(&mut conn)
        .await?;
    anyhow::ensure!(pong == "PONG", "unexpected PING answer {pong:?}");
    Ok(())
}

/// Prometheus metrics (with `METRICS_ENABLED`; otherwise 404).
pub async fn metrics(state: web::Data<AppState>) -> AppResult<HttpResponse> {
    if !state.settings.metrics_enabled {
        return Err(AppError::new(
            ErrorCode::NotFound,
            "no such resource: /metrics",
        ));
    }
    let (users_online, sessions) = state.sockets.totals();
    let pool = state.pools.totals();
    let gauges = crate::metrics::Gauges {
        sessions,
        users_online,
        live_matches: state.games.live().len(),
        chat_rooms: state.chat_rooms.len(),
        db_pool_size: pool.size,
        db_pool_available: pool.available,
        db_pool_waiting: pool.waiting,
    };
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render(&gauges)))
}
