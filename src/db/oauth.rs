//! OAuth links between local users and provider accounts, and the pending
//! authorizations (state + PKCE verifier) between redirect and callback.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{oauth_accounts, oauth_states};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = oauth_accounts)]
pub struct OAuthAccount {
    pub provider: String,
    pub provider_user_id: String,
    pub user_id: i64,
    pub provider_login: String,
    pub created_at: DateTime<Utc>,
}

/// A pending authorization, taken back at the callback. No Debug: it
/// carries the PKCE verifier.
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = oauth_states)]
pub struct PendingState {
    pub pkce_verifier: String,
    pub link_user_id: Option<i64>,
    pub expires_at: DateTime<Utc>,
    pub link_session_id: Option<Uuid>,
}

pub async fn insert_state(
    conn: &mut AsyncPgConnection,
    state_hash: &[u8],
    pkce_verifier: &str,
    link: Option<(i64, Uuid)>,
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(oauth_states::table)
        .values((
            oauth_states::state_hash.eq(state_hash),
            oauth_states::pkce_verifier.eq(pkce_verifier),
            oauth_states::link_user_id.eq(link.map(|(user, _)| user)),
            oauth_states::link_session_id.eq(link.map(|(_, session)| session)),
            oauth_states::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Removes and returns a pending state: each is usable once.
pub async fn take_state(
    conn: &mut AsyncPgConnection,
    state_hash: &[u8],
) -> QueryResult<Option<PendingState>> {
    diesel::delete(oauth_states::table.find(state_hash))
        .returning(PendingState::as_returning())
        .get_result(conn)
        .await
        .optional()
}

pub async fn delete_expired_states(conn: &mut AsyncPgConnection) -> QueryResult<usize> {
    diesel::delete(oauth_states::table.filter(oauth_states::expires_at.lt(diesel::dsl::now)))
        .execute(conn)
        .await
}

pub async fn find_account(
    conn: &mut AsyncPgConnection,
    provider: &str,
    provider_user_id: &str,
) -> QueryResult<Option<OAuthAccount>> {
    oauth_accounts::table
        .find((provider, provider_user_id))
        .select(OAuthAccount::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn accounts_of_user(
    conn: &mut AsyncPgConnection,
    user_id: i64,
) -> QueryResult<Vec<OAuthAccount>> {
    oauth_accounts::table
        .filter(oauth_accounts::user_id.eq(user_id))
        .select(OAuthAccount::as_select())
        .load(conn)
        .await
}

/// Links a provider account; false when the provider account, or a link of
/// this user to this provider, already exists (a parallel link won).
pub async fn insert_account(
    conn: &mut AsyncPgConnection,
    provider: &str,
    provider_user_id: &str,
    user_id: i64,
    provider_login: &str,
) -> QueryResult<bool> {
    use diesel::result::{DatabaseErrorKind, Error};
    match diesel::insert_into(oauth_accounts::table)
        .values((
            oauth_accounts::provider.eq(provider),
            oauth_accounts::provider_user_id.eq(provider_user_id),
            oauth_accounts::user_id.eq(user_id),
            oauth_accounts::provider_login.eq(provider_login),
        ))
        .execute(conn)
        .await
    {
        Ok(_) => Ok(true),
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(e),
    }
}
