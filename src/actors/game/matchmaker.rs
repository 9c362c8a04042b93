//! `Matchmaker`: the matchmaking queue and the pending invitations, one
//! actor per node (the only child of its supervisor).
//!
//! The queue pairs players by rating: two players may meet when their
//! ratings differ by at most an allowance that starts at
//! [`BASE_GAP`] and grows by [`GAP_PER_SECOND`] for every second each has
//! waited (the smaller of the two allowances counts). A player leaves the
//! queue with `game.queue.leave`, when the socket that joined closes, or
//! when a match starts for them.
//!
//! An invitation lives `GAME_INVITE_TTL_MS`: the invitee gets a
//! `game_invite` notification, may accept (the match starts) or decline
//! (the inviter gets a `game_invite_declined` notification); unanswered,
//! both get `game.invite_expired`.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{StartError, start_match};
use crate::actors::notifications::notify;
use crate::actors::registry::Push;
use crate::actors::supervisor::{Child, Lease, Supervisor};
use crate::app::AppState;
use crate::db::{game, social, users};
use crate::domain::game::DEFAULT_POINTS_TO_WIN;
use crate::domain::notifications::Notification;
use crate::protocol::ServerEvent;

pub type Matchmakers = Supervisor<Matchmaker>;

/// Rating gap accepted at once, and its growth per second of waiting.
pub const BASE_GAP: f64 = 100.0;
pub const GAP_PER_SECOND: f64 = 50.0;
const PAIRING_INTERVAL: Duration = Duration::from_millis(250);

struct Queued {
    user_id: i64,
    /// The socket that joined: its closing leaves the queue.
    session_key: u64,
    rating: i32,
    since: Instant,
    push: Recipient<Push>,
}

struct Invite {
    from: i64,
    to: i64,
    points_to_win: u8,
}

pub struct Matchmaker {
    _lease: Lease<Self>,
    state: AppState,
    queue: Vec<Queued>,
    /// Joins whose rating is being read: a leave meanwhile cancels them.
    joining: HashSet<(i64, u64)>,
    /// Pairs found to block each other: never paired by the queue.
    avoid: HashSet<(i64, i64)>,
    invites: HashMap<i64, Invite>,
}

impl Actor for Matchmaker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(PAIRING_INTERVAL, |act, _| act.pair());
    }
}

impl Child for Matchmaker {
    type Key = ();
}

impl Matchmaker {
    /// The node's matchmaker (started on first use).
    pub fn get(state: &AppState) -> Addr<Self> {
        let for_child = state.for_actors();
        state
            .matchmaker
            .get_or_start(&(), move |lease, _| Matchmaker {
                _lease: lease,
                state: for_child,
                queue: Vec::new(),
                joining: HashSet::new(),
                avoid: HashSet::new(),
                invites: HashMap::new(),
            })
    }

    /// Pairs what can be paired now.
    fn pair(&mut self) {
        // Entries that went stale: their socket closed, or they started a
        // match some other way.
        let games = &self.state.games;
        self.queue
            .retain(|q| q.push.connected() && !games.is_playing(q.user_id));
        if self.queue.len() < 2 {
            return;
        }
        let now = Instant::now();
        self.queue.sort_by_key(|q| (q.rating, q.since));
        let allowance =
            |q: &Queued| BASE_GAP + GAP_PER_SECOND * now.duration_since(q.since).as_secs_f64();
        let mut i = 0;
        while i + 1 < self.queue.len() {
            let (a, b) = (&self.queue[i], &self.queue[i + 1]);
            let gap = f64::from((a.rating - b.rating).abs());
            let avoided = self.avoid.contains(&ordered(a.user_id, b.user_id));
            if !avoided && gap <= allowance(a).min(allowance(b)) {
                let b = self.queue.remove(i + 1);
                let a = self.queue.remove(i);
                self.launch(a, b);
            } else {
                i += 1;
            }
        }
    }

    /// Starts a match for two paired players (the longer waiter on the
    /// left), unless they block each other: then both go back in the
    /// queue, never to be paired together.
    fn launch(&self, a: Queued, b: Queued) {
        let state = self.state.clone();
        let (left, right) = if a.since <= b.since { (a, b) } else { (b, a) };
        let me = Matchmaker::get(&state);
        actix_web::rt::spawn(async move {
            let blocked = async {
                let mut conn = state.db.get().await?;
                anyhow::Ok(
                    social::blocked_either_way(&mut conn, left.user_id, right.user_id).await?,
                )
            }
            .await;
            if let Ok(true) = blocked {
                me.do_send(Requeue(left, right));
                return;
            }
            if let Err(e) = start_match(
                &state,
                left.user_id,
                right.user_id,
                DEFAULT_POINTS_TO_WIN,
                None,
            )
            .await
            {
                tracing::warn!(error = %e, "matchmaking could not start a match");
                for q in [left, right] {
                    q.push.do_send(Push::event(&ServerEvent::error(
                        None,
                        "match_not_started",
                        "the match could not start; join the queue again",
                    )));
                }
            }
        });
    }
}

