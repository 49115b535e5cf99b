//! [`Driver`]: one io_uring, submitted to only by the thread that owns it,
//! and a [`Reaper`] with which another thread may reap its completions
//! while the owner is busy.
//!
//! # Submission (owner only)
//!
//! [`Driver::submit`] places the operation's resources in a slot, builds the
//! SQE against them at their final address, puts a pointer to the slot in
//! `user_data` (the kernel's reference, see `user_data.rs`), and pushes it to
//! the submission queue — or, on kernels without `IORING_FEAT_NODROP`, to the
//! backlog when the in-flight cap (the completion queue's size, less a
//! reserve for the driver's own SQEs) is reached, so the completion queue
//! cannot overflow and lose completions. (With NODROP there is no cap:
//! overflowed completions are flushed, and a cap could deadlock ops that
//! wait indefinitely.) Nothing is entered into the kernel until
//! [`Driver::flush`] (once per scheduler tick), [`Driver::park`], or a full
//! submission queue. Submission errors never free a pushed slot: the SQE
//! stays queued and is retried (`EBUSY`: reap completions first; `EAGAIN`:
//! back off briefly when nothing is in flight; `EINTR`: retry).
//!
//! # Completion (owner, or a reaper)
//!
//! Reaping drains the completion queue under the ring's reap lock: the slot
//! a CQE's `user_data` points to gets the result and wakes its future; at the
//! final CQE (multishot operations post several) the kernel's reference to
//! the slot is given back. The owner reaps in [`Driver::harvest`] and
//! [`Driver::park`]; another thread may reap through [`Reaper::try_reap`]
//! when the owner is stuck in a long task poll, so that completions on this
//! ring do not wait for it. The lock is the only thing the two share on the
//! completion side: one uncontended lock per reap for the owner. What a
//! reaper can see depends on the ring's mode: completions are posted by the
//! submitting thread's task work, which runs when that thread enters the
//! kernel or returns from an interrupt (at once without `COOP_TASKRUN`, which
//! sends an IPI; at the next tick with it), and with `DEFER_TASKRUN` only in
//! the owner's own waiting `io_uring_enter` — there a reaper finds nothing.
//!
//! After each owner harvest the `IORING_SQ_CQ_OVERFLOW` flag is checked; if
//! the kernel held completions back, an enter with `GETEVENTS` flushes them
//! and they are reaped too.
//!
//! # Parking
//!
//! [`Driver::park`] flushes, reaps, and, if nothing became ready, waits in
//! `io_uring_enter` for at least one completion, with the timeout passed as
//! `EXT_ARG` (Linux 5.11+, required: a ring without it is refused at set-up
//! as "unavailable", so `Auto` runtimes fall back to epoll). An eventfd read is
//! kept pending in the ring so that [`Unparker::unpark`] ends the wait (see
//! `remote.rs` for the protocol that skips the syscall when not parked).
//!
//! # Shutdown
//!
//! Dropping the driver (or [`Driver::shutdown`]) stops reapers, cancels every
//! operation (`IORING_ASYNC_CANCEL_ANY`, Linux 5.19+), completes backlogged
//! ones locally with `ECANCELED`, and waits for every CQE before anything is
//! freed. If the kernel does not deliver them within a bound (or cannot
//! cancel them: before 5.19), the resources are leaked rather than freed
//! under the kernel.

use crate::bufring::BufRing;
use crate::completions::{Completions, Cqe};
use crate::config::{Config, Optional, Refusal};
use crate::cqe::Completion;
use crate::enter::{Enter, SqFlags};
use crate::files::{FileTable, FixedFile};
use crate::probe::{FeatureState, Features};
use crate::remote::{CancelRequest, Remote, Unparker};
use crate::slot::{Cap, Orphan, Slot};
use crate::stats::{Stats, StatsSnapshot};
use crate::sync::atomic::Ordering;
use crate::sync::Arc;
use crate::sys::EventFd;
use crate::user_data::{RawSlot, CANCEL_TOKEN, EVENTFD_TOKEN};
use crate::Op;
use io_uring::{opcode, squeue, types, IoUring};
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// The buffer group id of a ring's provided buffers (one group per ring).
const BUF_GROUP: u16 = 0;

/// How long shutdown waits for the kernel's last completions before it leaks
/// the resources instead.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// One io_uring and the operations in flight on it.
///
/// `!Send`: a ring is submitted to only by its owner thread (required by
/// `SINGLE_ISSUER`, and what keeps the submission queue single-producer).
pub struct Driver {
    ring: Arc<Ring>,
    /// SQEs not yet in the submission queue (in-flight cap reached), with
    /// the kernel's reference to their slot.
    backlog: VecDeque<(squeue::Entry, RawSlot)>,
    /// Most operations in flight at once.
    cap: usize,
    /// Target of the pending eventfd read; boxed so its address is stable.
    eventfd_buf: Box<u64>,
    cancels: Vec<CancelRequest>,
    closed: bool,
    /// How this thread enters the ring (by the registered ring fd, once
    /// `start` registered it).
    enter: Enter,
    /// The free slots of the ring's fixed-file table, if it has one.
    files: Option<FileTable>,
    /// Released fixed-file slots being cleared (reused buffer).
    released_files: Vec<u32>,
    /// Completions of operations failed instead of submitted (fault
    /// injection), delivered by the owner's next reap with the kernel's.
    #[cfg(feature = "fault-injection")]
    synthetic: Vec<Cqe>,
    _not_send: PhantomData<*const ()>,
}

