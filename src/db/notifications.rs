//! The notification records: written with the change they report (so none
//! is lost or reported for a change that rolled back), read back in id order.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::schema::notifications;
use crate::domain::notifications::Notification;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = notifications)]
pub struct StoredNotification {
    pub id: i64,
    pub user_id: i64,
    pub kind: String,
    pub actor_id: Option<i64>,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

/// Records `event` for `user_id`; call inside the transaction of the change.
pub async fn record(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    event: &Notification,
) -> QueryResult<StoredNotification> {
    let payload = serde_json::to_value(event)
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    diesel::insert_into(notifications::table)
        .values((
            notifications::user_id.eq(user_id),
            notifications::kind.eq(event.kind()),
            notifications::actor_id.eq(event.actor()),
            notifications::payload.eq(payload),
        ))
        .returning(StoredNotification::as_returning())
        .get_result(conn)
        .await
}

/// The user's notifications with ids below `before`, newest first; only
/// the unread ones with `unread_only`.
pub async fn list(
    mut conn: &AsyncPgConnection,
    user_id: i64,
    unread_only: bool,
    before: i64,
    limit: i64,
) -> QueryResult<Vec<StoredNotification>> {
    let mut query = notifications::table
        .filter(notifications::user_id.eq(user_id))
        .filter(notifications::id.lt(before))
        .order(notifications::id.desc())
        .limit(limit)
        .select(StoredNotification::as_select())
        .into_boxed();
    if unread_only {
        query = query.filter(notifications::read_at.is_null());
    }
    query.load(&mut conn).await
}

pub async fn unread_count(mut conn: &AsyncPgConnection, user_id: i64) -> QueryResult<i64> {
    notifications::table
        .filter(notifications::user_id.eq(user_id))
        .filter(notifications::read_at.is_null())
        .count()
        .get_result(&mut conn)
        .await
}

/// Marks one of the user's notifications read; false when the user has no
/// such notification. Reading twice keeps the first time.
pub async fn mark_read(conn: &mut AsyncPgConnection, user_id: i64, id: i64) -> QueryResult<bool> {
    let mine = notifications::table
        .find(id)
        .filter(notifications::user_id.eq(user_id));
    let found: bool = diesel::select(diesel::dsl::exists(mine))
        .get_result(conn)
        .await?;
    if found {
        diesel::update(mine.filter(notifications::read_at.is_null()))
            .set(notifications::read_at.eq(diesel::dsl::now))
            .execute(conn)
            .await?;
    }
    Ok(found)
}

/// Marks every unread notification of the user read; returns how many.
pub async fn mark_all_read(conn: &mut AsyncPgConnection, user_id: i64) -> QueryResult<usize> {
    diesel::update(
        notifications::table
            .filter(notifications::user_id.eq(user_id))
            .filter(notifications::read_at.is_null()),
    )
    .set(notifications::read_at.eq(diesel::dsl::now))
    .execute(conn)
    .await
}

/// Deletes one of the user's notifications; false when there is none.
pub async fn delete(conn: &mut AsyncPgConnection, user_id: i64, id: i64) -> QueryResult<bool> {
    let deleted = diesel::delete(
        notifications::table
            .find(id)
            .filter(notifications::user_id.eq(user_id)),
    )
    .execute(conn)
    .await?;
    Ok(deleted == 1)
}

/// The user's notifications after `since`, oldest first (for replay).
pub async fn after(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    since: i64,
    limit: i64,
) -> QueryResult<Vec<StoredNotification>> {
    notifications::table
        .filter(notifications::user_id.eq(user_id))
        .filter(notifications::id.gt(since))
        .order(notifications::id.asc())
        .limit(limit)
        .select(StoredNotification::as_select())
        .load(conn)
        .await
}
