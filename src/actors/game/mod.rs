//! Pong on the real-time side: a [`pong::PongMatch`] actor per live match
//! under the game supervisor, the [`matchmaker::Matchmaker`] (queue and
//! invitations), and the [`GameDirectory`] that knows who is playing.
//!
//! Every match, however it was made (invitation, matchmaking, tournament),
//! starts through [`start_match`]: the players are reserved (one match at
//! a time each), the match is recorded, its actor starts, and both players
//! are told `game.match_found`.

pub mod matchmaker;
pub mod pong;
pub mod ticker;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::actors::registry::Push;
use crate::app::AppState;
use crate::db::{game, users};
use crate::domain::game::Side;
use crate::protocol::{ServerEvent, UserView};
use pong::PongMatch;

/// A live match, as listed by `GET /api/matches/live`.
#[derive(Debug, Clone)]
pub struct LiveMatch {
    pub match_id: i64,
    pub players: [i64; 2],
    pub points_to_win: u8,
    pub score: [u8; 2],
    pub tournament_id: Option<i64>,
    pub started_at: DateTime<Utc>,
}

#[derive(Default)]
struct Directory {
    /// Each player's match; `None` while one is being set up.
    playing: HashMap<i64, Option<i64>>,
    live: BTreeMap<i64, LiveMatch>,
}

/// Who plays which live match on this node.
#[derive(Default)]
pub struct GameDirectory {
    inner: Mutex<Directory>,
}

impl GameDirectory {
    fn lock(&self) -> std::sync::MutexGuard<'_, Directory> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the user is in (or about to start) a match.
    pub fn is_playing(&self, user: i64) -> bool {
        self.lock().playing.contains_key(&user)
    }

    /// Reserves both players for a new match; the one already busy, if any.
    fn reserve(&self, players: [i64; 2]) -> Result<(), i64> {
        let mut dir = self.lock();
        if let Some(&busy) = players.iter().find(|p| dir.playing.contains_key(p)) {
            return Err(busy);
        }
        for p in players {
            dir.playing.insert(p, None);
        }
        Ok(())
    }

    fn unreserve(&self, players: [i64; 2]) {
        let mut dir = self.lock();
        for p in players {
            if dir.playing.get(&p) == Some(&None) {
                dir.playing.remove(&p);
            }
        }
    }

    fn assign(&self, live: LiveMatch) {
        let mut dir = self.lock();
        for p in live.players {
            dir.playing.insert(p, Some(live.match_id));
        }
        dir.live.insert(live.match_id, live);
    }

    /// The match ended: its players are free again.
    pub fn release(&self, match_id: i64) {
        let mut dir = self.lock();
        if let Some(live) = dir.live.remove(&match_id) {
            for p in live.players {
                if dir.playing.get(&p) == Some(&Some(match_id)) {
                    dir.playing.remove(&p);
                }
            }
        }
    }

    pub fn set_score(&self, match_id: i64, score: [u8; 2]) {
        if let Some(live) = self.lock().live.get_mut(&match_id) {
            live.score = score;
        }
    }

    /// Live matches, oldest first.
    pub fn live(&self) -> Vec<LiveMatch> {
        self.lock().live.values().cloned().collect()
    }
}

/// Why a match could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("user {0} is already in a match")]
    Busy(i64),
    #[error("a player does not exist")]
    NoSuchUser,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Starts a match between `left` and `right`; its id.
pub async fn start_match(
    state: &AppState,
    left: i64,
    right: i64,
    points_to_win: u8,
    tournament_id: Option<i64>,
) -> Result<i64, StartError> {
    let players = [left, right];
    state.games.reserve(players).map_err(StartError::Busy)?;
    let created = async {
        let mut conn = state.db.get().await.map_err(anyhow::Error::from)?;
        let found = users::find_many(&conn, &players)
            .await
            .map_err(anyhow::Error::from)?;
        let views: Vec<UserView> = players
            .iter()
            .filter_map(|id| found.iter().find(|u| u.id == *id).map(UserView::from))
            .collect();
        let [left_view, right_view] =
            <[UserView; 2]>::try_from(views).map_err(|_| StartError::NoSuchUser)?;
        let id = game::create(
            &mut conn,
            left,
            right,
            i32::from(points_to_win),
            tournament_id,
        )
        .await
        .map_err(anyhow::Error::from)?;
        Ok::<_, StartError>((id, [left_view, right_view]))
    }
    .await;
    let (match_id, views) = match created {
        Ok(created) => created,
        Err(e) => {
            state.games.unreserve(players);
            return Err(e);
        }
    };
    state.games.assign(LiveMatch {
        match_id,
        players,
        points_to_win,
        score: [0, 0],
        tournament_id,
        started_at: Utc::now(),
    });
    for player in players {
        state.presence.set_in_game(state, player, true);
    }
    PongMatch::start(state, match_id, views.clone(), points_to_win, tournament_id);
    for (i, side) in [Side::Left, Side::Right].into_iter().enumerate() {
        state.sockets.push(
            players[i],
            &Push::event(&ServerEvent::MatchFound {
                match_id,
                side,
                opponent: views[1 - i].clone(),
                points_to_win,
                tournament_id,
            }),
        );
    }
    tracing::info!(match_id, left, right, "match started");
    Ok(match_id)
}
