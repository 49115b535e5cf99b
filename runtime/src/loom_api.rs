//! Internals exposed to the loom models in `loom-tests/`, and only under
//! `--cfg loom`. Not part of the public API.
//!
//! The models drive the real task state machine through a minimal scheduler
//! (a queue and the real registry of live tasks), so that interleavings of
//! poll, wake, abort, `JoinHandle` drop, completion and shutdown can be
//! explored without the worker loop around them.

use crate::loom::sync::{Arc, Mutex};
use crate::task_core::list::OwnedTasks;
use crate::task_core::{JoinHandle, Notified, Schedule, Task};
use std::collections::VecDeque;
use std::future::Future;

/// A scheduler that only queues: the model decides which thread runs what.
pub struct QueueScheduler {
    queue: Mutex<VecDeque<Notified<Arc<QueueScheduler>>>>,
    owned: OwnedTasks<Arc<QueueScheduler>>,
}

impl std::fmt::Debug for QueueScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueScheduler").finish_non_exhaustive()
    }
}

impl Schedule for Arc<QueueScheduler> {
    fn schedule(&self, task: Notified<Self>) {
        self.queue.lock().push_back(task);
    }

    fn release(&self, task: &Task<Self>) -> Option<Task<Self>> {
        self.owned.remove(task)
    }
}

impl QueueScheduler {
    /// A new, empty scheduler.
    pub fn new() -> Arc<QueueScheduler> {
        Arc::new(QueueScheduler {
            queue: Mutex::new(VecDeque::new()),
            owned: OwnedTasks::new(1),
        })
    }

    /// Spawns `future` on `this`; its first `Notified` is queued.
    pub fn spawn<F>(this: &Arc<Self>, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (join, notified) = this.owned.spawn(
            future,
            this.clone(),
            crate::task_core::SpawnMeta::at(std::panic::Location::caller()),
        );
        if let Some(notified) = notified {
            this.schedule(notified);
        }
        join
    }

    /// Runs the next queued task, if any. Returns whether one ran.
    pub fn run_one(&self) -> bool {
        let next = self.queue.lock().pop_front();
        match next {
            Some(task) => {
                task.run();
                true
            }
            None => false,
        }
    }

    /// Shuts down as the runtime does: close the registry, cancel every live
    /// task, drop queued notifications.
    pub fn shutdown(&self) {
        self.owned.close_and_shutdown_all(0);
        let drained: Vec<_> = self.queue.lock().drain(..).collect();
        drop(drained);
    }

    /// Tasks still registered.
    pub fn alive(&self) -> usize {
        self.owned.len()
    }
}

/// A per-thread timer driver (`time/driver.rs`) without a park: the model
/// decides who advances time and who drops timers.
pub struct ModelTimers {
    driver: Arc<crate::time::driver::TimeDriver>,
    origin: crate::time::Instant,
}

/// A timer armed on [`ModelTimers`].
#[derive(Clone, Copy, Debug)]
pub struct TimerKey(crate::time::wheel::Key);

impl ModelTimers {
    /// A new, empty wheel.
    pub fn new() -> Arc<ModelTimers> {
        Arc::new(ModelTimers {
            driver: crate::time::driver::TimeDriver::new(),
            origin: crate::time::Instant::now(),
        })
    }

    /// Arms a timer `after` the wheel's creation (as `Sleep::poll` does).
    pub fn register(
        &self,
        after: std::time::Duration,
        waker: &std::task::Waker,
    ) -> Option<TimerKey> {
        self.driver
            .register(self.origin + after, waker)
            .map(TimerKey)
    }

    /// Disarms it, from any thread (as dropping a `Sleep` does).
    pub fn deregister(&self, key: TimerKey) {
        self.driver.deregister(key.0);
    }

    /// Fires what is due `at` after the wheel's creation (as the owner's
    /// park does); returns how many fired.
    pub fn process(&self, at: std::time::Duration) -> usize {
        self.driver.process(self.origin + at)
    }
}

