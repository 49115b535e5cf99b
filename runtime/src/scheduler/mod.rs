//! The multi-threaded, work-stealing scheduler.
//!
//! - [`Shared`]: what every worker and every handle sees: the injector, each
//!   worker's stealer, unparker and counters, the idle state, the registry of
//!   live tasks, the shutdown flag.
//! - `worker.rs`: one worker's loop (local queue, LIFO slot, stealing,
//!   parking, shutdown).
//! - `idle.rs`: the sleep/search protocol and why it loses no wake-up.
//! - `queue.rs`, `park.rs`, `rng.rs`, `metrics.rs`: the parts it is built from.
//!
//! Where a scheduled task goes:
//!
//! | scheduled from | woken by the running task | spawned or yielded |
//! | --- | --- | --- |
//! | a worker of this runtime | that worker's LIFO slot (the previous occupant moves to the back of the local queue) | back of that worker's local queue |
//! | any other thread | the injector | the injector |

#[cfg(not(loom))]
pub(crate) mod current_thread;
mod idle;
mod lifo;
pub(crate) mod metrics;
mod queue;
pub(crate) mod rng;
mod worker;

pub(crate) use idle::MAX_WORKERS;

use crate::driver::park::{Park, Unpark};
use crate::loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::task_core::{self as task, list::OwnedTasks, JoinHandle, Schedule};
use crate::time::driver::{TimeDriver, WheelClosed};
use crate::time::wheel::Key;
use crossbeam_utils::CachePadded;
use idle::Idle;
use lifo::LifoSlot;
use metrics::{RuntimeMetrics, WorkerCounters};
use queue::{Injector, LocalQueue, Stealer};
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::task::Waker;
use std::time::Instant;

pub(crate) use worker::{run as run_worker, Worker};

/// A task as the scheduler sees it.
pub(crate) type Notified = task::Notified<Arc<Shared>>;
type Task = task::Task<Arc<Shared>>;

/// Which scheduler a runtime has
/// ([`Handle::runtime_flavor`](crate::Handle::runtime_flavor)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuntimeFlavor {
    /// Worker threads that steal from each other
    /// ([`Builder::new_multi_thread`](crate::runtime::Builder::new_multi_thread)).
    MultiThread,
    /// No worker thread: the thread in `block_on` runs every task
    /// ([`Builder::new_current_thread`](crate::runtime::Builder::new_current_thread)).
    CurrentThread,
}

/// A thread start/stop hook.
pub(crate) type Callback = std::sync::Arc<dyn Fn() + Send + Sync>;

/// Settings fixed at build time.
pub(crate) struct Config {
    pub(crate) flavor: RuntimeFlavor,
    pub(crate) global_queue_interval: u32,
    pub(crate) event_interval: u32,
    /// Most consecutive polls of LIFO-slot tasks before the slot's task goes
    /// to the back of the queue (fairness against ping-pong pairs).
    pub(crate) max_lifo_polls: u32,
    pub(crate) seed: u64,
    pub(crate) on_thread_start: Option<Callback>,
    pub(crate) on_thread_stop: Option<Callback>,
    /// Debug mode (`Builder::debug`): `None` when off.
    pub(crate) debug: Option<DebugConfig>,
    /// What the driver stacks were made with (`None`: no I/O); held for
    /// `Handle`, unused by the scheduler.
    pub(crate) driver: Option<crate::driver::Info>,
}

/// Debug mode's settings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DebugConfig {
    /// A poll at least this long is reported (`slow poll`).
    pub(crate) slow_poll: std::time::Duration,
}

/// What other threads may touch of one worker. Each is alone on its cache
/// line(s) (`CachePadded`): the owner writes its LIFO slot and counters on
/// every poll, and with two workers' `Remote`s on one line every such write
/// missed after the other worker touched its own (ping_pong: 6.5 -> 4.3 ms).
struct Remote {
    stealer: Stealer<Notified>,
    /// The worker's LIFO slot (its owner's; others may only take from it).
    lifo: LifoSlot,
    unparker: std::sync::Arc<dyn Unpark>,
    /// The worker's timer wheel, where threads without one arm their timers.
    timer: Option<Arc<TimeDriver>>,
    counters: WorkerCounters,
    /// The worker's I/O driver counters (io_uring).
    io_stats: Option<crate::driver::IoStats>,
}

