//! Rules of the real-time connection that need no runtime: the message rate
//! limit and the bad-message window.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A token bucket: `burst` messages at once, then `per_sec` a second.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    pub fn new(burst: u32, per_sec: u32, now: Instant) -> Self {
        TokenBucket {
            capacity: f64::from(burst),
            per_sec: f64::from(per_sec),
            tokens: f64::from(burst),
            updated: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.updated = now;
    }

    /// Whole tokens available now (a full bucket has `burst`).
    pub fn available(&mut self, now: Instant) -> u32 {
        self.refill(now);
        // Truncation is the point: whole tokens only.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let whole = self.tokens.floor() as u32;
        whole
    }

    /// Takes a token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Counts events in a sliding window; `record` says when there were too many.
#[derive(Debug, Clone)]
pub struct StrikeWindow {
    window: Duration,
    max: usize,
    strikes: VecDeque<Instant>,
}

impl StrikeWindow {
    pub fn new(max: usize, window: Duration) -> Self {
        StrikeWindow {
            window,
            max,
            strikes: VecDeque::new(),
        }
    }

    /// Records one strike at `now`; true when more than `max` fall within
    /// the window.
    pub fn record(&mut self, now: Instant) -> bool {
        while self
            .strikes
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > self.window)
        {
            self.strikes.pop_front();
        }
        self.strikes.push_back(now);
        self.strikes.len() > self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3, 2, t0);
        assert!(b.take(t0) && b.take(t0) && b.take(t0));
        assert!(!b.take(t0));
        assert!(b.take(t0 + Duration::from_millis(500)));
        assert!(!b.take(t0 + Duration::from_millis(500)));
        // Never more than the burst, however long the pause.
        let later = t0 + Duration::from_secs(60);
        assert!((0..3).all(|_| b.take(later)));
        assert!(!b.take(later));
    }

    #[test]
    fn strikes_age_out() {
        let t0 = Instant::now();
        let mut w = StrikeWindow::new(2, Duration::from_secs(10));
        assert!(!w.record(t0));
        assert!(!w.record(t0));
        assert!(w.record(t0));
        let mut w = StrikeWindow::new(2, Duration::from_secs(10));
        w.record(t0);
        w.record(t0);
        assert!(!w.record(t0 + Duration::from_secs(11)));
    }
}
