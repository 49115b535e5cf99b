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
    /// Nanoseconds spent in blocking parks (asleep in the driver), not
    /// counting the current one.
    pub(crate) parked_nanos: Counter,
    /// When the current blocking park started: nanoseconds since the
    /// runtime was built, plus one; 0 when not parked.
    pub(crate) parked_since: ParkedSince,
    /// Debug mode: polls by duration, see [`POLL_TIME_BUCKETS`].
    pub(crate) poll_times: [Counter; POLL_TIME_BUCKETS],
}

/// Buckets of [`WorkerMetrics::poll_time_histogram`]: bucket 0 counts polls
/// under 1 µs, bucket `i` those of `[2^(i-1), 2^i)` µs, the last one
/// everything from about 4.2 s up.
pub const POLL_TIME_BUCKETS: usize = 24;

/// The histogram bucket of a poll that took `nanos`.
pub(crate) fn poll_time_bucket(nanos: u64) -> usize {
    let micros = nanos / 1_000;
    if micros == 0 {
        0
    } else {
        (u64::BITS - micros.leading_zeros()).min(POLL_TIME_BUCKETS as u32 - 1) as usize
    }
}

/// The start of a worker's current park (single writer, like `Counter`).
#[derive(Default)]
pub(crate) struct ParkedSince(AtomicU64);

impl ParkedSince {
    /// The worker parks `at_nanos` after the runtime was built.
    pub(crate) fn set(&self, at_nanos: u64) {
        // `Relaxed`: statistic only, single writer.
        self.0.store(at_nanos + 1, Ordering::Relaxed);
    }

    pub(crate) fn clear(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    fn get(&self) -> Option<u64> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            since => Some(since - 1),
        }
    }
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
    /// Time this worker spent asleep in its driver (blocking parks).
    pub parked: std::time::Duration,
    /// Time since the runtime started that this worker did not spend
    /// parked: running tasks, stealing, harvesting I/O. (For a
    /// current-thread runtime this includes the time between `block_on`
    /// calls.)
    pub busy: std::time::Duration,
    /// Debug mode: how many polls took how long, in
    /// [`POLL_TIME_BUCKETS`] power-of-two buckets of microseconds (empty
    /// when debug mode is off).
    pub poll_time_histogram: Vec<u64>,
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
        uptime: std::time::Duration,
        debug: bool,
    ) -> WorkerMetrics {
        // Plus the park in progress, if any.
        let ongoing = self
            .parked_since
            .get()
            .map_or(0, |since| (uptime.as_nanos() as u64).saturating_sub(since));
        let parked = std::time::Duration::from_nanos(self.parked_nanos.get() + ongoing);
        WorkerMetrics {
            parked,
            busy: uptime.saturating_sub(parked),
            poll_time_histogram: if debug {
                self.poll_times.iter().map(Counter::get).collect()
            } else {
                Vec::new()
            },
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