/// What the owner and the threads that reap for it share: the ring and
/// its completion side (`completions.rs`).
struct Ring {
    ring: IoUring,
    features: Features,
    remote: Arc<Remote>,
    completions: Completions,
    /// Declared after `ring`: the buffers outlive the ring that writes them.
    buf_ring: Option<Arc<BufRing>>,
    /// Declared after `ring`, for the same reason.
    _fixed_buffers: Option<Arc<crate::FixedBuffers>>,
}

/// Reaps a driver's completions from another thread (see the module docs).
/// `Send + Sync`; cheap to clone.
#[derive(Clone)]
pub struct Reaper {
    ring: Arc<Ring>,
}

/// A driver created on one thread to be started on another (its owner).
///
/// Runtimes create every worker's ring in `build()`, so setup errors are
/// reported there, then move each to its worker thread, which calls
/// [`start`](UnstartedDriver::start).
pub struct UnstartedDriver {
    driver: Driver,
}

// SAFETY: an unstarted driver has never submitted an SQE or entered its ring
// (nothing is in flight, the eventfd read is armed only by `park`), so no
// thread affinity exists yet; `Driver` is `!Send` only to keep a *started*
// ring on its owner thread.
unsafe impl Send for UnstartedDriver {}

impl UnstartedDriver {
    /// Makes the calling thread the driver's owner. Rings set up with
    /// `SINGLE_ISSUER` are enabled here, binding them to this thread.
    pub fn start(self) -> io::Result<Driver> {
        if self.driver.ring.features.defer_taskrun {
            self.driver.ring.ring.submitter().register_enable_rings()?;
        }
        let mut driver = self.driver;
        if driver.ring.features.registered_ring_fd {
            // The thread's table has 16 slots: a thread that already holds
            // 16 rings (nested current-thread runtimes) enters this one by
            // its descriptor instead, which only costs the lookup.
            if driver.enter.register().is_err() {
                driver.ring.completions.stats.ring_fd_refused();
            }
        }
        // Started: from now on it shuts down as a driver does.
        driver.closed = false;
        Ok(driver)
    }

    /// The ring's features.
    pub fn features(&self) -> &Features {
        &self.driver.ring.features
    }

    /// The future owner's unparker, usable before the driver starts (a
    /// wake-up sent before the first park is kept, not lost).
    pub fn unparker(&self) -> Unparker {
        self.driver.unparker()
    }

    /// A reaper for the future owner's completions.
    pub fn reaper(&self) -> Reaper {
        self.driver.reaper()
    }

    /// The future owner's counters.
    pub fn stats(&self) -> Arc<Stats> {
        self.driver.stats()
    }
}

impl fmt::Debug for UnstartedDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnstartedDriver")
            .field("features", &self.driver.ring.features)
            .finish_non_exhaustive()
    }
}

impl Driver {
    /// Sets up a ring with `config` on, and for, the calling thread.
    pub fn new(config: &Config) -> io::Result<Driver> {
        Driver::new_unstarted(config)?.start()
    }

    /// Sets up a ring with `config` to be started by its owner thread.
    ///
    /// An optional feature the kernel or the limits refuse makes this fail
    /// with an error naming the cause, or, with
    /// [`Config::best_effort`], is left off and recorded in
    /// [`Features::skipped`].
    pub fn new_unstarted(config: &Config) -> io::Result<UnstartedDriver> {
        let mut config = config.clone();
        let mut skipped = Vec::new();
        loop {
            match Driver::try_new_unstarted(&config, &skipped) {
                Ok(driver) => return Ok(driver),
                Err(Refusal {
                    feature: Some(feature),
                    error,
                }) if config.best_effort => {
                    feature.turn_off(&mut config);
                    skipped.push(FeatureState {
                        name: feature.name(),
                        on: false,
                        why: format!("asked for, left off (best effort): {error}"),
                    });
                }
                Err(refusal) => return Err(refusal.error),
            }
        }
    }

