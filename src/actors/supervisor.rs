//! `Supervisor<A>`: one per domain (notification inboxes, chat rooms, …).
//! It is the directory of that domain's keyed children: it looks a child
//! up, starts it on demand on one of its arbiters, and forgets it when it
//! stops.
//!
//! It is shared state behind a lock rather than an actor with a mailbox, so
//! it is never on the hot path of a message: a caller looks an address up
//! (a read lock, no message hop) and then sends to the child directly. The
//! lock also makes "look up or start" atomic, so a key never gets two
//! children.
//!
//! Failure isolation: a child whose handler panics dies alone (the panic
//! unwinds out of that actor's task only; its arbiter and every other
//! actor keep running). Each child holds a [`Lease`] whose `Drop` removes
//! it from the directory, so a child that stops *or* panics is forgotten,
//! and the next lookup starts a fresh one.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use actix::prelude::*;

/// A keyed child of a supervisor.
pub trait Child: Actor<Context = Context<Self>> {
    type Key: Clone + Eq + Hash + Send + Sync + std::fmt::Debug + 'static;
}

struct Entry<A: Actor> {
    serial: u64,
    addr: Addr<A>,
}

struct Inner<A: Child> {
    name: &'static str,
    children: RwLock<HashMap<A::Key, Entry<A>>>,
    arbiters: Vec<ArbiterHandle>,
    next_arbiter: AtomicUsize,
    next_serial: AtomicU64,
}

impl<A: Child> Drop for Inner<A> {
    fn drop(&mut self) {
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
    }
}

/// The directory of one domain's children. Cheap to clone (shared).
pub struct Supervisor<A: Child> {
    inner: Arc<Inner<A>>,
}

impl<A: Child> Clone for Supervisor<A> {
    fn clone(&self) -> Self {
        Supervisor {
            inner: self.inner.clone(),
        }
    }
}

/// A child's entry in its supervisor's directory. Dropping it (the child
/// stopped, or panicked) removes the entry, unless a newer child of the
/// same key has taken it over.
pub struct Lease<A: Child> {
    inner: Arc<Inner<A>>,
    key: A::Key,
    serial: u64,
}

impl<A: Child> Lease<A> {
    pub fn key(&self) -> &A::Key {
        &self.key
    }

    /// Leaves the directory now (a child about to stop on purpose), so the
    /// next lookup starts a fresh child instead of finding this one.
    pub fn release(&self) {
        let mut children = self
            .inner
            .children
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if children
            .get(&self.key)
            .is_some_and(|e| e.serial == self.serial)
        {
            children.remove(&self.key);
        }
    }
}

impl<A: Child> Drop for Lease<A> {
    fn drop(&mut self) {
        self.release();
        tracing::debug!(supervisor = self.inner.name, key = ?self.key, "child stopped");
    }
}

impl<A: Child> Supervisor<A> {
    /// A supervisor whose children run on `arbiters` threads of their own
    /// (at least one), spread round-robin.
    pub fn new(name: &'static str, arbiters: usize) -> Self {
        let arbiters = (0..arbiters.max(1))
            .map(|_| Arbiter::new().handle())
            .collect();
        Supervisor {
            inner: Arc::new(Inner {
                name,
                children: RwLock::default(),
                arbiters,
                next_arbiter: AtomicUsize::new(0),
                next_serial: AtomicU64::new(0),
            }),
        }
    }

