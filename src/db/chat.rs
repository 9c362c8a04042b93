//! Chat records: conversations, their members' read markers, and messages.
//! Messages are written in batches by the node's one chat writer (see
//! `actors::chat::writer`), in one statement per batch.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::schema::{chat_members, chat_messages, notifications};
use crate::domain::chat::ChatId;
use crate::domain::notifications::Notification;

/// Makes a statement struct (a text and its parameters) one that
/// diesel-async prepares once per connection, by its type: a `sql_query`
/// is prepared afresh on every run (a round trip, a parse and a plan more).
macro_rules! prepared_once {
    ($statement:ident) => {
        impl diesel::query_builder::QueryId for $statement<'_> {
            type QueryId = $statement<'static>;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl diesel::query_builder::Query for $statement<'_> {
            type SqlType = diesel::sql_types::Untyped;
        }
    };
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = chat_messages)]
pub struct ChatMessage {
    pub id: i64,
    pub chat_id: String,
    pub sender_id: i64,
    pub body: String,
    pub client_msg_id: String,
    pub created_at: DateTime<Utc>,
}

/// A message to write; its body already checked.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub chat_id: String,
    pub sender_id: i64,
    pub body: String,
    pub client_msg_id: String,
}

/// Creates the conversation and both members' rows, in one statement,
/// unless either user does not exist (`found` is false then) or they
/// exist already. The members' foreign key to the conversation is checked
/// at the end of the statement, when both inserts are done.
const ENSURE_CHAT: &str = "\
WITH pair AS (
    SELECT $1::text AS id, $2::bigint AS low, $3::bigint AS high
    WHERE (SELECT count(*) FROM users WHERE id IN ($2, $3)) = 2
), chat AS (
    INSERT INTO chats (id, user_low, user_high) SELECT id, low, high FROM pair
    ON CONFLICT DO NOTHING
), members AS (
    INSERT INTO chat_members (user_id, chat_id, peer_id)
    SELECT low, id, high FROM pair UNION ALL SELECT high, id, low FROM pair
    ON CONFLICT DO NOTHING
)
SELECT EXISTS (SELECT 1 FROM pair) AS found";

/// `ENSURE_CHAT` with its parameters.
struct EnsureChat<'a> {
    id: &'a str,
    low: i64,
    high: i64,
}

prepared_once!(EnsureChat);

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for EnsureChat<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        out.push_sql(ENSURE_CHAT);
        out.push_bind_param_value_only::<Text, _>(&self.id)?;
        out.push_bind_param_value_only::<BigInt, _>(&self.low)?;
        out.push_bind_param_value_only::<BigInt, _>(&self.high)?;
        Ok(())
    }
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    found: bool,
}

/// Creates the conversation (and both members' read markers) if it does
/// not exist, in one round trip; false when either user does not exist.
pub async fn ensure_chat(conn: &mut AsyncPgConnection, id: &ChatId) -> QueryResult<bool> {
    let name = id.to_string();
    let found: Found = EnsureChat {
        id: &name,
        low: id.low(),
        high: id.high(),
    }
    .get_result(conn)
    .await?;
    Ok(found.found)
}

/// A row of [`insert_batch`]'s statement: a message this statement stored
/// (`new`), one an earlier batch stored for a resend (`earlier`), or the
/// keys of a refused row (`blocked`, without id, body or time).
#[derive(QueryableByName)]
struct BatchRow {
    #[diesel(sql_type = Text)]
    outcome: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    id: Option<i64>,
    #[diesel(sql_type = Text)]
    chat_id: String,
    #[diesel(sql_type = BigInt)]
    sender_id: i64,
    #[diesel(sql_type = Nullable<Text>)]
    body: Option<String>,
    #[diesel(sql_type = Text)]
    client_msg_id: String,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    created_at: Option<DateTime<Utc>>,
}

impl BatchRow {
    fn message(self) -> Option<ChatMessage> {
        Some(ChatMessage {
            id: self.id?,
            chat_id: self.chat_id,
            sender_id: self.sender_id,
            body: self.body?,
            client_msg_id: self.client_msg_id,
            created_at: self.created_at?,
        })
    }
}