impl std::fmt::Debug for ModelTimers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelTimers").finish_non_exhaustive()
    }
}

/// The real scheduler (`scheduler/`: `Shared`, each `Worker`'s local queue,
/// LIFO slot and stealing, the injector, the idle protocol) without worker
/// threads: the model decides which loom thread acts as which worker, and
/// for how many ticks of the worker loop (`Worker::run_tick`: everything the
/// loop does short of parking).
pub struct ModelWorkers {
    shared: Arc<crate::scheduler::Shared>,
    /// Each worker, while no thread acts as it.
    workers: Mutex<Vec<Option<crate::scheduler::Worker>>>,
}

/// One worker of [`ModelWorkers`], entered on the calling thread.
pub struct ModelWorker<'a> {
    worker: &'a crate::scheduler::Worker,
    shared: &'a Arc<crate::scheduler::Shared>,
}

impl ModelWorkers {
    /// A scheduler of `workers` workers, built as `Builder::build` builds one
    /// (seed 1, no I/O: the workers' parkers are condvars).
    pub fn new(workers: usize) -> Arc<ModelWorkers> {
        let (shared, parts, _monitor) = crate::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .seed(1)
            .build_scheduler()
            .expect("valid settings");
        let workers = parts
            .into_iter()
            .map(|parts| Some(crate::scheduler::Worker::new(shared.clone(), parts)))
            .collect();
        Arc::new(ModelWorkers {
            shared,
            workers: Mutex::new(workers),
        })
    }

    /// Spawns `future` as `Handle::spawn` does: from a thread that is not
    /// acting as a worker it goes to the injector; from inside
    /// [`ModelWorkers::run_as`], into that worker's LIFO slot (the slot's
    /// previous task moves to the back of its local queue).
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        crate::scheduler::Shared::spawn(&self.shared, future, std::panic::Location::caller(), None)
    }

    /// Acts as worker `index` on the calling thread while `f` runs. Panics
    /// if another thread acts as it.
    pub fn run_as<R>(&self, index: usize, f: impl FnOnce(&ModelWorker<'_>) -> R) -> R {
        let worker = self.workers.lock()[index]
            .take()
            .expect("another thread acts as this worker");
        let out = worker.enter(
            crate::runtime::Handle::from_shared(self.shared.clone()).as_context(),
            || {
                f(&ModelWorker {
                    worker: &worker,
                    shared: &self.shared,
                })
            },
        );
        self.workers.lock()[index] = Some(worker);
        out
    }

    /// Shuts down as a runtime does: every live task is cancelled, then each
    /// worker drops what its queues hold and the injector is drained.
    pub fn shutdown(&self) {
        self.shared.shutdown();
        let workers: Vec<_> = self.workers.lock().drain(..).collect();
        for worker in workers {
            let worker = worker.expect("a thread still acts as a worker");
            worker.enter(
                crate::runtime::Handle::from_shared(self.shared.clone()).as_context(),
                || worker.shutdown(),
            );
        }
        self.shared.drain_injector();
    }

    /// Tasks still registered.
    pub fn alive(&self) -> usize {
        self.shared.metrics().alive_tasks
    }

    /// What the monitor does for worker `index` when it is stuck in a long
    /// poll (`driver/handoff.rs`): its LIFO task goes to the injector and an
    /// idle worker is woken. Callable from any thread, while another thread
    /// acts as that worker.
    pub fn rescue(&self, index: usize) {
        self.shared.rescue_stranded(index);
    }
}

