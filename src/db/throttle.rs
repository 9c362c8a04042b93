//! Failure counters behind login and 2FA throttling. The policy (when to lock
//! and for how long) is [`crate::domain::auth::ThrottlePolicy`]; this module
//! only stores its state.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::schema::auth_throttles;
use crate::domain::auth::{ThrottlePolicy, ThrottleState};

/// How long the longest lock is retried: the time until the latest
/// `locked_until` among `keys`, or `None` when none is locked.
pub async fn locked_for(
    conn: &mut AsyncPgConnection,
    keys: &[&str],
    now: DateTime<Utc>,
) -> QueryResult<Option<Duration>> {
    let until: Option<DateTime<Utc>> = auth_throttles::table
        .filter(auth_throttles::key.eq_any(keys))
        .filter(auth_throttles::locked_until.gt(now))
        .select(diesel::dsl::max(auth_throttles::locked_until))
        .first::<Option<DateTime<Utc>>>(conn)
        .await?;
    Ok(until.and_then(|until| (until - now).to_std().ok()))
}

/// Counts one failure against `key` under `policy`.
pub async fn record_failure(
    conn: &mut AsyncPgConnection,
    key: &str,
    policy: &ThrottlePolicy,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    conn.transaction(async |conn| {
        let current: Option<(i32, DateTime<Utc>, Option<DateTime<Utc>>)> = auth_throttles::table
            .find(key)
            .select((
                auth_throttles::failures,
                auth_throttles::window_started_at,
                auth_throttles::locked_until,
            ))
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let state = current.map(
            |(failures, window_started_at, locked_until)| ThrottleState {
                failures: u32::try_from(failures).unwrap_or(0),
                window_started_at,
                locked_until,
            },
        );
        let next = policy.record_failure(state, now);
        let failures = i32::try_from(next.failures).unwrap_or(i32::MAX);
        diesel::insert_into(auth_throttles::table)
            .values((
                auth_throttles::key.eq(key),
                auth_throttles::failures.eq(failures),
                auth_throttles::window_started_at.eq(next.window_started_at),
                auth_throttles::locked_until.eq(next.locked_until),
            ))
            .on_conflict(auth_throttles::key)
            .do_update()
            .set((
                auth_throttles::failures.eq(failures),
                auth_throttles::window_started_at.eq(next.window_started_at),
                auth_throttles::locked_until.eq(next.locked_until),
            ))
            .execute(conn)
            .await
            .map(drop)
    })
    .await
}

/// Forgets the failures counted against `key` (after a success).
pub async fn reset(conn: &mut AsyncPgConnection, key: &str) -> QueryResult<()> {
    diesel::delete(auth_throttles::table.find(key))
        .execute(conn)
        .await
        .map(drop)
}

/// Counters untouched for a day and not locked are of no further use.
pub async fn delete_stale(conn: &mut AsyncPgConnection) -> QueryResult<usize> {
    let day_ago = Utc::now() - chrono::Duration::days(1);
    diesel::delete(
        auth_throttles::table
            .filter(auth_throttles::window_started_at.lt(day_ago))
            .filter(
                auth_throttles::locked_until
                    .is_null()
                    .or(auth_throttles::locked_until.lt(diesel::dsl::now)),
            ),
    )
    .execute(conn)
    .await
}