/// The whole batch in one statement, so one round trip: refusing the rows
/// whose sender and recipient block each other (in the same snapshot as
/// the insert, so no block slips in between a check and the write), the
/// insert, and, only when some rows were not inserted, the messages that
/// earlier batches stored for those resends (the statement's snapshot
/// predates its own inserts): a resend of a message stored before a block
/// still gets it back. It writes the messages and nothing else: a
/// conversation's newest message is read from its messages.
const INSERT_BATCH: &str = "\
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[])
        WITH ORDINALITY AS t(chat_id, sender_id, body, client_msg_id, recipient_id, n)
), allowed AS (
    SELECT * FROM input i
    WHERE NOT EXISTS (
        SELECT 1 FROM blocks b
        WHERE (b.blocker_id = i.sender_id AND b.blocked_id = i.recipient_id)
           OR (b.blocker_id = i.recipient_id AND b.blocked_id = i.sender_id))
), ins AS (
    INSERT INTO chat_messages (chat_id, sender_id, body, client_msg_id)
    SELECT chat_id, sender_id, body, client_msg_id FROM allowed
    ORDER BY n
    ON CONFLICT (chat_id, sender_id, client_msg_id) DO NOTHING
    RETURNING id, chat_id, sender_id, body, client_msg_id, created_at
)
SELECT 'new' AS outcome, id, chat_id, sender_id, body, client_msg_id, created_at FROM ins
UNION ALL
SELECT 'earlier', m.id, m.chat_id, m.sender_id, m.body, m.client_msg_id, m.created_at
FROM chat_messages m
JOIN input k
  ON m.chat_id = k.chat_id AND m.sender_id = k.sender_id AND m.client_msg_id = k.client_msg_id
WHERE (SELECT count(*) FROM ins) < cardinality($1::text[])
UNION ALL
SELECT 'blocked', NULL, chat_id, sender_id, NULL, client_msg_id, NULL
FROM input WHERE n NOT IN (SELECT n FROM allowed)";

/// `INSERT_BATCH` with its arrays.
struct InsertBatch<'a> {
    chat_ids: &'a [&'a str],
    senders: &'a [i64],
    bodies: &'a [&'a str],
    client_ids: &'a [&'a str],
    recipients: &'a [i64],
}

prepared_once!(InsertBatch);

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for InsertBatch<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        // The text names its parameters ($1 to $5) itself.
        out.push_sql(INSERT_BATCH);
        out.push_bind_param_value_only::<Array<Text>, _>(&self.chat_ids)?;
        out.push_bind_param_value_only::<Array<BigInt>, _>(&self.senders)?;
        out.push_bind_param_value_only::<Array<Text>, _>(&self.bodies)?;
        out.push_bind_param_value_only::<Array<Text>, _>(&self.client_ids)?;
        out.push_bind_param_value_only::<Array<BigInt>, _>(&self.recipients)?;
        Ok(())
    }
}

