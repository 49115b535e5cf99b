//! The op slot's and the unparker's protocols, exposed to the loom models in
//! `loom-tests/` only under `--cfg loom`. Not part of the public API.

use crate::remote::{Remote, WakeOwner};
use crate::slot::{Completable, DropOutcome, Slot};
pub use crate::slot::{Completion, Orphan};
use std::task::{Context, Poll};

/// An op slot without a ring: the model plays the kernel.
#[derive(Debug)]
pub struct ModelSlot<R: Send + 'static>(Slot<R>);

impl<R: Send + 'static> ModelSlot<R> {
    /// A slot holding `resources`, as `Driver::submit` makes it.
    pub fn new(resources: R) -> Self {
        ModelSlot(Slot::new(resources, Orphan::Drop))
    }

    /// A slot whose orphaned completion goes to `keep` (`Orphan::Keep`).
    pub fn with_keep(resources: R, keep: fn(Completion, R)) -> Self {
        ModelSlot(Slot::new(resources, Orphan::Keep(keep)))
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