/// The state shared by all workers and handles of one runtime.
pub(crate) struct Shared {
    remotes: Box<[CachePadded<Remote>]>,
    injector: Injector<Notified>,
    idle: Idle,
    owned: OwnedTasks<Arc<Shared>>,
    /// Set once by `shutdown`. `SeqCst` store; workers read it with `Acquire`
    /// each tick and after every park (the unpark that follows the store
    /// makes a parked worker look).
    is_shutdown: AtomicBool,
    config: Config,
    /// The blocking pool (`spawn_blocking`).
    pub(crate) blocking: Arc<crate::blocking::Pool>,
    /// Workers that have finished their shutdown work and exited their loop.
    exited: Mutex<usize>,
    exited_changed: Condvar,
    /// The worker whose wheel `arm_timer` tries first, taking turns.
    next_timer_worker: AtomicUsize,
    /// What `time::Instant::now` reads (pausable in a current-thread
    /// runtime).
    clock: crate::time::Clock,
    /// Unique in the process (`select!`'s generator re-seeds per runtime).
    id: u64,
    /// When it was built (workers' busy time is measured from here).
    created: Instant,
}

/// What one worker thread starts with.
pub(crate) struct WorkerParts {
    index: usize,
    local: LocalQueue<Notified>,
    park: Box<dyn Park>,
}

/// Builds the shared state for `parks.len()` workers (one parker each).
pub(crate) fn create(
    config: Config,
    blocking: Arc<crate::blocking::Pool>,
    parks: Vec<Box<dyn Park>>,
) -> (Arc<Shared>, Vec<WorkerParts>) {
    let num_workers = parks.len();
    let mut remotes = Vec::with_capacity(num_workers);
    let mut parts = Vec::with_capacity(num_workers);
    for (index, park) in parks.into_iter().enumerate() {
        let local = LocalQueue::new();
        remotes.push(CachePadded::new(Remote {
            stealer: local.stealer(),
            lifo: LifoSlot::new(),
            unparker: park.unparker(),
            timer: park.timer(),
            counters: WorkerCounters::default(),
            io_stats: park.io_stats(),
        }));
        parts.push(WorkerParts { index, local, park });
    }
    let pausable = config.flavor == RuntimeFlavor::CurrentThread;
    let shared = Arc::new(Shared {
        remotes: remotes.into_boxed_slice(),
        injector: Injector::new(),
        idle: Idle::new(num_workers),
        // Under loom one shard: task ids come from a process-wide counter,
        // so the shard a task lands in would differ between explored
        // executions, which loom rejects as non-determinism.
        owned: OwnedTasks::new(if cfg!(loom) { 1 } else { 4 * num_workers }),
        is_shutdown: AtomicBool::new(false),
        config,
        blocking,
        exited: Mutex::new(0),
        exited_changed: Condvar::new(),
        next_timer_worker: AtomicUsize::new(0),
        clock: crate::time::Clock::new(pausable),
        id: {
            // Plain std atomic even under loom: an id, not a protocol.
            // `Relaxed`: only uniqueness matters.
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        },
        created: Instant::now(),
    });
    // The monitor's hook for a stuck worker. A `Weak`: the hook lives in the
    // worker's watch, which the monitor keeps until it stops; a strong count
    // would keep `Shared` (and every task it owns) alive until then.
    #[cfg(not(loom))]
    for part in &mut parts {
        let weak = Arc::downgrade(&shared);
        let index = part.index;
        part.park.set_stranded_hook(Box::new(move || {
            if let Some(shared) = weak.upgrade() {
                shared.rescue_stranded(index);
            }
        }));
    }
    (shared, parts)
}

impl Shared {
    pub(crate) fn num_workers(&self) -> usize {
        self.remotes.len()
    }

    pub(crate) fn seed(&self) -> u64 {
        self.config.seed
    }

    /// When the runtime was built.
    pub(crate) fn created(&self) -> Instant {
        self.created
    }

    /// Unique among the runtimes of this process.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Calls `f` with every live task (for `Handle::dump`).
    pub(crate) fn owned_for_each(&self, f: impl FnMut(&Task)) {
        self.owned.for_each(f);
    }

    pub(crate) fn clock(&self) -> &crate::time::Clock {
        &self.clock
    }

