//! Failure counters behind login and 2FA throttling. The policy (when to lock
//! and for how long) is [`crate::domain::auth::ThrottlePolicy`]; this module
//! only stores its state.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::schema::auth_throttles;
use crate::domain::auth::{ThrottlePolicy, ThrottleState};

/// Counts one attempt against each key *before* the attempt is checked, so
/// a burst of attempts in flight cannot outrun the lock: once a key reaches
/// its limit, the next attempt is refused even if earlier ones are still
/// being verified. Returns the wait when a key is locked (nothing is then
/// counted). A successful attempt is taken back with [`reset`] or
/// [`forgive`].
pub async fn begin_attempt(
    conn: &mut AsyncPgConnection,
    keys: &[(&str, &ThrottlePolicy)],
    now: DateTime<Utc>,
) -> QueryResult<Result<(), Duration>> {
    // Locked in a fixed order, so two attempts on the same keys cannot deadlock.
    let mut keys = keys.to_vec();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    conn.transaction(async |conn| {
        let mut states = Vec::with_capacity(keys.len());
        for (key, _) in &keys {
            // A zero row first, so that the row lock below serialises even the
            // very first attempts on a key.
            diesel::insert_into(auth_throttles::table)
                .values((
                    auth_throttles::key.eq(key),
                    auth_throttles::failures.eq(0),
                    auth_throttles::window_started_at.eq(now),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            let (failures, window_started_at, locked_until): (
                i32,
                DateTime<Utc>,
                Option<DateTime<Utc>>,
            ) = auth_throttles::table
                .find(key)
                .select((
                    auth_throttles::failures,
                    auth_throttles::window_started_at,
                    auth_throttles::locked_until,
                ))
                .for_update()
                .first(conn)
                .await?;
            states.push(ThrottleState {
                failures: u32::try_from(failures).unwrap_or(0),
                window_started_at,
                locked_until,
            });
        }
        let wait = states
            .iter()
            .filter_map(|s| s.locked_until)
            .filter(|until| *until > now)
            .max()
            .and_then(|until| (until - now).to_std().ok());
        if let Some(wait) = wait {
            return Ok(Err(wait));
        }
        for ((key, policy), state) in keys.iter().zip(states) {
            let next = policy.record_failure(Some(state), now);
            diesel::update(auth_throttles::table.find(key))
                .set((
                    auth_throttles::failures.eq(i32::try_from(next.failures).unwrap_or(i32::MAX)),
                    auth_throttles::window_started_at.eq(next.window_started_at),
                    auth_throttles::locked_until.eq(next.locked_until),
                ))
                .execute(conn)
                .await?;
        }
        Ok(Ok(()))
    })
    .await
}

/// Takes back one counted attempt (it succeeded), lifting the lock if the
/// count falls below the limit. For shared keys (an address), where a
/// success must not wipe out failures others made.
pub async fn forgive(
    conn: &mut AsyncPgConnection,
    key: &str,
    policy: &ThrottlePolicy,
) -> QueryResult<()> {
    // In SET, `failures` is the old value.
    diesel::sql_query(
        "UPDATE auth_throttles SET failures = failures - 1, \
         locked_until = CASE WHEN failures - 1 < $2 THEN NULL ELSE locked_until END \
         WHERE key = $1 AND failures > 0",
    )
    .bind::<diesel::sql_types::Text, _>(key)
    .bind::<diesel::sql_types::Integer, _>(i32::try_from(policy.max_failures).unwrap_or(i32::MAX))
    .execute(conn)
    .await
    .map(drop)
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
