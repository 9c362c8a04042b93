//! `PongMatch`: one actor per live match, under the game supervisor. It
//! steps the pure simulation (`domain::game`) from the players' latest
//! inputs at `GAME_TICK_RATE`, when its thread's tick driver (`ticker`)
//! says, and sends each tick's snapshot (serialised once) to every socket
//! attached to the match: both players' and spectators'.
//!
//! Inputs do not come as messages: a player's sockets write them into the
//! player's [`InputSlot`], which `Join` hands them, and the match reads the
//! slots when it ticks. Players send an input per tick each, and a message
//! per input would wake the game thread twice a tick per match besides its
//! own tick (`docs/benchmarks.md`).
//!
//! A player with no socket attached (a disconnect, or not joined yet)
//! pauses the match. Back within `GAME_RECONNECT_GRACE_MS`, the match goes
//! on; past it, that player forfeits, or, if the other is away too, the
//! match is abandoned (no winner, no rating change). The result is written
//! once, when the match ends.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::Value;

use super::ticker::{self, Tick};
use crate::actors::registry::Push;
use crate::actors::supervisor::{Child, Lease, Supervisor};
use crate::actors::tournament::{Changed, TournamentRunner};
use crate::app::AppState;
use crate::db::{game, social};
use crate::domain::game::{Event, Game, Input, Phase};
use crate::protocol::{Pair, ServerEvent, Snapshot, UserView};

pub type Matches = Supervisor<PongMatch>;

/// Tries at writing a result before giving up (with doubling waits from
/// 200 ms: about 6 s in all).
const WRITE_ATTEMPTS: u32 = 5;
/// A player may be away at most this many reconnect graces in one match.
const AWAY_BUDGET: u32 = 3;

/// A player's latest input and its number, written by the player's
/// sockets and read by the match at each tick.
#[derive(Default)]
pub struct InputSlot(Mutex<(u64, Input)>);

impl InputSlot {
    fn latest(&self) -> MutexGuard<'_, (u64, Input)> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes `input` unless the slot holds one numbered `seq` or later:
    /// older inputs that arrive late change nothing.
    pub fn offer(&self, seq: u64, input: Input) {
        let mut latest = self.latest();
        if seq > latest.0 {
            *latest = (seq, input);
        }
    }

    /// Lets go of what the player held; with `renumber`, the next input may
    /// be numbered from 1 again.
    fn let_go(&self, renumber: bool) {
        let mut latest = self.latest();
        latest.1 = Input::default();
        if renumber {
            latest.0 = 0;
        }
    }
}

/// A socket attached to the match.
struct Viewer {
    /// The socket's key in the session directory.
    key: u64,
    user_id: i64,
    push: Recipient<Push>,
}

pub struct PongMatch {
    lease: Lease<Self>,
    state: AppState,
    players: [UserView; 2],
    game: Game,
    inputs: [Arc<InputSlot>; 2],
    viewers: Vec<Viewer>,
    /// Since when each player has had no socket attached.
    away_since: [Option<Instant>; 2],
    /// Which players were away at the last tick (to announce changes).
    was_away: [bool; 2],
    /// The tournament this match belongs to, told when it ends.
    tournament_id: Option<i64>,
    /// Time each player spent away before their current absence.
    away_total: [Duration; 2],
    /// The players were freed (see `release`).
    released: bool,
    /// The result is being written; no more ticks.
    ending: bool,
}

impl Actor for PongMatch {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let period = Duration::from_secs_f64(1.0 / f64::from(self.game.tick_rate));
        if let Err(e) = ticker::register(period, ctx.address().recipient()) {
            tracing::error!(error = %e, match_id = self.id(), "no tick timer for a match");
            self.finish(None, "interrupted", ctx);
        }
    }
}

impl Handler<Tick> for PongMatch {
    type Result = ();

    fn handle(&mut self, tick: Tick, ctx: &mut Context<Self>) {
        match tick {
            Tick::Due(due) => {
                // How late this tick runs against the fixed schedule.
                self.state
                    .metrics
                    .tick_lateness_seconds
                    .observe_duration(due.elapsed());
                self.tick(ctx);
            }
            // Without a clock the match cannot go on: it ends as cut
            // short, and a tournament plays it again.
            Tick::Stopped => self.finish(None, "interrupted", ctx),
        }
    }
}