impl ModelWorker<'_> {
    /// One tick of the worker loop short of parking: a task from the LIFO
    /// slot, the local queue or the injector, else one stolen from another
    /// worker. Returns whether a task ran.
    pub fn run_tick(&self) -> bool {
        self.worker.run_tick()
    }

    /// Ticks until a tick finds nothing to run; returns how many tasks ran.
    pub fn run_until_idle(&self) -> usize {
        let mut ran = 0;
        while self.worker.run_tick() {
            ran += 1;
        }
        ran
    }

    /// Spawns `future` into this worker's LIFO slot, as a task woken by the
    /// running task is scheduled (the slot's previous task moves to the back
    /// of the local queue).
    pub fn spawn_lifo<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        crate::scheduler::Shared::spawn_woken(self.shared, future)
    }
}

impl std::fmt::Debug for ModelWorkers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelWorkers").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ModelWorker<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelWorker").finish_non_exhaustive()
    }
}

/// A descriptor's stash (`io/stash.rs`): what dropped reads delivered after
/// their futures were gone, kept for the next read. The model plays the
/// reading task (drop, then read again) and the driver thread (the late
/// completion's orphan rule).
#[derive(Debug, Default)]
pub struct ModelStash(crate::io::stash::Stash);

impl ModelStash {
    /// An empty stash.
    pub fn new() -> ModelStash {
        ModelStash::default()
    }

    /// A read's future was dropped while its operation was in the kernel
    /// (as `UringOp::drop`, before it cancels).
    pub fn orphan_started(&self) {
        self.0.orphan_started();
    }

    /// The orphan's final completion arrived with `bytes` (`None`: it was
    /// cancelled, nothing delivered), as `Recv::orphaned`.
    pub fn resolve(&self, bytes: Option<Vec<u8>>) {
        self.0
            .resolve(bytes.map(|data| crate::io::stash::Stashed::Bytes { data, pos: 0 }));
    }

    /// The next read checks the stash (as `recv`): `Ready(Some(bytes))`
    /// served from it (at most `max`), `Ready(None)` go to the kernel,
    /// `Pending` an orphan is still in flight.
    pub fn poll_take(
        &self,
        cx: &mut std::task::Context<'_>,
        max: usize,
    ) -> std::task::Poll<Option<Vec<u8>>> {
        let mut buf = vec![std::mem::MaybeUninit::new(0u8); max];
        self.0
            .poll_take(cx, |items| crate::io::stash::take_bytes(items, &mut buf))
            .map(|taken| {
                taken.map(|n| {
                    let n = n.expect("no error is stashed in the models");
                    // SAFETY: every byte of `buf` was initialized by
                    // `MaybeUninit::new`.
                    buf[..n]
                        .iter()
                        .map(|b| unsafe { b.assume_init() })
                        .collect()
                })
            })
    }
}

/// The monitor's sleep/wake protocol (`handoff.rs`): a worker returning
/// from a park races the monitor deciding to sleep because every worker is
/// parked. The model plays both.
#[derive(Debug)]
pub struct ModelMonitor {
    monitor: crate::driver::handoff::Monitor,
    watches: Vec<Arc<crate::driver::handoff::Watch>>,
}

impl ModelMonitor {
    /// A monitor (no thread) watching `workers` parked workers.
    pub fn new(workers: usize) -> ModelMonitor {
        let monitor = crate::driver::handoff::Monitor::new();
        let watches = (0..workers)
            .map(|_| {
                crate::driver::handoff::Watch::new(
                    crate::time::driver::TimeDriver::new(),
                    crate::driver::handoff::IoTurn::None,
                    &monitor,
                )
            })
            .collect();
        ModelMonitor { monitor, watches }
    }

    /// Worker `i` returns from a blocking park (`WatchedPark::park`).
    pub fn worker_runs(&self, i: usize) {
        self.watches[i].model_running();
    }

    /// The monitor finds every worker parked and sleeps until one runs.
    pub fn monitor_sleeps(&self) {
        self.monitor.model_sleep();
    }
}

impl Drop for ModelMonitor {
    fn drop(&mut self) {
        self.watches.clear();
        self.monitor.model_clear();
    }
}
