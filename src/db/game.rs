//! Match records and ratings. A match is written when it starts and when it
//! ends (result, ratings and records in one transaction), never on ticks.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::oauth::OAuthAccount;
use super::schema::{matches, oauth_accounts, player_stats, users};
use super::users::User;
use crate::domain::game::elo_changes;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = matches)]
pub struct MatchRow {
    pub id: i64,
    pub player_left: i64,
    pub player_right: i64,
    pub points_to_win: i32,
    pub status: String,
    pub score_left: i32,
    pub score_right: i32,
    pub winner_id: Option<i64>,
    pub reason: Option<String>,
    pub rating_change_left: Option<i32>,
    pub rating_change_right: Option<i32>,
    pub tournament_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// Records a new live match; its id.
pub async fn create(
    conn: &mut AsyncPgConnection,
    left: i64,
    right: i64,
    points_to_win: i32,
    tournament_id: Option<i64>,
) -> QueryResult<i64> {
    diesel::insert_into(matches::table)
        .values((
            matches::player_left.eq(left),
            matches::player_right.eq(right),
            matches::points_to_win.eq(points_to_win),
            matches::tournament_id.eq(tournament_id),
        ))
        .returning(matches::id)
        .get_result(conn)
        .await
}

/// How a match ended.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub match_id: i64,
    pub score: [i32; 2],
    /// 0 = left, 1 = right; `None` when abandoned.
    pub winner: Option<usize>,
    /// `score`, `forfeit` or `abandoned`.
    pub reason: &'static str,
}