/// Writes a batch in one statement (one transaction) and returns, for
/// every row in input order, the stored message and whether this row made
/// it, or `None` when the sender and the recipient block each other: a
/// resend with the same `(chat, sender, client_msg_id)`, in this batch or
/// an earlier one, gets the earlier message back, never a duplicate (even
/// once blocked). New ids follow the input order.
pub async fn insert_batch(
    conn: &mut AsyncPgConnection,
    rows: &[NewMessage],
) -> QueryResult<Vec<Option<(ChatMessage, bool)>>> {
    let chat_ids: Vec<&str> = rows.iter().map(|r| r.chat_id.as_str()).collect();
    let senders: Vec<i64> = rows.iter().map(|r| r.sender_id).collect();
    let bodies: Vec<&str> = rows.iter().map(|r| r.body.as_str()).collect();
    let client_ids: Vec<&str> = rows.iter().map(|r| r.client_msg_id.as_str()).collect();
    let recipients: Vec<i64> = rows
        .iter()
        .map(|r| {
            ChatId::parse(&r.chat_id)
                .and_then(|chat| chat.peer_of(r.sender_id))
                .unwrap_or_default()
        })
        .collect();
    let found: Vec<BatchRow> = InsertBatch {
        chat_ids: &chat_ids,
        senders: &senders,
        bodies: &bodies,
        client_ids: &client_ids,
        recipients: &recipients,
    }
    .load(conn)
    .await?;
    // Whether a row is refused depends on its sender and conversation only.
    let mut blocked: Vec<(String, i64)> = Vec::new();
    let mut inserted: Vec<ChatMessage> = Vec::new();
    let mut earlier: Vec<ChatMessage> = Vec::new();
    for row in found {
        match row.outcome.as_str() {
            "blocked" => blocked.push((row.chat_id, row.sender_id)),
            "new" => inserted.extend(row.message()),
            _ => earlier.extend(row.message()),
        }
    }
    inserted.sort_by_key(|m| m.id);
    let refused = |row: &NewMessage| {
        blocked
            .iter()
            .any(|(chat, sender)| *chat == row.chat_id && *sender == row.sender_id)
    };
    let same = |m: &ChatMessage, row: &NewMessage| {
        m.chat_id == row.chat_id
            && m.sender_id == row.sender_id
            && m.client_msg_id == row.client_msg_id
    };
    // An allowed row neither inserted nor found was stored by another
    // writer (another node) while the statement ran: its snapshot predates
    // that row. Read those again, now that it is committed.
    // (Nothing to look for when every row was inserted: the usual case.)
    let missing: Vec<&NewMessage> = if inserted.len() == rows.len() {
        Vec::new()
    } else {
        rows.iter()
            .filter(|row| !refused(row) && !inserted.iter().chain(&earlier).any(|m| same(m, row)))
            .collect()
    };
    if !missing.is_empty() {
        let chat_ids: Vec<&str> = missing.iter().map(|r| r.chat_id.as_str()).collect();
        let senders: Vec<i64> = missing.iter().map(|r| r.sender_id).collect();
        let client_ids: Vec<&str> = missing.iter().map(|r| r.client_msg_id.as_str()).collect();
        let found: Vec<ChatMessage> = diesel::sql_query(
            "SELECT m.id, m.chat_id, m.sender_id, m.body, m.client_msg_id, m.created_at \
             FROM chat_messages m \
             JOIN unnest($1::text[], $2::bigint[], $3::text[]) AS k(chat_id, sender_id, client_msg_id) \
               ON m.chat_id = k.chat_id AND m.sender_id = k.sender_id \
              AND m.client_msg_id = k.client_msg_id",
        )
        .bind::<Array<Text>, _>(&chat_ids)
        .bind::<Array<BigInt>, _>(&senders)
        .bind::<Array<Text>, _>(&client_ids)
        .load(conn)
        .await?;
        earlier.extend(found);
    }
    // Only the first row naming an inserted message made it; a copy later
    // in the batch is a resend.
    let mut claimed = vec![false; inserted.len()];
    rows.iter()
        .map(|row| {
            if let Some(i) = inserted.iter().position(|m| same(m, row)) {
                let fresh = !std::mem::replace(&mut claimed[i], true);
                return Ok(Some((inserted[i].clone(), fresh)));
            }
            if let Some(m) = earlier.iter().find(|m| same(m, row)) {
                return Ok(Some((m.clone(), false)));
            }
            if refused(row) {
                return Ok(None);
            }
            Err(diesel::result::Error::NotFound)
        })
        .collect()
}

/// Messages of a conversation with ids in `(after, before)`: the newest
/// `limit` below `before` (newest first) unless `after` is given, then the
/// oldest `limit` above it (oldest first).
pub async fn history(
    mut conn: &AsyncPgConnection,
    chat_id: &str,
    before: Option<i64>,
    after: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<ChatMessage>> {
    let mut query = chat_messages::table
        .filter(chat_messages::chat_id.eq(chat_id))
        .select(ChatMessage::as_select())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(chat_messages::id.lt(before));
    }
    match after {
        Some(after) => {
            query
                .filter(chat_messages::id.gt(after))
                .order(chat_messages::id.asc())
                .load(&mut conn)
                .await
        }
        None => query.order(chat_messages::id.desc()).load(&mut conn).await,
    }
}