    fn try_new_unstarted(
        config: &Config,
        skipped: &[FeatureState],
    ) -> Result<UnstartedDriver, Refusal> {
        let (ring, mut features) = config.build_ring()?;
        features.skipped = skipped.to_vec();
        if !features.ext_arg {
            // Reported like ENOSYS: io_uring is too old to be used here.
            return Err(Refusal::fatal(io::Error::from_raw_os_error(libc::ENOSYS)));
        }
        if features.send_zc_threshold.is_some() && !features.supports(opcode::SendZc::CODE) {
            return Err(Refusal::of(
                Optional::SendZc,
                io::Error::new(
                    io::ErrorKind::Unsupported,
                    "zero-copy send was asked for, but this kernel lacks IORING_OP_SEND_ZC \
                     (Linux 6.0+): turn it off (RINGWORK_URING=-send_zc)",
                ),
            ));
        }
        let stats = Arc::new(Stats::default());
        let buf_ring = match config.buf_ring {
            Some(sizes) => Some(
                BufRing::register(&ring, BUF_GROUP, sizes, stats.clone()).map_err(|err| {
                    Refusal::of(
                        Optional::BufRing,
                        io::Error::new(
                            err.kind(),
                            format!(
                                "io_uring provided buffer ring ({} buffers of {} bytes) refused: \
                                 {err}; turn it off (RINGWORK_URING=-bufring) or make it smaller",
                                sizes.entries, sizes.buf_size
                            ),
                        ),
                    )
                })?,
            ),
            None => None,
        };
        features.buf_ring = buf_ring.is_some();
        let fixed_buffers = match &config.fixed_buffers {
            Some(pool) => {
                let iovecs = pool.0.iovecs();
                // SAFETY: the iovecs describe the pool's memory, which the
                // `Ring` keeps alive (field `fixed_buffers`, dropped after
                // the ring) as long as the kernel may use it.
                unsafe { ring.submitter().register_buffers(&iovecs) }.map_err(|err| {
                    let hint = if err.raw_os_error() == Some(libc::ENOMEM) {
                        "registered buffers are pinned memory: raise RLIMIT_MEMLOCK (ulimit -l) \
                         or register fewer or smaller buffers"
                    } else {
                        "turn fixed buffers off or make the pool smaller"
                    };
                    Refusal::of(
                        Optional::FixedBuffers,
                        io::Error::new(
                            err.kind(),
                            format!(
                                "io_uring refused to register {} buffers of {} bytes ({err}): \
                                 {hint}",
                                pool.0.count(),
                                pool.0.buf_size()
                            ),
                        ),
                    )
                })?;
                features.fixed_buffers = Some(pool.0.id());
                Some(pool.0.clone())
            }
            None => None,
        };
        let cq = features.cq_entries as usize;
        // With `IORING_FEAT_NODROP` (Linux 5.5+) the kernel keeps completions
        // that do not fit in the CQ and we flush them (see `reap`), so no cap
        // is needed — and a cap would be harmful: operations that wait
        // indefinitely (a recv on an idle socket) could fill it and keep the
        // very sends that would complete them in the backlog forever. Without
        // NODROP an overflowing CQ loses completions, so there in-flight
        // operations are capped below the CQ size.
        let reserve = (cq / 4).clamp(1, 64);
        let cap = if features.nodrop {
            usize::MAX
        } else {
            cq.saturating_sub(reserve).max(1)
        };
        if config.register_ring_fd {
            features.registered_ring_fd = true;
            // Probed here, on the builder thread, so that a kernel without
            // it fails `build()`; the owner registers its own in `start`
            // (the table is per thread). `EBUSY` (this thread's 16 slots
            // are taken) proves the kernel has it.
            let mut probe = Enter::new(&ring);
            match probe.register() {
                Ok(()) => probe.unregister(),
                Err(err) if err.raw_os_error() == Some(libc::EBUSY) => {}
                Err(err) => {
                    return Err(Refusal::of(
                        Optional::RingFd,
                        io::Error::new(
                            io::ErrorKind::Unsupported,
                            format!(
                                "io_uring refused to register the ring fd ({err}): this kernel \
                                 lacks IORING_REGISTER_RING_FDS (5.18+); turn it off \
                                 (RINGWORK_URING=-register_ring_fd)"
                            ),
                        ),
                    ))
                }
            }
        }
        let files = match config.fixed_files {
            Some(size) => {
                let table = file_table(&ring, size)?;
                features.fixed_files = Some(size);
                Some(table)
            }
            None => None,
        };
        let remote = Arc::new(Remote::new(EventFd::new().map_err(Refusal::fatal)?));
        let enter = Enter::new(&ring);
        let driver = Driver {
            ring: Arc::new(Ring {
                ring,
                features,
                remote,
                completions: Completions::new(cq, stats),
                buf_ring,
                _fixed_buffers: fixed_buffers,
            }),
            cap,
            backlog: VecDeque::new(),
            eventfd_buf: Box::new(0),
            cancels: Vec::new(),
            // Until `start`: dropped unstarted, there is nothing to shut
            // down (nothing was ever submitted), and a ring set up disabled
            // (`DEFER_TASKRUN`) could not even take the cancel the shutdown
            // submits: it would wait out the whole grace period.
            closed: true,
            enter,
            files,
            released_files: Vec::new(),
            #[cfg(feature = "fault-injection")]
            synthetic: Vec::new(),
            _not_send: PhantomData,
        };
        Ok(UnstartedDriver { driver })
    }

    /// The ring's features and the kernel's opcodes.
    pub fn features(&self) -> &Features {
        &self.ring.features
    }

    /// The ring's provided buffers, if it was set up with them
    /// ([`Config::buf_ring`]): submit receives with `IOSQE_BUFFER_SELECT`
    /// on [`BufRing::group`] and turn their CQEs into buffers with
    /// [`BufRing::take`].
    pub fn buf_ring(&self) -> Option<&Arc<BufRing>> {
        self.ring.buf_ring.as_ref()
    }

    /// A `Send + Sync` handle that wakes this driver's `park`.
    pub fn unparker(&self) -> Unparker {
        Unparker {
            remote: self.ring.remote.clone(),
        }
    }

    /// A `Send + Sync` handle that reaps this driver's completions from
    /// another thread.
    pub fn reaper(&self) -> Reaper {
        Reaper {
            ring: self.ring.clone(),
        }
    }

    /// The driver's counters (shareable with other threads).
    pub fn stats(&self) -> Arc<Stats> {
        self.ring.completions.stats.clone()
    }

    /// A snapshot of the counters.
    pub fn stats_snapshot(&self) -> StatsSnapshot {
        self.ring.completions.stats.snapshot()
    }

    /// Operations submitted and not yet finished (including backlogged ones).
    pub fn in_flight(&self) -> usize {
        self.ring.completions.live.load(Ordering::Acquire)
    }