    pub(crate) fn flavor(&self) -> RuntimeFlavor {
        self.config.flavor
    }

    pub(crate) fn driver_info(&self) -> Option<&crate::driver::Info> {
        self.config.driver.as_ref()
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        // `Acquire`: pairs with the `SeqCst` store in `shutdown`.
        self.is_shutdown.load(Ordering::Acquire)
    }

    /// Spawns `future` as a new task.
    pub(crate) fn spawn<F>(
        this: &Arc<Self>,
        future: F,
        spawned_at: &'static Location<'static>,
        name: Option<std::sync::Arc<str>>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let meta = task::SpawnMeta {
            spawned_at,
            name,
            debug: this.config.debug.is_some(),
        };
        #[cfg(feature = "tracing")]
        let (name, spawned_at) = (meta.name.clone(), meta.spawned_at);
        let (join, notified) = this.owned.spawn(future, this.clone(), meta);
        // Feature `tracing`: an event per spawn (polls and I/O have spans).
        #[cfg(feature = "tracing")]
        tracing::trace!(
            task.id = %join.id(),
            task.name = name.as_deref(),
            spawned_at = %spawned_at,
            "ringwork.spawn"
        );
        if let Some(notified) = notified {
            // The LIFO slot, as a wake-up from the running task: a spawn
            // chain runs child after child with no queue traffic. A parent
            // that goes on running for long does not strand the child: the
            // monitor moves it to the injector (`rescue_stranded`).
            Shared::schedule_task(this, notified, Placement::Lifo);
        }
        join
    }

    /// Spawns `future` scheduled as a task woken by the running task is
    /// (`Schedule::schedule`): from a worker of this runtime, into its LIFO
    /// slot. For the loom models (`loom_api::ModelWorker::spawn_lifo`).
    #[cfg(loom)]
    pub(crate) fn spawn_woken<F>(this: &Arc<Self>, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (join, notified) = this.owned.spawn(
            future,
            this.clone(),
            task::SpawnMeta::at(Location::caller()),
        );
        if let Some(notified) = notified {
            this.schedule(notified);
        }
        join
    }

    /// Routes a task to the right queue (see the module docs' table).
    fn schedule_task(this: &Arc<Self>, task: Notified, placement: Placement) {
        let task = match Worker::with_current(|worker| match worker {
            Some(worker) if std::ptr::eq(worker.shared(), &**this) => {
                worker.schedule_local(task, placement);
                None
            }
            _ => Some(task),
        }) {
            None => return,
            Some(task) => task,
        };
        this.injector.push(task);
        if this.is_shutdown() {
            // The workers may have drained the injector already; a task
            // queued now would never be popped and would keep the runtime
            // alive through its scheduler handle. Shutdown (or the poller
            // of the task) completes every task, so its notifications may
            // simply be dropped.
            this.drain_injector();
            return;
        }
        this.notify_parked();
    }

    /// Worker `index` is stuck in a long poll (the monitor says so, see
    /// `driver/handoff.rs`): the task in its LIFO slot goes to the injector
    /// and an idle worker is woken; with queued tasks instead, an idle worker
    /// is woken to steal them.
    pub(crate) fn rescue_stranded(&self, index: usize) {
        let remote = &self.remotes[index];
        if let Some(task) = remote.lifo.take() {
            self.injector.push(task);
            if self.is_shutdown() {
                self.drain_injector();
                return;
            }
            self.notify_parked();
        } else if !remote.stealer.is_empty() {
            self.notify_parked();
        }
    }

    /// Rule 2 of the idle protocol: wake one sleeper if no worker searches.
    pub(crate) fn notify_parked(&self) {
        // `SeqCst` fence: pairs with the fence in `Worker::park` after the
        // parking worker's counter update (store-buffer pattern, see
        // `idle.rs`): either we see no searcher, or it sees our pushed task.
        fence(Ordering::SeqCst);
        if let Some(index) = self.idle.worker_to_notify() {
            self.remotes[index].unparker.unpark();
        }
    }

    /// Rule 4: wake a worker if any queue holds work.
    fn notify_if_work_pending(&self) {
        let pending =
            self.remotes.iter().any(|r| !r.stealer.is_empty()) || !self.injector.is_empty();
        if pending {
            self.notify_parked();
        }
    }