/// The messages after `since` in any conversation of `user`, oldest first.
pub async fn after_for_user(
    conn: &mut AsyncPgConnection,
    user: i64,
    since: i64,
    limit: i64,
) -> QueryResult<Vec<ChatMessage>> {
    let mine = chat_members::table
        .filter(chat_members::user_id.eq(user))
        .select(chat_members::chat_id);
    chat_messages::table
        .filter(chat_messages::chat_id.eq_any(mine))
        .filter(chat_messages::id.gt(since))
        .order(chat_messages::id.asc())
        .limit(limit)
        .select(ChatMessage::as_select())
        .load(conn)
        .await
}

/// One row of a user's conversation list.
#[derive(Debug, Clone)]
pub struct ChatSummary {
    pub chat_id: String,
    pub peer_id: i64,
    pub last_read_id: i64,
    /// The peer's read marker (read receipts).
    pub peer_last_read_id: i64,
    pub last_message: ChatMessage,
    pub unread: i64,
}

/// The id of the newest message of the conversation named by
/// `chat_members::chat_id` (one probe of `chat_messages_chat_id_idx`), or
/// NULL when it has none.
macro_rules! newest_message_id {
    () => {{
        let newest = diesel::alias!(chat_messages as newest);
        newest
            .filter(
                newest
                    .field(chat_messages::chat_id)
                    .eq(chat_members::chat_id),
            )
            .select(diesel::dsl::max(newest.field(chat_messages::id)))
            .single_value()
    }};
}

/// The user's conversations that have messages, most recent first, those
/// whose newest message is below `before`.
pub async fn list(
    mut conn: &AsyncPgConnection,
    user: i64,
    before: i64,
    limit: i64,
) -> QueryResult<Vec<ChatSummary>> {
    let peer = diesel::alias!(chat_members as peer);
    let rows: Vec<(String, i64, i64, i64, ChatMessage)> = chat_members::table
        .inner_join(chat_messages::table.on(chat_messages::id.nullable().eq(newest_message_id!())))
        .inner_join(
            peer.on(peer
                .field(chat_members::chat_id)
                .eq(chat_members::chat_id)
                .and(peer.field(chat_members::user_id).eq(chat_members::peer_id))),
        )
        .filter(chat_members::user_id.eq(user))
        .filter(chat_messages::id.lt(before))
        .order(chat_messages::id.desc())
        .limit(limit)
        .select((
            chat_members::chat_id,
            chat_members::peer_id,
            chat_members::last_read_id,
            peer.field(chat_members::last_read_id),
            ChatMessage::as_select(),
        ))
        .load(&mut conn)
        .await?;
    // The rows' unread counts, pipelined.
    let unread = futures_util::future::try_join_all(
        rows.iter()
            .map(|(chat_id, _, last_read_id, _, _)| unread_in(conn, user, chat_id, *last_read_id)),
    )
    .await?;
    Ok(rows
        .into_iter()
        .zip(unread)
        .map(
            |((chat_id, peer_id, last_read_id, peer_last_read_id, last_message), unread)| {
                ChatSummary {
                    chat_id,
                    peer_id,
                    last_read_id,
                    peer_last_read_id,
                    last_message,
                    unread,
                }
            },
        )
        .collect())
}

/// Messages from the peer above the user's read marker.
async fn unread_in(
    mut conn: &AsyncPgConnection,
    user: i64,
    chat_id: &str,
    last_read_id: i64,
) -> QueryResult<i64> {
    chat_messages::table
        .filter(chat_messages::chat_id.eq(chat_id))
        .filter(chat_messages::id.gt(last_read_id))
        .filter(chat_messages::sender_id.ne(user))
        .count()
        .get_result(&mut conn)
        .await
}