fn ordered(a: i64, b: i64) -> (i64, i64) {
    (a.min(b), a.max(b))
}

/// Two paired players who block each other go back in the queue.
#[derive(Message)]
#[rtype(result = "()")]
struct Requeue(Queued, Queued);

impl Handler<Requeue> for Matchmaker {
    type Result = ();

    fn handle(&mut self, Requeue(a, b): Requeue, _: &mut Context<Self>) {
        self.avoid.insert(ordered(a.user_id, b.user_id));
        // Only those still connected; `pair` drops the rest anyway.
        self.queue
            .extend([a, b].into_iter().filter(|q| q.push.connected()));
    }
}

fn reply(to: &Recipient<Push>, event: &ServerEvent) {
    to.do_send(Push::event(event));
}

/// `game.queue.join`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct JoinQueue {
    pub user_id: i64,
    pub session_key: u64,
    pub push: Recipient<Push>,
    pub request_id: Option<Value>,
}

impl Handler<JoinQueue> for Matchmaker {
    type Result = ();

    fn handle(&mut self, join: JoinQueue, ctx: &mut Context<Self>) {
        if self.state.games.is_playing(join.user_id) {
            let error = ServerEvent::error(
                join.request_id,
                "already_in_match",
                "finish your match first",
            );
            return reply(&join.push, &error);
        }
        if let Some(q) = self.queue.iter_mut().find(|q| q.user_id == join.user_id) {
            // Already waiting: this socket now holds the place.
            q.session_key = join.session_key;
            q.push = join.push.clone();
            return reply(
                &join.push,
                &ServerEvent::Ack {
                    id: join.request_id,
                },
            );
        }
        self.joining.insert((join.user_id, join.session_key));
        let db = self.state.db.clone();
        let user_id = join.user_id;
        let rating = async move {
            let conn = db.get().await?;
            anyhow::Ok(game::stats(&conn, user_id).await?.rating)
        };
        ctx.spawn(
            rating
                .into_actor(self)
                .map(move |rating, act, _| match rating {
                    Ok(rating) => {
                        // Left (or the socket closed) while the rating was read.
                        if !act.joining.remove(&(join.user_id, join.session_key)) {
                            return;
                        }
                        if !act.queue.iter().any(|q| q.user_id == join.user_id) {
                            act.queue.push(Queued {
                                user_id: join.user_id,
                                session_key: join.session_key,
                                rating,
                                since: Instant::now(),
                                push: join.push.clone(),
                            });
                        }
                        reply(
                            &join.push,
                            &ServerEvent::Ack {
                                id: join.request_id,
                            },
                        );
                        act.pair();
                    }
                    Err(e) => {
                        act.joining.remove(&(join.user_id, join.session_key));
                        tracing::warn!(error = %e, "reading a rating failed");
                        let error = ServerEvent::error(
                            join.request_id,
                            "service_unavailable",
                            "try again shortly",
                        );
                        reply(&join.push, &error);
                    }
                }),
        );
    }
}

/// `game.queue.leave` (with a reply), or the socket that joined closed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct LeaveQueue {
    pub user_id: i64,
    /// Only if this socket holds the place (a closing socket); any for
    /// `game.queue.leave`.
    pub session_key: Option<u64>,
    pub reply: Option<(Recipient<Push>, Option<Value>)>,
}

impl Handler<LeaveQueue> for Matchmaker {
    type Result = ();

    fn handle(&mut self, leave: LeaveQueue, _: &mut Context<Self>) {
        self.joining.retain(|(user, key)| {
            *user != leave.user_id || leave.session_key.is_some_and(|k| k != *key)
        });
        self.queue.retain(|q| {
            q.user_id != leave.user_id || leave.session_key.is_some_and(|k| k != q.session_key)
        });
        if let Some((push, id)) = leave.reply {
            reply(&push, &ServerEvent::Ack { id });
        }
    }
}

/// `game.invite`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SendInvite {
    pub from: i64,
    pub to: i64,
    pub points_to_win: u8,
    pub push: Recipient<Push>,
    pub request_id: Option<Value>,
}

impl Handler<SendInvite> for Matchmaker {
    type Result = ();

