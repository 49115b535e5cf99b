//! The op slot's and the unparker's protocols, exposed to the loom models in
//! `loom-tests/` only under `--cfg loom`. Not part of the public API.

pub use crate::cqe::Completion;
pub use crate::op::Op;
use crate::remote::{CancelRequest, Remote, WakeOwner};
pub use crate::slot::Orphan;
use crate::slot::{Cap, DropOutcome, Slot};
use crate::user_data::RawSlot;
use std::task::{Context, Poll};

/// `IORING_CQE_F_MORE` (linux/io_uring.h).
const IORING_CQE_F_MORE: u32 = 1 << 1;

/// An op slot without a ring: the model plays the kernel.
#[derive(Debug)]
pub struct ModelSlot<R: Send + 'static>(Slot<R>);

impl<R: Send + 'static> ModelSlot<R> {
    /// A slot holding `resources`, as `Driver::submit` makes it.
    pub fn new(resources: R) -> Self {
        ModelSlot(Slot::new(resources, Orphan::Drop, None))
    }

    /// A slot whose orphaned completion goes to `keep` (`Orphan::Keep`).
    pub fn with_keep(resources: R, keep: fn(Completion, R)) -> Self {
        ModelSlot(Slot::new(resources, Orphan::Keep(keep), None))
    }

    /// The future polls (as `Op::poll_complete`).
    pub fn poll_complete(&self, cx: &mut Context<'_>) -> Poll<(Completion, R)> {
        self.0.poll_complete(cx)
    }

    /// The future is dropped (as `Op::drop`); `true` if a cancel must be sent.
    pub fn drop_op(&self) -> bool {
        self.0.drop_op() == DropOutcome::CancelInFlight
    }

    /// The kernel's final CQE arrives (as the driver's `deliver`).
    pub fn complete(&self, result: i32) {
        self.0.complete(Completion { result, flags: 0 }, false);
    }

    /// A multishot operation's slot whose results are new descriptors
    /// (`Orphan::CloseFd`, as a listener's multishot accept is submitted).
    pub fn multishot_fds(resources: R) -> Self {
        ModelSlot(Slot::new(resources, Orphan::CloseFd, None))
    }

    /// A non-final CQE (`IORING_CQE_F_MORE`) arrives.
    pub fn complete_more(&self, result: i32) {
        self.0.complete(
            Completion {
                result,
                flags: IORING_CQE_F_MORE,
            },
            true,
        );
    }

    /// The future polls a multishot operation (as `Op::poll_next`).
    pub fn poll_next(&self, cx: &mut Context<'_>) -> Poll<(Completion, Option<R>)> {
        self.0.poll_next(cx)
    }
}

impl<R> std::fmt::Debug for Slot<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").finish_non_exhaustive()
    }
}

/// The driver's unpark protocol (`remote.rs`: the `Unparker`'s swap, the
/// owner's `begin_park`/`end_park`/`clear_token`) with a condvar standing in
/// for the eventfd: the model plays the owner's `Driver::park` and the
/// threads that unpark it.
pub struct ModelUnparker {
    remote: Remote<ModelEventFd>,
    /// Waits the owner entered (its `begin_park` said wait). Bookkeeping
    /// outside the model (a std atomic, no loom branch point): written by
    /// the owner, read once the model's threads are joined.
    waits: std::sync::atomic::AtomicUsize,
}

/// The eventfd stand-in: a counter that a write increments and the owner's
/// wait consumes, blocking while it is zero (as the read the driver keeps
/// pending in its ring completes only once the counter is non-zero).
#[derive(Debug)]
struct ModelEventFd {
    counter: loom::sync::Mutex<EventFdCounter>,
    written: loom::sync::Condvar,
}

#[derive(Debug, Default)]
struct EventFdCounter {
    value: u64,
    /// Writes ever made: the syscalls the protocol did not skip.
    writes: usize,
}

