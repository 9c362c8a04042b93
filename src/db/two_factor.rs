//! One-time rows of the 2FA flow: login challenges (the step between the
//! password and the code) and recovery codes. Only hashes are stored.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::schema::{login_challenges, recovery_codes};

pub async fn insert_challenge(
    conn: &mut AsyncPgConnection,
    token_hash: &[u8],
    user_id: i64,
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(login_challenges::table)
        .values((
            login_challenges::token_hash.eq(token_hash),
            login_challenges::user_id.eq(user_id),
            login_challenges::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Counts one attempt at a live challenge and returns its user and the
/// attempts made so far (this one included); `None` for an unknown or
/// expired challenge.
pub async fn attempt_challenge(
    conn: &mut AsyncPgConnection,
    token_hash: &[u8],
) -> QueryResult<Option<(i64, i32)>> {
    diesel::update(
        login_challenges::table
            .find(token_hash)
            .filter(login_challenges::expires_at.gt(diesel::dsl::now)),
    )
    .set(login_challenges::attempts.eq(login_challenges::attempts + 1))
    .returning((login_challenges::user_id, login_challenges::attempts))
    .get_result(conn)
    .await
    .optional()
}

/// Consumes a live challenge; false when it was already consumed (by a
/// parallel request) or has expired.
pub async fn consume_challenge(
    conn: &mut AsyncPgConnection,
    token_hash: &[u8],
) -> QueryResult<bool> {
    let deleted = diesel::delete(
        login_challenges::table
            .find(token_hash)
            .filter(login_challenges::expires_at.gt(diesel::dsl::now)),
    )
    .execute(conn)
    .await?;
    Ok(deleted == 1)
}

/// Removes a challenge (burnt by too many wrong codes).
pub async fn delete_challenge(conn: &mut AsyncPgConnection, token_hash: &[u8]) -> QueryResult<()> {
    diesel::delete(login_challenges::table.find(token_hash))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn delete_expired_challenges(conn: &mut AsyncPgConnection) -> QueryResult<usize> {
    diesel::delete(
        login_challenges::table.filter(login_challenges::expires_at.lt(diesel::dsl::now)),
    )
    .execute(conn)
    .await
}

/// Replaces the user's recovery codes with `hashes`.
pub async fn replace_recovery_codes(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    hashes: &[Vec<u8>],
) -> QueryResult<()> {
    delete_recovery_codes(conn, user_id).await?;
    let rows: Vec<_> = hashes
        .iter()
        .map(|hash| {
            (
                recovery_codes::user_id.eq(user_id),
                recovery_codes::code_hash.eq(hash.as_slice()),
            )
        })
        .collect();
    diesel::insert_into(recovery_codes::table)
        .values(rows)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn delete_recovery_codes(conn: &mut AsyncPgConnection, user_id: i64) -> QueryResult<()> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
        .execute(conn)
        .await
        .map(drop)
}

/// Spends an unused recovery code; false when there is no such unused code.
pub async fn use_recovery_code(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    code_hash: &[u8],
) -> QueryResult<bool> {
    let updated = diesel::update(
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::code_hash.eq(code_hash))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(diesel::dsl::now))
    .execute(conn)
    .await?;
    Ok(updated == 1)
}

pub async fn unused_recovery_codes(conn: &mut AsyncPgConnection, user_id: i64) -> QueryResult<i64> {
    recovery_codes::table
        .filter(recovery_codes::user_id.eq(user_id))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)
        .await
}
