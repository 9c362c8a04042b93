//! A socket's outgoing queue: a bounded lane of frames kept in order, and
//! a small lane of control frames (pings, pongs, a close that cannot wait)
//! that the reader takes first. The session actor holds the [`Outbox`],
//! the task that owns the socket holds the [`Reader`].
//!
//! The lanes are queues that allocate on their first frame, and the frame
//! lane gives its memory back once emptied (the control lane holds at most
//! a few): an idle socket holds about a hundred bytes here, where two
//! tokio channels held about 3.4 KB (each allocates a block of 32 slots up
//! front; `docs/benchmarks.md`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

/// A lane that grew past this many slots is shrunk once it empties.
const KEEP_SLOTS: usize = 8;

struct Lanes<C, F> {
    control: VecDeque<C>,
    frames: VecDeque<F>,
    /// The [`Outbox`] is gone: what is queued is still read, then `None`.
    sender_gone: bool,
    /// The [`Reader`] is gone: nothing will be read any more.
    reader_gone: bool,
}

struct Shared<C, F> {
    lanes: Mutex<Lanes<C, F>>,
    ready: Notify,
}

impl<C, F> Shared<C, F> {
    fn lanes(&self) -> MutexGuard<'_, Lanes<C, F>> {
        self.lanes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Why a frame was not queued; the frame comes back.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused<F> {
    /// The frame lane holds its capacity.
    Full(F),
    /// Nobody reads any more (the socket's task ended).
    Closed(F),
}

/// The sending side.
pub struct Outbox<C, F> {
    shared: Arc<Shared<C, F>>,
    capacity: usize,
    control_capacity: usize,
}

/// The reading side.
pub struct Reader<C, F> {
    shared: Arc<Shared<C, F>>,
}

/// What the reader gets next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next<C, F> {
    Control(C),
    Frame(F),
}

/// An outbox of at most `capacity` frames and `control_capacity` control
/// frames, and its reader.
pub fn outbox<C, F>(capacity: usize, control_capacity: usize) -> (Outbox<C, F>, Reader<C, F>) {
    let shared = Arc::new(Shared {
        lanes: Mutex::new(Lanes {
            control: VecDeque::new(),
            frames: VecDeque::new(),
            sender_gone: false,
            reader_gone: false,
        }),
        ready: Notify::new(),
    });
    (
        Outbox {
            shared: shared.clone(),
            capacity,
            control_capacity,
        },
        Reader { shared },
    )
}

impl<C, F> Outbox<C, F> {
    /// Frames queued and not yet read.
    pub fn queued(&self) -> usize {
        self.shared.lanes().frames.len()
    }

    /// Queues a frame after those already queued.
    pub fn push(&self, frame: F) -> Result<(), Refused<F>> {
        let mut lanes = self.shared.lanes();
        if lanes.reader_gone {
            return Err(Refused::Closed(frame));
        }
        if lanes.frames.len() >= self.capacity {
            return Err(Refused::Full(frame));
        }
        lanes.frames.push_back(frame);
        drop(lanes);
        self.shared.ready.notify_one();
        Ok(())
    }

    /// Queues a control frame ahead of the frames; false when the control
    /// lane is full or nobody reads.
    pub fn push_control(&self, control: C) -> bool {
        let mut lanes = self.shared.lanes();
        if lanes.reader_gone || lanes.control.len() >= self.control_capacity {
            return false;
        }
        lanes.control.push_back(control);
        drop(lanes);
        self.shared.ready.notify_one();
        true
    }
}

impl<C, F> Drop for Outbox<C, F> {
    fn drop(&mut self) {
        self.shared.lanes().sender_gone = true;
        self.shared.ready.notify_one();
    }
}

impl<C, F> Reader<C, F> {
    /// The next control frame, else the next frame; `None` once the
    /// outbox is gone and both lanes are empty.
    pub async fn next(&mut self) -> Option<Next<C, F>> {
        loop {
            {
                let mut lanes = self.shared.lanes();
                let next = match lanes.control.pop_front() {
                    Some(control) => Some(Next::Control(control)),
                    None => lanes.frames.pop_front().map(Next::Frame),
                };
                if lanes.frames.is_empty() && lanes.frames.capacity() > KEEP_SLOTS {
                    lanes.frames = VecDeque::new();
                }
                if next.is_some() {
                    return next;
                }
                if lanes.sender_gone {
                    return None;
                }
            }
            // A push after the check above left a permit: no wake-up is lost.
            self.shared.ready.notified().await;
        }
    }
}

impl<C, F> Drop for Reader<C, F> {
    fn drop(&mut self) {
        let mut lanes = self.shared.lanes();
        lanes.reader_gone = true;
        lanes.control.clear();
        lanes.frames.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn control_overtakes_frames_which_keep_their_order() {
        let (out, mut reader) = outbox::<&str, u32>(4, 2);
        out.push(1).unwrap();
        out.push(2).unwrap();
        assert!(out.push_control("ping"));
        assert_eq!(reader.next().await, Some(Next::Control("ping")));
        assert_eq!(reader.next().await, Some(Next::Frame(1)));
        assert_eq!(reader.next().await, Some(Next::Frame(2)));
    }

    #[tokio::test]
    async fn both_lanes_are_bounded() {
        let (out, _reader) = outbox::<&str, u32>(2, 1);
        out.push(1).unwrap();
        out.push(2).unwrap();
        assert_eq!(out.push(3), Err(Refused::Full(3)));
        assert_eq!(out.queued(), 2);
        assert!(out.push_control("ping"));
        assert!(!out.push_control("pong"));
    }

    #[tokio::test]
    async fn what_was_queued_is_read_after_the_outbox_is_dropped() {
        let (out, mut reader) = outbox::<&str, u32>(4, 2);
        out.push(1).unwrap();
        assert!(out.push_control("close"));
        drop(out);
        assert_eq!(reader.next().await, Some(Next::Control("close")));
        assert_eq!(reader.next().await, Some(Next::Frame(1)));
        assert_eq!(reader.next().await, None);
    }

    #[tokio::test]
    async fn a_waiting_reader_wakes_for_a_push_and_for_the_drop() {
        let (out, mut reader) = outbox::<&str, u32>(4, 2);
        let read = tokio::spawn(async move {
            let first = reader.next().await;
            let second = reader.next().await;
            (first, second)
        });
        tokio::task::yield_now().await;
        out.push(7).unwrap();
        drop(out);
        assert_eq!(read.await.unwrap(), (Some(Next::Frame(7)), None));
    }

    #[tokio::test]
    async fn nothing_is_queued_once_the_reader_is_gone() {
        let (out, reader) = outbox::<&str, u32>(4, 2);
        drop(reader);
        assert_eq!(out.push(1), Err(Refused::Closed(1)));
        assert!(!out.push_control("ping"));
    }

    #[tokio::test]
    async fn an_emptied_lane_gives_its_memory_back() {
        let (out, mut reader) = outbox::<&str, u32>(64, 2);
        for i in 0..32 {
            out.push(i).unwrap();
        }
        for _ in 0..32 {
            reader.next().await;
        }
        assert_eq!(out.shared.lanes().frames.capacity(), 0);
    }
}
