//! Each thread's driver stack, below the scheduler: the I/O driver of the
//! chosen kind (or a condition variable without I/O), the timer wheel around
//! it, and the watch the monitor reads (`handoff.rs`). The scheduler gets one
//! [`Park`](park::Park) per worker and knows nothing else of what is inside.
//!
//! ```text
//!   WatchedPark         publishes driver turns and parks to the monitor
//!     TimedPark         the timer wheel: earliest deadline bounds the park
//!       DriverPark      io_uring or epoll: the park is the wait for events
//!       | CondvarParker (a runtime without I/O, and loom)
//! ```
//!
//! [`build`] makes the stacks of a runtime's workers from a [`DriverConfig`]
//! (so set-up errors are `build()` errors) and the [`Monitor`] that watches
//! them; [`for_block_on`] makes the stack of a thread inside `block_on`.

pub(crate) mod handoff;
pub(crate) mod io;
pub(crate) mod park;
pub(crate) mod time;

use crate::io::DriverKind;
use handoff::{IoTurn, Monitor, Watch, WatchedPark};
use park::{CondvarParker, Park};

/// What the stacks are made from.
#[derive(Clone, Debug)]
pub(crate) struct DriverConfig {
    /// `None`: no I/O (workers park on a condition variable).
    pub(crate) io: Option<DriverKind>,
    pub(crate) uring: ringwork_uring::Config,
}

/// What was set up: kept for `Handle` (and for `block_on` threads, which
/// make their own stack of the same kind).
#[derive(Clone, Debug)]
pub(crate) struct Info {
    /// The driver in use (`Uring` or `Epoll`, never `Auto`).
    pub(crate) kind: DriverKind,
    pub(crate) uring: ringwork_uring::Config,
    /// The io_uring features, when the driver is io_uring.
    pub(crate) features: Option<ringwork_uring::Features>,
    /// Why `Auto` fell back to epoll.
    pub(crate) fallback_reason: Option<String>,
}

/// The stacks of a runtime's workers.
pub(crate) struct Stacks {
    pub(crate) parks: Vec<Box<dyn Park>>,
    pub(crate) monitor: Monitor,
    /// `None` for a runtime without I/O.
    pub(crate) info: Option<Info>,
}

/// Sets up `workers` stacks (not started: each is entered on its worker).
pub(crate) fn build(config: &DriverConfig, workers: usize) -> std::io::Result<Stacks> {
    // Loom models run the scheduler without a kernel: no I/O driver.
    let (info, parks) = match config.io.filter(|_| !cfg!(loom)) {
        Some(kind) => {
            config.uring.validate()?;
            let chosen = io::choose(kind, &config.uring, workers)?;
            let parks: Vec<(Box<dyn Park>, IoTurn)> = chosen
                .drivers
                .into_iter()
                .map(|driver| {
                    let park = io::DriverPark::new(driver);
                    let turn = park.io_turn();
                    (Box::new(park) as Box<dyn Park>, turn)
                })
                .collect();
            let info = Info {
                kind: chosen.kind,
                uring: config.uring.clone(),
                features: chosen.features,
                fallback_reason: chosen.fallback_reason,
            };
            (Some(info), parks)
        }
        None => {
            let parks = (0..workers)
                .map(|_| {
                    (
                        Box::new(CondvarParker::new()) as Box<dyn Park>,
                        IoTurn::None,
                    )
                })
                .collect();
            (None, parks)
        }
    };
    // Every worker drives a timer wheel around its park, and publishes its
    // driver turns to the monitor.
    let monitor = Monitor::new();
    let parks = parks
        .into_iter()
        .map(|(park, turn)| {
            let timed = time::TimedPark::new(park);
            if cfg!(loom) {
                // The scheduler models leave the monitor out (its protocol
                // has a model of its own).
                return Box::new(timed) as Box<dyn Park>;
            }
            let wheel = timed.timer().expect("a TimedPark drives a wheel");
            let watch = Watch::new(wheel, turn, &monitor);
            Box::new(WatchedPark::new(timed, watch)) as Box<dyn Park>
        })
        .collect();
    Ok(Stacks {
        parks,
        monitor,
        info,
    })
}

/// The stack of a thread inside `block_on` of a runtime with `info`,
/// entered on the calling thread. If a driver cannot be set up there, the
/// thread parks on a condition variable and its I/O reports the error.
pub(crate) fn for_block_on(info: Option<&Info>) -> Box<dyn Park> {
    let inner: Box<dyn Park> = match info.and_then(|info| io::for_block_on(info.kind, &info.uring))
    {
        Some(driver) => Box::new(io::DriverPark::started_here(driver)),
        None => Box::new(CondvarParker::new()),
    };
    let mut park = Box::new(time::TimedPark::new(inner));
    park.enter();
    park
}

