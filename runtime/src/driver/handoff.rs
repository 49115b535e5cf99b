//! Nothing is stranded behind a busy worker: while a worker is stuck in one
//! long task poll (a CPU-heavy request, a blocking call that should have
//! gone to `spawn_blocking`), a monitor thread drives its driver for it —
//! fires its due timers, reaps its io_uring completions or collects its
//! epoll events — so the tasks waiting there are woken and run on the other
//! workers. (The design, the alternatives and the measurements are in
//! docs/architecture.md, "Nothing is stranded behind a busy worker".)
//!
//! # The pieces
//!
//! - Each worker's park is wrapped in a [`WatchedPark`], which publishes in
//!   the worker's [`Watch`] a count of its driver turns (every park, also
//!   the non-blocking maintenance ones) and whether it is parked.
//! - The [`Monitor`] thread samples the watches every [`TICK`]. A worker
//!   that is not parked and has not turned its driver since the last sample
//!   is stuck; if another worker is parked (idle, so able to run what gets
//!   woken), the monitor takes a turn for it ([`Watch::turn`]: the timer
//!   wheel's due timers under the wheel's lock, then `Reaper::try_reap` /
//!   epoll `Handle::try_poll`, which give way while the owner itself is in
//!   its driver). Tasks it wakes are scheduled from a non-worker thread:
//!   through the injector, unparking an idle worker.
//! - The scheduler's hook (`Park::set_stranded_hook`) runs first in such a
//!   turn: the task in the stuck worker's LIFO slot (a child its long task
//!   spawned, say) goes to the injector, and an idle worker is woken.
//! - When it has just helped a stuck worker, the monitor sleeps until that
//!   worker's next timer if it comes before the next tick, so a stranded
//!   timer fires within the wheel's 1 ms resolution.
//!
//! # Costing nothing while idle
//!
//! With every worker parked for ten ticks in a row there is nothing to
//! watch: the monitor sleeps on a condition variable, with no timeout. A
//! worker returning from a park wakes it if it sleeps. The two sides form a
//! store-buffer pair:
//!
//! - monitor: `sleeping = true` (under the lock); `fence(SeqCst)`; look at
//!   every watch's state; if one runs, `sleeping = false` and go on; else
//!   wait while `sleeping`.
//! - worker: `state = RUNNING`; `fence(SeqCst)`; if `sleeping`, take the
//!   lock, set `sleeping = false`, notify.
//!
//! Either the monitor sees the running worker, or the worker sees the
//! monitor sleeping and wakes it: it never sleeps while a worker runs.
//! (`loom-tests/tests/handoff.rs` checks this.) A worker pays one fence per
//! blocking park, and a futex wake only when the monitor slept.

use super::park::{Park, StrandedHook, Unpark};
use crate::loom::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicU8, Ordering};
use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::time::driver::TimeDriver;
use std::fmt;
use std::time::{Duration, Instant};

/// How often the monitor samples the workers while any of them runs: a
/// worker that has not turned its driver for between one and two ticks is
/// helped.
pub(crate) const TICK: Duration = Duration::from_millis(1);

/// Ticks with every worker parked before the monitor sleeps without a
/// timeout. Under load workers park and unpark thousands of times a second;
/// without this margin each return from a park could find the monitor
/// asleep and pay a futex wake (measured: tcp_echo CPU per message on the
/// epoll driver rose from 1.04 to 1.10 × tokio's).
const IDLE_TICKS_BEFORE_SLEEP: u32 = 10;

const RUNNING: u8 = 0;
const PARKED: u8 = 1;

/// The I/O side of a worker's driver, as another thread may drive it.
pub(crate) enum IoTurn {
    Uring(ringwork_uring::Reaper),
    Epoll(ringwork_epoll::Handle),
    /// A runtime without I/O.
    None,
}

impl IoTurn {
    /// Collects what the driver has for its tasks, unless its owner is in
    /// it; returns how many operations or registrations were delivered.
    fn turn(&self) -> usize {
        match self {
            IoTurn::Uring(reaper) => {
                if reaper.in_flight() == 0 {
                    return 0;
                }
                reaper.turn()
            }
            IoTurn::Epoll(handle) => handle.try_poll(),
            IoTurn::None => 0,
        }
    }
}

/// One worker's driver as the monitor sees it.
pub(crate) struct Watch {
    /// `RUNNING` or `PARKED`, written by the owner only.
    state: AtomicU8,
    /// Driver turns so far, written by the owner only (a hint: `Relaxed`).
    turns: AtomicU64,
    time: Arc<TimeDriver>,
    io: IoTurn,
    monitor: Arc<MonitorState>,
    /// The scheduler's part of a turn for a stuck worker.
    stranded: std::sync::OnceLock<StrandedHook>,
}