/// Settles a live match: its row, and with a winner, both players' ratings
/// and records, in one transaction. The rating changes `[left, right]`;
/// `None` when it was not live any more (settled already) or abandoned.
pub async fn finish(
    conn: &mut AsyncPgConnection,
    outcome: Outcome,
) -> QueryResult<Option<[i32; 2]>> {
    conn.transaction(async |conn| {
        let row: Option<(i64, i64)> = matches::table
            .find(outcome.match_id)
            .filter(matches::status.eq("live"))
            .select((matches::player_left, matches::player_right))
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let Some((left, right)) = row else {
            return Ok(None);
        };
        let players = [left, right];
        let changes = match outcome.winner {
            None => None,
            Some(w) => {
                let mut ratings: Vec<(i64, i32)> = player_stats::table
                    .filter(player_stats::user_id.eq_any(players))
                    .select((player_stats::user_id, player_stats::rating))
                    .order(player_stats::user_id)
                    .for_update()
                    .load(conn)
                    .await?;
                ratings.sort_by_key(|(id, _)| players.iter().position(|p| p == id));
                if ratings.len() != 2 {
                    return Err(diesel::result::Error::NotFound);
                }
                let l = 1 - w;
                let (gain, loss) = elo_changes(ratings[w].1, ratings[l].1);
                diesel::update(player_stats::table.find(players[w]))
                    .set((
                        player_stats::rating.eq(player_stats::rating + gain),
                        player_stats::wins.eq(player_stats::wins + 1),
                        player_stats::streak.eq(diesel::dsl::sql::<diesel::sql_types::Int4>(
                            "CASE WHEN streak > 0 THEN streak + 1 ELSE 1 END",
                        )),
                    ))
                    .execute(conn)
                    .await?;
                diesel::update(player_stats::table.find(players[l]))
                    .set((
                        player_stats::rating.eq(player_stats::rating + loss),
                        player_stats::losses.eq(player_stats::losses + 1),
                        player_stats::streak.eq(diesel::dsl::sql::<diesel::sql_types::Int4>(
                            "CASE WHEN streak < 0 THEN streak - 1 ELSE -1 END",
                        )),
                    ))
                    .execute(conn)
                    .await?;
                let mut changes = [0; 2];
                changes[w] = gain;
                changes[l] = loss;
                Some(changes)
            }
        };
        diesel::update(matches::table.find(outcome.match_id))
            .set((
                matches::status.eq(if outcome.winner.is_some() {
                    "finished"
                } else {
                    "abandoned"
                }),
                matches::score_left.eq(outcome.score[0]),
                matches::score_right.eq(outcome.score[1]),
                matches::winner_id.eq(outcome.winner.map(|w| players[w])),
                matches::reason.eq(outcome.reason),
                matches::rating_change_left.eq(changes.map(|c| c[0])),
                matches::rating_change_right.eq(changes.map(|c| c[1])),
                matches::ended_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await?;
        Ok(changes)
    })
    .await
}

/// Settles every match still live as abandoned, reason `interrupted`: run
/// at start, when no match of this node can be running (they died with
/// the process).
pub async fn abandon_live(conn: &mut AsyncPgConnection) -> QueryResult<usize> {
    diesel::update(matches::table.filter(matches::status.eq("live")))
        .set((
            matches::status.eq("abandoned"),
            matches::reason.eq("interrupted"),
            matches::ended_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
}

/// Settles one live match as interrupted (its actor is gone); false when
/// it was not live.
pub async fn interrupt(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<bool> {
    let changed = diesel::update(matches::table.find(id))
        .filter(matches::status.eq("live"))
        .set((
            matches::status.eq("abandoned"),
            matches::reason.eq("interrupted"),
            matches::ended_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(changed == 1)
}

pub async fn find(mut conn: &AsyncPgConnection, id: i64) -> QueryResult<Option<MatchRow>> {
    matches::table
        .find(id)
        .select(MatchRow::as_select())
        .first(&mut conn)
        .await
        .optional()
}

/// The user's ended matches with ids below `before`, newest first.
pub async fn history(
    mut conn: &AsyncPgConnection,
    user: i64,
    before: i64,
    limit: i64,
) -> QueryResult<Vec<MatchRow>> {
    matches::table
        .filter(
            matches::player_left
                .eq(user)
                .or(matches::player_right.eq(user)),
        )
        .filter(matches::status.ne("live"))
        .filter(matches::id.lt(before))
        .order(matches::id.desc())
        .limit(limit)
        .select(MatchRow::as_select())
        .load(&mut conn)
        .await
}

/// A player's rating and record.
#[derive(Debug, Clone, Copy, Queryable, Selectable, serde::Serialize, utoipa::ToSchema)]
#[diesel(table_name = player_stats)]
pub struct Stats {
    /// Elo, 1200 to start.
    pub rating: i32,
    pub wins: i32,
    pub losses: i32,
    /// Positive: wins in a row; negative: losses in a row.
    pub streak: i32,
}

pub async fn stats(mut conn: &AsyncPgConnection, user: i64) -> QueryResult<Stats> {
    player_stats::table
        .find(user)
        .select(Stats::as_select())
        .first(&mut conn)
        .await
}

/// A user with their stats and linked accounts, in one query (the
/// account view a client reads most often).
pub async fn account(
    mut conn: &AsyncPgConnection,
    user: i64,
) -> QueryResult<Option<(User, Stats, Vec<OAuthAccount>)>> {
    let rows: Vec<(User, Stats, Option<OAuthAccount>)> = users::table
        .inner_join(player_stats::table)
        .left_join(oauth_accounts::table)
        .filter(users::id.eq(user))
        .select((
            User::as_select(),
            Stats::as_select(),
            Option::<OAuthAccount>::as_select(),
        ))
        .load(&mut conn)
        .await?;
    let mut rows = rows.into_iter();
    let Some((user, stats, first)) = rows.next() else {
        return Ok(None);
    };
    let accounts = first
        .into_iter()
        .chain(rows.filter_map(|(_, _, account)| account))
        .collect();
    Ok(Some((user, stats, accounts)))
}

/// Users by rating (then id), from rank `offset`, with their stats.
pub async fn leaderboard(
    conn: &mut AsyncPgConnection,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<(User, Stats)>> {
    users::table
        .inner_join(player_stats::table)
        .order((player_stats::rating.desc(), users::id.asc()))
        .offset(offset)
        .limit(limit)
        .select((User::as_select(), Stats::as_select()))
        .load(conn)
        .await
}
