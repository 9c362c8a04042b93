//! Friend requests, friendships and blocks. The rules are
//! [`crate::domain::social`]; this module reads the facts it needs and
//! carries out its effects.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::schema::{blocks, friend_requests, friendships};
use crate::domain::social::Relation;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = friend_requests)]
pub struct FriendRequest {
    pub id: i64,
    pub sender_id: i64,
    pub addressee_id: i64,
    pub created_at: DateTime<Utc>,
}

fn pair(a: i64, b: i64) -> (i64, i64) {
    if a < b { (a, b) } else { (b, a) }
}

/// The relation between `me` and `other`, from my side (three statements,
/// pipelined).
pub async fn relation(conn: &AsyncPgConnection, me: i64, other: i64) -> QueryResult<Relation> {
    let (mut c1, mut c2, mut c3) = (conn, conn, conn);
    let blockers = blocks::table
        .filter(
            (blocks::blocker_id.eq(me).and(blocks::blocked_id.eq(other)))
                .or(blocks::blocker_id.eq(other).and(blocks::blocked_id.eq(me))),
        )
        .select(blocks::blocker_id)
        .load::<i64>(&mut c1);
    let (a, b) = pair(me, other);
    let friends = diesel::select(diesel::dsl::exists(friendships::table.find((a, b))))
        .get_result::<bool>(&mut c2);
    let requests = friend_requests::table
        .filter(
            (friend_requests::sender_id
                .eq(me)
                .and(friend_requests::addressee_id.eq(other)))
            .or(friend_requests::sender_id
                .eq(other)
                .and(friend_requests::addressee_id.eq(me))),
        )
        .select((friend_requests::id, friend_requests::sender_id))
        .load::<(i64, i64)>(&mut c3);
    let (blockers, friends, requests) = futures_util::try_join!(blockers, friends, requests)?;
    let sent = requests.iter().find(|(_, s)| *s == me).map(|(id, _)| *id);
    let received = requests
        .iter()
        .find(|(_, s)| *s == other)
        .map(|(id, _)| *id);
    Ok(Relation::from_facts(
        blockers.contains(&me),
        blockers.contains(&other),
        friends,
        sent,
        received,
    ))
}