impl Watch {
    pub(crate) fn new(time: Arc<TimeDriver>, io: IoTurn, monitor: &Monitor) -> Arc<Watch> {
        let watch = Arc::new(Watch {
            state: AtomicU8::new(PARKED),
            turns: AtomicU64::new(0),
            time,
            io,
            monitor: monitor.state.clone(),
            stranded: std::sync::OnceLock::new(),
        });
        monitor.state.watches.lock().push(watch.clone());
        watch
    }

    /// Owner: it is about to turn its driver (any park).
    fn driven(&self) {
        // One writer: a load and a store; `Relaxed`: a sample, nothing is
        // published through it.
        let turns = self.turns.load(Ordering::Relaxed);
        self.turns.store(turns.wrapping_add(1), Ordering::Relaxed);
    }

    /// Owner: about to block in its driver.
    fn parking(&self) {
        // `Relaxed`: the monitor only skips parked workers; a stale RUNNING
        // costs it one useless turn attempt (which gives way to the owner).
        self.state.store(PARKED, Ordering::Relaxed);
    }

    /// Owner: back from a blocking park, about to run tasks.
    fn running(&self) {
        self.state.store(RUNNING, Ordering::Relaxed);
        // `SeqCst` fence: pairs with the fence in `MonitorState::sleep`
        // (store-buffer pattern, see the module docs): either the monitor
        // sees this worker running, or this worker sees it sleeping.
        fence(Ordering::SeqCst);
        if self.monitor.sleeping.load(Ordering::Relaxed) {
            self.monitor.wake();
        }
    }

    /// For the loom model: `running`.
    #[cfg(loom)]
    pub(crate) fn model_running(&self) {
        self.running();
    }

    fn is_running(&self) -> bool {
        self.state.load(Ordering::Relaxed) == RUNNING
    }

    /// The monitor's turn for a stuck owner: due timers, then I/O. Returns
    /// what it delivered and when the owner's next timer is due.
    fn turn(&self, now: Instant) -> (usize, Option<Instant>) {
        if let Some(stranded) = self.stranded.get() {
            stranded();
        }
        // The system clock: the monitor serves multi-thread runtimes, whose
        // clock cannot be paused.
        let (fired, next) = self
            .time
            .process_and_next(crate::time::Instant::from_std(now));
        let delivered = fired + self.io.turn();
        (delivered, next.map(|after| now + after))
    }
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch")
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

/// A worker's park, publishing its turns and parks in its [`Watch`].
pub(crate) struct WatchedPark<P> {
    inner: P,
    watch: Arc<Watch>,
}

impl<P: Park> WatchedPark<P> {
    pub(crate) fn new(inner: P, watch: Arc<Watch>) -> WatchedPark<P> {
        WatchedPark { inner, watch }
    }
}

impl<P: Park> Park for WatchedPark<P> {
    fn enter(&mut self) {
        self.inner.enter();
        self.watch.running();
    }

    fn exit(&mut self) {
        self.watch.parking();
        self.inner.exit();
    }

    fn suspend(&mut self) {
        self.watch.parking();
        self.inner.suspend();
    }

    fn resume(&mut self) {
        self.inner.resume();
        self.watch.running();
    }

    fn flush(&mut self) {
        self.inner.flush();
    }

    fn park(&mut self, timeout: Option<Duration>) {
        self.watch.driven();
        if timeout == Some(Duration::ZERO) {
            self.inner.park(timeout);
            return;
        }
        self.watch.parking();
        self.inner.park(timeout);
        self.watch.running();
    }

    fn unparker(&self) -> std::sync::Arc<dyn Unpark> {
        self.inner.unparker()
    }

    fn timer(&self) -> Option<Arc<TimeDriver>> {
        self.inner.timer()
    }

    fn io_stats(&self) -> Option<super::IoStats> {
        self.inner.io_stats()
    }

    fn set_stranded_hook(&mut self, hook: StrandedHook) {
        let _ = self.watch.stranded.set(hook);
    }
}

impl<P> fmt::Debug for WatchedPark<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchedPark").finish_non_exhaustive()
    }
}

/// What the monitor thread and the workers share.
pub(crate) struct MonitorState {
    watches: Mutex<Vec<Arc<Watch>>>,
    /// The monitor waits on `wake_up` (see the module docs).
    sleeping: AtomicBool,
    lock: Mutex<()>,
    wake_up: Condvar,
    shutdown: AtomicBool,
}

impl MonitorState {
    fn wake(&self) {
        let _guard = self.lock.lock();
        self.sleeping.store(false, Ordering::Relaxed);
        self.wake_up.notify_one();
    }

