//! `TournamentRunner`: one actor per tournament that is being watched or
//! played, under the tournaments supervisor. The database is its state:
//! every pass reads the bracket, settles the pairings whose match has
//! ended, starts the pairings that are ready (through the game
//! supervisor's `start_match`, like any match), writes each transition,
//! and tells players and watchers with `tournament.updated`.
//!
//! A pass runs when something happens (a start, a match end, a watcher)
//! and every [`RETRY`] (a player busy in another match is retried). At
//! start, each node resumes its running tournaments: a pairing whose match
//! was cut by the restart (`interrupted`) is played again from its start.
//! A pairing whose players both failed to join is decided for the better
//! seed (`no_show`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;
use serde_json::Value;

use super::game::{StartError, start_match};
use super::notifications::notify;
use super::registry::Push;
use super::supervisor::{Child, Lease, Supervisor};
use crate::app::AppState;
use crate::db::tournaments::Decided;
use crate::db::{game, tournaments, users};
use crate::domain::notifications::Notification;
use crate::protocol::{ServerEvent, TournamentView};

pub type Tournaments = Supervisor<TournamentRunner>;

/// How often a running tournament looks again at what it waits for.
pub const RETRY: Duration = Duration::from_secs(1);

pub struct TournamentRunner {
    lease: Lease<Self>,
    state: AppState,
    /// Sockets watching (`tournament.watch`), by session key.
    watchers: Vec<(u64, Recipient<Push>)>,
    /// A pass is running; `again` asks for another after it.
    passing: bool,
    again: bool,
    /// The next pass broadcasts even if nothing changed.
    announce: bool,
    /// Pairings waiting for a busy player (see `run_pass`).
    waiting: Waiting,
}

impl Actor for TournamentRunner {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(RETRY, |act, ctx| act.pass(ctx));
        self.pass(ctx);
    }
}

impl Child for TournamentRunner {
    /// The tournament id.
    type Key = i64;
}

/// What a pass found.
struct Passed {
    view: Option<TournamentView>,
    changed: bool,
}

impl TournamentRunner {
    /// The runner of tournament `id`, started if needed.
    pub fn open(state: &AppState, id: i64) -> Addr<Self> {
        let for_child = state.for_actors();
        state
            .tournaments
            .get_or_start(&id, move |lease, _| TournamentRunner {
                lease,
                state: for_child,
                watchers: Vec::new(),
                passing: false,
                again: false,
                announce: true,
                waiting: HashMap::new(),
            })
    }

    fn id(&self) -> i64 {
        *self.lease.key()
    }

    fn pass(&mut self, ctx: &mut Context<Self>) {
        if self.passing {
            self.again = true;
            return;
        }
        self.passing = true;
        let state = self.state.clone();
        let id = self.id();
        // On a task of its own: the writes of a pass finish even if the
        // runner stops meanwhile.
        let mut waiting = std::mem::take(&mut self.waiting);
        let (done, result) = tokio::sync::oneshot::channel();
        actix_web::rt::spawn(async move {
            let passed = run_pass(&state, id, &mut waiting).await;
            let _ = done.send((passed, waiting));
        });
        ctx.spawn(result.into_actor(self).map(|result, act, ctx| {
            act.passing = false;
            match result {
                Ok((passed, waiting)) => {
                    act.waiting = waiting;
                    match passed {
                        Ok(passed) => act.passed(passed, ctx),
                        Err(e) => {
                            // What it changed before failing is told next time.
                            act.announce = true;
                            tracing::warn!(error = %e, tournament = act.id(), "tournament pass failed");
                        }
                    }
                }
                Err(_) => {
                    act.announce = true;
                    tracing::warn!(tournament = act.id(), "tournament pass lost");
                }
            }
            if std::mem::take(&mut act.again) {
                act.pass(ctx);
            }
        }));
    }

    fn passed(&mut self, passed: Passed, ctx: &mut Context<Self>) {
        let Some(view) = passed.view else {
            // The tournament is gone.
            self.lease.release();
            return ctx.stop();
        };
        if passed.changed || std::mem::take(&mut self.announce) {
            let push = Push::event(&ServerEvent::TournamentUpdated {
                id: None,
                tournament: Box::new(view.clone()),
            });
            for player in &view.players {
                self.state.sockets.push(player.user.id, &push);
            }
            for (_, watcher) in &self.watchers {
                watcher.do_send(push.clone());
            }
        }
        // Only a running tournament needs a runner when nobody watches.
        if view.status != "running" && self.watchers.is_empty() && !self.again {
            self.lease.release();
            ctx.stop();
        }
    }
}

