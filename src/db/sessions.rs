//! Login sessions (refresh-token families) and the refresh tokens issued in
//! them.
//!
//! Invariant: a refresh token is exchanged at most once. Presenting a used
//! token again means it leaked, so the whole family is revoked.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{auth_sessions, refresh_tokens};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = auth_sessions)]
pub struct AuthSession {
    pub id: Uuid,
    pub user_id: i64,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshToken {
    pub jti: Uuid,
    pub session_id: Uuid,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// Why a session was revoked; stored for the audit trail.
#[derive(Debug, Clone, Copy)]
pub enum RevokeReason {
    Logout,
    LogoutAll,
    RefreshReuse,
    PasswordChanged,
}

impl RevokeReason {
    fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Logout => "logout",
            RevokeReason::LogoutAll => "logout_all",
            RevokeReason::RefreshReuse => "refresh_token_reused",
            RevokeReason::PasswordChanged => "password_changed",
        }
    }
}

pub async fn create_session(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    user_agent: Option<&str>,
) -> QueryResult<Uuid> {
    let id = Uuid::new_v4();
    diesel::insert_into(auth_sessions::table)
        .values((
            auth_sessions::id.eq(id),
            auth_sessions::user_id.eq(user_id),
            auth_sessions::user_agent.eq(user_agent),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}

pub async fn insert_refresh_token(
    conn: &mut AsyncPgConnection,
    jti: Uuid,
    session_id: Uuid,
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::jti.eq(jti),
            refresh_tokens::session_id.eq(session_id),
            refresh_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// The refresh token and its session, locked for the rest of the transaction
/// so that two concurrent refreshes with one token are serialised.
pub async fn lock_refresh_token(
    conn: &mut AsyncPgConnection,
    jti: Uuid,
) -> QueryResult<Option<(RefreshToken, AuthSession)>> {
    refresh_tokens::table
        .inner_join(auth_sessions::table)
        .filter(refresh_tokens::jti.eq(jti))
        .select((RefreshToken::as_select(), AuthSession::as_select()))
        .for_update()
        .first(conn)
        .await
        .optional()
}

pub async fn mark_refresh_token_used(conn: &mut AsyncPgConnection, jti: Uuid) -> QueryResult<()> {
    diesel::update(refresh_tokens::table.find(jti))
        .set(refresh_tokens::used_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn touch_session(conn: &mut AsyncPgConnection, session_id: Uuid) -> QueryResult<()> {
    diesel::update(auth_sessions::table.find(session_id))
        .set(auth_sessions::last_used_at.eq(diesel::dsl::now))
        .execute(conn)
        .await
        .map(drop)
}

/// Whether the session exists and is not revoked; returns its user.
pub async fn active_session_user(
    mut conn: &AsyncPgConnection,
    session_id: Uuid,
) -> QueryResult<Option<i64>> {
    auth_sessions::table
        .find(session_id)
        .filter(auth_sessions::revoked_at.is_null())
        .select(auth_sessions::user_id)
        .first(&mut conn)
        .await
        .optional()
}

pub async fn revoke_session(
    conn: &mut AsyncPgConnection,
    session_id: Uuid,
    reason: RevokeReason,
) -> QueryResult<()> {
    diesel::update(
        auth_sessions::table
            .find(session_id)
            .filter(auth_sessions::revoked_at.is_null()),
    )
    .set((
        auth_sessions::revoked_at.eq(diesel::dsl::now),
        auth_sessions::revoked_reason.eq(reason.as_str()),
    ))
    .execute(conn)
    .await
    .map(drop)
}

/// Revokes every live session of a user except `keep`; returns their ids so
/// the caller can drop them from its cache.
pub async fn revoke_user_sessions(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    keep: Option<Uuid>,
    reason: RevokeReason,
) -> QueryResult<Vec<Uuid>> {
    let keep = keep.unwrap_or(Uuid::nil());
    diesel::update(
        auth_sessions::table
            .filter(auth_sessions::user_id.eq(user_id))
            .filter(auth_sessions::revoked_at.is_null())
            .filter(auth_sessions::id.ne(keep)),
    )
    .set((
        auth_sessions::revoked_at.eq(diesel::dsl::now),
        auth_sessions::revoked_reason.eq(reason.as_str()),
    ))
    .returning(auth_sessions::id)
    .get_results(conn)
    .await
}

/// Refresh tokens past their expiry can never be exchanged: drop them.
/// Used tokens are kept until then, since reuse detection needs them.
pub async fn delete_expired_refresh_tokens(conn: &mut AsyncPgConnection) -> QueryResult<usize> {
    diesel::delete(refresh_tokens::table.filter(refresh_tokens::expires_at.lt(diesel::dsl::now)))
        .execute(conn)
        .await
}

/// Stores a websocket ticket (its hash) for `ttl`.
pub async fn insert_ws_ticket(
    conn: &mut AsyncPgConnection,
    ticket_hash: &[u8],
    user_id: i64,
    session_id: Uuid,
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    use super::schema::ws_tickets;
    diesel::insert_into(ws_tickets::table)
        .values((
            ws_tickets::ticket_hash.eq(ticket_hash),
            ws_tickets::user_id.eq(user_id),
            ws_tickets::session_id.eq(session_id),
            ws_tickets::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Spends a live ticket: returns its user and login session, once. A used,
/// expired or unknown ticket gives `None`.
pub async fn take_ws_ticket(
    conn: &mut AsyncPgConnection,
    ticket_hash: &[u8],
) -> QueryResult<Option<(i64, Uuid)>> {
    use super::schema::ws_tickets;
    diesel::delete(
        ws_tickets::table
            .find(ticket_hash)
            .filter(ws_tickets::expires_at.gt(diesel::dsl::now)),
    )
    .returning((ws_tickets::user_id, ws_tickets::session_id))
    .get_result(conn)
    .await
    .optional()
}

pub async fn delete_expired_ws_tickets(conn: &mut AsyncPgConnection) -> QueryResult<usize> {
    use super::schema::ws_tickets;
    diesel::delete(ws_tickets::table.filter(ws_tickets::expires_at.lt(diesel::dsl::now)))
        .execute(conn)
        .await
}
