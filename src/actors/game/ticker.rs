//! The tick driver: one per game arbiter thread and tick period, shared by
//! every match on that thread, for the thread's lifetime.
//!
//! It wakes on a `timerfd` (on Linux), which the kernel fires when it is
//! due; tokio's timers round every deadline up to the next millisecond,
//! which made a 60 Hz tick 0–1 ms late before it ever waited for a core.
//! The period is cut into `SLOTS` phases and each new match joins the
//! quietest, so that a wake steps a few matches rather than all of them;
//! the timer is set for the next phase that has a match, so empty phases
//! cost nothing and an idle thread never wakes. Each match is told its
//! tick by a [`Tick`] message carrying when it was due, and measures its
//! own lateness when it runs.
//!
//! A thread held up for more than a whole period (a stopped process, a
//! paused machine) does not make its matches race through every tick it
//! missed: each phase fires once, the rest are skipped (and logged, once
//! every `WARN_EVERY` at most). A timer that fails tells its matches
//! `Tick::Stopped`: no more ticks will come.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::config::ThreadPriority;

/// Phases of a period that matches are spread over (at 60 Hz, one every
/// 1.04 ms).
const SLOTS: usize = 16;

/// The least time between two warnings that ticks were skipped.
const WARN_EVERY: Duration = Duration::from_secs(10);

#[derive(Message)]
#[rtype(result = "()")]
pub enum Tick {
    /// Step once: the tick that was due then.
    Due(Instant),
    /// The thread's timer failed: no more ticks will come.
    Stopped,
}

struct Driver {
    timer: Rc<clock::Timer>,
    /// One phase's length.
    slot: Duration,
    /// The matches of each phase.
    slots: Vec<Vec<Recipient<Tick>>>,
    /// The next phase to fire, and when it is due.
    next: usize,
    next_due: Instant,
    /// When the timer is set to fire; `None` while there is no match.
    armed: Option<Instant>,
    /// Ticks skipped since the last warning, and when that was.
    skipped: u64,
    warned: Option<Instant>,
}

impl Driver {
    /// Tells the matches of the next phase it is due, forgets those that
    /// stopped, and moves on to the phase after.
    fn fire(&mut self) {
        let due = self.next_due;
        let slot = &mut self.slots[self.next];
        slot.retain(|m| m.connected());
        for m in slot.iter() {
            m.do_send(Tick::Due(due));
        }
        self.skip(1);
    }

    fn skip(&mut self, phases: u32) {
        self.next = (self.next + phases as usize) % SLOTS;
        self.next_due += self.slot * phases;
    }

    /// The timer fired: every phase due by `now` fires, each once at
    /// most; the timer is set for the next phase with a match.
    fn wake(&mut self, now: Instant) -> std::io::Result<()> {
        // It fired once, and is set again below.
        self.armed = None;
        let late = now.saturating_duration_since(self.next_due);
        for _ in 0..SLOTS {
            if self.next_due > now {
                break;
            }
            self.fire();
        }
        if self.next_due <= now {
            let phases = self.skip_past(now);
            self.skipped += phases.div_ceil(SLOTS as u64);
            if self.warned.is_none_or(|at| now - at >= WARN_EVERY) {
                tracing::warn!(
                    late_ms = u64::try_from(late.as_millis()).unwrap_or(u64::MAX),
                    skipped = self.skipped,
                    "a game thread was held up for more than a tick; its matches skip the ticks it missed"
                );
                self.warned = Some(now);
                self.skipped = 0;
            }
        }
        self.arm()
    }

    /// Moves the next phase to the first one due after `now`; how many
    /// phases that passed over.
    fn skip_past(&mut self, now: Instant) -> u64 {
        if self.next_due > now {
            return 0;
        }
        let behind = (now - self.next_due).as_nanos() / self.slot.as_nanos();
        self.skip(u32::try_from(behind % SLOTS as u128).unwrap_or(0) + 1);
        let periods = u32::try_from(behind / SLOTS as u128).unwrap_or(u32::MAX);
        self.next_due += self.slot * SLOTS as u32 * periods;
        u64::try_from(behind + 1).unwrap_or(u64::MAX)
    }

    /// Sets the timer for the next phase that has a match, or clears it.
    fn arm(&mut self) -> std::io::Result<()> {
        let at = (0..SLOTS)
            .find(|&i| !self.slots[(self.next + i) % SLOTS].is_empty())
            .map(|i| self.next_due + self.slot * i as u32);
        if at != self.armed {
            self.timer.arm(at)?;
            self.armed = at;
        }
        Ok(())
    }
}

