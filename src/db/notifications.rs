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
            notifications::payload.eq(payload),
        ))
        .returning(StoredNotification::as_returning())
        .get_result(conn)
        .await
}

/// The user's notifications with ids below `before`, newest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    before: i64,
    limit: i64,
) -> QueryResult<Vec<StoredNotification>> {
    notifications::table
        .filter(notifications::user_id.eq(user_id))
        .filter(notifications::id.lt(before))
        .order(notifications::id.desc())
        .limit(limit)
        .select(StoredNotification::as_select())
        .load(conn)
        .await
}
