//! Tournament records: the tournament, its players (with aliases and
//! seeds) and its bracket. Each transition is one transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::schema::{player_stats, tournament_matches, tournament_players, tournaments};
use crate::domain::tournament::{self, MIN_PLAYERS_TO_START};

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tournaments)]
pub struct Tournament {
    pub id: i64,
    pub name: String,
    pub owner_id: i64,
    pub max_players: i32,
    pub points_to_win: i32,
    pub starts_when_full: bool,
    pub status: String,
    pub champion_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tournament_players)]
pub struct Player {
    pub tournament_id: i64,
    pub user_id: i64,
    pub alias: String,
    pub seed: Option<i32>,
    pub joined_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tournament_matches)]
pub struct BracketRow {
    pub tournament_id: i64,
    pub round: i32,
    pub slot: i32,
    pub player_a: Option<i64>,
    pub player_b: Option<i64>,
    pub status: String,
    pub match_id: Option<i64>,
    pub deadline: Option<DateTime<Utc>>,
    pub winner_id: Option<i64>,
    pub result: Option<String>,
}

pub async fn create(
    conn: &mut AsyncPgConnection,
    owner: i64,
    name: &str,
    max_players: i32,
    points_to_win: i32,
    starts_when_full: bool,
) -> QueryResult<Tournament> {
    diesel::insert_into(tournaments::table)
        .values((
            tournaments::owner_id.eq(owner),
            tournaments::name.eq(name),
            tournaments::max_players.eq(max_players),
            tournaments::points_to_win.eq(points_to_win),
            tournaments::starts_when_full.eq(starts_when_full),
        ))
        .returning(Tournament::as_returning())
        .get_result(conn)
        .await
}

pub async fn find(mut conn: &AsyncPgConnection, id: i64) -> QueryResult<Option<Tournament>> {
    tournaments::table
        .find(id)
        .select(Tournament::as_select())
        .first(&mut conn)
        .await
        .optional()
}

/// Tournaments with ids below `before`, newest first, of one status if given.
pub async fn list(
    mut conn: &AsyncPgConnection,
    status: Option<&str>,
    before: i64,
    limit: i64,
) -> QueryResult<Vec<Tournament>> {
    let mut query = tournaments::table
        .filter(tournaments::id.lt(before))
        .order(tournaments::id.desc())
        .limit(limit)
        .select(Tournament::as_select())
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(tournaments::status.eq(status));
    }
    query.load(&mut conn).await
}

/// Players of a tournament, by seed (then joining order).
pub async fn players(mut conn: &AsyncPgConnection, id: i64) -> QueryResult<Vec<Player>> {
    tournament_players::table
        .filter(tournament_players::tournament_id.eq(id))
        .order((
            tournament_players::seed.asc().nulls_last(),
            tournament_players::joined_at,
        ))
        .select(Player::as_select())
        .load(&mut conn)
        .await
}

pub async fn player_counts(
    mut conn: &AsyncPgConnection,
    ids: &[i64],
) -> QueryResult<Vec<(i64, i64)>> {
    tournament_players::table
        .filter(tournament_players::tournament_id.eq_any(ids))
        .group_by(tournament_players::tournament_id)
        .select((tournament_players::tournament_id, diesel::dsl::count_star()))
        .load(&mut conn)
        .await
}

pub async fn bracket(mut conn: &AsyncPgConnection, id: i64) -> QueryResult<Vec<BracketRow>> {
    tournament_matches::table
        .filter(tournament_matches::tournament_id.eq(id))
        .order((tournament_matches::round, tournament_matches::slot))
        .select(BracketRow::as_select())
        .load(&mut conn)
        .await
}

pub async fn running_ids(conn: &mut AsyncPgConnection) -> QueryResult<Vec<i64>> {
    tournaments::table
        .filter(tournaments::status.eq("running"))
        .select(tournaments::id)
        .load(conn)
        .await
}

/// Why a join, leave or start was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NoSuchTournament,
    NotOpen,
    Full,
    AlreadyJoined,
    NotJoined,
    AliasTaken,
    NotOwner,
    TooFewPlayers,
}