thread_local! {
    static DRIVERS: RefCell<HashMap<Duration, Rc<RefCell<Driver>>>> = RefCell::default();
}

/// Ticks `to` every `period` from this thread's driver, starting it if
/// need be. Call it on the match's arbiter (from `started`). The first
/// tick comes within a period.
pub fn register(period: Duration, to: Recipient<Tick>) -> std::io::Result<()> {
    if period < Duration::from_nanos(SLOTS as u64) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "a tick period under 16 ns",
        ));
    }
    let running = DRIVERS.with(|d| d.borrow().get(&period).cloned());
    let shared = match running {
        Some(driver) => driver,
        None => start(period)?,
    };
    let mut driver = shared.borrow_mut();
    let now = Instant::now();
    // A timer that fired but whose task has not run yet (a busy thread):
    // those ticks go out first.
    if driver.armed.is_some_and(|at| at <= now)
        && let Err(e) = driver.wake(now)
    {
        drop(driver);
        retire(period, &shared);
        return Err(e);
    }
    // Every phase due by now has fired, or is empty (the driver slept
    // through it, or was idle): a new match's first tick is due after now.
    driver.skip_past(now);
    let quietest = (0..SLOTS)
        .min_by_key(|&i| driver.slots[i].len())
        .unwrap_or(0);
    driver.slots[quietest].push(to);
    driver.arm().inspect_err(|_| {
        driver.slots[quietest].pop();
    })
}

fn start(period: Duration) -> std::io::Result<Rc<RefCell<Driver>>> {
    let slot = period / SLOTS as u32;
    let driver = Rc::new(RefCell::new(Driver {
        timer: Rc::new(clock::Timer::new()?),
        slot,
        slots: vec![Vec::new(); SLOTS],
        next: 0,
        next_due: Instant::now() + slot,
        armed: None,
        skipped: 0,
        warned: None,
    }));
    DRIVERS.with(|d| d.borrow_mut().insert(period, driver.clone()));
    actix::spawn(run(Gone {
        period,
        driver: driver.clone(),
    }));
    Ok(driver)
}

async fn run(driver: Gone) {
    loop {
        let timer = driver.driver.borrow().timer.clone();
        if let Err(e) = timer.wait().await {
            tracing::error!(error = %e, "waiting on the tick timer failed");
            return;
        }
        if let Err(e) = driver.driver.borrow_mut().wake(Instant::now()) {
            tracing::error!(error = %e, "setting the tick timer failed");
            return;
        }
    }
}

/// A driver whose task ends (its timer failed, or its thread stops) is
/// forgotten, and its matches are told no more ticks will come; the next
/// match on the thread starts a new one.
struct Gone {
    period: Duration,
    driver: Rc<RefCell<Driver>>,
}

impl Drop for Gone {
    fn drop(&mut self) {
        retire(self.period, &self.driver);
    }
}

/// Forgets `driver` (if it is still this thread's for `period`) and tells
/// its matches no more ticks will come.
fn retire(period: Duration, driver: &Rc<RefCell<Driver>>) {
    let _ = DRIVERS.try_with(|d| {
        let mut drivers = d.borrow_mut();
        if drivers
            .get(&period)
            .is_some_and(|running| Rc::ptr_eq(running, driver))
        {
            drivers.remove(&period);
        }
    });
    if let Ok(driver) = driver.try_borrow() {
        for m in driver.slots.iter().flatten() {
            m.do_send(Tick::Stopped);
        }
    }
}

/// Schedules the calling thread as `priority` says (`GAME_THREAD_NICE`,
/// `GAME_THREAD_RT_PRIORITY`). Threads it starts later are scheduled as
/// usual under a real-time priority (`SCHED_RESET_ON_FORK`), but inherit
/// a niceness.
#[cfg(target_os = "linux")]
pub fn set_thread_priority(priority: ThreadPriority) -> std::io::Result<()> {
    match priority {
        ThreadPriority::Default => Ok(()),
        // On Linux a thread id names that thread alone.
        ThreadPriority::Nice(nice) => {
            rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice)
                .map_err(Into::into)
        }
        ThreadPriority::Realtime(sched_priority) => {
            let param = libc::sched_param { sched_priority };
            // SAFETY: `param` is a valid `sched_param` that outlives the
            // call, and pid 0 names the calling thread.
            let set = unsafe {
                libc::sched_setscheduler(0, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &param)
            };
            if set == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub fn set_thread_priority(priority: ThreadPriority) -> std::io::Result<()> {
    match priority {
        ThreadPriority::Default => Ok(()),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "game thread priorities are set on Linux only",
        )),
    }
}