/// Pairings whose players could not start because one was busy in another
/// match, and since when: past the reconnect grace, the busy one forfeits.
type Waiting = HashMap<(i32, i32), Instant>;

/// One pass over a tournament: settle ended matches, start ready ones.
async fn run_pass(state: &AppState, id: i64, waiting: &mut Waiting) -> anyhow::Result<Passed> {
    let mut conn = state.db.get().await?;
    let Some(t) = tournaments::find(&conn, id).await? else {
        return Ok(Passed {
            view: None,
            changed: false,
        });
    };
    let mut changed = false;
    if t.status == "running" {
        let players = tournaments::players(&conn, id).await?;
        let seed_of = |user: Option<i64>| {
            players
                .iter()
                .find(|p| Some(p.user_id) == user)
                .and_then(|p| p.seed)
                .unwrap_or(i32::MAX)
        };
        let better = |a: Option<i64>, b: Option<i64>| if seed_of(a) <= seed_of(b) { a } else { b };
        let mut decided = Vec::new();
        // Pairings whose match is no longer running here.
        let live: Vec<i64> = state.games.live().iter().map(|m| m.match_id).collect();
        for row in tournaments::bracket(&conn, id).await? {
            if row.status != "playing" {
                continue;
            }
            let Some(match_id) = row.match_id else {
                // Claimed by a pass that did not get to start the match.
                tournaments::replay(&mut conn, id, row.round, row.slot).await?;
                changed = true;
                continue;
            };
            if live.contains(&match_id) {
                continue;
            }
            let Some(m) = game::find(&conn, match_id).await? else {
                continue;
            };
            match (m.status.as_str(), m.reason.as_deref(), m.winner_id) {
                ("finished", Some(reason), Some(winner)) => {
                    decided.push((Decided::Match(match_id), winner, reason.to_string()));
                }
                // Neither came: the better seed goes on.
                ("abandoned", Some("abandoned"), _) => {
                    if let Some(winner) = better(row.player_a, row.player_b) {
                        decided.push((Decided::Match(match_id), winner, "no_show".to_string()));
                    }
                }
                // Cut by a restart, or its actor is gone without a result
                // (one node runs all its matches): played again.
                _ => {
                    game::interrupt(&mut conn, match_id).await?;
                    tournaments::replay(&mut conn, id, row.round, row.slot).await?;
                    changed = true;
                }
            }
        }
        // Pairings ready to play.
        let points = u8::try_from(t.points_to_win).unwrap_or(1);
        let grace = state.settings.game.reconnect_grace;
        for row in tournaments::bracket(&conn, id).await? {
            let (Some(a), Some(b)) = (row.player_a, row.player_b) else {
                continue;
            };
            if row.status != "pending" || row.winner_id.is_some() {
                continue;
            }
            // Claimed first, so no other pass starts a second match for it.
            if !tournaments::claim(&mut conn, id, row.round, row.slot).await? {
                continue;
            }
            match start_match(state, a, b, points, Some(id)).await {
                Ok(match_id) => {
                    waiting.remove(&(row.round, row.slot));
                    let deadline =
                        Utc::now() + chrono::Duration::from_std(grace).unwrap_or_default();
                    tournaments::set_playing(
                        &mut conn, id, row.round, row.slot, match_id, deadline,
                    )
                    .await?;
                    changed = true;
                    for (user, opponent) in [(a, b), (b, a)] {
                        notify(
                            state,
                            user,
                            Notification::TournamentMatchReady {
                                tournament_id: id,
                                match_id,
                                round: row.round,
                                opponent,
                                deadline,
                            },
                        );
                    }
                }
                Err(e) => {
                    tournaments::replay(&mut conn, id, row.round, row.slot).await?;
                    if let StartError::Busy(busy) = e {
                        // Busy elsewhere: tried again at every pass, and
                        // forfeited once the grace has passed.
                        let since = *waiting
                            .entry((row.round, row.slot))
                            .or_insert_with(Instant::now);
                        if since.elapsed() >= grace {
                            let winner = if busy == a { b } else { a };
                            let walkover = Decided::Walkover {
                                round: row.round,
                                slot: row.slot,
                            };
                            decided.push((walkover, winner, "forfeit".to_string()));
                        }
                    } else {
                        tracing::warn!(error = %e, tournament = id, "starting a tournament match failed");
                    }
                }
            }
        }
        for (which, winner, result) in decided {
            let recorded =
                tournaments::record_result(&mut conn, id, which, winner, &result).await?;
            changed |= recorded.is_some();
            if let Some(Some(champion)) = recorded {
                for p in &players {
                    notify(
                        state,
                        p.user_id,
                        Notification::TournamentFinished {
                            tournament_id: id,
                            champion,
                        },
                    );
                }
            }
        }
    }
    Ok(Passed {
        view: view(&conn, id).await?,
        changed,
    })
}