impl WakeOwner for ModelEventFd {
    fn wake_owner(&self) {
        let mut counter = self.counter.lock().unwrap();
        counter.value += 1;
        counter.writes += 1;
        self.written.notify_one();
    }
}

impl ModelEventFd {
    /// The owner's waiting `io_uring_enter`: returns once the pending read
    /// completes (the counter is non-zero), consuming the counter.
    fn wait(&self) {
        let mut counter = self.counter.lock().unwrap();
        while counter.value == 0 {
            counter = self.written.wait(counter).unwrap();
        }
        counter.value = 0;
    }
}

impl ModelUnparker {
    /// An owner that is not parked, with no token pending.
    pub fn new() -> ModelUnparker {
        ModelUnparker {
            remote: Remote::new(ModelEventFd {
                counter: loom::sync::Mutex::new(EventFdCounter::default()),
                written: loom::sync::Condvar::new(),
            }),
            waits: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Any thread: `Unparker::unpark`.
    pub fn unpark(&self) {
        self.remote.unpark();
    }

    /// Owner: `Driver::park(None)` when no completion is ready: waits for
    /// the eventfd unless `begin_park` finds a token, then `end_park`. (A
    /// real wait may also end early, on another completion or spuriously;
    /// this one ends only on an eventfd write, the case an unpark can lose.)
    pub fn park(&self) {
        if !self.remote.begin_park() {
            return;
        }
        // `Relaxed`: read only after the owner's thread is joined (the join
        // orders it).
        self.waits
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.remote.eventfd().wait();
        self.remote.end_park();
    }

    /// Owner: `Driver::park` with a zero timeout, or with completions ready:
    /// never waits, consumes a pending token.
    pub fn park_without_waiting(&self) {
        self.remote.clear_token();
    }

    /// Eventfd writes made by `unpark` so far (each is a syscall).
    pub fn eventfd_writes(&self) -> usize {
        self.remote.eventfd().counter.lock().unwrap().writes
    }

    /// Waits the owner entered so far.
    pub fn waits(&self) -> usize {
        // `Relaxed`: see `park`.
        self.waits.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Default for ModelUnparker {
    fn default() -> Self {
        ModelUnparker::new()
    }
}

impl std::fmt::Debug for ModelUnparker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelUnparker").finish_non_exhaustive()
    }
}

/// A ring's fixed-file table (`files.rs`) without a kernel: the model
/// plays the kernel's table (slot → file), the owner (registering, parking,
/// and clearing released slots on its flush) and the threads whose drop of
/// a socket releases its slot (`FixedFile::drop`). The release and the
/// owner's turn are the real `Remote::release_file` and
/// `FileTable::clear_released`.
pub struct ModelFileTable {
    unparker: ModelUnparker,
    /// The owner's free list (a mutex only so the model can share it; the
    /// owner alone touches it).
    table: loom::sync::Mutex<crate::files::FileTable>,
    /// The kernel's table: the file in each slot.
    kernel: loom::sync::Mutex<Vec<Option<u32>>>,
}

impl ModelFileTable {
    /// A table of `slots` empty slots.
    pub fn new(slots: u32) -> ModelFileTable {
        ModelFileTable {
            unparker: ModelUnparker::new(),
            table: loom::sync::Mutex::new(crate::files::FileTable::new(slots)),
            kernel: loom::sync::Mutex::new(vec![None; slots as usize]),
        }
    }

    /// Owner: `Driver::register_file` — a free slot gets `file`. Panics if
    /// the slot handed out still holds a file.
    pub fn register(&self, file: u32) -> Option<u32> {
        let slot = self.table.lock().unwrap().take()?;
        let mut kernel = self.kernel.lock().unwrap();
        let held = kernel[slot as usize].replace(file);
        assert_eq!(held, None, "slot {slot} handed out while it held a file");
        Some(slot)
    }

    /// Any thread: the socket's last owner lets go (`FixedFile::drop`).
    pub fn release(&self, slot: u32) {
        self.unparker.remote.release_file(slot);
    }

    /// Owner: the flush's `clear_released_files`; returns the slots
    /// cleared. Panics if a released slot was already empty (cleared twice).
    pub fn owner_flush(&self) -> usize {
        let mut scratch = Vec::new();
        self.table
            .lock()
            .unwrap()
            .clear_released(&self.unparker.remote, &mut scratch, |slot| {
                let file = self.kernel.lock().unwrap()[slot as usize].take();
                assert!(file.is_some(), "slot {slot} cleared twice");
                true
            })
    }

    /// Owner: `Driver::park(None)` (see [`ModelUnparker::park`]).
    pub fn owner_park(&self) {
        self.unparker.park();
    }

    /// The file in `slot` now.
    pub fn file_in(&self, slot: u32) -> Option<u32> {
        self.kernel.lock().unwrap()[slot as usize]
    }
}

impl std::fmt::Debug for ModelFileTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelFileTable").finish_non_exhaustive()
    }
}