/// The timer a driver waits on: armed for one instant at a time.
#[cfg(target_os = "linux")]
mod clock {
    use std::os::fd::OwnedFd;
    use std::time::{Duration, Instant};

    use rustix::time::{
        Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
        timerfd_settime,
    };
    use tokio::io::Interest;
    use tokio::io::unix::AsyncFd;

    pub struct Timer(AsyncFd<OwnedFd>);

    impl Timer {
        pub fn new() -> std::io::Result<Self> {
            let fd = timerfd_create(
                TimerfdClockId::Monotonic,
                TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
            )?;
            // SAFETY: the `AsyncFd` owns the timer's descriptor, which
            // nothing else holds, closes or replaces while it is registered.
            let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?;
            Ok(Timer(fd))
        }

        /// Fires once at `at` (at once if it is past), or never.
        pub fn arm(&self, at: Option<Instant>) -> std::io::Result<()> {
            let value = match at {
                // Zero would disarm the timer.
                Some(at) => timespec(
                    at.saturating_duration_since(Instant::now())
                        .max(Duration::from_nanos(1)),
                ),
                None => timespec(Duration::ZERO),
            };
            let spec = Itimerspec {
                it_interval: timespec(Duration::ZERO),
                it_value: value,
            };
            timerfd_settime(self.0.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
            Ok(())
        }

        /// Until the timer fires.
        pub async fn wait(&self) -> std::io::Result<()> {
            loop {
                let mut ready = self.0.readable().await?;
                // Reading resets the timer's count of expirations; a timer
                // set again since it fired has none and would block.
                let mut count = [0u8; 8];
                match ready.try_io(|fd| Ok(rustix::io::read(fd.get_ref(), &mut count)?)) {
                    Ok(read) => {
                        read?;
                        ready.clear_ready();
                        return Ok(());
                    }
                    Err(_would_block) => continue,
                }
            }
        }
    }

    fn timespec(d: Duration) -> Timespec {
        Timespec {
            tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: d.subsec_nanos().into(),
        }
    }
}

/// Elsewhere, tokio's timer (to the millisecond).
#[cfg(not(target_os = "linux"))]
mod clock {
    use std::cell::Cell;
    use std::time::Instant;

    use tokio::sync::Notify;

    #[derive(Default)]
    pub struct Timer {
        at: Cell<Option<Instant>>,
        set: Notify,
    }

    impl Timer {
        pub fn new() -> std::io::Result<Self> {
            Ok(Timer::default())
        }

        /// Fires once at `at` (at once if it is past), or never.
        pub fn arm(&self, at: Option<Instant>) -> std::io::Result<()> {
            self.at.set(at);
            self.set.notify_one();
            Ok(())
        }

