//! Which login sessions are known to be live, so that checking an access
//! token does not cost a database round trip on every request.
//!
//! A positive answer is trusted for `ttl`; revocations made on this node
//! evict at once, those made on another node take at most `ttl` to bite.
//! An evicted session is remembered as revoked for `ttl`, so that a check
//! which read "live" just before the revocation cannot put it back.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

/// Past this many entries, expired ones are swept on insert.
const SWEEP_ABOVE: usize = 10_000;

pub struct SessionCache {
    ttl: Duration,
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    live: HashMap<Uuid, (i64, Instant)>,
    revoked: HashMap<Uuid, Instant>,
}

impl SessionCache {
    pub fn new(ttl: Duration) -> Self {
        SessionCache {
            ttl,
            entries: Mutex::default(),
        }
    }

    /// The session's user, if the session was seen live within `ttl`.
    pub fn get(&self, session_id: Uuid) -> Option<i64> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .live
            .get(&session_id)
            .filter(|(_, seen)| seen.elapsed() < self.ttl)
            .map(|(user_id, _)| *user_id)
    }

    /// Remembers a session seen live, unless it was revoked meanwhile.
    pub fn insert(&self, session_id: Uuid, user_id: i64) {
        if self.ttl.is_zero() {
            return;
        }
        let ttl = self.ttl;
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.live.len() + entries.revoked.len() > SWEEP_ABOVE {
            entries.live.retain(|_, (_, seen)| seen.elapsed() < ttl);
            entries.revoked.retain(|_, at| at.elapsed() < ttl);
        }
        if entries
            .revoked
            .get(&session_id)
            .is_some_and(|at| at.elapsed() < ttl)
        {
            return;
        }
        entries.live.insert(session_id, (user_id, Instant::now()));
    }

    pub fn evict(&self, session_ids: &[Uuid]) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for id in session_ids {
            entries.live.remove(id);
            entries.revoked.insert(*id, Instant::now());
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
        // A late "it was live" answer cannot bring it back.
        cache.insert(sid, 3);
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
