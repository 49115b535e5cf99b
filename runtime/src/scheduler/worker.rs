//! One worker: its loop, its queues, stealing, parking and shutdown.
//!
//! # The loop
//!
//! Each pass is a *tick*:
//! 1. every `event_interval` ticks, maintenance: harvest the parker/driver
//!    without blocking, so I/O completions and timers are not starved by a
//!    long run of ready tasks;
//! 2. find a task: every `global_queue_interval` ticks the injector first
//!    (fairness for tasks from outside), else the LIFO slot, the local queue,
//!    then the injector;
//! 3. otherwise steal: become a searcher (if at most half the workers
//!    already search), pick a random victim to start from, take half of the
//!    first non-empty queue; then the injector;
//! 4. otherwise park (the idle protocol in `idle.rs`).
//!
//! I/O queued by polls is submitted as one batch: by the park's own
//! `io_uring_enter` when the worker runs out of work, just before it runs
//! work taken from elsewhere, or on a maintenance tick.
//!
//! Running a task gives it a fresh cooperative budget. A task it wakes lands
//! in the LIFO slot and runs right after it, up to `max_lifo_polls` times in
//! a row; then the slot's task goes to the back of the queue so a ping-pong
//! pair cannot starve the others.
//!
//! # Fields
//!
//! The `Worker` lives on its thread's stack; the thread-local pointer set in
//! [`Worker::with_current`] lets `schedule` reach it from inside a task poll,
//! so every field is a `Cell`/`RefCell` used through `&self`, and the whole
//! struct is touched only by its own thread. Other threads reach the worker
//! only through its `Remote` (stealer, unparker, counters) in `Shared`.

use super::queue::LocalQueue;
use super::rng::FastRand;
use super::{Notified, Placement, Shared, WorkerParts};
use crate::context::{self, RuntimeContext};
use crate::coop;
use crate::driver::park::Park;
use crate::loom::sync::atomic::{fence, Ordering};
use crate::loom::sync::Arc;
use std::cell::{Cell, RefCell};
use std::time::Duration;

pub(crate) struct Worker {
    shared: Arc<Shared>,
    index: usize,
    local: LocalQueue<Notified>,
    /// Counted in `Idle`'s searching workers.
    is_searching: Cell<bool>,
    tick: Cell<u32>,
    rng: Cell<FastRand>,
    park: RefCell<Box<dyn Park>>,
}

/// Runs worker `parts.index` of `shared` until shutdown, with `runtime` (the
/// runtime's handle) current on the thread. The thread's entry point.
pub(crate) fn run(
    shared: Arc<Shared>,
    parts: WorkerParts,
    runtime: std::sync::Arc<dyn RuntimeContext>,
) {
    // Reports the exit even if something below unwinds, so that
    // `Runtime::drop` never waits for a worker that is gone.
    let _exit = ExitGuard(shared.clone());
    run_hook(&shared.config.on_thread_start);
    let worker = Worker::new(shared.clone(), parts);
    worker.park.borrow_mut().enter();
    worker.enter(runtime, || {
        worker.run_loop();
        worker.shutdown();
    });
    // Every future this worker dropped may have cancelled I/O: the driver
    // waits for the kernel to release those buffers before the thread ends.
    drop(worker.lifo().take());
    let mut park = worker.park.into_inner();
    park.exit();
    drop(park);
    run_hook(&shared.config.on_thread_stop);
}

/// Runs a user hook; a panic in it is contained (the worker goes on).
fn run_hook(hook: &Option<super::Callback>) {
    if let Some(hook) = hook {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook()));
        if let Err(payload) = result {
            // The payload's own `Drop` could panic too: leak it then.
            if let Err(second) =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(payload)))
            {
                std::mem::forget(second);
            }
        }
    }
}

struct ExitGuard(Arc<Shared>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        self.0.worker_exited();
    }
}

/// Installs the worker's address in the per-thread context and clears it
/// on drop (also on unwind), before the `Worker` it points to is dropped.
struct CurrentGuard;

impl CurrentGuard {
    fn set(worker: &Worker) -> CurrentGuard {
        context::replace_worker((worker as *const Worker).cast());
        CurrentGuard
    }
}

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        context::replace_worker(std::ptr::null());
    }
}