/// The result of moving a read marker.
#[derive(Debug, Clone, Copy)]
pub struct ReadMarker {
    /// The marker now (it never moves back, nor past the newest message).
    pub last_read_id: i64,
    pub unread: i64,
    /// Whether this call moved it.
    pub moved: bool,
}

/// Moves the user's read marker in `chat_id` up to `up_to` (never back,
/// never past the newest message). `None` when the user is no member.
pub async fn mark_read(
    conn: &mut AsyncPgConnection,
    user: i64,
    chat_id: &str,
    up_to: i64,
) -> QueryResult<Option<ReadMarker>> {
    conn.transaction(async |conn| {
        // Locked, so two reads at once cannot move the marker backwards.
        let member: Option<(i64, Option<i64>)> = chat_members::table
            .find((user, chat_id))
            .select((chat_members::last_read_id, newest_message_id!()))
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let Some((previous, newest)) = member else {
            return Ok(None);
        };
        let newest = newest.unwrap_or(0);
        let target = up_to.min(newest);
        let moved = target > previous;
        let last_read_id = previous.max(target);
        if moved {
            diesel::update(chat_members::table.find((user, chat_id)))
                .set(chat_members::last_read_id.eq(last_read_id))
                .execute(conn)
                .await?;
        }
        let unread = unread_in(conn, user, chat_id, last_read_id).await?;
        if unread == 0 {
            // Caught up: the "someone wrote" notification is read too.
            diesel::update(
                notifications::table
                    .filter(notifications::user_id.eq(user))
                    .filter(notifications::kind.eq("chat_message"))
                    .filter(notifications::read_at.is_null())
                    .filter(
                        notifications::payload
                            .retrieve_as_text("chat_id")
                            .eq(chat_id),
                    ),
            )
            .set(notifications::read_at.eq(diesel::dsl::now))
            .execute(conn)
            .await?;
        }
        Ok(Some(ReadMarker {
            last_read_id,
            unread,
            moved,
        }))
    })
    .await
}

/// Whether the user takes part in the conversation (it may have no row
/// yet: then only its two users may open it, which the id says).
pub async fn is_member(
    conn: &mut AsyncPgConnection,
    user: i64,
    chat_id: &str,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        chat_members::table.find((user, chat_id)),
    ))
    .get_result(conn)
    .await
}

/// Tells `user` (who has no socket open) that `from` wrote: one unread
/// `chat_message` notification per conversation. A later message replaces
/// it with a new one (a new id, so replay and `since=` see it) whose
/// `count` carries on. Returns the notification to deliver.
pub async fn notify_offline(
    conn: &mut AsyncPgConnection,
    user: i64,
    message: &ChatMessage,
) -> QueryResult<super::notifications::StoredNotification> {
    conn.transaction(async |conn| {
        // One writer at a time per recipient and conversation (the rooms
        // write notifications from concurrent tasks), so the next one sees
        // this one's count. An advisory lock, not the membership row's,
        // which a read marker's move locks.
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind::<Text, _>(format!("chat-notification:{user}:{}", message.chat_id))
            .execute(conn)
            .await?;
        let previous: Option<serde_json::Value> = diesel::delete(
            notifications::table
                .filter(notifications::user_id.eq(user))
                .filter(notifications::kind.eq("chat_message"))
                .filter(notifications::read_at.is_null())
                .filter(
                    notifications::payload
                        .retrieve_as_text("chat_id")
                        .eq(&message.chat_id),
                ),
        )
        .returning(notifications::payload)
        .get_result(conn)
        .await
        .optional()?;
        let previous_field = |name: &str| {
            previous
                .as_ref()
                .and_then(|p| p.get(name).and_then(serde_json::Value::as_i64))
        };
        let count = previous_field("count").unwrap_or(0) + 1;
        // Tasks may take the lock out of order: keep the newest message.
        let last_message_id = previous_field("last_message_id")
            .unwrap_or(0)
            .max(message.id);
        let event = Notification::ChatMessage {
            chat_id: message.chat_id.clone(),
            from: message.sender_id,
            count,
            last_message_id,
        };
        super::notifications::record(conn, user, &event).await
    })
    .await
}