    fn handle(&mut self, invite: SendInvite, ctx: &mut Context<Self>) {
        if self.state.games.is_playing(invite.from) {
            let error = ServerEvent::error(
                invite.request_id,
                "already_in_match",
                "finish your match first",
            );
            return reply(&invite.push, &error);
        }
        let db = self.state.db.clone();
        let (from, to) = (invite.from, invite.to);
        let check = async move {
            let mut conn = db.get().await?;
            if users::find(&conn, to).await?.is_none() {
                return anyhow::Ok(Some(("not_found", "no such user")));
            }
            if social::blocked_either_way(&mut conn, from, to).await? {
                return Ok(Some(("user_blocked", "one of you has blocked the other")));
            }
            Ok(None)
        };
        ctx.spawn(check.into_actor(self).map(move |checked, act, ctx| {
            let refusal = match checked {
                Ok(refusal) => refusal,
                Err(e) => {
                    tracing::warn!(error = %e, "invitation check failed");
                    Some(("service_unavailable", "try again shortly"))
                }
            };
            if let Some((code, message)) = refusal {
                return reply(
                    &invite.push,
                    &ServerEvent::error(invite.request_id, code, message),
                );
            }
            // Random, so ids from before a restart are not reused.
            let invite_id = rand::random_range(1..(1_i64 << 53));
            let ttl = act.state.settings.game.invite_ttl;
            let expires_at: DateTime<Utc> =
                Utc::now() + chrono::Duration::from_std(ttl).unwrap_or_default();
            act.invites.insert(
                invite_id,
                Invite {
                    from,
                    to,
                    points_to_win: invite.points_to_win,
                },
            );
            ctx.run_later(ttl, move |act, _| act.expire(invite_id));
            reply(
                &invite.push,
                &ServerEvent::InviteSent {
                    id: invite.request_id,
                    invite_id,
                    to,
                    points_to_win: invite.points_to_win,
                    expires_at,
                },
            );
            notify(
                &act.state,
                to,
                Notification::GameInvite {
                    invite_id,
                    from,
                    points_to_win: invite.points_to_win,
                },
            );
        }));
    }
}

impl Matchmaker {
    fn expire(&mut self, invite_id: i64) {
        if let Some(invite) = self.invites.remove(&invite_id) {
            let push = Push::event(&ServerEvent::InviteExpired { invite_id });
            self.state.sockets.push(invite.from, &push);
            self.state.sockets.push(invite.to, &push);
        }
    }
}

/// `game.invite.accept` / `game.invite.decline`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AnswerInvite {
    pub invite_id: i64,
    pub user_id: i64,
    pub accept: bool,
    pub push: Recipient<Push>,
    pub request_id: Option<Value>,
}

impl Handler<AnswerInvite> for Matchmaker {
    type Result = ();

    fn handle(&mut self, answer: AnswerInvite, _: &mut Context<Self>) {
        let mine = self
            .invites
            .get(&answer.invite_id)
            .is_some_and(|i| i.to == answer.user_id);
        if !mine {
            let error = ServerEvent::error(
                answer.request_id,
                "not_found",
                "no such invitation (it may have expired)",
            );
            return reply(&answer.push, &error);
        }
        let Some(invite) = self.invites.remove(&answer.invite_id) else {
            return;
        };
        if !answer.accept {
            notify(
                &self.state,
                invite.from,
                Notification::GameInviteDeclined {
                    invite_id: answer.invite_id,
                    by: answer.user_id,
                },
            );
            return reply(
                &answer.push,
                &ServerEvent::Ack {
                    id: answer.request_id,
                },
            );
        }
        // Both leave the queue: they are about to play.
        self.queue
            .retain(|q| q.user_id != invite.from && q.user_id != invite.to);
        let state = self.state.clone();
        actix_web::rt::spawn(async move {
            // A block made since the invitation cancels it.
            let blocked = async {
                let mut conn = state.db.get().await?;
                anyhow::Ok(social::blocked_either_way(&mut conn, invite.from, invite.to).await?)
            }
            .await;
            if !matches!(blocked, Ok(false)) {
                let (code, message) = match blocked {
                    Ok(_) => ("user_blocked", "one of you has blocked the other"),
                    Err(_) => ("service_unavailable", "try again shortly"),
                };
                return reply(
                    &answer.push,
                    &ServerEvent::error(answer.request_id, code, message),
                );
            }
            match start_match(&state, invite.from, invite.to, invite.points_to_win, None).await {
                Ok(_) => reply(
                    &answer.push,
                    &ServerEvent::Ack {
                        id: answer.request_id,
                    },
                ),
                Err(StartError::Busy(user)) => {
                    let message = if user == answer.user_id {
                        "finish your match first"
                    } else {
                        "the other player is in a match"
                    };
                    reply(
                        &answer.push,
                        &ServerEvent::error(answer.request_id, "already_in_match", message),
                    );
                }
                Err(e) => {
                    tracing::warn!(error = %e, "starting an invited match failed");
                    reply(
                        &answer.push,
                        &ServerEvent::error(
                            answer.request_id,
                            "service_unavailable",
                            "try again shortly",
                        ),
                    );
                }
            }
        });
    }
}
