//! [`Driver`]: one io_uring, entered only by the thread that owns it.
//!
//! # Submission
//!
//! [`Driver::submit`] places the operation's resources in a slot, builds the
//! SQE against them at their final address, tags it with a generation-tagged
//! `user_data`, and pushes it to the submission queue — or, on kernels
//! without `IORING_FEAT_NODROP`, to the backlog when the in-flight cap (the
//! completion queue's size, less a reserve for the driver's own SQEs) is
//! reached, so the completion queue cannot overflow and lose completions.
//! (With NODROP there is no cap: overflowed completions are flushed, and a
//! cap could deadlock ops that wait indefinitely.) Nothing is entered into the kernel until
//! [`Driver::flush`] (once per scheduler tick), [`Driver::park`], or a full
//! submission queue. Submission errors never free a pushed slot: the SQE stays
//! queued and is retried (`EBUSY`: reap completions first; `EAGAIN`: back off
//! briefly when nothing is in flight; `EINTR`: retry).
//!
//! # Completion
//!
//! [`Driver::harvest`] reaps every CQE: the slot for its `user_data` gets the
//! result and wakes its future. A slot leaves the table only at its final CQE
//! (multishot operations post several). The driver's own SQEs (eventfd read,
//! cancels) carry reserved `user_data` values. After each harvest the
//! `IORING_SQ_CQ_OVERFLOW` flag is checked; if the kernel held completions
//! back, an enter with `GETEVENTS` flushes them and they are reaped too.
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
//! Dropping the driver (or [`Driver::shutdown`]) cancels every operation,
//! completes backlogged ones locally with `ECANCELED`, and waits for every
//! CQE before anything is freed. If the kernel does not deliver them within
//! a bound, the resources are leaked rather than freed under the kernel.

use crate::config::Config;
use crate::probe::Features;
use crate::remote::{Remote, Unparker};
use crate::slot::{Completion, Orphan, Slot};
use crate::stats::{Stats, StatsSnapshot};
use crate::sync::Arc;
use crate::sys::EventFd;
use crate::table::{is_internal, OpTable, CANCEL_TOKEN, EVENTFD_TOKEN};
use crate::Op;
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// How long shutdown waits for the kernel's last completions before it leaks
/// the resources instead.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// One io_uring and the operations in flight on it.
///
/// `!Send`: a ring is entered only by its owner thread (required by
/// `SINGLE_ISSUER`, and what keeps the submission queue single-producer).
pub struct Driver {
    ring: IoUring,
    features: Features,
    remote: Arc<Remote>,
    stats: Arc<Stats>,
    ops: OpTable,
    /// SQEs not yet in the submission queue (in-flight cap reached).
    backlog: VecDeque<squeue::Entry>,
    /// Operations pushed to the submission queue whose final CQE has not
    /// been reaped.
    in_flight: usize,
    /// The driver's own SQEs (eventfd read, cancels) awaiting their CQE.
    internal_in_flight: usize,
    /// Most operations in flight at once.
    cap: usize,
    /// Target of the pending eventfd read; boxed so its address is stable.
    eventfd_buf: Box<u64>,
    eventfd_armed: bool,
    cancels: Vec<u64>,
    cqes: Vec<cqueue::Entry>,
    closed: bool,
    _not_send: PhantomData<*const ()>,
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
        if self.driver.features.defer_taskrun {
            self.driver.ring.submitter().register_enable_rings()?;
        }
        Ok(self.driver)
    }

    /// The ring's features.
    pub fn features(&self) -> &Features {
        &self.driver.features
    }

    /// The future owner's unparker, usable before the driver starts (a
    /// wake-up sent before the first park is kept, not lost).
    pub fn unparker(&self) -> Unparker {
        self.driver.unparker()
    }

    /// The future owner's counters.
    pub fn stats(&self) -> Arc<Stats> {
        self.driver.stats()
    }
}

impl fmt::Debug for UnstartedDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnstartedDriver")
            .field("features", &self.driver.features)
            .finish_non_exhaustive()
    }
}

impl Driver {
    /// Sets up a ring with `config` on, and for, the calling thread.
    pub fn new(config: &Config) -> io::Result<Driver> {
        Driver::new_unstarted(config)?.start()
    }