/// The whole tournament as clients see it (its row, players and bracket
/// read pipelined).
pub async fn view(
    conn: &diesel_async::AsyncPgConnection,
    id: i64,
) -> diesel::QueryResult<Option<TournamentView>> {
    let (t, players, bracket) = futures_util::try_join!(
        tournaments::find(conn, id),
        tournaments::players(conn, id),
        tournaments::bracket(conn, id),
    )?;
    let Some(t) = t else {
        return Ok(None);
    };
    let ids: Vec<i64> = players.iter().map(|p| p.user_id).collect();
    let found = users::find_many(conn, &ids).await?;
    Ok(Some(TournamentView::new(t, players, &found, bracket)))
}

/// Something changed (a join, a start, a match end): look again, and
/// tell everyone.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Changed;

impl Handler<Changed> for TournamentRunner {
    type Result = ();

    fn handle(&mut self, _: Changed, ctx: &mut Context<Self>) {
        self.announce = true;
        self.pass(ctx);
    }
}

/// `tournament.watch`: the socket gets the tournament now and at every change.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Watch {
    pub key: u64,
    pub push: Recipient<Push>,
    pub request_id: Option<Value>,
}

impl Handler<Watch> for TournamentRunner {
    type Result = ();

    fn handle(&mut self, watch: Watch, ctx: &mut Context<Self>) {
        self.watchers.retain(|(k, _)| *k != watch.key);
        self.watchers.push((watch.key, watch.push.clone()));
        let db = self.state.db.clone();
        let id = self.id();
        let current = async move {
            let conn = db.get().await?;
            anyhow::Ok(view(&conn, id).await?)
        };
        ctx.spawn(current.into_actor(self).map(move |current, _, _| {
            let event = match current {
                Ok(Some(view)) => ServerEvent::TournamentUpdated {
                    id: watch.request_id,
                    tournament: Box::new(view),
                },
                Ok(None) => ServerEvent::error(watch.request_id, "not_found", "no such tournament"),
                Err(_) => {
                    ServerEvent::error(watch.request_id, "service_unavailable", "try again shortly")
                }
            };
            watch.push.do_send(Push::event(&event));
        }));
    }
}

/// `tournament.unwatch`, or the watching socket closed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unwatch {
    pub key: u64,
}

impl Handler<Unwatch> for TournamentRunner {
    type Result = ();

    fn handle(&mut self, unwatch: Unwatch, ctx: &mut Context<Self>) {
        self.watchers.retain(|(k, _)| *k != unwatch.key);
        self.pass(ctx);
    }
}

/// Makes sure every running tournament has its runner (at start, and then
/// every [`SWEEP`]: a runner that stopped or panicked is replaced), and
/// starts the full ones that start when full (a start that failed after
/// the last join). The number of running tournaments.
pub async fn resume_all(state: &AppState) -> anyhow::Result<usize> {
    let running = {
        let mut conn = state.db.get().await?;
        for id in tournaments::full_unstarted(&mut conn).await? {
            if let Err(refusal) = tournaments::start(&mut conn, id, None).await? {
                tracing::warn!(?refusal, tournament = id, "a full tournament did not start");
            }
        }
        tournaments::running_ids(&mut conn).await?
    };
    for &id in &running {
        if state.tournaments.get(&id).is_none() {
            TournamentRunner::open(state, id);
        }
    }
    Ok(running.len())
}

/// How often every running tournament is checked for a runner.
pub const SWEEP: Duration = Duration::from_secs(10);

/// Runs [`resume_all`] every [`SWEEP`], for the life of the node.
pub async fn sweep(state: AppState) {
    let mut tick = tokio::time::interval(SWEEP);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = resume_all(&state).await {
            tracing::warn!(error = %e, "tournament sweep failed");
        }
    }
}