/// The completion side of a ring (`completions.rs`) without a kernel: the
/// model plays the kernel (posting CQEs into a queue), the owner (reaping
/// under the lock) and a thread that reaps for a busy owner (`Reaper`).
///
/// The queue is consumed as the real one is: the consumer reads its head,
/// copies the entries up to the tail, and stores the new head (a load and a
/// store, not a read-modify-write), so only the reap lock keeps two reapers
/// from delivering one CQE twice.
pub struct ModelRing {
    completions: crate::completions::Completions,
    /// Posted CQEs, append-only (the kernel's side of the ring).
    posted: loom::sync::Mutex<Vec<crate::completions::Cqe>>,
    /// The consumer's head.
    head: loom::sync::atomic::AtomicUsize,
    /// Signalled when a CQE is posted (the owner's waiting enter).
    posted_cv: loom::sync::Condvar,
}

/// An operation submitted on a [`ModelRing`]: its future side.
pub struct ModelOp<R: Send + 'static> {
    slot: crate::sync::Arc<Slot<R>>,
    /// The `user_data` the kernel will post its CQE with.
    pub user_data: u64,
}

impl<R: Send + 'static> ModelOp<R> {
    /// The future polls (as `Op::poll_complete`).
    pub fn poll_complete(&self, cx: &mut Context<'_>) -> Poll<(Completion, R)> {
        self.slot.poll_complete(cx)
    }
}

impl<R: Send + 'static> std::fmt::Debug for ModelOp<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelOp")
            .field("user_data", &self.user_data)
            .finish_non_exhaustive()
    }
}

impl ModelRing {
    /// A ring with nothing in flight.
    pub fn new() -> ModelRing {
        ModelRing {
            completions: crate::completions::Completions::new(8, Default::default()),
            posted: loom::sync::Mutex::new(Vec::new()),
            head: loom::sync::atomic::AtomicUsize::new(0),
            posted_cv: loom::sync::Condvar::new(),
        }
    }