impl Worker {
    /// Worker `parts.index` of `shared`, not yet entered on any thread.
    pub(crate) fn new(shared: Arc<Shared>, parts: WorkerParts) -> Worker {
        let WorkerParts { index, local, park } = parts;
        Worker {
            rng: Cell::new(FastRand::for_worker(shared.config.seed, index)),
            shared,
            index,
            local,
            is_searching: Cell::new(false),
            tick: Cell::new(0),
            park: RefCell::new(park),
        }
    }

    /// Runs `f` with this worker as the current thread's worker (so that
    /// `schedule` reaches its queues) and its runtime as the current one.
    pub(crate) fn enter<R>(
        &self,
        runtime: std::sync::Arc<dyn RuntimeContext>,
        f: impl FnOnce() -> R,
    ) -> R {
        let _context = context::enter_driving(runtime);
        let _current = CurrentGuard::set(self);
        f()
    }

    /// Runs `f` with the worker of the current thread, if it is a worker.
    pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Worker>) -> R) -> R {
        let ptr = context::worker().cast::<Worker>();
        // SAFETY: a non-null pointer was set by `CurrentGuard::set` on this
        // thread from a `Worker` that outlives the guard, and the guard nulls
        // it before that `Worker` is dropped; a thread-local is only read by
        // its own thread, so the `Worker` is alive and is only used through
        // `&self` (its fields are `Cell`s/`RefCell`s touched by this thread).
        let worker = unsafe { ptr.as_ref() };
        f(worker)
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// This worker's number in its runtime.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// Starts the worker's park on this thread (a current-thread runtime's
    /// first `block_on`; a worker thread does this in `run`).
    #[cfg_attr(loom, allow(dead_code))] // current-thread runtimes only
    pub(super) fn enter_park(&self) {
        self.park.borrow_mut().enter();
    }

    /// See `Park::suspend` (a current-thread runtime between `block_on`s).
    #[cfg_attr(loom, allow(dead_code))] // current-thread runtimes only
    pub(super) fn suspend_park(&self) {
        self.park.borrow_mut().suspend();
    }

    /// See `Park::resume`.
    #[cfg_attr(loom, allow(dead_code))] // current-thread runtimes only
    pub(super) fn resume_park(&self) {
        self.park.borrow_mut().resume();
    }

    /// Takes the park down on this thread (`Park::exit`).
    #[cfg_attr(loom, allow(dead_code))] // current-thread runtimes only
    pub(super) fn exit_park(&self) {
        self.park.borrow_mut().exit();
    }

    #[cfg_attr(loom, allow(dead_code))] // current-thread runtimes only
    pub(super) fn unparker(&self) -> std::sync::Arc<dyn crate::driver::park::Unpark> {
        self.park.borrow().unparker()
    }

    fn counters(&self) -> &super::WorkerCounters {
        &self.shared.remotes[self.index].counters
    }

    fn run_loop(&self) {
        while !self.shared.is_shutdown() {
            if !self.run_tick() {
                // The park submits the I/O queued by the last run of tasks in
                // the same `io_uring_enter` that waits: one syscall, not two.
                self.park();
            }
        }
    }

    /// One tick short of parking: maintenance when due, then one task from
    /// this worker's queues or the injector, else one stolen. Returns whether
    /// a task ran.
    pub(crate) fn run_tick(&self) -> bool {
        let config = &self.shared.config;
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);

        if tick % config.event_interval == 0 {
            self.maintenance();
        }
        if let Some(task) = self.next_task(tick) {
            self.run_task(task);
            return true;
        }
        if let Some(task) = self.steal_work() {
            self.run_task(task);
            return true;
        }
        false
    }

    /// Harvests the driver (I/O completions or readiness) and the timer wheel
    /// without blocking.
    fn maintenance(&self) {
        self.park.borrow_mut().park(Some(Duration::ZERO));
    }

    fn next_task(&self, tick: u32) -> Option<Notified> {
        if tick % self.shared.config.global_queue_interval == 0 {
            if let Some(task) = self.shared.injector.pop() {
                return Some(task);
            }
        }
        if let Some(task) = self.lifo().take() {
            self.counters().lifo_hits.add(1);
            return Some(task);
        }
        if let Some(task) = self.local.pop() {
            return Some(task);
        }
        let task = self.shared.injector.steal_batch_and_pop(&self.local)?;
        self.flush_before_foreign_work();
        Some(task)
    }

    /// Local work ran out and work from elsewhere (the injector, a victim)
    /// is about to run, possibly for long: submit the I/O the local run
    /// queued first, as one batch. (When nothing is found the park submits
    /// it instead, in the same syscall that waits.)
    fn flush_before_foreign_work(&self) {
        self.park.borrow_mut().flush();
    }

    fn steal_work(&self) -> Option<Notified> {
        if !self.is_searching.get() {
            if !self.shared.idle.transition_worker_to_searching() {
                return None;
            }
            self.is_searching.set(true);
        }
        let remotes = &self.shared.remotes;
        let n = remotes.len();
        let mut rng = self.rng.get();
        let start = rng.below(n);
        self.rng.set(rng);
        for i in 0..n {
            let victim = (start + i) % n;
            if victim == self.index {
                continue;
            }
            let before = self.local.len();
            if let Some(task) = remotes[victim].stealer.steal_batch_and_pop(&self.local) {
                let counters = self.counters();
                counters.steal_operations.add(1);
                counters
                    .stolen_tasks
                    .add(1 + (self.local.len() - before) as u64);
                self.flush_before_foreign_work();
                return Some(task);
            }
        }
        let task = self.shared.injector.steal_batch_and_pop(&self.local)?;
        self.flush_before_foreign_work();
        Some(task)
    }

    fn run_task(&self, task: Notified) {
        if self.is_searching.replace(false) && self.shared.idle.transition_worker_from_searching() {
            // Rule 3: the last searcher found work; there may be more.
            self.shared.notify_parked();
        }
        let counters = self.counters();
        counters.polls.add(1);
        self.poll(task);

        // Tasks the poll woke: run them now, a bounded number in a row.
        let mut lifo_polls = 0;
        while let Some(next) = self.lifo().take() {
            if lifo_polls >= self.shared.config.max_lifo_polls || self.shared.is_shutdown() {
                self.push_back(next);
                break;
            }
            lifo_polls += 1;
            counters.lifo_hits.add(1);
            counters.polls.add(1);
            self.poll(next);
        }
    }

    /// Polls `task` with a fresh budget; in debug mode, timed.
    fn poll(&self, task: Notified) {
        // Feature `tracing`: a span per poll, naming the task and worker.
        #[cfg(feature = "tracing")]
        let _span = tracing::trace_span!(
            "ringwork.poll",
            task.id = %task.id(),
            task.name = task.task().debug().and_then(|d| d.name.as_deref()),
            worker = self.index
        )
        .entered();
        match self.shared.config.debug {
            None => coop::budget(|| task.run()),
            Some(debug) => self.poll_timed(task, debug.slow_poll),
        }
    }

    /// Debug mode: records the poll in the task's debug record and reports
    /// a poll of at least `threshold`. Out of line: the common path (debug
    /// off) stays as small as it was.
    #[cold]
    #[inline(never)]
    fn poll_timed(&self, task: Notified, threshold: Duration) {
        let start = std::time::Instant::now();
        // Taken before the poll: the task may be gone after it.
        let (id, spawned_at, debug_record) = {
            let task = task.task();
            let debug = task.debug().cloned();
            if let Some(debug) = &debug {
                debug.poll_starts(start);
            }
            (task.id(), task.spawned_at(), debug)
        };
        let name = debug_record.as_ref().and_then(|d| d.name.clone());
        coop::budget(|| task.run());
        let took = start.elapsed();
        let nanos = took.as_nanos() as u64;
        self.counters().poll_times[super::metrics::poll_time_bucket(nanos)].add(1);
        if let Some(debug) = &debug_record {
            debug.poll_took(nanos);
        }
        if took >= threshold {
            self.counters().slow_polls.add(1);
            tracing::warn!(
                task.id = %id,
                task.name = name.as_deref().unwrap_or("-"),
                spawned_at = %spawned_at,
                worker = self.index,
                took_ms = took.as_secs_f64() * 1e3,
                "slow poll: task {id} ({}, spawned at {spawned_at}) ran {took:?} on worker {} \
                 without yielding; the tasks queued behind it waited as long",
                name.as_deref().unwrap_or("unnamed"),
                self.index,
            );
        }
    }

    /// Called from `Shared::schedule_task` when the task belongs to this
    /// worker's runtime and the scheduling thread is this worker.
    pub(super) fn schedule_local(&self, task: Notified, placement: Placement) {
        match placement {
            Placement::Lifo => {
                if let Some(prev) = self.lifo().put(task) {
                    self.push_back(prev);
                }
            }
            Placement::Back => self.push_back(task),
        }
    }

    /// Pushes to the back of the local queue (stealable work), and wakes a
    /// sleeper if no worker is searching (rule 2) when the push made the
    /// queue non-empty. Even a single queued task counts — the pushing worker
    /// is usually inside a poll that may run for long — but a push onto a
    /// non-empty queue adds no new reason to wake anyone: the push that made
    /// it non-empty already notified, and a worker that parks while the queue
    /// is non-empty sees it in its re-check (rule 4) and wakes a worker.
    fn push_back(&self, task: Notified) {
        let was_empty = self.local.is_empty();
        self.local.push(task);
        if was_empty {
            self.shared.notify_parked();
        }
    }

    fn has_lifo(&self) -> bool {
        !self.lifo().is_empty()
    }

    /// The task woken (or spawned) most recently by the running task; runs
    /// next. In `Shared`, so that the monitor can take it from a stuck
    /// worker.
    pub(super) fn lifo(&self) -> &super::lifo::LifoSlot {
        &self.shared.remotes[self.index].lifo
    }

    fn has_local_work(&self) -> bool {
        self.has_lifo() || !self.local.is_empty()
    }

    fn park(&self) {
        self.park_until(&|| false);
    }

    /// Parks until there is work, the runtime shuts down, or `stop` holds
    /// (checked before sleeping and after every wake-up: the `block_on`
    /// future of a current-thread runtime was woken).
    pub(super) fn park_until(&self, stop: &dyn Fn() -> bool) {
        if self.has_local_work() || self.shared.is_shutdown() || stop() {
            return;
        }
        if self.shared.clock().is_paused() && self.auto_advance(stop) {
            return;
        }
        let idle = &self.shared.idle;
        let was_searching = self.is_searching.replace(false);
        idle.transition_worker_to_parked(self.index, was_searching);
        // Rule 4, applied by every parking worker (not only the last
        // searcher): a producer that saw all workers unparked a moment ago
        // woke nobody, so look at the queues once more. `SeqCst` fence: pairs
        // with the fence in `Shared::notify_parked` (see `idle.rs`).
        fence(Ordering::SeqCst);
        self.shared.notify_if_work_pending();
        self.counters().parks.add(1);
        loop {
            let asleep = std::time::Instant::now();
            let counters = self.counters();
            counters.parked_since.set(
                asleep
                    .saturating_duration_since(self.shared.created())
                    .as_nanos() as u64,
            );
            self.park.borrow_mut().park(None);
            counters.parked_since.clear();
            counters
                .parked_nanos
                .add(asleep.elapsed().as_nanos() as u64);
            if !idle.is_parked(self.index) {
                // A notifier took us out of the sleepers and counted us as a
                // searcher (rule 2).
                self.is_searching.set(true);
                return;
            }
            if self.has_local_work() || self.shared.is_shutdown() || stop() {
                if !idle.unpark_worker_by_id(self.index) {
                    // A notifier won the race: we count as a searcher.
                    self.is_searching.set(true);
                }
                return;
            }
            // Spurious wake-up: sleep again.
        }
    }

    /// A paused clock (current-thread runtimes only) and nothing to run:
    /// harvest I/O without waiting; if that readied nothing either and no
    /// blocking job runs, move the clock to the earliest timer's deadline
    /// and fire it. Returns whether there is something to do now.
    fn auto_advance(&self, stop: &dyn Fn() -> bool) -> bool {
        self.park.borrow_mut().park(Some(Duration::ZERO));
        if self.has_local_work() || self.shared.is_shutdown() || stop() {
            return true;
        }
        if self.shared.blocking.has_jobs() {
            return false;
        }
        let Some(wheel) = self.park.borrow().timer() else {
            return false;
        };
        // The wheel is hierarchical: for a far timer, its next expiration
        // is where a coarser level cascades, not the deadline; each round
        // moves one level closer (a handful of rounds; 64 bounds it).
        for _ in 0..64 {
            let Some(deadline) = wheel.next_deadline() else {
                break;
            };
            self.shared.clock().advance_to(deadline);
            wheel.process(self.shared.clock().now());
            if self.has_local_work() || stop() {
                return true;
            }
        }
        false
    }

    /// Shutdown: drop every live task's future (helping the other workers),
    /// then release what this worker's queues still hold.
    pub(crate) fn shutdown(&self) {
        let shards_start = self.index * 4;
        self.shared.owned.close_and_shutdown_all(shards_start);
        // Dropping futures above may have woken tasks onto this worker.
        while let Some(task) = self.lifo().take() {
            drop(task);
        }
        while let Some(task) = self.local.pop() {
            drop(task);
        }
    }
}