/// Locks an open tournament for a change; the refusal when it is not.
async fn lock_open(
    conn: &mut AsyncPgConnection,
    id: i64,
) -> QueryResult<Result<Tournament, Refusal>> {
    let found = tournaments::table
        .find(id)
        .select(Tournament::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?;
    Ok(match found {
        None => Err(Refusal::NoSuchTournament),
        Some(t) if t.status != "open" => Err(Refusal::NotOpen),
        Some(t) => Ok(t),
    })
}

async fn count(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<i64> {
    tournament_players::table
        .filter(tournament_players::tournament_id.eq(id))
        .count()
        .get_result(conn)
        .await
}

/// Adds a player; `Ok(true)` when this filled a tournament that starts
/// when full.
pub async fn join(
    conn: &mut AsyncPgConnection,
    id: i64,
    user: i64,
    alias: &str,
) -> QueryResult<Result<bool, Refusal>> {
    conn.transaction(async |conn| {
        let t = match lock_open(conn, id).await? {
            Ok(t) => t,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let joined: bool = diesel::select(diesel::dsl::exists(
            tournament_players::table.find((id, user)),
        ))
        .get_result(conn)
        .await?;
        if joined {
            return Ok(Err(Refusal::AlreadyJoined));
        }
        let players = count(conn, id).await?;
        if players >= i64::from(t.max_players) {
            return Ok(Err(Refusal::Full));
        }
        let taken: bool = diesel::select(diesel::dsl::exists(
            tournament_players::table
                .filter(tournament_players::tournament_id.eq(id))
                .filter(lower(tournament_players::alias).eq(lower(alias))),
        ))
        .get_result(conn)
        .await?;
        if taken {
            return Ok(Err(Refusal::AliasTaken));
        }
        let inserted = diesel::insert_into(tournament_players::table)
            .values((
                tournament_players::tournament_id.eq(id),
                tournament_players::user_id.eq(user),
                tournament_players::alias.eq(alias),
            ))
            .execute(conn)
            .await;
        // The checks above run under the tournament's lock; the unique
        // indexes are the last word all the same.
        if let Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            info,
        )) = &inserted
        {
            let alias_clash = info.constraint_name().is_some_and(|c| c.contains("alias"));
            return Ok(Err(if alias_clash {
                Refusal::AliasTaken
            } else {
                Refusal::AlreadyJoined
            }));
        }
        inserted?;
        Ok(Ok(
            t.starts_when_full && players + 1 == i64::from(t.max_players)
        ))
    })
    .await
}

pub async fn leave(
    conn: &mut AsyncPgConnection,
    id: i64,
    user: i64,
) -> QueryResult<Result<(), Refusal>> {
    conn.transaction(async |conn| {
        if let Err(refusal) = lock_open(conn, id).await? {
            return Ok(Err(refusal));
        }
        let removed = diesel::delete(tournament_players::table.find((id, user)))
            .execute(conn)
            .await?;
        Ok(if removed == 0 {
            Err(Refusal::NotJoined)
        } else {
            Ok(())
        })
    })
    .await
}

/// Starts an open tournament: seeds the players by rating, writes the
/// whole bracket (byes decided), and marks it running. `by` must be the
/// owner unless `None` (it filled up and starts by itself).
pub async fn start(
    conn: &mut AsyncPgConnection,
    id: i64,
    by: Option<i64>,
) -> QueryResult<Result<(), Refusal>> {
    conn.transaction(async |conn| {
        let t = match lock_open(conn, id).await? {
            Ok(t) => t,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if by.is_some_and(|user| user != t.owner_id) {
            return Ok(Err(Refusal::NotOwner));
        }
        let seeded: Vec<i64> = tournament_players::table
            .inner_join(
                player_stats::table.on(player_stats::user_id.eq(tournament_players::user_id)),
            )
            .filter(tournament_players::tournament_id.eq(id))
            .order((
                player_stats::rating.desc(),
                tournament_players::joined_at.asc(),
            ))
            .select(tournament_players::user_id)
            .load(conn)
            .await?;
        if seeded.len() < MIN_PLAYERS_TO_START {
            return Ok(Err(Refusal::TooFewPlayers));
        }
        for (seed, user) in (1..).zip(&seeded) {
            diesel::update(tournament_players::table.find((id, *user)))
                .set(tournament_players::seed.eq(seed))
                .execute(conn)
                .await?;
        }
        let rows: Vec<_> = tournament::build(&seeded)
            .into_iter()
            .map(|p| {
                (
                    tournament_matches::tournament_id.eq(id),
                    tournament_matches::round.eq(i32::try_from(p.round).unwrap_or(i32::MAX)),
                    tournament_matches::slot.eq(i32::try_from(p.slot).unwrap_or(i32::MAX)),
                    tournament_matches::player_a.eq(p.a),
                    tournament_matches::player_b.eq(p.b),
                    tournament_matches::status.eq(if p.winner.is_some() {
                        "done"
                    } else {
                        "pending"
                    }),
                    tournament_matches::winner_id.eq(p.winner),
                    tournament_matches::result.eq(p.bye.then_some("bye")),
                )
            })
            .collect();
        diesel::insert_into(tournament_matches::table)
            .values(rows)
            .execute(conn)
            .await?;
        diesel::update(tournaments::table.find(id))
            .set((
                tournaments::status.eq("running"),
                tournaments::started_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await?;
        Ok(Ok(()))
    })
    .await
}

/// Claims a pending pairing for a match about to start (so no other pass
/// starts one too); false when it is not pending any more.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    id: i64,
    round: i32,
    slot: i32,
) -> QueryResult<bool> {
    let claimed = diesel::update(tournament_matches::table.find((id, round, slot)))
        .filter(tournament_matches::status.eq("pending"))
        .filter(tournament_matches::match_id.is_null())
        .filter(tournament_matches::winner_id.is_null())
        .set(tournament_matches::status.eq("playing"))
        .execute(conn)
        .await?;
    Ok(claimed == 1)
}

/// The claimed pairing's match started.
pub async fn set_playing(
    conn: &mut AsyncPgConnection,
    id: i64,
    round: i32,
    slot: i32,
    match_id: i64,
    deadline: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(tournament_matches::table.find((id, round, slot)))
        .filter(tournament_matches::status.eq("playing"))
        .filter(tournament_matches::match_id.is_null())
        .set((
            tournament_matches::match_id.eq(match_id),
            tournament_matches::deadline.eq(deadline),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// A pairing is to be played (again): its match never started, or was
/// cut by a restart.
pub async fn replay(
    conn: &mut AsyncPgConnection,
    id: i64,
    round: i32,
    slot: i32,
) -> QueryResult<()> {
    diesel::update(tournament_matches::table.find((id, round, slot)))
        .filter(tournament_matches::status.eq("playing"))
        .set((
            tournament_matches::status.eq("pending"),
            tournament_matches::match_id.eq(None::<i64>),
            tournament_matches::deadline.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Open tournaments that are full and start when full (a start that
/// failed after the last join is retried from here).
pub async fn full_unstarted(conn: &mut AsyncPgConnection) -> QueryResult<Vec<i64>> {
    let counts = tournament_players::table
        .group_by(tournament_players::tournament_id)
        .select((tournament_players::tournament_id, diesel::dsl::count_star()));
    let full: Vec<(i64, i64)> = counts.load(conn).await?;
    let open: Vec<(i64, i32)> = tournaments::table
        .filter(tournaments::status.eq("open"))
        .filter(tournaments::starts_when_full.eq(true))
        .select((tournaments::id, tournaments::max_players))
        .load(conn)
        .await?;
    Ok(open
        .into_iter()
        .filter(|(id, max)| full.iter().any(|(t, n)| t == id && *n >= i64::from(*max)))
        .map(|(id, _)| id)
        .collect())
}

/// Which pairing a result is for.
#[derive(Debug, Clone, Copy)]
pub enum Decided {
    /// The pairing playing this match.
    Match(i64),
    /// A pairing decided without a match (a player stayed busy).
    Walkover { round: i32, slot: i32 },
}

/// Records a pairing's result and moves the winner on; at the final,
/// finishes the tournament. `None` when that pairing was decided already;
/// otherwise the champion, once there is one.
pub async fn record_result(
    conn: &mut AsyncPgConnection,
    id: i64,
    decided: Decided,
    winner: i64,
    result: &str,
) -> QueryResult<Option<Option<i64>>> {
    conn.transaction(async |conn| {
        let mine = tournament_matches::table.filter(tournament_matches::tournament_id.eq(id));
        let row: Option<BracketRow> = match decided {
            Decided::Match(match_id) => {
                mine.filter(tournament_matches::match_id.eq(match_id))
                    .filter(tournament_matches::status.eq("playing"))
                    .select(BracketRow::as_select())
                    .for_update()
                    .first(conn)
                    .await
            }
            Decided::Walkover { round, slot } => {
                mine.filter(tournament_matches::round.eq(round))
                    .filter(tournament_matches::slot.eq(slot))
                    .filter(tournament_matches::status.eq("pending"))
                    .select(BracketRow::as_select())
                    .for_update()
                    .first(conn)
                    .await
            }
        }
        .optional()?;
        let Some(row) = row else {
            return Ok(None);
        };
        diesel::update(tournament_matches::table.find((id, row.round, row.slot)))
            .set((
                tournament_matches::status.eq("done"),
                tournament_matches::winner_id.eq(winner),
                tournament_matches::result.eq(result),
            ))
            .execute(conn)
            .await?;
        let next = tournament_matches::table.find((id, row.round + 1, row.slot / 2));
        let moved = if row.slot % 2 == 0 {
            diesel::update(next)
                .set(tournament_matches::player_a.eq(winner))
                .execute(conn)
                .await?
        } else {
            diesel::update(next)
                .set(tournament_matches::player_b.eq(winner))
                .execute(conn)
                .await?
        };
        if moved > 0 {
            return Ok(Some(None));
        }
        diesel::update(tournaments::table.find(id))
            .set((
                tournaments::status.eq("finished"),
                tournaments::champion_id.eq(winner),
                tournaments::finished_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await?;
        Ok(Some(Some(winner)))
    })
    .await
}