    /// The owner submits an operation owning `resources` (as
    /// `Driver::submit`: the kernel takes a reference to its slot).
    pub fn submit<R: Send + 'static>(&self, resources: R) -> ModelOp<R> {
        let slot = crate::sync::Arc::new(Slot::new(resources, Orphan::Drop, None));
        let user_data = Slot::into_raw(slot.clone()).user_data();
        use crate::sync::atomic::Ordering;
        self.completions.in_flight.fetch_add(1, Ordering::AcqRel);
        self.completions.live.fetch_add(1, Ordering::AcqRel);
        ModelOp { slot, user_data }
    }

    /// The kernel posts the final CQE of `user_data` with `result`.
    pub fn post(&self, user_data: u64, result: i32) {
        self.posted.lock().unwrap().push(crate::completions::Cqe {
            user_data,
            completion: Completion { result, flags: 0 },
        });
        self.posted_cv.notify_all();
    }

    fn fetch(&self, into: &mut Vec<crate::completions::Cqe>) -> bool {
        use loom::sync::atomic::Ordering;
        // `Acquire`/`Release`: the head is the consumer's own, handed from
        // one reap-lock holder to the next (the lock orders them).
        let head = self.head.load(Ordering::Acquire);
        let posted = self.posted.lock().unwrap();
        into.extend_from_slice(&posted[head..]);
        let tail = posted.len();
        drop(posted);
        self.head.store(tail, Ordering::Release);
        false
    }

    /// The owner's harvest: waits for a reaper's batch in progress.
    pub fn owner_reap(&self) -> usize {
        let taken = self.completions.owner_acquire();
        let delivered = self.completions.reap_as_owner(|into| self.fetch(into));
        self.completions.owner_release(taken);
        delivered
    }

    /// The owner's `Driver::park(None)`: holding the turn, reaps; if
    /// nothing was delivered and an operation is still in flight, waits
    /// until a CQE is in the queue (as `io_uring_enter` with `min_complete =
    /// 1`), then reaps again. Returns the operation completions delivered.
    /// (With nothing in flight the model's owner does not wait: in the
    /// runtime, a completion a reaper delivered before the park woke its
    /// task, and scheduling that task unparks a worker.)
    pub fn owner_park(&self) -> usize {
        use loom::sync::atomic::Ordering;
        let taken = self.completions.owner_acquire();
        let mut delivered = self.completions.reap_as_owner(|into| self.fetch(into));
        if delivered == 0 && self.in_flight() > 0 {
            let mut posted = self.posted.lock().unwrap();
            while posted.len() <= self.head.load(Ordering::Acquire) {
                posted = self.posted_cv.wait(posted).unwrap();
            }
            drop(posted);
            delivered += self.completions.reap_as_owner(|into| self.fetch(into));
        }
        self.completions.owner_release(taken);
        delivered
    }

    /// Another thread's `Reaper::try_reap`: `None` if the owner is reaping.
    pub fn try_reap(&self) -> Option<usize> {
        self.completions.try_reap(|into| self.fetch(into), || false)
    }

    /// Operations whose final CQE was not delivered.
    pub fn in_flight(&self) -> usize {
        self.completions
            .live
            .load(crate::sync::atomic::Ordering::Acquire)
    }
}

impl Default for ModelRing {
    fn default() -> Self {
        ModelRing::new()
    }
}

impl std::fmt::Debug for ModelRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelRing").finish_non_exhaustive()
    }
}

/// A multishot operation as `Driver::submit_capped` (with `cap`) or
/// `Driver::submit` (without) makes it, without a ring: the real [`Op`] for
/// the future side, the kernel's reference for the model's kernel thread
/// ([`ModelKernel`], delivering CQEs through the slot's vtable as
/// `completions.rs`'s `deliver` does), the owner's view of the cancellation
/// requests ([`ModelOwner`]), and a [`ModelProbe`] on the slot. With `cap`,
/// the slot asks the owner to cancel the operation when that many
/// completions wait unread (`slot.rs`'s `Cap`); the remote's eventfd is a
/// real one, never written (nobody parks).
pub fn submit_multishot<R: Send + 'static>(
    resources: R,
    orphan: Orphan<R>,
    cap: Option<usize>,
) -> ModelMultishot<R> {
    let eventfd = crate::sys::EventFd::new().expect("eventfd for the model's remote");
    let remote = crate::sync::Arc::new(Remote::new(eventfd));
    let cap = cap.map(|limit| Cap {
        limit: limit.max(1),
        remote: remote.clone(),
    });
    let slot = crate::sync::Arc::new(Slot::new(resources, orphan, cap));
    let raw = Slot::into_raw(slot.clone());
    ModelMultishot {
        op: Op::new(slot.clone(), raw.user_data(), remote.clone()),
        kernel: ModelKernel {
            raw: Some(raw),
            user_data: raw.user_data(),
        },
        owner: ModelOwner { remote },
        probe: ModelProbe(slot),
    }
}

