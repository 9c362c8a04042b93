//! Keeps a socket's replay and its live events from overlapping. While a
//! replay of a stream (notifications, chat) is in flight, live events of
//! that stream wait; when it ends they are released, minus the ones the
//! replay already sent, so the client gets each event once and in id
//! order. Pure bookkeeping: the session actor does the I/O.

use std::collections::HashSet;

use super::registry::Push;

#[derive(Default)]
pub struct ReplayGate {
    /// Replays of this stream in flight.
    running: u32,
    held: Vec<Push>,
    /// A replay had more to send: the held events belong to the client's
    /// next page, and are dropped (that page will carry them).
    drop_held: bool,
    /// Ids the replays sent: a live copy of one is not sent again.
    sent: HashSet<i64>,
}

impl ReplayGate {
    pub fn begin(&mut self) {
        if self.running == 0 {
            self.sent.clear();
            self.drop_held = false;
        }
        self.running += 1;
    }

    /// A replay sent the event `id`.
    pub fn sent(&mut self, id: i64) {
        self.sent.insert(id);
    }

    /// A live event `id`: returned when it is to be sent now.
    pub fn live(&mut self, id: i64, push: Push) -> Option<Push> {
        if self.running > 0 {
            self.held.push(push);
            return None;
        }
        (!self.sent.remove(&id)).then_some(push)
    }

    /// A replay ended (`more`: the client must resume for the rest). The
    /// held events to send now, in the order they arrived.
    pub fn end(&mut self, more: bool) -> Vec<Push> {
        self.running = self.running.saturating_sub(1);
        self.drop_held |= more;
        if self.running > 0 {
            return Vec::new();
        }
        let held = std::mem::take(&mut self.held);
        if self.drop_held {
            return Vec::new();
        }
        held.into_iter()
            .filter(|p| p.replay_key.is_none_or(|(_, id)| !self.sent.remove(&id)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::registry::Stream;

    fn push(id: i64) -> Push {
        Push {
            text: id.to_string().into(),
            replay_key: Some((Stream::Chat, id)),
            droppable: false,
        }
    }

    fn ids(pushes: &[Push]) -> Vec<i64> {
        pushes
            .iter()
            .filter_map(|p| p.replay_key.map(|k| k.1))
            .collect()
    }

    #[test]
    fn live_events_wait_for_the_replay_and_are_not_sent_twice() {
        let mut gate = ReplayGate::default();
        assert!(
            gate.live(1, push(1)).is_some(),
            "no replay: straight through"
        );
        gate.begin();
        assert!(gate.live(5, push(5)).is_none());
        assert!(gate.live(6, push(6)).is_none());
        gate.sent(4);
        gate.sent(5);
        assert_eq!(ids(&gate.end(false)), vec![6]);
        assert!(gate.live(7, push(7)).is_some());
    }

    #[test]
    fn a_replay_with_more_to_send_drops_what_it_held() {
        let mut gate = ReplayGate::default();
        gate.begin();
        assert!(gate.live(9, push(9)).is_none());
        assert!(gate.end(true).is_empty());
        gate.begin();
        gate.sent(9);
        assert!(gate.end(false).is_empty());
        assert!(
            gate.live(9, push(9)).is_none(),
            "sent by the replay already"
        );
    }
}