/// A match actor that goes without finishing (its handler panicked)
/// still frees its players; its record stays live until the next start
/// settles it as interrupted.
impl Drop for PongMatch {
    fn drop(&mut self) {
        self.release();
    }
}

impl Child for PongMatch {
    /// The match id.
    type Key = i64;
}

impl PongMatch {
    pub fn start(
        state: &AppState,
        match_id: i64,
        players: [UserView; 2],
        points_to_win: u8,
        tournament_id: Option<i64>,
    ) -> Addr<Self> {
        let for_child = state.for_actors();
        let tick_rate = state.settings.game.tick_rate;
        state.matches.get_or_start(&match_id, move |lease, _| {
            let now = Instant::now();
            PongMatch {
                lease,
                state: for_child,
                players,
                game: Game::new(points_to_win, tick_rate),
                inputs: Default::default(),
                viewers: Vec::new(),
                // Not joined yet counts as away: each has the grace to join.
                away_since: [Some(now); 2],
                was_away: [true; 2],
                tournament_id,
                away_total: [Duration::ZERO; 2],
                released: false,
                ending: false,
            }
        })
    }

    fn id(&self) -> i64 {
        *self.lease.key()
    }

    fn side_of(&self, user_id: i64) -> Option<usize> {
        self.players.iter().position(|p| p.id == user_id)
    }

    fn broadcast(&self, push: &Push) {
        for viewer in &self.viewers {
            viewer.push.do_send(push.clone());
        }
    }

    fn snapshot(&self, last_input_seq: [u64; 2]) -> Snapshot {
        Snapshot {
            tick: self.game.tick,
            ball: self.game.ball,
            paddles: Pair::of(self.game.paddles),
            score: Pair::of(self.game.score),
            last_input_seq: Pair::of(last_input_seq),
        }
    }

    /// The players' latest inputs and their numbers.
    fn latest_inputs(&self) -> ([Input; 2], [u64; 2]) {
        let [left, right] = [0, 1].map(|side| *self.inputs[side].latest());
        ([left.1, right.1], [left.0, right.0])
    }

    fn away(&self) -> Vec<i64> {
        (0..2)
            .filter(|&i| self.away_since[i].is_some())
            .map(|i| self.players[i].id)
            .collect()
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.ending {
            return;
        }
        let now = Instant::now();
        let grace = self.state.settings.game.reconnect_grace;
        let present: [bool; 2] =
            [0, 1].map(|i| self.viewers.iter().any(|v| v.user_id == self.players[i].id));
        for ((here, away_since), total) in present
            .iter()
            .zip(&mut self.away_since)
            .zip(&mut self.away_total)
        {
            match (*here, *away_since) {
                (true, Some(since)) => {
                    *total += now - since;
                    *away_since = None;
                }
                (false, None) => *away_since = Some(now),
                _ => {}
            }
        }
        // Away longer than the grace at once, or than AWAY_BUDGET graces in
        // all (so leaving and coming back cannot stall a match forever).
        let expired = [0, 1].map(|i| {
            self.away_since[i].is_some_and(|since| {
                now - since >= grace || self.away_total[i] + (now - since) >= grace * AWAY_BUDGET
            })
        });
        // The player whose grace ran out forfeits (even if the other is
        // away too, but still within theirs); both out: abandoned.
        match expired {
            [true, true] => return self.finish(None, "abandoned", ctx),
            [true, false] => return self.finish(Some(1), "forfeit", ctx),
            [false, true] => return self.finish(Some(0), "forfeit", ctx),
            [false, false] => {}
        }
        let away = [!present[0], !present[1]];
        if away != self.was_away {
            self.was_away = away;
            let event = if away.iter().any(|&a| a) {
                ServerEvent::Paused {
                    match_id: self.id(),
                    waiting_for: self.away(),
                    grace_ms: u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
                }
            } else {
                ServerEvent::Resumed {
                    match_id: self.id(),
                }
            };
            self.broadcast(&Push::event(&event));
        }
        if away.iter().any(|&a| a) {
            return;
        }
        let (inputs, seqs) = self.latest_inputs();
        let mut events = Vec::new();
        for _ in 0..self.state.settings.game.time_scale {
            events.extend(self.game.step(inputs));
        }
        let snapshot = ServerEvent::GameSnapshot {
            match_id: self.id(),
            snapshot: self.snapshot(seqs),
        };
        // Serialised once; stale snapshots may be dropped for slow sockets.
        let mut push = Push::event(&snapshot);
        push.droppable = true;
        self.broadcast(&push);
        for event in events {
            match event {
                Event::Countdown { seconds } => {
                    self.broadcast(&Push::event(&ServerEvent::Countdown {
                        match_id: self.id(),
                        seconds,
                    }))
                }
                Event::Point { scorer } => {
                    self.state.games.set_score(self.id(), self.game.score);
                    self.broadcast(&Push::event(&ServerEvent::Point {
                        match_id: self.id(),
                        scorer,
                        score: Pair::of(self.game.score),
                    }));
                }
                Event::Ended { winner } => self.finish(Some(winner.index()), "score", ctx),
            }
        }
    }