/// Serialises concurrent changes to one pair: a transaction-scoped advisory
/// lock on the pair, so two requests crossing each other cannot both be
/// created.
pub async fn lock_pair(conn: &mut AsyncPgConnection, a: i64, b: i64) -> QueryResult<()> {
    let (low, high) = pair(a, b);
    diesel::sql_query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind::<diesel::sql_types::Integer, _>((low % i64::from(i32::MAX)) as i32)
        .bind::<diesel::sql_types::Integer, _>((high % i64::from(i32::MAX)) as i32)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn create_request(
    conn: &mut AsyncPgConnection,
    sender: i64,
    addressee: i64,
) -> QueryResult<FriendRequest> {
    diesel::insert_into(friend_requests::table)
        .values((
            friend_requests::sender_id.eq(sender),
            friend_requests::addressee_id.eq(addressee),
        ))
        .returning(FriendRequest::as_returning())
        .get_result(conn)
        .await
}

/// Reads a request. Changes to a pair's requests happen under
/// [`lock_pair`], so read, lock, then act on what [`delete_request`] says.
pub async fn find_request(
    conn: &mut AsyncPgConnection,
    id: i64,
) -> QueryResult<Option<FriendRequest>> {
    friend_requests::table
        .find(id)
        .select(FriendRequest::as_select())
        .first(conn)
        .await
        .optional()
}

/// Deletes a request; false when it was already gone.
pub async fn delete_request(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<bool> {
    let deleted = diesel::delete(friend_requests::table.find(id))
        .execute(conn)
        .await?;
    Ok(deleted == 1)
}

pub async fn make_friends(conn: &mut AsyncPgConnection, x: i64, y: i64) -> QueryResult<()> {
    let (a, b) = pair(x, y);
    diesel::insert_into(friendships::table)
        .values((friendships::user_a.eq(a), friendships::user_b.eq(b)))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn remove_friendship(conn: &mut AsyncPgConnection, x: i64, y: i64) -> QueryResult<()> {
    let (a, b) = pair(x, y);
    diesel::delete(friendships::table.find((a, b)))
        .execute(conn)
        .await
        .map(drop)
}

/// Blocks `blocked` and removes the pair's friendship and requests.
pub async fn block(conn: &mut AsyncPgConnection, blocker: i64, blocked: i64) -> QueryResult<()> {
    diesel::insert_into(blocks::table)
        .values((
            blocks::blocker_id.eq(blocker),
            blocks::blocked_id.eq(blocked),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    remove_friendship(conn, blocker, blocked).await?;
    diesel::delete(
        friend_requests::table.filter(
            (friend_requests::sender_id
                .eq(blocker)
                .and(friend_requests::addressee_id.eq(blocked)))
            .or(friend_requests::sender_id
                .eq(blocked)
                .and(friend_requests::addressee_id.eq(blocker))),
        ),
    )
    .execute(conn)
    .await
    .map(drop)
}

pub async fn unblock(conn: &mut AsyncPgConnection, blocker: i64, blocked: i64) -> QueryResult<()> {
    diesel::delete(blocks::table.find((blocker, blocked)))
        .execute(conn)
        .await
        .map(drop)
}

/// Whether either of the two blocks the other (for chat, invites, search).
pub async fn blocked_either_way(conn: &mut AsyncPgConnection, x: i64, y: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        blocks::table.filter(
            (blocks::blocker_id.eq(x).and(blocks::blocked_id.eq(y)))
                .or(blocks::blocker_id.eq(y).and(blocks::blocked_id.eq(x))),
        ),
    ))
    .get_result(conn)
    .await
}

/// The user's friends' ids above `after`, ascending, at most `limit`.
pub async fn friend_ids(
    mut conn: &AsyncPgConnection,
    user: i64,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<i64>> {
    let as_a = friendships::table
        .filter(friendships::user_a.eq(user))
        .filter(friendships::user_b.gt(after))
        .select(friendships::user_b)
        .order(friendships::user_b)
        .limit(limit)
        .load::<i64>(&mut conn)
        .await?;
    let as_b = friendships::table
        .filter(friendships::user_b.eq(user))
        .filter(friendships::user_a.gt(after))
        .select(friendships::user_a)
        .order(friendships::user_a)
        .limit(limit)
        .load::<i64>(&mut conn)
        .await?;
    let mut ids: Vec<i64> = as_a.into_iter().chain(as_b).collect();
    ids.sort_unstable();
    ids.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(ids)
}

#[derive(Debug, Clone, Copy)]
pub enum Direction {
    Incoming,
    Outgoing,
}

/// Pending requests to (incoming) or from (outgoing) `user`, newest first,
/// with ids below `before`.
pub async fn requests(
    mut conn: &AsyncPgConnection,
    user: i64,
    direction: Direction,
    before: i64,
    limit: i64,
) -> QueryResult<Vec<FriendRequest>> {
    let query = friend_requests::table
        .select(FriendRequest::as_select())
        .filter(friend_requests::id.lt(before))
        .order(friend_requests::id.desc())
        .limit(limit);
    match direction {
        Direction::Incoming => {
            query
                .filter(friend_requests::addressee_id.eq(user))
                .load(&mut conn)
                .await
        }
        Direction::Outgoing => {
            query
                .filter(friend_requests::sender_id.eq(user))
                .load(&mut conn)
                .await
        }
    }
}

/// Ids of the users `user` blocks, above `after`, ascending.
pub async fn blocked_ids(
    mut conn: &AsyncPgConnection,
    user: i64,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<i64>> {
    blocks::table
        .filter(blocks::blocker_id.eq(user))
        .filter(blocks::blocked_id.gt(after))
        .select(blocks::blocked_id)
        .order(blocks::blocked_id)
        .limit(limit)
        .load(&mut conn)
        .await
}

/// Which of `others` block `user` or are blocked by them.
pub async fn blocked_among(
    mut conn: &AsyncPgConnection,
    user: i64,
    others: &[i64],
) -> QueryResult<Vec<i64>> {
    let mut ids: Vec<i64> = blocks::table
        .filter(blocks::blocker_id.eq(user))
        .filter(blocks::blocked_id.eq_any(others))
        .select(blocks::blocked_id)
        .union(
            blocks::table
                .filter(blocks::blocked_id.eq(user))
                .filter(blocks::blocker_id.eq_any(others))
                .select(blocks::blocker_id),
        )
        .load(&mut conn)
        .await?;
    ids.sort_unstable();
    Ok(ids)
}

/// Every friend of `user` (for presence broadcasts).
pub async fn all_friend_ids(conn: &mut AsyncPgConnection, user: i64) -> QueryResult<Vec<i64>> {
    friend_ids(conn, user, i64::MIN, i64::MAX).await
}