    /// The submission queue. Only the owner calls this, and never while
    /// another `SubmissionQueue` of this ring exists (each use is a
    /// statement-long temporary).
    fn sq(&self) -> io_uring::squeue::SubmissionQueue<'_> {
        // SAFETY: `Driver` is `!Send` and `&mut`-free here only because the
        // queue is borrowed for the duration of one call on this thread; a
        // `Reaper` never touches the submission queue, so no other
        // `SubmissionQueue` exists (see the doc above).
        unsafe { self.ring.ring.submission_shared() }
    }

    /// Submits an operation. `build` receives the resources at the address
    /// where they stay until the final completion and returns the SQE (its
    /// `user_data` is overwritten). Returns the [`Op`] to await, or, if the
    /// operation could not be queued (the driver shut down, or an early
    /// submit of a full queue failed), the error and the resources back.
    ///
    /// # Safety
    ///
    /// Every pointer in the returned SQE must point into `resources` (inline
    /// or memory it owns) or into memory that outlives the operation, and be
    /// valid for the access the opcode makes; file descriptors in it must stay
    /// open while the operation is in flight (keep an owner of them in
    /// `resources`). The driver keeps `resources` alive, unmoved, until the
    /// kernel's final CQE for the operation.
    pub unsafe fn submit<R, F>(
        &mut self,
        resources: R,
        orphan: Orphan<R>,
        build: F,
    ) -> Result<Op<R>, (io::Error, R)>
    where
        R: Send + 'static,
        F: FnOnce(&mut R) -> squeue::Entry,
    {
        // SAFETY: forwarded contract.
        unsafe { self.submit_with(resources, orphan, None, build) }
    }

    /// [`submit`](Driver::submit) for a multishot operation whose unread
    /// completions are capped: when `limit` of them wait unread, the
    /// operation is cancelled (its future sees the queued completions, then
    /// a final `ECANCELED`, and may submit it again once it has caught up).
    /// A multishot receive uses it so that a socket nobody reads cannot take
    /// every provided buffer. The cap is soft by the completions the kernel
    /// posts before the cancel takes effect.
    ///
    /// # Safety
    /// As for [`submit`](Driver::submit).
    pub unsafe fn submit_capped<R, F>(
        &mut self,
        resources: R,
        orphan: Orphan<R>,
        limit: usize,
        build: F,
    ) -> Result<Op<R>, (io::Error, R)>
    where
        R: Send + 'static,
        F: FnOnce(&mut R) -> squeue::Entry,
    {
        let cap = Cap {
            limit: limit.max(1),
            remote: self.ring.remote.clone(),
        };
        // SAFETY: forwarded contract.
        unsafe { self.submit_with(resources, orphan, Some(cap), build) }
    }

    /// `submit`, with an optional cap on unread multishot completions.
    ///
    /// # Safety
    /// As for [`submit`](Driver::submit).
    unsafe fn submit_with<R, F>(
        &mut self,
        resources: R,
        orphan: Orphan<R>,
        cap: Option<Cap>,
        build: F,
    ) -> Result<Op<R>, (io::Error, R)>
    where
        R: Send + 'static,
        F: FnOnce(&mut R) -> squeue::Entry,
    {
        if self.closed {
            return Err((
                io::Error::other("the io_uring driver has shut down"),
                resources,
            ));
        }
        let slot = Arc::new(Slot::new(resources, orphan, cap));
        let sqe = slot.with_resources(build);
        let raw = Slot::into_raw(slot.clone());
        let user_data = raw.user_data();
        let sqe = sqe.user_data(user_data);
        #[cfg(feature = "fault-injection")]
        if let Some(result) = crate::faults::op_error() {
            // Failed instead of submitted: the kernel never sees the SQE;
            // the completion comes from the owner's next reap, which gives
            // the reference taken above back, as for a kernel CQE.
            self.synthetic.push(Cqe {
                user_data,
                completion: Completion { result, flags: 0 },
            });
            let completions = &self.ring.completions;
            completions.in_flight.fetch_add(1, Ordering::AcqRel);
            completions.live.fetch_add(1, Ordering::AcqRel);
            return Ok(Op::new(slot, user_data, self.ring.remote.clone()));
        }
        if self.pushed() >= self.cap || !self.backlog.is_empty() {
            self.ring.completions.stats.backlogged();
            self.backlog.push_back((sqe, raw));
        } else {
            // SAFETY: the caller guarantees the SQE's pointers are valid while
            // the slot holds the resources, and the kernel's reference keeps
            // the slot until the final CQE.
            if let Err(err) = unsafe { self.push_sqe(&sqe) } {
                // Not pushed (the early submit failed): the kernel never saw
                // it, so its reference and the resources go back.
                // SAFETY: the reference taken above, given back once; no
                // CQE can name it.
                unsafe { raw.release() };
                let resources = slot.take_resources().expect("resources present until Done");
                return Err((err, resources));
            }
            self.ring
                .completions
                .in_flight
                .fetch_add(1, Ordering::AcqRel);
        }
        self.ring.completions.live.fetch_add(1, Ordering::AcqRel);
        Ok(Op::new(slot, user_data, self.ring.remote.clone()))
    }

    /// Pushes one SQE, submitting early if the submission queue is full.
    ///
    /// With SQPOLL the kernel thread empties the queue on its own schedule
    /// and `io_uring_enter` without `SQ_WAIT` returns at once, so a full
    /// queue is waited out with `IORING_ENTER_SQ_WAIT` (sleeps until the
    /// poll thread has consumed entries) instead of spinning on submit.
    ///
    /// # Safety
    /// - The SQE's pointers stay valid until its CQE (see `submit`).
    unsafe fn push_sqe(&mut self, sqe: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: forwarded precondition; this thread is the only
            // producer of the submission queue (`Driver` is `!Send`).
            if unsafe { self.sq().push(sqe) }.is_ok() {
                if self.ring.features.sqpoll {
                    // The poll thread takes it; `io_uring_enter` does not
                    // report SQPOLL submissions, so count them here.
                    self.ring.completions.stats.submissions(1);
                }
                return Ok(());
            }
            self.ring.completions.stats.sq_full_wait();
            if self.ring.features.sqpoll {
                self.wait_for_sq_space()?;
            } else {
                self.submit_pending()?;
            }
        }
    }

    /// SQPOLL: wakes the poll thread if it sleeps, then sleeps until it has
    /// taken entries from the full submission queue.
    fn wait_for_sq_space(&mut self) -> io::Result<()> {
        loop {
            // Wakes a sleeping poll thread (`enter_kernel` checks
            // `IORING_SQ_NEED_WAKEUP` behind its fence).
            let _ = self.enter_kernel(0, None);
            match self.ring.ring.submitter().squeue_wait() {
                Ok(_) => {
                    self.ring.completions.stats.enter();
                    return Ok(());
                }
                Err(err) => match err.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EBUSY) | Some(libc::EAGAIN) => {
                        // Completions wait to be reaped (the poll thread
                        // stalls on a full CQ): reap, then wait again.
                        self.reap();
                    }
                    _ => return Err(err),
                },
            }
        }
    }

    /// `io_uring_enter` from the owner: submits every queued SQE and, with
    /// `want > 0`, waits for that many completions (until `timeout`).
    fn enter_kernel(&self, want: u32, timeout: Option<&types::Timespec>) -> io::Result<usize> {
        let (to_submit, flags) = {
            let sq = self.sq();
            let flags = SqFlags {
                cq_overflow: sq.cq_overflow(),
                taskrun: sq.taskrun(),
            };
            (sq.len() as u32, flags)
        };
        let result = self.enter.enter(
            to_submit,
            want,
            flags,
            || self.sq().need_wakeup_after_intermittent_seqcst(),
            timeout,
        );
        if self.enter.is_registered() {
            self.ring.completions.stats.registered_enter();
        }
        result
    }

    /// Enters the kernel to submit queued SQEs, without waiting.
    fn submit_pending(&mut self) -> io::Result<()> {
        let mut backoff = Duration::from_micros(50);
        loop {
            let queued = self.sq().len();
            match self.enter_kernel(0, None) {
                Ok(n) => {
                    self.ring.completions.stats.enter();
                    if !self.ring.features.sqpoll {
                        self.ring
                            .completions
                            .stats
                            .submissions(n.min(queued) as u64);
                    }
                    return Ok(());
                }
                Err(err) => match err.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EBUSY) => {
                        // The kernel holds completions back: reap, then retry.
                        if self.reap() == 0 {
                            std::thread::sleep(backoff);
                        }
                    }
                    Some(libc::EAGAIN) => {
                        // Out of request memory. With completions pending,
                        // reaping frees some; otherwise back off (liburing #281).
                        if self.reap() == 0 {
                            std::thread::sleep(backoff);
                            backoff = (backoff * 2).min(Duration::from_millis(10));
                        }
                    }
                    _ => return Err(err),
                },
            }
        }
    }

    /// Queues cancellations requested by dropped ops, moves backlogged SQEs
    /// into the submission queue while under the cap, and submits. Call once
    /// per scheduler tick.
    pub fn flush(&mut self) -> io::Result<()> {
        self.process_cancels()?;
        self.drain_backlog()?;
        self.submit_queued()
    }

    /// Cancels `op` at once: the owner thread's way to drop an operation
    /// whose final completion has not arrived. The `ASYNC_CANCEL` is queued
    /// and submitted now, instead of waiting in the remote queue for the next
    /// flush. An `op` of another driver is dropped (its own owner is asked to
    /// cancel it, as by `Drop`). The resources are still freed only by the
    /// final completion.
    pub fn cancel<R: Send + 'static>(&mut self, op: Op<R>) -> io::Result<()> {
        if !op.belongs_to(&self.ring.remote) {
            drop(op);
            return Ok(());
        }
        let Some(request) = op.detach_for_cancel() else {
            return Ok(());
        };
        self.cancels.push(request);
        self.process_cancels()?;
        self.submit_queued()
    }

    /// Enters the kernel only if SQEs are queued (or the CQ overflowed).
    fn submit_queued(&mut self) -> io::Result<()> {
        let (empty, overflow) = {
            let sq = self.sq();
            (sq.is_empty(), sq.cq_overflow())
        };
        if !empty || overflow {
            self.submit_pending()?;
        }
        Ok(())
    }

    /// Registers `fd` in the ring's fixed-file table (see `files.rs`):
    /// operations submitted on this ring may then name it by its slot
    /// ([`with_fixed_file`](crate::with_fixed_file)). `None` if the ring
    /// has no table, the table is full (counted), or the kernel refused
    /// (`fd` is not open). The slot holds its own reference to the file
    /// until the owner clears it, after the returned [`FixedFile`] drops.
    pub fn register_file(&mut self, fd: std::os::fd::RawFd) -> Option<FixedFile> {
        let table = self.files.as_mut()?;
        let stats = &self.ring.completions.stats;
        let Some(slot) = table.take() else {
            stats.fixed_file_table_full();
            return None;
        };
        match self
            .ring
            .ring
            .submitter()
            .register_files_update(slot, &[fd])
        {
            Ok(_) => {
                stats.fixed_file_registered();
                Some(FixedFile::new(slot, self.ring.remote.clone()))
            }
            Err(_) => {
                table.give_back(slot);
                None
            }
        }
    }

    /// The slot of `file` in this ring's table, if it was registered here.
    pub fn fixed_slot(&self, file: &FixedFile) -> Option<u32> {
        file.belongs_to(&self.ring.remote).then(|| file.slot())
    }

    /// Whether the ring has a fixed-file table.
    pub fn has_file_table(&self) -> bool {
        self.files.is_some()
    }

    /// Clears the fixed-file slots released since the last flush (their
    /// descriptors' last owners let go) and frees them for reuse.
    fn clear_released_files(&mut self) {
        let Some(table) = self.files.as_mut() else {
            return;
        };
        let ring = &self.ring;
        table.clear_released(&ring.remote, &mut self.released_files, |slot| {
            // `-1` empties the slot, dropping the table's reference to the
            // file (the socket closes now if its descriptor was closed).
            let cleared = ring
                .ring
                .submitter()
                .register_files_update(slot, &[-1])
                .is_ok();
            if cleared {
                ring.completions.stats.fixed_file_released();
            }
            cleared
        });
    }

    fn process_cancels(&mut self) -> io::Result<()> {
        self.clear_released_files();
        let mut cancels = std::mem::take(&mut self.cancels);
        self.ring.remote.take_cancels(&mut cancels);
        let result = self.queue_cancels(&mut cancels);
        // On an error, what was not processed stays queued for the next try.
        self.cancels = cancels;
        result
    }

    fn queue_cancels(&mut self, cancels: &mut Vec<CancelRequest>) -> io::Result<()> {
        while let Some(request) = cancels.first() {
            let user_data = request.user_data;
            // The request's reference keeps the slot's address from naming
            // another operation while we look.
            if request.slot.awaits_cancel() {
                let queued = self
                    .backlog
                    .iter()
                    .position(|(e, _)| e.get_user_data() == user_data);
                if let Some(pos) = queued {
                    // Never reached the kernel: finish it here.
                    let (_, raw) = self.backlog.remove(pos).expect("position found");
                    self.ring.completions.live.fetch_sub(1, Ordering::AcqRel);
                    // SAFETY: the kernel never saw this operation; its
                    // reference, held by the backlog, is still ours.
                    unsafe { raw.complete(canceled(), false) };
                    // SAFETY: as above; this was its only completion, and
                    // the reference is given back once.
                    unsafe { raw.release() };
                } else {
                    let sqe = opcode::AsyncCancel::new(user_data)
                        .build()
                        .user_data(CANCEL_TOKEN);
                    // SAFETY: `ASYNC_CANCEL` points to no memory.
                    unsafe { self.push_sqe(&sqe)? };
                    self.ring
                        .completions
                        .internal_in_flight
                        .fetch_add(1, Ordering::AcqRel);
                    self.ring.completions.stats.cancel();
                }
            }
            // Finished meanwhile, or handled: done with this request.
            cancels.remove(0);
        }
        Ok(())
    }

    fn drain_backlog(&mut self) -> io::Result<()> {
        while self.ring.completions.in_flight.load(Ordering::Acquire) < self.cap {
            let Some((sqe, raw)) = self.backlog.pop_front() else {
                break;
            };
            // SAFETY: backlogged SQEs were built under `submit`'s contract and
            // their slots are held by the kernel's reference (cancelled ones
            // are removed from the backlog in `process_cancels`).
            if let Err(err) = unsafe { self.push_sqe(&sqe) } {
                self.backlog.push_front((sqe, raw)); // not pushed: keep it for later
                return Err(err);
            }
            self.ring
                .completions
                .in_flight
                .fetch_add(1, Ordering::AcqRel);
        }
        Ok(())
    }

    /// Keeps a read of the eventfd pending, so that `unpark` ends a wait.
    fn arm_eventfd(&mut self) -> io::Result<()> {
        if self.ring.completions.eventfd_armed.load(Ordering::Acquire) || self.closed {
            return Ok(());
        }
        let fd = self.ring.remote.eventfd().as_raw_fd();
        let buf: *mut u64 = &mut *self.eventfd_buf;
        let sqe = opcode::Read::new(types::Fd(fd), buf.cast(), 8)
            .build()
            .user_data(EVENTFD_TOKEN);
        // SAFETY: `eventfd_buf` is a boxed `u64` owned by the driver, which
        // waits for every CQE (including this read's) before dropping it; the
        // eventfd is owned by `remote`, which the driver keeps alive as long.
        unsafe { self.push_sqe(&sqe)? };
        // `Release`: pairs with the `Acquire` load above on a later park; a
        // reaper clears it when it reaps the read's CQE.
        self.ring
            .completions
            .eventfd_armed
            .store(true, Ordering::Release);
        self.ring
            .completions
            .internal_in_flight
            .fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Reaps every available completion without blocking; returns how many
    /// operations completions were delivered (internal CQEs not counted).
    pub fn harvest(&mut self) -> usize {
        let delivered = self.reap();
        // Backlogged operations may now fit.
        let _ = self.drain_backlog();
        delivered
    }

    /// The owner's reap: also posts deferred task work and flushes a CQ
    /// overflow (both need `io_uring_enter`, which only the owner may do on
    /// a `SINGLE_ISSUER` ring).
    fn reap(&mut self) -> usize {
        if self.sq().taskrun() {
            // DEFER_TASKRUN / TASKRUN_FLAG: completions are posted only by an
            // enter with GETEVENTS, which `enter_kernel` adds when it sees
            // `IORING_SQ_TASKRUN`; without this, a worker that never blocks
            // would never see its completions.
            let _ = self.enter_kernel(0, None);
            self.ring.completions.stats.enter();
        }
        let mut delivered = 0;
        loop {
            let taken = self.ring.completions.owner_acquire();
            #[cfg(feature = "fault-injection")]
            let synthetic = &mut self.synthetic;
            delivered += self.ring.completions.reap_as_owner(|into| {
                #[cfg(feature = "fault-injection")]
                into.append(synthetic);
                self.ring.fetch(into)
            });
            self.ring.completions.owner_release(taken);
            if self.sq().cq_overflow() {
                // Completions wait in the kernel's overflow list until an
                // enter with GETEVENTS (which `enter_kernel` adds when it
                // sees the flag) flushes them (liburing #705).
                self.ring.completions.stats.cq_overflow();
                let _ = self.enter_kernel(0, None);
                self.ring.completions.stats.enter();
                continue;
            }
            return delivered;
        }
    }

    /// Flushes, reaps, and if no operation completed, waits until one does,
    /// until [`Unparker::unpark`], or until `timeout` passes
    /// (`Some(Duration::ZERO)`: do not wait). Interrupted waits resume with
    /// the remaining time.
    pub fn park(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        if self.closed {
            return Err(io::Error::other("the io_uring driver has shut down"));
        }
        // The turn is the owner's for the whole park, across the waiting
        // enter: a reaper must not take the CQE meant to end the wait (see
        // `completions.rs`).
        let taken = self.ring.completions.owner_acquire();
        let result = self.park_with_turn(timeout);
        self.ring.completions.owner_release(taken);
        result
    }

    fn park_with_turn(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        // Queue cancels and backlogged SQEs, but do not enter yet: if the
        // thread is going to wait, the waiting `io_uring_enter` submits them
        // too (one syscall, not two).
        self.process_cancels()?;
        self.drain_backlog()?;
        if self.harvest() > 0 || timeout == Some(Duration::ZERO) {
            self.ring.remote.clear_token();
            return self.submit_queued();
        }
        self.arm_eventfd()?;
        if !self.ring.remote.begin_park() {
            return self.submit_queued();
        }
        let waited = self.wait(timeout);
        self.ring.remote.end_park();
        self.harvest();
        waited
    }

    fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        // A timeout too large for an `Instant` is no timeout at all.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let result = match deadline {
                None => self.enter_kernel(1, None),
                Some(deadline) => {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    if remaining.is_zero() {
                        return Ok(());
                    }
                    // `EXT_ARG` is required (checked in `new_unstarted`).
                    let ts = types::Timespec::from(remaining);
                    self.enter_kernel(1, Some(&ts))
                }
            };
            self.ring.completions.stats.enter();
            match result {
                Ok(submitted) => {
                    if !self.ring.features.sqpoll {
                        self.ring.completions.stats.submissions(submitted as u64);
                    }
                    return Ok(());
                }
                Err(err) => match err.raw_os_error() {
                    Some(libc::ETIME) => return Ok(()),
                    Some(libc::EINTR) => continue,
                    Some(libc::EBUSY) | Some(libc::EAGAIN) => {
                        // Completions are waiting to be reaped; the caller
                        // harvests right after.
                        return Ok(());
                    }
                    _ => return Err(err),
                },
            }
        }
    }

    /// Cancels everything in flight and waits for every completion. After
    /// this, `submit` fails and pending `Op`s resolve with `ECANCELED` (or
    /// their real result, if they finished first). Called by `Drop`.
    pub fn shutdown(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        // From here on only this thread reaps (a reaper's turn in progress
        // finishes first: it holds the lock).
        self.ring.completions.close();
        // Backlogged operations never reached the kernel.
        while let Some((_, raw)) = self.backlog.pop_front() {
            self.ring.completions.live.fetch_sub(1, Ordering::AcqRel);
            // SAFETY: never submitted: the backlog holds the kernel's
            // reference, so the slot is alive.
            unsafe { raw.complete(canceled(), false) };
            // SAFETY: as above; given back once, after the only completion.
            unsafe { raw.release() };
        }
        let _ = self.process_cancels();
        // Everything in the ring, the eventfd read included
        // (`IORING_ASYNC_CANCEL_ANY`, 5.19+; older kernels answer `EINVAL`
        // and the wait below runs out its grace).
        let sqe = opcode::AsyncCancel2::new(types::CancelBuilder::any())
            .build()
            .user_data(CANCEL_TOKEN);
        // SAFETY: `ASYNC_CANCEL` points to no memory.
        if unsafe { self.push_sqe(&sqe) }.is_ok() {
            self.ring
                .completions
                .internal_in_flight
                .fetch_add(1, Ordering::AcqRel);
            self.ring.completions.stats.cancel();
        }
        let _ = self.submit_pending();
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        loop {
            self.reap();
            if self.outstanding() == 0 {
                // Cancels asked for during the reaps above (a capped
                // multishot operation, an `Op` dropped meanwhile) are moot
                // now, and a capped slot's request holds the `Remote` that
                // holds the request: drop them to break that cycle.
                self.cancels.clear();
                self.ring.remote.take_cancels(&mut Vec::new());
                return;
            }
            if Instant::now() >= deadline {
                // The kernel still owns some buffers: never free them. The
                // slots' kernel references are never given back (leaked), and
                // the eventfd buffer is forgotten.
                std::mem::forget(std::mem::replace(&mut self.eventfd_buf, Box::new(0)));
                return;
            }
            let _ = self.wait(Some(Duration::from_millis(50)));
        }
    }

    fn pushed(&self) -> usize {
        self.ring.completions.in_flight.load(Ordering::Acquire)
    }

    /// CQEs still to come: operations' and the driver's own.
    fn outstanding(&self) -> usize {
        self.pushed()
            + self
                .ring
                .completions
                .internal_in_flight
                .load(Ordering::Acquire)
    }
}

