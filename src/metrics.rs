//! Prometheus metrics, kept in atomics (no locks on hot paths) and
//! rendered as text by `GET /metrics` (only with `METRICS_ENABLED`).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::protocol::CLIENT_TYPES;

/// A fixed-bucket histogram.
pub struct Histogram {
    /// Upper bounds, ascending.
    bounds: &'static [f64],
    /// One count per bound, plus +Inf.
    counts: Vec<AtomicU64>,
    /// Sum of observations, in millionths.
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: f64) {
        let i = self
            .bounds
            .iter()
            .position(|b| value <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        // Millionths of a non-negative value: fits a u64 for any sane value.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let micros = (value.max(0.0) * 1e6) as u64;
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, count) in self.counts.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            let le = self
                .bounds
                .get(i)
                .map_or("+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        #[allow(clippy::cast_precision_loss)]
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {cumulative}");
    }
}

const SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];
const ROWS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 512.0];

/// Every counter and histogram of a node.
pub struct Metrics {
    /// Client messages received, by type (the last slot: unparsable).
    messages_in: Vec<AtomicU64>,
    /// Events queued to sockets.
    pub messages_out: AtomicU64,
    /// Droppable events (stale snapshots) dropped for a full queue.
    pub queue_drops: AtomicU64,
    /// Sockets closed because their queue overflowed (4002).
    pub slow_consumer_closes: AtomicU64,
    /// Rows per chat commit, and how long each commit took.
    pub chat_batch_rows: Histogram,
    pub chat_commit_seconds: Histogram,
    /// From the sender's session reading a chat message to its delivery
    /// to the recipients' socket queues (after the commit).
    pub chat_delivery_seconds: Histogram,
    /// How late each match tick ran after its due time.
    pub tick_lateness_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            messages_in: (0..=CLIENT_TYPES.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            messages_out: AtomicU64::new(0),
            queue_drops: AtomicU64::new(0),
            slow_consumer_closes: AtomicU64::new(0),
            chat_batch_rows: Histogram::new(ROWS),
            chat_commit_seconds: Histogram::new(SECONDS),
            chat_delivery_seconds: Histogram::new(SECONDS),
            tick_lateness_seconds: Histogram::new(SECONDS),
        }
    }
}

/// Values read from elsewhere at render time.
pub struct Gauges {
    pub sessions: usize,
    pub users_online: usize,
    pub live_matches: usize,
    pub chat_rooms: usize,
    pub db_pool_size: usize,
    pub db_pool_available: usize,
    pub db_pool_waiting: usize,
}

impl Metrics {
    /// A client message of type `kind` (`None`: it did not parse).
    pub fn message_in(&self, kind: Option<&str>) {
        let i = kind
            .and_then(|k| CLIENT_TYPES.iter().position(|t| *t == k))
            .unwrap_or(CLIENT_TYPES.len());
        self.messages_in[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        let gauge = |out: &mut String, name: &str, help: &str, value: f64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        #[allow(clippy::cast_precision_loss)]
        {
            gauge(
                &mut out,
                "transcendence_sessions",
                "Open websockets on this node.",
                gauges.sessions as f64,
            );
            gauge(
                &mut out,
                "transcendence_users_online",
                "Users with a socket on this node.",
                gauges.users_online as f64,
            );
            gauge(
                &mut out,
                "transcendence_live_matches",
                "Matches being played on this node.",
                gauges.live_matches as f64,
            );
            gauge(
                &mut out,
                "transcendence_chat_rooms",
                "Active conversation actors.",
                gauges.chat_rooms as f64,
            );
            gauge(
                &mut out,
                "transcendence_db_pool_size",
                "PostgreSQL connections open.",
                gauges.db_pool_size as f64,
            );
            gauge(
                &mut out,
                "transcendence_db_pool_available",
                "PostgreSQL connections idle.",
                gauges.db_pool_available as f64,
            );
            gauge(
                &mut out,
                "transcendence_db_pool_waiting",
                "Tasks waiting for a PostgreSQL connection.",
                gauges.db_pool_waiting as f64,
            );
            gauge(
                &mut out,
                "process_resident_memory_bytes",
                "Resident memory of the process.",
                resident_bytes() as f64,
            );
        }
        let _ = writeln!(
            out,
            "# HELP transcendence_messages_in_total Client messages received, by type.\n\
             # TYPE transcendence_messages_in_total counter"
        );
        for (i, count) in self.messages_in.iter().enumerate() {
            let kind = CLIENT_TYPES.get(i).copied().unwrap_or("invalid");
            let _ = writeln!(
                out,
                "transcendence_messages_in_total{{type=\"{kind}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        counter(
            &mut out,
            "transcendence_messages_out_total",
            "Events queued to sockets.",
            self.messages_out.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "transcendence_queue_drops_total",
            "Stale events dropped for slow sockets.",
            self.queue_drops.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "transcendence_slow_consumer_closes_total",
            "Sockets closed as slow consumers.",
            self.slow_consumer_closes.load(Ordering::Relaxed),
        );
        self.chat_batch_rows.render(
            &mut out,
            "transcendence_chat_batch_rows",
            "Messages per chat commit.",
        );
        self.chat_commit_seconds.render(
            &mut out,
            "transcendence_chat_commit_seconds",
            "Duration of chat commits.",
        );
        self.chat_delivery_seconds.render(
            &mut out,
            "transcendence_chat_delivery_seconds",
            "From a chat message read to its delivery to the recipients' sockets.",
        );
        self.tick_lateness_seconds.render(
            &mut out,
            "transcendence_tick_lateness_seconds",
            "How late match ticks ran.",
        );
        out
    }
}

/// The process's resident set size (Linux; 0 elsewhere).
pub fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative() {
        let h = Histogram::new(&[1.0, 2.0]);
        h.observe(0.5);
        h.observe(1.5);
        h.observe(9.0);
        let mut out = String::new();
        h.render(&mut out, "x", "x");
        assert!(out.contains("x_bucket{le=\"1\"} 1"));
        assert!(out.contains("x_bucket{le=\"2\"} 2"));
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3"));
        assert!(out.contains("x_count 3"));
    }

    #[test]
    fn messages_are_counted_by_type() {
        let m = Metrics::default();
        m.message_in(Some("ping"));
        m.message_in(None);
        let out = m.render(&Gauges {
            sessions: 1,
            users_online: 1,
            live_matches: 0,
            chat_rooms: 0,
            db_pool_size: 1,
            db_pool_available: 1,
            db_pool_waiting: 0,
        });
        assert!(out.contains("transcendence_messages_in_total{type=\"ping\"} 1"));
        assert!(out.contains("transcendence_messages_in_total{type=\"invalid\"} 1"));
        assert!(resident_bytes() > 0);
    }
}