    /// Sleeps until a worker runs or shutdown; returns at once if one runs.
    fn sleep(&self, watches: &[Arc<Watch>]) {
        {
            let _guard = self.lock.lock();
            self.sleeping.store(true, Ordering::Relaxed);
        }
        // `SeqCst` fence: pairs with the one in `Watch::running`.
        fence(Ordering::SeqCst);
        if watches.iter().any(|w| w.is_running()) || self.shutdown.load(Ordering::Acquire) {
            self.sleeping.store(false, Ordering::Relaxed);
            return;
        }
        let mut guard = self.lock.lock();
        // `sleeping` is cleared under the lock by `wake` and `stop`.
        while self.sleeping.load(Ordering::Relaxed) {
            guard = self.wake_up.wait(guard);
        }
    }
}

/// The monitor thread (see the module docs).
pub(crate) struct Monitor {
    state: Arc<MonitorState>,
    thread: Mutex<Option<crate::loom::thread::JoinHandle<()>>>,
}

impl Monitor {
    /// A monitor with no watches and no thread yet.
    pub(crate) fn new() -> Monitor {
        Monitor {
            state: Arc::new(MonitorState {
                watches: Mutex::new(Vec::new()),
                sleeping: AtomicBool::new(false),
                lock: Mutex::new(()),
                wake_up: Condvar::new(),
                shutdown: AtomicBool::new(false),
            }),
            thread: Mutex::new(None),
        }
    }

    /// Starts the thread (once every watch is made).
    pub(crate) fn start(&self, name: String) -> std::io::Result<()> {
        let state = self.state.clone();
        let thread = crate::loom::thread::spawn_named(name, Some(256 * 1024), move || run(&state))?;
        *self.thread.lock() = Some(thread);
        Ok(())
    }

    /// For the loom model: drops the watches (as `stop` does outside loom).
    #[cfg(loom)]
    pub(crate) fn model_clear(&self) {
        let watches = std::mem::take(&mut *self.state.watches.lock());
        drop(watches);
    }

    /// For the loom model: the monitor's sleep with the current watches.
    #[cfg(loom)]
    pub(crate) fn model_sleep(&self) {
        let watches = self.state.watches.lock().clone();
        self.state.sleep(&watches);
    }

    /// Stops the thread and waits for it (it takes at most one tick).
    pub(crate) fn stop(&self) {
        if cfg!(loom) {
            // The loom models never start it (nor make watches): stay out
            // of their state space.
            return;
        }
        let thread = self.thread.lock().take();
        if let Some(thread) = thread {
            // `Release`: pairs with the `Acquire` loads of the monitor.
            self.state.shutdown.store(true, Ordering::Release);
            self.state.wake();
            let _ = thread.join();
        }
        // Each watch points back to the monitor's state: break the cycle,
        // so the workers' drivers (rings, eventfds) are freed with them.
        let watches = std::mem::take(&mut *self.state.watches.lock());
        drop(watches);
    }
}

impl fmt::Debug for Monitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Monitor").finish_non_exhaustive()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The monitor's loop.
fn run(state: &MonitorState) {
    let watches: Vec<Arc<Watch>> = state.watches.lock().clone();
    // The turn count each worker had at the previous sample (`None`: it was
    // parked, or this is the first sample).
    let mut seen: Vec<Option<u64>> = vec![None; watches.len()];
    let mut idle_ticks = 0;
    while !state.shutdown.load(Ordering::Acquire) {
        let now = Instant::now();
        let mut wake_at = now + TICK;
        let mut any_running = false;
        // Helping a stuck worker is worth it only if another worker is idle
        // to run what it wakes: with every worker busy, the woken tasks would
        // queue in the injector behind the rest (a flood of spawned tasks
        // once starved a listener's accepts that way), while the stuck
        // worker's own next turn would have run them next.
        let any_idle = watches.iter().any(|w| !w.is_running());
        for (watch, seen) in watches.iter().zip(seen.iter_mut()) {
            if !watch.is_running() {
                *seen = None;
                continue;
            }
            any_running = true;
            let turns = watch.turns.load(Ordering::Relaxed);
            if *seen == Some(turns) && any_idle {
                // No driver turn for a whole tick: take one for it.
                let (_, next_timer) = watch.turn(now);
                if let Some(at) = next_timer {
                    wake_at = wake_at.min(at);
                }
            }
            *seen = Some(turns);
        }
        idle_ticks = if any_running { 0 } else { idle_ticks + 1 };
        if idle_ticks < IDLE_TICKS_BEFORE_SLEEP {
            let pause = wake_at.saturating_duration_since(Instant::now());
            crate::loom::thread::sleep(pause.max(Duration::from_micros(50)));
        } else {
            state.sleep(&watches);
            idle_ticks = 0;
            seen.iter_mut().for_each(|s| *s = None);
        }
    }
}