impl Ring {
    /// Moves the CQEs the kernel posted into `into`; `true` if the
    /// completion queue was full (more may wait in the overflow list). Only
    /// the holder of the completions' reap lock calls it.
    fn fetch(&self, into: &mut Vec<Cqe>) -> bool {
        // SAFETY: the reap lock, held by the caller, makes this the only
        // `CompletionQueue` of the ring.
        let mut cq = unsafe { self.ring.completion_shared() };
        cq.sync();
        let full = cq.len() == cq.capacity();
        into.extend(cq.map(|cqe| Cqe {
            user_data: cqe.user_data(),
            completion: Completion {
                result: cqe.result(),
                flags: cqe.flags(),
            },
        }));
        full
    }
}

impl Reaper {
    /// A turn for an owner stuck in a long task poll: submits the SQEs it
    /// queued but has not submitted yet (it batches them until it runs out
    /// of work or parks, which a stuck owner does not), then reaps
    /// ([`try_reap`](Reaper::try_reap)). Returns the completions delivered.
    ///
    /// Submitting from this thread is what io_uring allows for rings
    /// without `SINGLE_ISSUER` (the kernel serialises submitters; it reads
    /// only entries the owner has published with its release store of the
    /// tail). Requests submitted here belong to this thread: their task work
    /// — which posts their completions — runs when it next enters the kernel
    /// or wakes from an interruptible sleep. `SINGLE_ISSUER` rings and
    /// SQPOLL rings (whose poll thread submits) are left alone.
    ///
    /// The owner's own requests are the harder case on a `COOP_TASKRUN`
    /// ring: their completions are posted by the owner's task work, which a
    /// CPU-bound owner runs only at its next syscall or scheduler tick. So
    /// the turn first interrupts the process's running threads
    /// (`membarrier`, one IPI per CPU running one of them): the owner's CPU
    /// runs the task work on its way back to user space, and the reap below
    /// (or the next turn's, if the owner's CPU was slower than this thread)
    /// finds the completions posted.
    pub fn turn(&self) -> usize {
        let features = &self.ring.features;
        if features.defer_taskrun || features.sqpoll {
            return self.try_reap();
        }
        let interrupted = features.coop_taskrun && crate::sys::interrupt_own_threads();
        let _ = self.ring.ring.submitter().submit();
        let delivered = self.try_reap();
        if delivered > 0 || !interrupted {
            return delivered;
        }
        // The interrupted CPU may still be running the task work: one more
        // look after giving it a moment.
        std::thread::sleep(std::time::Duration::from_micros(20));
        self.try_reap()
    }