/// One worker's I/O driver counters, readable from any thread (io_uring;
/// the epoll driver keeps none).
#[derive(Clone)]
pub(crate) struct IoStats(std::sync::Arc<ringwork_uring::Stats>);

impl IoStats {
    pub(crate) fn snapshot(&self) -> IoMetrics {
        let s = self.0.snapshot();
        IoMetrics {
            submissions: s.submissions,
            completions: s.completions,
            enters: s.enters,
            sq_full_waits: s.sq_full_waits,
            cq_overflows: s.cq_overflows,
            cancels: s.cancels,
            backlogged: s.backlogged,
            reaped_elsewhere: s.reaped_elsewhere,
            multishot_arms: s.multishot_arms,
            recv_arms: s.recv_arms,
            zc_notifications: s.zc_notifications,
            zc_copied: s.zc_copied,
            no_buffers: s.no_buffers,
            capped: s.capped,
            buffers_taken: s.buffers_taken,
            buffers_returned: s.buffers_returned,
            registered_enters: s.registered_enters,
            ring_fd_refused: s.ring_fd_refused,
            fixed_buffer_ops: s.fixed_buffer_ops,
            fixed_files_registered: s.fixed_files_registered,
            fixed_files_released: s.fixed_files_released,
            fixed_file_table_full: s.fixed_file_table_full,
            fixed_file_ops: s.fixed_file_ops,
            fixed_file_fallbacks: s.fixed_file_fallbacks,
        }
    }
}

/// A snapshot of one worker's io_uring counters (in
/// [`WorkerMetrics::io`](crate::runtime::WorkerMetrics::io)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IoMetrics {
    /// SQEs handed to the kernel (operations, cancels and the driver's own).
    pub submissions: u64,
    /// CQEs reaped.
    pub completions: u64,
    /// `io_uring_enter` calls by the worker.
    pub enters: u64,
    /// Times the submission queue was full and was submitted early.
    pub sq_full_waits: u64,
    /// Times the kernel reported a completion-queue overflow.
    pub cq_overflows: u64,
    /// `ASYNC_CANCEL` requests for dropped operations.
    pub cancels: u64,
    /// Operations that waited for room under the in-flight cap.
    pub backlogged: u64,
    /// CQEs reaped by the monitor for this worker while it was stuck in a
    /// long poll (see docs/architecture.md, "Nothing is stranded behind a
    /// busy worker").
    pub reaped_elsewhere: u64,
    /// Multishot accepts armed on this worker's ring (a listener's counts
    /// once, and again each time it ends and is re-armed).
    pub multishot_arms: u64,
    /// Multishot receives armed on this worker's ring (once per socket
    /// read, and again each time one ends: end of stream, its cap, an
    /// empty buffer ring).
    pub recv_arms: u64,
    /// Zero-copy sends (`Builder::uring_send_zc`) whose buffer the kernel
    /// released.
    pub zc_notifications: u64,
    /// Of those, the ones the kernel copied after all (always on
    /// loopback).
    pub zc_copied: u64,
    /// Multishot receives that ended because the worker's provided buffer
    /// ring was empty (`ENOBUFS`; that read received the plain way).
    pub no_buffers: u64,
    /// Multishot receives stopped at the per-socket cap
    /// (`BufRingConfig::per_socket` buffers' worth of bytes per arming, or
    /// that many unread): re-armed by the next read.
    pub capped: u64,
    /// Provided buffers the kernel filled and the runtime handed out.
    pub buffers_taken: u64,
    /// Provided buffers given back to the ring (on any thread).
    pub buffers_returned: u64,
    /// Of `enters`, those made by the registered ring fd
    /// (`Builder::uring_register_ring_fd`).
    pub registered_enters: u64,
    /// 1 if the ring fd was to be registered but the worker's thread had no
    /// free slot (16 per thread): it enters by its descriptor.
    pub ring_fd_refused: u64,
    /// Operations that named a registered buffer of the runtime's pool by
    /// its index (`File::read_fixed_at`/`write_fixed_at` as
    /// `READ_FIXED`/`WRITE_FIXED`; a zero-copy send of a `FixedBuf`).
    pub fixed_buffer_ops: u64,
    /// Sockets registered in this worker's fixed-file table
    /// (`Builder::uring_fixed_files`).
    pub fixed_files_registered: u64,
    /// Of those, the slots cleared after the socket was closed.
    pub fixed_files_released: u64,
    /// Sockets left unregistered because the table was full.
    pub fixed_file_table_full: u64,
    /// Operations submitted naming a fixed-file slot.
    pub fixed_file_ops: u64,
    /// Operations on a socket registered in another worker's table,
    /// submitted here by descriptor.
    pub fixed_file_fallbacks: u64,
}
