//! The tick driver: one per game arbiter thread and tick period, shared by
//! every match on that thread.
//!
//! It wakes on a periodic `timerfd`, which the kernel fires on time to the
//! microsecond; tokio's timers round every deadline up to the next
//! millisecond, which made a 60 Hz tick 0–1 ms late before it ever waited
//! for a core. The period is cut into `SLOTS` phases and each match gets the
//! least busy one, so a wake steps a few matches rather than all of them,
//! and matches of one phase share their wake. Each match is told its tick by
//! a [`Tick`] message carrying when it was due, so it measures its own
//! lateness when it runs. A timer that fails (it cannot be made, or read)
//! tells its matches `Tick::Stopped`: no more ticks will come.
//!
//! The driver lives as long as it has matches: the last one gone, its
//! task ends and closes the timer; the next match starts a new one.

use std::cell::RefCell;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Phases of a period that matches are spread over (at 60 Hz, one wake
/// every 1.04 ms while any match runs on the thread).
const SLOTS: usize = 16;

#[derive(Message)]
#[rtype(result = "()")]
pub enum Tick {
    /// Step once: the tick that was due then.
    Due(Instant),
    /// The thread's timer failed: no more ticks will come.
    Stopped,
}

struct Driver {
    /// One phase's length: the timer's interval.
    slot: Duration,
    /// The matches of each phase.
    slots: Vec<Vec<Recipient<Tick>>>,
    /// The phase the timer fires next, and when.
    next: usize,
    next_due: Instant,
}

impl Driver {
    fn len(&self) -> usize {
        self.slots.iter().map(Vec::len).sum()
    }

    /// Tells the matches of the phase due now; forgets those that stopped.
    fn fire(&mut self) {
        let due = self.next_due;
        let slot = &mut self.slots[self.next];
        slot.retain(|m| m.connected());
        for m in slot.iter() {
            m.do_send(Tick::Due(due));
        }
        self.next = (self.next + 1) % SLOTS;
        self.next_due += self.slot;
    }
}

thread_local! {
    static DRIVERS: RefCell<HashMap<Duration, Rc<RefCell<Driver>>>> = RefCell::default();
}

/// Ticks `to` every `period` from this thread's driver, starting it if
/// need be. Call it on the match's arbiter (from `started`). The first
/// tick comes within a period.
pub fn register(period: Duration, to: Recipient<Tick>) -> std::io::Result<()> {
    let running = DRIVERS.with(|d| d.borrow().get(&period).cloned());
    let driver = match running {
        Some(driver) => driver,
        None => start(period)?,
    };
    let mut driver = driver.borrow_mut();
    let quietest = (0..SLOTS)
        .min_by_key(|&i| driver.slots[i].len())
        .unwrap_or(0);
    driver.slots[quietest].push(to);
    Ok(())
}

fn start(period: Duration) -> std::io::Result<Rc<RefCell<Driver>>> {
    let slot = period / u32::try_from(SLOTS).unwrap_or(1);
    let timer = timerfd_create(
        TimerfdClockId::Monotonic,
        TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
    )?;
    let interval = timespec(slot);
    timerfd_settime(
        &timer,
        TimerfdTimerFlags::empty(),
        &Itimerspec {
            it_interval: interval,
            it_value: interval,
        },
    )?;
    let next_due = Instant::now() + slot;
    // SAFETY: the `AsyncFd` owns the timer's descriptor, which nothing
    // else holds, closes or replaces while it is registered.
    let timer = unsafe { AsyncFd::register_with_interest(timer, Interest::READABLE) }?;
    let driver = Rc::new(RefCell::new(Driver {
        slot,
        slots: vec![Vec::new(); SLOTS],
        next: 0,
        next_due,
    }));
    DRIVERS.with(|d| d.borrow_mut().insert(period, driver.clone()));
    actix::spawn(run(period, timer, driver.clone()));
    Ok(driver)
}

async fn run(period: Duration, timer: AsyncFd<OwnedFd>, driver: Rc<RefCell<Driver>>) {
    loop {
        let expired = match timer.readable().await {
            Ok(mut ready) => match ready.try_io(|fd| read_expirations(fd.get_ref())) {
                Ok(Ok(n)) => Some(n),
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "reading the tick timer failed");
                    None
                }
                // Woken without an expiration to read: wait again.
                Err(_would_block) => continue,
            },
            Err(e) => {
                tracing::error!(error = %e, "waiting on the tick timer failed");
                None
            }
        };
        let mut d = driver.borrow_mut();
        let Some(expired) = expired else {
            // The timer failed: its matches are told, and a new driver
            // starts for the next match.
            for m in d.slots.iter().flatten() {
                m.do_send(Tick::Stopped);
            }
            break;
        };
        // More than one expiration: the thread was held up; every phase
        // missed is still told (late), so no match skips a tick.
        for _ in 0..expired {
            d.fire();
        }
        if d.len() == 0 {
            break;
        }
    }
    DRIVERS.with(|d| d.borrow_mut().remove(&period));
}