    /// Reaps the completions the kernel has posted, if the owner is not
    /// reaping right now and has not shut down; returns how many operation
    /// completions were delivered (woken futures run wherever their wakers
    /// send them). Never blocks on the owner and never submits.
    ///
    /// When it drained a full completion queue, completions may wait in the
    /// kernel's overflow list; on rings without `SINGLE_ISSUER` it flushes
    /// them with an `io_uring_enter(GETEVENTS)` that submits nothing.
    pub fn try_reap(&self) -> usize {
        let ring = &self.ring;
        let flush_overflow = || {
            if ring.features.defer_taskrun {
                return false; // only the owner may enter a SINGLE_ISSUER ring
            }
            // SAFETY: `to_submit = 0` submits nothing (the submission queue
            // stays the owner's); GETEVENTS with `min_complete = 0` only
            // flushes overflowed completions into the CQ and returns.
            unsafe {
                ring.ring.submitter().enter::<libc::sigset_t>(
                    0,
                    0,
                    crate::enter::ENTER_GETEVENTS,
                    None,
                )
            }
            .is_ok()
        };
        ring.completions
            .try_reap(|into| ring.fetch(into), flush_overflow)
            .unwrap_or(0)
    }

    /// Operations submitted and not yet finished: whether there is anything
    /// a reap could deliver.
    pub fn in_flight(&self) -> usize {
        self.ring.completions.live.load(Ordering::Acquire)
    }
}