/// What [`submit_multishot`] returns.
#[derive(Debug)]
pub struct ModelMultishot<R: Send + 'static> {
    /// The future side (the real `Op`: dropping it in flight asks the owner
    /// for a cancel).
    pub op: Op<R>,
    /// The kernel, which holds its reference to the slot until the final
    /// CQE.
    pub kernel: ModelKernel,
    /// The owner thread's view of the cancellation requests.
    pub owner: ModelOwner,
    /// A reference to the slot, to look at it after the `Op` is gone.
    pub probe: ModelProbe<R>,
}

/// A reference to a [`submit_multishot`] operation's slot.
pub struct ModelProbe<R: Send + 'static>(crate::sync::Arc<Slot<R>>);

impl<R: Send + 'static> ModelProbe<R> {
    /// Whether the unread completions reached the cap (`Op::hit_cap`).
    pub fn hit_cap(&self) -> bool {
        self.0.hit_cap()
    }

    /// The slot's strong reference count (this probe's included): the
    /// `Op`, the kernel's until the final CQE, one per cancellation request.
    pub fn refs(&self) -> usize {
        crate::sync::Arc::strong_count(&self.0)
    }
}

impl<R: Send + 'static> std::fmt::Debug for ModelProbe<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelProbe").finish_non_exhaustive()
    }
}

/// The kernel's side of a [`submit_multishot`] operation: posts its CQEs,
/// delivered as the driver's reaper delivers them. Dropped before the final
/// CQE, it keeps the kernel's reference (the slot leaks, as it would behind
/// a ring that never completes it).
#[derive(Debug)]
pub struct ModelKernel {
    /// The kernel's reference, until the final CQE gives it back.
    raw: Option<RawSlot>,
    /// The operation's `user_data`.
    pub user_data: u64,
}

impl ModelKernel {
    /// A non-final CQE (`IORING_CQE_F_MORE`) is delivered.
    pub fn post_more(&mut self, result: i32) {
        let raw = self.raw.expect("a CQE after the final one");
        let completion = Completion {
            result,
            flags: IORING_CQE_F_MORE,
        };
        // SAFETY: the kernel's reference (`raw`) is held until the final
        // CQE, which has not been delivered (`raw` is still `Some`).
        unsafe { raw.complete(completion, true) };
    }

    /// The final CQE is delivered, and the kernel's reference given back.
    pub fn post_final(&mut self, result: i32) {
        let raw = self.raw.take().expect("two final CQEs");
        // SAFETY: as in `post_more`.
        unsafe { raw.complete(Completion { result, flags: 0 }, false) };
        // SAFETY: given back once (`raw` was taken out above), after the
        // operation's last `complete`.
        unsafe { raw.release() };
    }
}

/// The owner's view of a [`submit_multishot`] operation's ring: the
/// cancellation requests (as `Driver::process_cancels` takes them).
pub struct ModelOwner {
    remote: crate::sync::Arc<Remote>,
}

impl ModelOwner {
    /// Takes the pending cancellation requests.
    pub fn take_cancels(&self) -> Vec<ModelCancel> {
        let mut cancels = Vec::new();
        self.remote.take_cancels(&mut cancels);
        cancels.into_iter().map(ModelCancel).collect()
    }
}

impl std::fmt::Debug for ModelOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelOwner").finish_non_exhaustive()
    }
}

/// One cancellation request, as the owner finds it.
pub struct ModelCancel(CancelRequest);

impl ModelCancel {
    /// The `user_data` the `ASYNC_CANCEL` would name.
    pub fn user_data(&self) -> u64 {
        self.0.user_data
    }

    /// Whether the owner would send the `ASYNC_CANCEL` now
    /// (`Completable::awaits_cancel`).
    pub fn awaits_cancel(&self) -> bool {
        self.0.slot.awaits_cancel()
    }
}

impl std::fmt::Debug for ModelCancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelCancel")
            .field("user_data", &self.0.user_data)
            .finish_non_exhaustive()
    }
}