/// Gives the calling thread the niceness `nice` (`GAME_THREAD_NICE`).
pub fn set_thread_nice(nice: i32) {
    // On Linux a thread id names that thread alone.
    let thread = rustix::thread::gettid();
    match rustix::process::setpriority_process(Some(thread), nice) {
        Ok(()) => tracing::info!(nice, "a game thread's niceness is set"),
        Err(e) => tracing::warn!(
            error = %e,
            nice,
            "GAME_THREAD_NICE not applied (below 0 it needs CAP_SYS_NICE): the game threads run at the usual priority"
        ),
    }
}

/// Expirations since the last read (the timer's counter, which reading
/// resets).
fn read_expirations(timer: &OwnedFd) -> std::io::Result<u64> {
    let mut count = [0u8; 8];
    let n = rustix::io::read(timer, &mut count)?;
    if n != count.len() {
        return Err(std::io::Error::other("short read from the tick timer"));
    }
    Ok(u64::from_ne_bytes(count))
}

fn timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: d.subsec_nanos().into(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Records when each of its ticks was due.
    struct Clocked {
        dues: Arc<Mutex<Vec<Instant>>>,
    }

    impl Actor for Clocked {
        type Context = Context<Self>;
    }

    impl Handler<Tick> for Clocked {
        type Result = ();

        fn handle(&mut self, tick: Tick, _: &mut Context<Self>) {
            if let Tick::Due(due) = tick {
                self.dues.lock().unwrap().push(due);
            }
        }
    }

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Halt;

    impl Handler<Halt> for Clocked {
        type Result = ();

        fn handle(&mut self, _: Halt, ctx: &mut Context<Self>) {
            ctx.stop();
        }
    }

    const PERIOD: Duration = Duration::from_micros(4_167);

    fn clocked() -> (Addr<Clocked>, Arc<Mutex<Vec<Instant>>>) {
        let dues = Arc::default();
        let addr = Clocked {
            dues: Arc::clone(&dues),
        }
        .start();
        register(PERIOD, addr.clone().recipient()).unwrap();
        (addr, dues)
    }

    async fn until(mut done: impl FnMut() -> bool) {
        for _ in 0..200 {
            if done() {
                return;
            }
            actix_web::rt::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("condition not reached within 2 s");
    }

    fn running() -> Option<Rc<RefCell<Driver>>> {
        DRIVERS.with(|d| d.borrow().get(&PERIOD).cloned())
    }

    #[actix_web::test]
    async fn each_tick_is_due_one_period_after_the_last_and_none_is_skipped() {
        let (_match, dues) = clocked();
        until(|| dues.lock().unwrap().len() >= 20).await;
        let dues = dues.lock().unwrap().clone();
        for pair in dues.windows(2) {
            let step = pair[1] - pair[0];
            // The period cut into whole nanoseconds per phase.
            let off = step.abs_diff(PERIOD);
            assert!(off < Duration::from_micros(1), "ticks {step:?} apart");
        }
    }

    #[actix_web::test]
    async fn matches_share_the_quietest_phases_and_the_driver_ends_with_the_last() {
        let matches: Vec<_> = (0..SLOTS * 2).map(|_| clocked()).collect();
        {
            let driver = running().expect("a driver runs");
            let driver = driver.borrow();
            assert!(driver.slots.iter().all(|s| s.len() == 2), "spread evenly");
        }
        for (addr, _) in &matches {
            addr.do_send(Halt);
        }
        until(|| running().is_none()).await;
        // The next match starts a new driver, and is ticked.
        let (_next, dues) = clocked();
        assert!(running().is_some());
        until(|| dues.lock().unwrap().len() >= 2).await;
    }
}