    /// Arms a timer for a thread that drives no timer wheel (a blocking-pool
    /// thread, a thread under `Runtime::enter`) on a worker's wheel, the
    /// workers taking turns, and unparks that worker if the timer may be due
    /// before it would wake (see `time/driver.rs`). Returns the wheel and key
    /// (`None`: already due); `Err` when every worker's wheel is closed (the
    /// runtime shut down).
    pub(crate) fn arm_timer(
        &self,
        deadline: crate::time::Instant,
        waker: &Waker,
    ) -> Result<Option<(Arc<TimeDriver>, Key)>, WheelClosed> {
        let n = self.remotes.len();
        // `Relaxed`: only spreads timers over the workers; nothing is
        // published through this counter.
        let first = self.next_timer_worker.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            let remote = &self.remotes[first.wrapping_add(i) % n];
            let Some(timer) = &remote.timer else {
                continue;
            };
            if let Ok((key, earlier)) = timer.register_remote(deadline, waker) {
                if earlier {
                    remote.unparker.unpark();
                }
                return Ok(key.map(|key| (timer.clone(), key)));
            }
        }
        Err(WheelClosed)
    }

    /// Stops the runtime: no new tasks run, every worker is woken to shut
    /// live tasks down and exit. Idempotent.
    pub(crate) fn shutdown(&self) {
        // `SeqCst`: pairs with the `Acquire` loads in `is_shutdown`; the
        // unparks below make parked workers look.
        if self.is_shutdown.swap(true, Ordering::SeqCst) {
            return;
        }
        self.owned.close();
        for remote in self.remotes.iter() {
            remote.unparker.unpark();
        }
    }

    /// Called by each worker when it leaves its loop for good (also when it
    /// unwinds). The last one drains the injector, so queued notifications
    /// never outlive the workers even when nobody waits for them
    /// (`shutdown_background`, an expired `shutdown_timeout`).
    fn worker_exited(&self) {
        let mut exited = self.exited.lock();
        *exited += 1;
        let last = *exited == self.num_workers();
        drop(exited);
        if last {
            self.drain_injector();
        }
        self.exited_changed.notify_all();
    }

    /// Waits until every worker exited, or `deadline` passes. Returns whether
    /// all exited.
    pub(crate) fn wait_for_workers(&self, deadline: Option<Instant>) -> bool {
        let mut exited = self.exited.lock();
        while *exited < self.num_workers() {
            match deadline {
                None => exited = self.exited_changed.wait(exited),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    exited = self.exited_changed.wait_timeout(exited, deadline - now);
                }
            }
        }
        true
    }

    /// After every worker exited: drop tasks still queued in the injector
    /// (their futures were already dropped by the registry sweep; this
    /// releases their references and breaks the task → `Shared` cycle).
    pub(crate) fn drain_injector(&self) {
        while let Some(task) = self.injector.pop() {
            drop(task);
        }
    }

    /// A snapshot of the scheduler counters.
    pub(crate) fn metrics(&self) -> RuntimeMetrics {
        let (blocking_threads, blocking_threads_peak) = self.blocking.thread_counts();
        RuntimeMetrics {
            blocking_threads,
            blocking_threads_peak,
            workers: self
                .remotes
                .iter()
                .map(|r| {
                    r.counters.snapshot(
                        r.stealer.len(),
                        r.io_stats.as_ref().map(crate::driver::IoStats::snapshot),
                        self.created.elapsed(),
                        self.config.debug.is_some(),
                    )
                })
                .collect(),
            injector_depth: self.injector.len(),
            alive_tasks: self.owned.len(),
            searching_workers: self.idle.num_searching(),
            unparked_workers: self.idle.num_unparked(),
        }
    }
}

impl Schedule for Arc<Shared> {
    fn schedule(&self, task: Notified) {
        Shared::schedule_task(self, task, Placement::Lifo);
    }

    fn yield_now(&self, task: Notified) {
        Shared::schedule_task(self, task, Placement::Back);
    }

    fn release(&self, task: &Task) -> Option<Task> {
        self.owned.remove(task)
    }
}

/// Where a task scheduled on its own worker goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Placement {
    /// Run next (woken by the running task: message-passing latency).
    Lifo,
    /// Back of the local queue (spawned, or yielding).
    Back,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("workers", &self.num_workers())
            .field("is_shutdown", &self.is_shutdown())
            .finish_non_exhaustive()
    }
}