    /// Sets up a ring with `config` to be started by its owner thread.
    pub fn new_unstarted(config: &Config) -> io::Result<UnstartedDriver> {
        let (ring, features) = config.build_ring()?;
        if !features.ext_arg {
            // Reported like ENOSYS: io_uring is too old to be used here.
            return Err(io::Error::from_raw_os_error(libc::ENOSYS));
        }
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
        let remote = Arc::new(Remote::new(EventFd::new()?));
        let driver = Driver {
            ring,
            cap,
            features,
            remote,
            stats: Arc::new(Stats::default()),
            ops: OpTable::default(),
            backlog: VecDeque::new(),
            in_flight: 0,
            internal_in_flight: 0,
            eventfd_buf: Box::new(0),
            eventfd_armed: false,
            cancels: Vec::new(),
            cqes: Vec::with_capacity(cq),
            closed: false,
            _not_send: PhantomData,
        };
        Ok(UnstartedDriver { driver })
    }

    /// The ring's features and the kernel's opcodes.
    pub fn features(&self) -> &Features {
        &self.features
    }

    /// A `Send + Sync` handle that wakes this driver's `park`.
    pub fn unparker(&self) -> Unparker {
        Unparker {
            remote: self.remote.clone(),
        }
    }

    /// The driver's counters (shareable with other threads).
    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// A snapshot of the counters.
    pub fn stats_snapshot(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Operations submitted and not yet finished (including backlogged ones).
    pub fn in_flight(&self) -> usize {
        self.ops.len()
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
        if self.closed {
            return Err((
                io::Error::other("the io_uring driver has shut down"),
                resources,
            ));
        }
        let slot = Arc::new(Slot::new(resources, orphan));
        let sqe = slot.with_resources(build);
        let user_data = self.ops.insert(slot.clone());
        let sqe = sqe.user_data(user_data);
        if self.in_flight >= self.cap || !self.backlog.is_empty() {
            self.stats.backlogged();
            self.backlog.push_back(sqe);
        } else {
            // SAFETY: the caller guarantees the SQE's pointers are valid while
            // the slot holds the resources, and the slot is in the table until
            // the final CQE.
            if let Err(err) = unsafe { self.push_sqe(&sqe) } {
                // Not pushed (the early submit failed): the kernel never saw
                // it, so the slot and its resources can go.
                self.ops.remove(user_data);
                let resources = slot.take_resources().expect("resources present until Done");
                return Err((err, resources));
            }
            self.in_flight += 1;
        }
        Ok(Op::new(slot, user_data, self.remote.clone()))
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
            if unsafe { self.ring.submission().push(sqe) }.is_ok() {
                if self.features.sqpoll {
                    // The poll thread takes it; `io_uring_enter` does not
                    // report SQPOLL submissions, so count them here.
                    self.stats.submissions(1);
                }
                return Ok(());
            }
            self.stats.sq_full_wait();
            if self.features.sqpoll {
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
            // `submit` wakes a sleeping poll thread (it checks
            // `IORING_SQ_NEED_WAKEUP` behind the crate's fence).
            let _ = self.ring.submit();
            match self.ring.submitter().squeue_wait() {
                Ok(_) => {
                    self.stats.enter();
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

    /// Enters the kernel to submit queued SQEs, without waiting.
    fn submit_pending(&mut self) -> io::Result<()> {
        let mut backoff = Duration::from_micros(50);
        loop {
            let queued = self.ring.submission().len();
            match self.ring.submit() {
                Ok(n) => {
                    self.stats.enter();
                    if !self.features.sqpoll {
                        self.stats.submissions(n.min(queued) as u64);
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
        if !op.belongs_to(&self.remote) {
            drop(op);
            return Ok(());
        }
        let Some(user_data) = op.detach_for_cancel() else {
            return Ok(());
        };
        self.cancels.push(user_data);
        self.process_cancels()?;
        self.submit_queued()
    }

    /// Enters the kernel only if SQEs are queued (or the CQ overflowed).
    fn submit_queued(&mut self) -> io::Result<()> {
        if !self.ring.submission().is_empty() || self.ring.submission().cq_overflow() {
            self.submit_pending()?;
        }
        Ok(())
    }

    fn process_cancels(&mut self) -> io::Result<()> {
        let mut cancels = std::mem::take(&mut self.cancels);
        self.remote.take_cancels(&mut cancels);
        let result = self.queue_cancels(&mut cancels);
        // On an error, what was not processed stays queued for the next try.
        self.cancels = cancels;
        result
    }

    fn queue_cancels(&mut self, cancels: &mut Vec<u64>) -> io::Result<()> {
        while let Some(&user_data) = cancels.first() {
            if self.ops.get(user_data).is_some() {
                let queued = self
                    .backlog
                    .iter()
                    .position(|e| e.get_user_data() == user_data);
                if let Some(pos) = queued {
                    // Never reached the kernel: finish it here.
                    self.backlog.remove(pos);
                    if let Some(slot) = self.ops.remove(user_data) {
                        slot.complete(canceled(), false);
                    }
                } else {
                    let sqe = opcode::AsyncCancel::new(user_data)
                        .build()
                        .user_data(CANCEL_TOKEN);
                    // SAFETY: `ASYNC_CANCEL` points to no memory.
                    unsafe { self.push_sqe(&sqe)? };
                    self.internal_in_flight += 1;
                    self.stats.cancel();
                }
            }
            // Finished meanwhile, or handled: done with this request.
            cancels.remove(0);
        }
        Ok(())
    }

    fn drain_backlog(&mut self) -> io::Result<()> {
        while self.in_flight < self.cap {
            let Some(sqe) = self.backlog.pop_front() else {
                break;
            };
            // SAFETY: backlogged SQEs were built under `submit`'s contract and
            // their slots are still in the table (cancelled ones are removed
            // from the backlog in `process_cancels`).
            if let Err(err) = unsafe { self.push_sqe(&sqe) } {
                self.backlog.push_front(sqe); // not pushed: keep it for later
                return Err(err);
            }
            self.in_flight += 1;
        }
        Ok(())
    }

    /// Keeps a read of the eventfd pending, so that `unpark` ends a wait.
    fn arm_eventfd(&mut self) -> io::Result<()> {
        if self.eventfd_armed || self.closed {
            return Ok(());
        }
        let fd = self.remote.eventfd().as_raw_fd();
        let buf: *mut u64 = &mut *self.eventfd_buf;
        let sqe = opcode::Read::new(types::Fd(fd), buf.cast(), 8)
            .build()
            .user_data(EVENTFD_TOKEN);
        // SAFETY: `eventfd_buf` is a boxed `u64` owned by the driver, which
        // waits for every CQE (including this read's) before dropping it; the
        // eventfd is owned by `remote`, which the driver keeps alive as long.
        unsafe { self.push_sqe(&sqe)? };
        self.eventfd_armed = true;
        self.internal_in_flight += 1;
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

    fn reap(&mut self) -> usize {
        if self.ring.submission().taskrun() {
            // DEFER_TASKRUN / TASKRUN_FLAG: completions are posted only by an
            // enter with GETEVENTS, which `submit` adds when it sees
            // `IORING_SQ_TASKRUN`; without this, a worker that never blocks
            // would never see its completions.
            let _ = self.ring.submit();
            self.stats.enter();
        }
        let mut delivered = 0;
        loop {
            let mut cqes = std::mem::take(&mut self.cqes);
            {
                let mut cq = self.ring.completion();
                cq.sync();
                cqes.extend(&mut cq);
            }
            let got = cqes.len();
            self.stats.completions(got as u64);
            for cqe in cqes.drain(..) {
                // A waker or a resource `Drop` is user code: a panic in one
                // must not lose the rest of the batch (those slots would stay
                // in flight forever).
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.deliver(cqe)));
                delivered += outcome.unwrap_or(1);
            }
            self.cqes = cqes;
            if self.ring.submission().cq_overflow() {
                // Completions wait in the kernel's overflow list until an
                // enter with GETEVENTS (which `submit` adds when it sees the
                // flag) flushes them (liburing #705).
                self.stats.cq_overflow();
                let _ = self.ring.submit();
                self.stats.enter();
                continue;
            }
            if got == 0 {
                return delivered;
            }
        }
    }

    fn deliver(&mut self, cqe: cqueue::Entry) -> usize {
        let user_data = cqe.user_data();
        if is_internal(user_data) {
            debug_assert!(self.internal_in_flight > 0);
            self.internal_in_flight -= 1;
            if user_data == EVENTFD_TOKEN {
                self.eventfd_armed = false;
            }
            debug_assert!(user_data == EVENTFD_TOKEN || user_data == CANCEL_TOKEN);
            return 0;
        }
        let completion = Completion {
            result: cqe.result(),
            flags: cqe.flags(),
        };
        let more = cqueue::more(cqe.flags());
        if more {
            if let Some(slot) = self.ops.get(user_data) {
                slot.complete(completion, true);
                return 1;
            }
            return 0;
        }
        match self.ops.remove(user_data) {
            Some(slot) => {
                self.in_flight -= 1;
                slot.complete(completion, false);
                1
            }
            // A CQE for no live operation would mean a routing bug; the
            // generation check makes stale ones land here harmlessly.
            None => 0,
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
        // Queue cancels and backlogged SQEs, but do not enter yet: if the
        // thread is going to wait, the waiting `io_uring_enter` submits them
        // too (one syscall, not two).
        self.process_cancels()?;
        self.drain_backlog()?;
        if self.harvest() > 0 || timeout == Some(Duration::ZERO) {
            self.remote.clear_token();
            return self.submit_queued();
        }
        self.arm_eventfd()?;
        if !self.remote.begin_park() {
            return self.submit_queued();
        }
        let waited = self.wait(timeout);
        self.remote.end_park();
        self.harvest();
        waited
    }

    fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        // A timeout too large for an `Instant` is no timeout at all.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let result = match deadline {
                None => self.ring.submit_and_wait(1),
                Some(deadline) => {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    if remaining.is_zero() {
                        return Ok(());
                    }
                    // `EXT_ARG` is required (checked in `new_unstarted`).
                    let ts = types::Timespec::from(remaining);
                    let args = types::SubmitArgs::new().timespec(&ts);
                    self.ring.submitter().submit_with_args(1, &args)
                }
            };
            self.stats.enter();
            match result {
                Ok(submitted) => {
                    if !self.features.sqpoll {
                        self.stats.submissions(submitted as u64);
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
        // Backlogged operations never reached the kernel.
        while let Some(sqe) = self.backlog.pop_front() {
            if let Some(slot) = self.ops.remove(sqe.get_user_data()) {
                slot.complete(canceled(), false);
            }
        }
        let _ = self.process_cancels();
        for user_data in self.ops.live_user_data() {
            let sqe = opcode::AsyncCancel::new(user_data)
                .build()
                .user_data(CANCEL_TOKEN);
            // SAFETY: `ASYNC_CANCEL` points to no memory.
            if unsafe { self.push_sqe(&sqe) }.is_ok() {
                self.internal_in_flight += 1;
                self.stats.cancel();
            }
        }
        if self.eventfd_armed {
            let sqe = opcode::AsyncCancel::new(EVENTFD_TOKEN)
                .build()
                .user_data(CANCEL_TOKEN);
            // SAFETY: `ASYNC_CANCEL` points to no memory.
            if unsafe { self.push_sqe(&sqe) }.is_ok() {
                self.internal_in_flight += 1;
            }
        }
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while self.in_flight + self.internal_in_flight > 0 {
            if Instant::now() >= deadline {
                // The kernel still owns some buffers: never free them.
                self.ops.leak_all();
                std::mem::forget(std::mem::replace(&mut self.eventfd_buf, Box::new(0)));
                return;
            }
            self.reap();
            if self.in_flight + self.internal_in_flight == 0 {
                break;
            }
            let _ = self.wait(Some(Duration::from_millis(50)));
        }
        self.reap();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.shutdown();
    }
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
            .field("features", &self.features)
            .field("in_flight", &self.in_flight)
            .field("backlog", &self.backlog.len())
            .finish_non_exhaustive()
    }
}