    /// Records the result, tells everyone attached, frees the players and
    /// stops. The actor keeps running (without ticking) until the result
    /// is written.
    fn finish(&mut self, winner: Option<usize>, reason: &'static str, ctx: &mut Context<Self>) {
        if self.ending {
            return;
        }
        self.ending = true;
        let outcome = game::Outcome {
            match_id: self.id(),
            score: self.game.score.map(i32::from),
            winner,
            reason,
        };
        let db = self.state.db.clone();
        // The result is written before anyone is told; a failed write is
        // retried (the players stay reserved meanwhile).
        let write = async move {
            let mut delay = Duration::from_millis(200);
            let mut attempt = 1;
            loop {
                let result = async {
                    let mut conn = db.get().await?;
                    anyhow::Ok(game::finish(&mut conn, outcome).await?)
                }
                .await;
                match result {
                    Ok(changes) => return Ok(changes),
                    Err(e) if attempt >= WRITE_ATTEMPTS => return Err(e),
                    Err(e) => {
                        tracing::warn!(error = %e, attempt, "recording a match result failed; retrying");
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                        attempt += 1;
                    }
                }
            }
        };
        ctx.spawn(write.into_actor(self).map(move |result, act, ctx| {
            let rating_changes = match result {
                Ok(changes) => changes.map(Pair::of),
                Err(e) => {
                    tracing::error!(error = %e, match_id = act.id(), "recording a match result failed for good");
                    None
                }
            };
            let ended = Push::event(&ServerEvent::GameEnded {
                match_id: act.id(),
                winner: winner.map(|w| act.players[w].id),
                score: Pair::of(act.game.score),
                reason: reason.to_string(),
                rating_changes,
            });
            // Every socket of both players (attached or not: a player who
            // forfeited by being away learns it too), and the spectators.
            for p in &act.players {
                act.state.sockets.push(p.id, &ended);
            }
            for viewer in act.viewers.iter().filter(|v| act.side_of(v.user_id).is_none()) {
                viewer.push.do_send(ended.clone());
            }
            act.release();
            tracing::info!(match_id = act.id(), ?winner, reason, "match ended");
            if let Some(tournament) = act.tournament_id {
                TournamentRunner::open(&act.state, tournament).do_send(Changed);
            }
            act.lease.release();
            ctx.stop();
        }));
    }

    /// Frees the players (presence first, so a new match's `in_game` is
    /// never undone by this one's end).
    fn release(&mut self) {
        if std::mem::replace(&mut self.released, true) {
            return;
        }
        for p in &self.players {
            self.state.presence.set_in_game(&self.state, p.id, false);
        }
        self.state.games.release(self.id());
    }

    fn state_for(&self, role: &str, id: Option<Value>) -> ServerEvent {
        ServerEvent::MatchState {
            id,
            match_id: self.id(),
            role: role.to_string(),
            players: Pair {
                left: self.players[0].clone(),
                right: self.players[1].clone(),
            },
            points_to_win: self.game.points_to_win,
            tick_rate: self.game.tick_rate,
            phase: if self.ending {
                Phase::Ended
            } else {
                self.game.phase
            },
            waiting_for: self.away(),
            countdown: self.game.countdown_seconds(),
            snapshot: self.snapshot(self.latest_inputs().1),
        }
    }