    /// Runs `f` once on each of the supervisor's threads (to set them up).
    pub fn on_each_arbiter<F: Fn() + Clone + Send + 'static>(&self, f: F) {
        for arbiter in &self.inner.arbiters {
            arbiter.spawn_fn(f.clone());
        }
    }

    /// The live child of `key`, if any.
    pub fn get(&self, key: &A::Key) -> Option<Addr<A>> {
        let children = self
            .inner
            .children
            .read()
            .unwrap_or_else(|p| p.into_inner());
        children
            .get(key)
            .map(|e| e.addr.clone())
            .filter(Addr::connected)
    }

    /// The child of `key`, started with `build` if there is none. `build`
    /// runs on the child's arbiter, and gets the lease the child must keep.
    pub fn get_or_start<F>(&self, key: &A::Key, build: F) -> Addr<A>
    where
        F: FnOnce(Lease<A>, &mut Context<A>) -> A + Send + 'static,
    {
        if let Some(addr) = self.get(key) {
            return addr;
        }
        let mut children = self
            .inner
            .children
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = children.get(key)
            && entry.addr.connected()
        {
            return entry.addr.clone();
        }
        let serial = self.inner.next_serial.fetch_add(1, Ordering::Relaxed);
        let inner = self.inner.clone();
        let lease_key = key.clone();
        let n = self.inner.next_arbiter.fetch_add(1, Ordering::Relaxed);
        let arbiter = &self.inner.arbiters[n % self.inner.arbiters.len()];
        // The lease is made on the child's arbiter: if that arbiter is gone
        // (shutdown), the closure is dropped here, under the lock, and must
        // not hold anything whose drop takes the lock again. The entry it
        // leaves has a dead address, which lookups skip and replace.
        let addr = A::start_in_arbiter(arbiter, move |ctx| {
            let lease = Lease {
                inner,
                key: lease_key,
                serial,
            };
            build(lease, ctx)
        });
        children.insert(
            key.clone(),
            Entry {
                serial,
                addr: addr.clone(),
            },
        );
        tracing::debug!(supervisor = self.inner.name, ?key, "child started");
        addr
    }

    /// Children currently in the directory.
    pub fn len(&self) -> usize {
        let children = self
            .inner
            .children
            .read()
            .unwrap_or_else(|p| p.into_inner());
        children.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops every child at once, without letting any finish its work:
    /// what a crash of the process does (tests of recovery use it).
    pub fn halt(&self) {
        for arbiter in &self.inner.arbiters {
            arbiter.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::until;
    use std::time::Duration;

    struct Counter {
        _lease: Lease<Counter>,
        count: u32,
    }

    impl Actor for Counter {
        type Context = Context<Self>;
    }

    impl Child for Counter {
        type Key = u32;
    }

    #[derive(Message)]
    #[rtype(result = "u32")]
    struct Bump;

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Explode;

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Stop;

    impl Handler<Bump> for Counter {
        type Result = u32;
        fn handle(&mut self, _: Bump, _: &mut Context<Self>) -> u32 {
            self.count += 1;
            self.count
        }
    }

    impl Handler<Explode> for Counter {
        type Result = ();
        fn handle(&mut self, _: Explode, _: &mut Context<Self>) {
            panic!("a handler that panics (on purpose, in a test)");
        }
    }

    impl Handler<Stop> for Counter {
        type Result = ();
        fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
            ctx.stop();
        }
    }

    fn start(sup: &Supervisor<Counter>, key: u32) -> Addr<Counter> {
        sup.get_or_start(&key, |lease, _| Counter {
            _lease: lease,
            count: 0,
        })
    }

    #[actix_web::test]
    async fn one_child_per_key_and_reaped_when_it_stops() {
        let sup = Supervisor::<Counter>::new("test", 2);
        let a = start(&sup, 1);
        let again = start(&sup, 1);
        assert_eq!(a.send(Bump).await.unwrap(), 1);
        assert_eq!(again.send(Bump).await.unwrap(), 2, "the same child");
        start(&sup, 2);
        assert_eq!(sup.len(), 2);
        a.do_send(Stop);
        until(|| sup.len() == 1).await;
        assert!(sup.get(&1).is_none());
        let fresh = start(&sup, 1);
        assert_eq!(fresh.send(Bump).await.unwrap(), 1, "a fresh child");
    }

    #[cfg(target_os = "linux")]
    #[actix_web::test]
    async fn each_thread_runs_the_setup_once_and_keeps_the_niceness_it_gets() {
        use crate::config::ThreadPriority;
        let niceness = || rustix::process::getpriority_process(Some(rustix::thread::gettid()));
        let before = niceness().unwrap();
        // Nicer than now needs no privilege.
        let nicer = (before + 1).min(19);
        let sup = Supervisor::<Counter>::new("test", 2);
        let (tx, rx) = std::sync::mpsc::channel();
        sup.on_each_arbiter(move || {
            crate::actors::game::ticker::set_thread_priority(ThreadPriority::Nice(nicer)).unwrap();
            tx.send((std::thread::current().id(), niceness().unwrap()))
                .unwrap();
        });
        let a = rx.recv_timeout(Duration::from_secs(2)).unwrap();
        let b = rx.recv_timeout(Duration::from_secs(2)).unwrap();
        assert_ne!(a.0, b.0, "one run per thread");
        assert_eq!((a.1, b.1), (nicer, nicer));
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
        assert_eq!(
            niceness().unwrap(),
            before,
            "the calling thread is left as it was"
        );
    }

    #[actix_web::test]
    async fn a_panicking_child_is_reaped_and_its_siblings_keep_working() {
        let sup = Supervisor::<Counter>::new("test", 1);
        let doomed = start(&sup, 1);
        // Same arbiter thread as the doomed one: it must survive the panic.
        let sibling = start(&sup, 2);
        assert_eq!(sibling.send(Bump).await.unwrap(), 1);
        doomed.do_send(Explode);
        until(|| sup.get(&1).is_none()).await;
        assert!(
            doomed.send(Bump).await.is_err(),
            "the panicked child is gone"
        );
        assert_eq!(sibling.send(Bump).await.unwrap(), 2);
        assert_eq!(start(&sup, 1).send(Bump).await.unwrap(), 1);
    }
}
