//! `PresenceTracker`: who is online on this node. A user is online from
//! their first socket until a short grace after their last one closes (so a
//! page reload does not flicker), then offline with `last_seen_at`
//! persisted. Friends hear of each change in real time; a block removes the
//! friendship, so blocked users never hear of each other.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::registry::Push;
use crate::app::AppState;
use crate::db::{social, users};
use crate::protocol::ServerEvent;

#[derive(Default)]
struct Entry {
    sockets: usize,
    /// Bumped at every change, so a grace timer knows whether it is stale.
    generation: u64,
}

pub struct PresenceTracker {
    grace: Duration,
    /// Users online (including those within the grace after their last socket).
    online: Mutex<HashMap<i64, Entry>>,
    /// Users playing a match on this node.
    in_game: Mutex<HashSet<i64>>,
}

impl PresenceTracker {
    pub fn new(grace: Duration) -> Self {
        PresenceTracker {
            grace,
            online: Mutex::default(),
            in_game: Mutex::default(),
        }
    }

    pub fn is_online(&self, user_id: i64) -> bool {
        let online = self.online.lock().unwrap_or_else(|p| p.into_inner());
        online.contains_key(&user_id)
    }

    /// `in_game`, `online` or `offline`.
    pub fn status(&self, user_id: i64) -> &'static str {
        if !self.is_online(user_id) {
            "offline"
        } else if self
            .in_game
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&user_id)
        {
            "in_game"
        } else {
            "online"
        }
    }

    /// The user started (`true`) or finished playing a match: friends see
    /// `in_game`, then `online` again (or nothing if they went offline).
    pub fn set_in_game(&self, state: &AppState, user_id: i64, playing: bool) {
        let changed = {
            let mut in_game = self.in_game.lock().unwrap_or_else(|p| p.into_inner());
            if playing {
                in_game.insert(user_id)
            } else {
                in_game.remove(&user_id)
            }
        };
        if changed && self.is_online(user_id) {
            announce(state.clone(), user_id, self.status(user_id), None);
        }
    }

    /// A socket of the user opened.
    pub fn opened(&self, state: &AppState, user_id: i64) {
        let newly_online = {
            let mut online = self.online.lock().unwrap_or_else(|p| p.into_inner());
            let newly = !online.contains_key(&user_id);
            let entry = online.entry(user_id).or_default();
            entry.sockets += 1;
            entry.generation += 1;
            newly
        };
        if newly_online {
            announce(state.clone(), user_id, self.status(user_id), None);
        }
    }

    /// A socket of the user closed: after the grace, if no other opened,
    /// the user goes offline.
    pub fn closed(&self, state: &AppState, user_id: i64) {
        let generation = {
            let mut online = self.online.lock().unwrap_or_else(|p| p.into_inner());
            let Some(entry) = online.get_mut(&user_id) else {
                return;
            };
            entry.sockets = entry.sockets.saturating_sub(1);
            entry.generation += 1;
            if entry.sockets > 0 {
                return;
            }
            entry.generation
        };
        let state = state.clone();
        let grace = self.grace;
        actix_web::rt::spawn(async move {
            tokio::time::sleep(grace).await;
            let gone = {
                let mut online = state
                    .presence
                    .online
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                let still_gone = online
                    .get(&user_id)
                    .is_some_and(|e| e.sockets == 0 && e.generation == generation);
                if still_gone {
                    online.remove(&user_id);
                }
                still_gone
            };
            if gone {
                let now = Utc::now();
                match state.db.get().await {
                    Ok(mut conn) => {
                        if let Err(e) = users::set_last_seen(&mut conn, user_id, now).await {
                            tracing::warn!(error = %e, user_id, "recording last_seen_at failed");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "recording last_seen_at failed"),
                }
                announce(state, user_id, "offline", Some(now));
            }
        });
    }
}

/// Tells the user's friends (their sockets on this node) of a change.
fn announce(
    state: AppState,
    user_id: i64,
    status: &'static str,
    last_seen_at: Option<DateTime<Utc>>,
) {
    actix_web::rt::spawn(async move {
        let friends = async {
            let mut conn = state.db.get().await?;
            anyhow::Ok(social::all_friend_ids(&mut conn, user_id).await?)
        }
        .await;
        match friends {
            Ok(friends) => {
                let push = Push::event(&ServerEvent::Presence {
                    user_id,
                    status: status.to_string(),
                    last_seen_at,
                });
                for friend in friends {
                    state.sockets.push(friend, &push);
                }
            }
            Err(e) => tracing::warn!(error = %e, user_id, "presence broadcast failed"),
        }
    });
}
