//! The `Park` seam: how an idle thread sleeps and how another wakes it.
//!
//! The scheduler only ever calls [`Park::park`] on its own thread and
//! [`Unpark::unpark`] from anywhere. Implementations: the I/O drivers
//! (`io/driver.rs`: `io_uring_enter` with a timeout and an eventfd read kept
//! pending, or `epoll_wait` on an eventfd), wrapped by the timer wheel
//! (`time/driver.rs`), and [`CondvarParker`] for runtimes without I/O and for
//! loom. The worker loop is the same for all of them.
//!
//! Contract, for every implementation:
//! - an `unpark` that happens before `park` makes that `park` return at once
//!   (a token is stored, not lost);
//! - `park` may return spuriously; callers re-check their condition;
//! - `unpark` is cheap when the owner is not parked (no syscall).

use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::time::driver::TimeDriver;
use std::fmt;
use std::time::Duration;

/// The sleeping side, owned by one thread.
pub(crate) trait Park: Send {
    /// Called once on the owning thread before anything else (an I/O driver
    /// installs itself as the thread's driver here).
    fn enter(&mut self) {}

    /// Called once on the owning thread after the last park, once every task
    /// future on the thread is gone (an I/O driver cancels what is still in
    /// flight and waits for the kernel to finish with every buffer).
    fn exit(&mut self) {}

    /// Takes what `enter` installed out of the owning thread's context,
    /// keeping it (and every operation in flight) for a later `resume` on
    /// the same thread. A current-thread runtime does this when `block_on`
    /// returns, so that the thread is free to enter another runtime while
    /// this one's ring waits, untouched, for the next `block_on`.
    #[cfg_attr(loom, allow(dead_code))] // current-thread runtimes only
    fn suspend(&mut self) {}

    /// Puts back what `suspend` took (on the thread that suspended it).
    #[cfg_attr(loom, allow(dead_code))]
    fn resume(&mut self) {}

    /// Submits the I/O queued by the polls since the last flush: the batching
    /// point, called when the worker runs out of local tasks and on
    /// maintenance ticks.
    fn flush(&mut self) {}

    /// Blocks until unparked, until `timeout` elapses (`Some(ZERO)`: just
    /// harvest pending events/tokens without blocking), or spuriously.
    fn park(&mut self, timeout: Option<Duration>);

    /// The waking side. (A std `Arc` even under loom: loom's `Arc` cannot
    /// hold a trait object, and this count is not part of any protocol.)
    fn unparker(&self) -> std::sync::Arc<dyn Unpark>;

    /// The timer wheel this park drives, if it wraps one (`TimedPark`):
    /// threads that drive none arm their timers there.
    fn timer(&self) -> Option<Arc<TimeDriver>> {
        None
    }

    /// The I/O driver's counters, for `Handle::metrics` (io_uring only).
    fn io_stats(&self) -> Option<super::IoStats> {
        None
    }

    /// What the monitor (`handoff.rs`) should do, besides driving the
    /// driver, for a worker stuck in a long poll: the scheduler hands its
    /// stranded work to idle workers. Only parks that have a watch keep it.
    /// (Not under loom: the scheduler models leave the monitor out.)
    #[cfg_attr(loom, allow(dead_code))]
    fn set_stranded_hook(&mut self, _hook: StrandedHook) {}
}

/// See [`Park::set_stranded_hook`].
pub(crate) type StrandedHook = Box<dyn Fn() + Send + Sync>;

/// The waking side: `Send + Sync`, callable from any thread.
pub(crate) trait Unpark: Send + Sync + 'static {
    fn unpark(&self);
}

impl Park for Box<dyn Park> {
    fn enter(&mut self) {
        (**self).enter();
    }
    fn exit(&mut self) {
        (**self).exit();
    }
    fn suspend(&mut self) {
        (**self).suspend();
    }
    fn resume(&mut self) {
        (**self).resume();
    }
    fn flush(&mut self) {
        (**self).flush();
    }
    fn park(&mut self, timeout: Option<Duration>) {
        (**self).park(timeout);
    }
    fn unparker(&self) -> std::sync::Arc<dyn Unpark> {
        (**self).unparker()
    }
    fn timer(&self) -> Option<Arc<TimeDriver>> {
        (**self).timer()
    }
    fn io_stats(&self) -> Option<super::IoStats> {
        (**self).io_stats()
    }
    fn set_stranded_hook(&mut self, hook: StrandedHook) {
        (**self).set_stranded_hook(hook);
    }
}

const EMPTY: usize = 0;
const PARKED: usize = 1;
const NOTIFIED: usize = 2;

/// A `Mutex` + `Condvar` parker with a stored wake-up token.
pub(crate) struct CondvarParker {
    inner: std::sync::Arc<Inner>,
}

struct Inner {
    /// `EMPTY`, `PARKED` (the owner is, or is about to be, waiting on the
    /// condvar) or `NOTIFIED` (a token waits to be consumed).
    state: AtomicUsize,
    lock: Mutex<()>,
    condvar: Condvar,
}

impl CondvarParker {
    pub(crate) fn new() -> CondvarParker {
        CondvarParker {
            inner: std::sync::Arc::new(Inner {
                state: AtomicUsize::new(EMPTY),
                lock: Mutex::new(()),
                condvar: Condvar::new(),
            }),
        }
    }
}

impl Park for CondvarParker {
    fn park(&mut self, timeout: Option<Duration>) {
        self.inner.park(timeout);
    }

    fn unparker(&self) -> std::sync::Arc<dyn Unpark> {
        self.inner.clone()
    }
}

impl Inner {
    fn park(&self, timeout: Option<Duration>) {
        // Fast path: consume a stored token. `SeqCst` (here and below): the
        // token's store in `unpark` and this read order the waker's earlier
        // writes (a pushed task) before whatever the owner reads next.
        if self
            .state
            .compare_exchange(NOTIFIED, EMPTY, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
        if timeout == Some(Duration::ZERO) {
            return;
        }
        let mut guard = self.lock.lock();
        match self
            .state
            .compare_exchange(EMPTY, PARKED, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => {}
            Err(NOTIFIED) => {
                // The token arrived after the fast path: consume it.
                self.state.swap(EMPTY, Ordering::SeqCst);
                return;
            }
            Err(actual) => unreachable!("parker state {actual} while its owner parks"),
        }
        loop {
            guard = match timeout {
                None => self.condvar.wait(guard),
                Some(timeout) => self.condvar.wait_timeout(guard, timeout),
            };
            if self
                .state
                .compare_exchange(NOTIFIED, EMPTY, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return;
            }
            if timeout.is_some() {
                // Timed out (or woke spuriously, which is allowed). Leave
                // `PARKED`; a token that landed meanwhile is consumed by this
                // return, which is the wake-up it asked for.
                self.state.swap(EMPTY, Ordering::SeqCst);
                return;
            }
        }
    }
}

impl Unpark for Inner {
    fn unpark(&self) {
        // `SeqCst` swap: pairs with the owner's CAS to `PARKED` / from `NOTIFIED`.
        match self.state.swap(NOTIFIED, Ordering::SeqCst) {
            // Not parked, or already notified: the token is enough.
            EMPTY | NOTIFIED => {}
            PARKED => {
                // The owner set `PARKED` under the lock and releases it only
                // inside `wait`; taking the lock here means it is waiting (or
                // has not re-checked yet), so the notification is not lost.
                drop(self.lock.lock());
                self.condvar.notify_one();
            }
            actual => unreachable!("parker state {actual}"),
        }
    }
}

impl fmt::Debug for CondvarParker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CondvarParker").finish_non_exhaustive()
    }
}