        /// Until the timer fires.
        pub async fn wait(&self) -> std::io::Result<()> {
            loop {
                match self.at.get() {
                    Some(at) => tokio::select! {
                        () = tokio::time::sleep_until(at.into()) => {
                            self.at.set(None);
                            return Ok(());
                        }
                        () = self.set.notified() => {}
                    },
                    None => self.set.notified().await,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::actors::until;

    #[derive(Default)]
    struct Log {
        /// When each tick was due, and when it ran.
        ticks: Vec<(Instant, Instant)>,
        stopped: bool,
    }

    struct Clocked {
        log: Arc<Mutex<Log>>,
    }

    impl Actor for Clocked {
        type Context = Context<Self>;
    }

    impl Handler<Tick> for Clocked {
        type Result = ();

        fn handle(&mut self, tick: Tick, _: &mut Context<Self>) {
            let mut log = self.log.lock().unwrap();
            match tick {
                Tick::Due(due) => log.ticks.push((due, Instant::now())),
                Tick::Stopped => log.stopped = true,
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

    fn clocked() -> (Addr<Clocked>, Arc<Mutex<Log>>) {
        let log = Arc::default();
        let addr = Clocked {
            log: Arc::clone(&log),
        }
        .start();
        register(PERIOD, addr.clone().recipient()).unwrap();
        (addr, log)
    }

    fn ticks(log: &Mutex<Log>) -> Vec<(Instant, Instant)> {
        log.lock().unwrap().ticks.clone()
    }

    fn driver() -> Rc<RefCell<Driver>> {
        DRIVERS
            .with(|d| d.borrow().get(&PERIOD).cloned())
            .expect("a driver")
    }

    /// How many of the driver's periods `step` is, if it is a whole
    /// number of them (a period is cut into whole nanoseconds per phase).
    fn periods(step: Duration) -> Option<u32> {
        let cycle = (PERIOD / SLOTS as u32 * SLOTS as u32).as_nanos();
        let n = step.as_nanos() / cycle;
        step.as_nanos()
            .is_multiple_of(cycle)
            .then(|| u32::try_from(n).unwrap())
    }

    #[actix_web::test]
    async fn ticks_come_one_period_apart_never_early_and_never_faster_than_time() {
        let registered = Instant::now();
        let (_match, log) = clocked();
        until(|| ticks(&log).len() >= 20).await;
        let elapsed = registered.elapsed();
        let ticks = ticks(&log);
        assert!(
            ticks[0].0 > registered,
            "the first tick is due after joining"
        );
        for (due, ran) in &ticks {
            assert!(ran >= due, "a tick ran before it was due");
        }
        for pair in ticks.windows(2) {
            let step = pair[1].0 - pair[0].0;
            assert!(
                periods(step).is_some_and(|n| n >= 1),
                "ticks {step:?} apart"
            );
        }
        let most = elapsed.as_secs_f64() / PERIOD.as_secs_f64() + 1.0;
        assert!(
            (ticks.len() as f64) <= most,
            "{} ticks in {elapsed:?}",
            ticks.len()
        );
    }

    #[actix_web::test]
    async fn matches_share_the_quietest_phases_and_an_idle_thread_sets_no_timer() {
        let matches: Vec<_> = (0..SLOTS * 2).map(|_| clocked()).collect();
        assert!(
            driver().borrow().slots.iter().all(|s| s.len() == 2),
            "spread evenly"
        );
        assert!(driver().borrow().armed.is_some());
        for (addr, _) in &matches {
            addr.do_send(Halt);
        }
        until(|| driver().borrow().armed.is_none()).await;
        assert!(driver().borrow().slots.iter().all(Vec::is_empty));
        // Idle for a while: the next match's ticks start from now.
        actix_web::rt::time::sleep(PERIOD * 5).await;
        let registered = Instant::now();
        let (_next, log) = clocked();
        until(|| ticks(&log).len() >= 2).await;
        assert!(ticks(&log)[0].0 > registered);
    }

    #[actix_web::test]
    async fn a_match_joining_a_busy_driver_gets_no_tick_due_before_it_joined() {
        let (_first, first_log) = clocked();
        until(|| !ticks(&first_log).is_empty()).await;
        // Well past the next phase, which is empty.
        actix_web::rt::time::sleep(PERIOD / 2).await;
        let registered = Instant::now();
        let (_second, log) = clocked();
        until(|| !ticks(&log).is_empty()).await;
        assert!(ticks(&log)[0].0 > registered);
    }

    #[actix_web::test]
    async fn a_thread_held_up_for_periods_skips_the_ticks_it_missed() {
        let (_match, log) = clocked();
        until(|| !ticks(&log).is_empty()).await;
        // This test's thread runs the driver: block it.
        std::thread::sleep(PERIOD * 4);
        let before = ticks(&log).len();
        until(|| ticks(&log).len() >= before + 3).await;
        let steps: Vec<u32> = ticks(&log)
            .windows(2)
            .map(|p| periods(p[1].0 - p[0].0).expect("whole periods apart"))
            .collect();
        assert!(steps.iter().all(|&n| n >= 1), "{steps:?}");
        assert!(steps.iter().any(|&n| n >= 2), "nothing skipped: {steps:?}");
    }

    #[actix_web::test]
    async fn a_driver_that_ends_stops_its_matches_and_the_next_match_gets_a_new_one() {
        let (_match, log) = clocked();
        let failed = driver();
        drop(Gone {
            period: PERIOD,
            driver: failed.clone(),
        });
        until(|| log.lock().unwrap().stopped).await;
        assert!(DRIVERS.with(|d| d.borrow().get(&PERIOD).is_none()));
        let (_next, next_log) = clocked();
        assert!(!Rc::ptr_eq(&failed, &driver()));
        until(|| !ticks(&next_log).is_empty()).await;
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_real_time_priority_holds_for_its_thread_alone() {
        let policy = || {
            // SAFETY: reads the calling thread's policy, nothing else.
            let policy = unsafe { libc::sched_getscheduler(0) };
            policy & !libc::SCHED_RESET_ON_FORK
        };
        std::thread::spawn(
            move || match set_thread_priority(ThreadPriority::Realtime(1)) {
                Ok(()) => {
                    assert_eq!(policy(), libc::SCHED_FIFO);
                    let started = std::thread::spawn(policy).join().unwrap();
                    assert_eq!(started, libc::SCHED_OTHER, "threads it starts run as usual");
                }
                // Without the privilege (EPERM, or what a sandbox
                // answers), nothing changes.
                Err(_) => assert_eq!(policy(), libc::SCHED_OTHER),
            },
        )
        .join()
        .unwrap();
    }
}