impl fmt::Debug for Reaper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reaper")
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.shutdown();
        // On the owner thread (`Driver` is `!Send`), where `start`
        // registered it: the slot holds a reference to the ring's file, so
        // leaving it would keep the ring alive until the thread exits.
        self.enter.unregister();
    }
}

/// Registers an empty (sparse) fixed-file table of `size` slots with
/// `ring`.
fn file_table(ring: &IoUring, size: u32) -> Result<FileTable, Refusal> {
    ring.submitter()
        .register_files_sparse(size)
        .map_err(|err| {
            let hint = if err.raw_os_error() == Some(libc::EMFILE) {
                "a table larger than RLIMIT_NOFILE allows: raise the limit or make it smaller"
            } else {
                "the kernel may lack sparse file tables (5.19+)"
            };
            let text = format!(
                "io_uring refused a table of {size} fixed files ({err}): {hint}; turn it off \
                 (RINGWORK_URING=-fixed_files)"
            );
            Refusal::of(Optional::FixedFiles, io::Error::new(err.kind(), text))
        })?;
    Ok(FileTable::new(size))
}

fn canceled() -> Completion {
    Completion {
        result: -libc::ECANCELED,
        flags: 0,
    }
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver")
            .field("features", &self.ring.features)
            .field("in_flight", &self.in_flight())
            .field("backlog", &self.backlog.len())
            .finish_non_exhaustive()
    }
}
