//! Scheduler counters, and the snapshot types [`Handle::metrics`] returns.
//!
//! Each worker's counters are written only by that worker and read by anyone:
//! plain `Relaxed` load + store (no read-modify-write needed with one writer);
//! readers get a value that was current at some recent moment, which is all a
//! statistic promises.
//!
//! [`Handle::metrics`]: crate::runtime::Handle::metrics

use crate::loom::sync::atomic::{AtomicU64, Ordering};

/// Counters of one worker (internal, live).
#[derive(Default)]
pub(crate) struct WorkerCounters {
    pub(crate) polls: Counter,
    pub(crate) steal_operations: Counter,
    pub(crate) stolen_tasks: Counter,
    pub(crate) parks: Counter,
    pub(crate) lifo_hits: Counter,
    /// Debug mode: polls that took at least the slow-poll threshold.
    pub(crate) slow_polls: Counter,
}

/// A single-writer counter.
#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning worker calls this.
    pub(crate) fn add(&self, n: u64) {
        // `Relaxed`: single writer, statistic only; pairs with nothing.
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A snapshot of the runtime's scheduler counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuntimeMetrics {
    /// One entry per worker, by worker index.
    pub workers: Vec<WorkerMetrics>,
    /// Tasks waiting in the shared injector queue.
    pub injector_depth: usize,
    /// Tasks spawned and not yet finished. (A task leaves this count just
    /// after its `JoinHandle` is woken.)
    pub alive_tasks: usize,
    /// Workers currently looking for work to steal.
    pub searching_workers: usize,
    /// Workers not parked.
    pub unparked_workers: usize,
    /// Blocking-pool threads alive now.
    pub blocking_threads: usize,
    /// Most blocking-pool threads alive at once so far.
    pub blocking_threads_peak: usize,
}

/// A snapshot of one worker's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerMetrics {
    /// Task polls run by this worker (including cancellations).
    pub polls: u64,
    /// Successful steal operations from other workers' queues.
    pub steal_operations: u64,
    /// Tasks taken by those steals (each steal moves a batch).
    pub stolen_tasks: u64,
    /// Times this worker went to sleep.
    pub parks: u64,
    /// Polls of a task taken from the LIFO slot.
    pub lifo_hits: u64,
    /// Polls that took at least the slow-poll threshold (counted in debug
    /// mode only, see `Builder::debug`).
    pub slow_polls: u64,
    /// Tasks in this worker's local run queue now.
    pub local_queue_depth: usize,
    /// The worker's io_uring counters (`None` on the epoll driver and in
    /// runtimes without I/O).
    pub io: Option<crate::driver::IoMetrics>,
}

impl RuntimeMetrics {
    /// Sum of [`WorkerMetrics::polls`] over all workers.
    pub fn total_polls(&self) -> u64 {
        self.workers.iter().map(|w| w.polls).sum()
    }

    /// Sum of [`WorkerMetrics::steal_operations`] over all workers.
    pub fn total_steal_operations(&self) -> u64 {
        self.workers.iter().map(|w| w.steal_operations).sum()
    }

    /// Sum of [`WorkerMetrics::stolen_tasks`] over all workers.
    pub fn total_stolen_tasks(&self) -> u64 {
        self.workers.iter().map(|w| w.stolen_tasks).sum()
    }
}

impl WorkerCounters {
    pub(crate) fn snapshot(
        &self,
        local_queue_depth: usize,
        io: Option<crate::driver::IoMetrics>,
    ) -> WorkerMetrics {
        WorkerMetrics {
            polls: self.polls.get(),
            steal_operations: self.steal_operations.get(),
            stolen_tasks: self.stolen_tasks.get(),
            parks: self.parks.get(),
            lifo_hits: self.lifo_hits.get(),
            slow_polls: self.slow_polls.get(),
            local_queue_depth,
            io,
        }
    }
}
