//! Which login sessions are known to be live, so that checking an access
//! token does not cost a database round trip on every request.
//!
//! A positive answer is trusted for `ttl`; revocations made on this node
//! evict at once, those made on another node take at most `ttl` to bite.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

/// Past this many entries, expired ones are swept on insert.
const SWEEP_ABOVE: usize = 10_000;

pub struct SessionCache {
    ttl: Duration,
    live: Mutex<HashMap<Uuid, (i64, Instant)>>,
}

impl SessionCache {
    pub fn new(ttl: Duration) -> Self {
        SessionCache {
            ttl,
            live: Mutex::new(HashMap::new()),
        }
    }

    /// The session's user, if the session was seen live within `ttl`.
    pub fn get(&self, session_id: Uuid) -> Option<i64> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.get(&session_id)
            .filter(|(_, seen)| seen.elapsed() < self.ttl)
            .map(|(user_id, _)| *user_id)
    }

    pub fn insert(&self, session_id: Uuid, user_id: i64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if live.len() > SWEEP_ABOVE {
            let ttl = self.ttl;
            live.retain(|_, (_, seen)| seen.elapsed() < ttl);
        }
        live.insert(session_id, (user_id, Instant::now()));
    }

    pub fn evict(&self, session_ids: &[Uuid]) {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        for id in session_ids {
            live.remove(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_until_evicted() {
        let cache = SessionCache::new(Duration::from_secs(60));
        let sid = Uuid::new_v4();
        assert_eq!(cache.get(sid), None);
        cache.insert(sid, 3);
        assert_eq!(cache.get(sid), Some(3));
        cache.evict(&[sid]);
        assert_eq!(cache.get(sid), None);
    }

    #[test]
    fn zero_ttl_caches_nothing() {
        let cache = SessionCache::new(Duration::ZERO);
        let sid = Uuid::new_v4();
        cache.insert(sid, 3);
        assert_eq!(cache.get(sid), None);
    }
}