    fn attach(&mut self, viewer: Viewer, role: &str, id: Option<Value>) {
        viewer.push.do_send(Push::event(&self.state_for(role, id)));
        self.viewers.retain(|v| v.key != viewer.key);
        self.viewers.push(viewer);
    }
}

/// Attaches a socket (`game.join`). A player's socket gets the player's
/// input slot back; a spectator's (or any, once the match is over) `None`.
#[derive(Message)]
#[rtype(result = "Option<Arc<InputSlot>>")]
pub struct Join {
    pub key: u64,
    pub user_id: i64,
    pub push: Recipient<Push>,
    pub request_id: Option<Value>,
}

impl Handler<Join> for PongMatch {
    type Result = Option<Arc<InputSlot>>;

    fn handle(&mut self, join: Join, ctx: &mut Context<Self>) -> Self::Result {
        if self.ending {
            join.push.do_send(Push::event(&ServerEvent::error(
                join.request_id,
                "match_over",
                "this match is over",
            )));
            return None;
        }
        let viewer = Viewer {
            key: join.key,
            user_id: join.user_id,
            push: join.push,
        };
        if let Some(side) = self.side_of(join.user_id) {
            // A player coming back on a fresh socket numbers inputs anew.
            if !self.viewers.iter().any(|v| v.user_id == join.user_id) {
                self.inputs[side].let_go(true);
            }
            let role = if side == 0 { "left" } else { "right" };
            self.attach(viewer, role, join.request_id);
            return Some(self.inputs[side].clone());
        }
        // A spectator: anyone not blocked by (or blocking) a player.
        let db = self.state.db.clone();
        let players = [self.players[0].id, self.players[1].id];
        let check = async move {
            let conn = db.get().await?;
            anyhow::Ok(social::blocked_among(&conn, join.user_id, &players).await?)
        };
        let request_id = join.request_id;
        ctx.spawn(
            check
                .into_actor(self)
                .map(move |blocked, act, _| match blocked {
                    Ok(blocked) if blocked.is_empty() => {
                        act.attach(viewer, "spectator", request_id)
                    }
                    Ok(_) => viewer.push.do_send(Push::event(&ServerEvent::error(
                        request_id,
                        "not_allowed",
                        "you may not watch this match",
                    ))),
                    Err(e) => {
                        tracing::warn!(error = %e, "spectator check failed");
                        viewer.push.do_send(Push::event(&ServerEvent::error(
                            request_id,
                            "service_unavailable",
                            "try again shortly",
                        )));
                    }
                }),
        );
        None
    }
}

/// Detaches a socket (`game.leave`, or the socket closed).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    pub key: u64,
}

impl Handler<Leave> for PongMatch {
    type Result = ();

    fn handle(&mut self, leave: Leave, _: &mut Context<Self>) {
        let Some(gone) = self.viewers.iter().position(|v| v.key == leave.key) else {
            return;
        };
        let user_id = self.viewers.remove(gone).user_id;
        // A player's last socket left: what they held is let go.
        if let Some(side) = self.side_of(user_id)
            && !self.viewers.iter().any(|v| v.user_id == user_id)
        {
            self.inputs[side].let_go(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: Input = Input {
        up: true,
        down: false,
    };
    const DOWN: Input = Input {
        up: false,
        down: true,
    };

    #[test]
    fn an_input_slot_keeps_the_newest_input() {
        let slot = InputSlot::default();
        slot.offer(2, UP);
        slot.offer(1, DOWN);
        slot.offer(2, DOWN);
        assert_eq!(*slot.latest(), (2, UP));
        slot.offer(5, DOWN);
        assert_eq!(*slot.latest(), (5, DOWN));
    }

    #[test]
    fn letting_go_keeps_the_numbering_unless_asked() {
        let slot = InputSlot::default();
        slot.offer(7, UP);
        slot.let_go(false);
        assert_eq!(*slot.latest(), (7, Input::default()));
        slot.offer(3, UP);
        assert_eq!(slot.latest().1, Input::default());
        slot.let_go(true);
        slot.offer(1, DOWN);
        assert_eq!(*slot.latest(), (1, DOWN));
    }
}
