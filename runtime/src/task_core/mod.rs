//! The task core: one allocation per task holding its state word, its
//! future (later its output) and its join waker, and the handles that own
//! references to it. It knows schedulers only through [`Schedule`]; the
//! public task API (`spawn`, `JoinSet`, ... in `task/`) sits above the
//! runtime and uses this.
//!
//! `raw.rs` says which handle may touch which field, and `state.rs`
//! documents every bit of the state word and each transition. Handles to a
//! task, each owning one reference:
//! - `Task`: the registry of live tasks' handle (`list.rs`);
//! - `Notified`: "poll this task"; lives in a run queue or the LIFO slot;
//! - `JoinHandle` / `AbortHandle`: the user's;
//! - `Waker`s built by `waker.rs`.

mod error;
mod harness;
mod join;
pub(crate) mod list;
mod raw;
mod state;
mod waker;

pub use error::JoinError;
pub use join::{AbortHandle, JoinHandle};

pub(crate) use raw::RawTask;

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::num::NonZeroU64;
use std::panic::Location;
use std::ptr::NonNull;

/// What a task needs from the scheduler that runs it.
pub(crate) trait Schedule: Send + Sync + Sized + 'static {
    /// Runs `task` eventually; called when it is woken.
    fn schedule(&self, task: Notified<Self>);

    /// Runs `task` after the others that are ready; called when a task was
    /// woken during its own poll (`yield_now`, an exhausted budget).
    fn yield_now(&self, task: Notified<Self>) {
        self.schedule(task);
    }

    /// Takes the completed `task` out of the registry of live tasks and
    /// returns the registry's reference, if it still had one.
    fn release(&self, task: &Task<Self>) -> Option<Task<Self>>;
}

/// An opaque, process-unique task id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(NonZeroU64);

impl Id {
    pub(crate) fn next() -> Id {
        // A plain std atomic even under loom: ids are not part of any
        // protocol, and loom atomics cannot live in statics. `Relaxed`: only
        // uniqueness matters.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Id(NonZeroU64::new(id).expect("task id counter wrapped"))
    }

    pub(crate) fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.0)
    }
}

/// The registry's handle to a task: one counted reference.
pub(crate) struct Task<S: 'static> {
    raw: RawTask,
    _scheduler: PhantomData<S>,
}

/// A task that must be polled: one counted reference, and the only one that
/// may start a poll.
pub(crate) struct Notified<S: 'static>(Task<S>);

// SAFETY: `Task` is a counted pointer to a task whose shared fields follow the
// rules in `raw.rs`; the future and output are `Send` (enforced by `new_task`)
// and `S: Schedule` is `Send + Sync`.
unsafe impl<S: Schedule> Send for Task<S> {}
// SAFETY: `&Task` only reads the header (atomics and immutable fields).
unsafe impl<S: Schedule> Sync for Task<S> {}

impl<S: 'static> Task<S> {
    /// # Safety
    /// - `raw` carries a reference this `Task` takes over, of a task whose
    ///   scheduler type is `S`.
    unsafe fn from_raw(raw: RawTask) -> Task<S> {
        Task {
            raw,
            _scheduler: PhantomData,
        }
    }

    pub(crate) fn raw(&self) -> RawTask {
        self.raw
    }

    pub(crate) fn header(&self) -> &raw::Header {
        self.raw.header()
    }

    pub(crate) fn id(&self) -> Id {
        self.header().id
    }

    pub(crate) fn spawned_at(&self) -> &'static Location<'static> {
        self.header().spawned_at
    }

    /// The task's debug record (named, or spawned in debug mode).
    pub(crate) fn debug(&self) -> Option<&std::sync::Arc<TaskDebug>> {
        self.header().debug.as_ref()
    }

    /// Its state in words, for dumps.
    pub(crate) fn state_name(&self) -> &'static str {
        self.header().state.describe()
    }

    /// Cancels the task for runtime shutdown (dropping its future here if no
    /// one is polling it); consumes this reference.
    pub(crate) fn shutdown(self) {
        let raw = self.raw;
        std::mem::forget(self);
        // SAFETY: the reference this `Task` owned is given up to `shutdown`.
        unsafe { raw.shutdown() }
    }
}

impl<S: 'static> Drop for Task<S> {
    fn drop(&mut self) {
        // SAFETY: this `Task` owns one reference, given up here.
        unsafe { self.raw.drop_reference() }
    }
}

impl<S: 'static> Notified<S> {
    /// # Safety
    /// - As for [`Task::from_raw`], and the reference is a `Notified`'s (the
    ///   state's `NOTIFIED` bit was set for it).
    unsafe fn from_raw(raw: RawTask) -> Notified<S> {
        // SAFETY: forwarded precondition.
        Notified(unsafe { Task::from_raw(raw) })
    }

    pub(crate) fn id(&self) -> Id {
        self.0.id()
    }

    pub(crate) fn task(&self) -> &Task<S> {
        &self.0
    }

    /// Gives up this `Notified` as a raw address, reference and all (for a
    /// slot that holds tasks as pointers); [`Notified::from_ptr`] takes it
    /// back.
    pub(crate) fn into_ptr(self) -> NonNull<()> {
        let ptr = self.0.raw.as_ptr().cast::<()>();
        std::mem::forget(self);
        ptr
    }

    /// # Safety
    /// - `ptr` came from [`Notified::into_ptr`] of a `Notified<S>`, and is
    ///   taken back once.
    pub(crate) unsafe fn from_ptr(ptr: NonNull<()>) -> Notified<S> {
        // SAFETY: the caller passes back the address `into_ptr` made of a
        // task's header, with the `Notified<S>`'s reference.
        let raw = unsafe { RawTask::from_raw(ptr.cast()) };
        // SAFETY: as above: the reference is a `Notified<S>`'s.
        unsafe { Notified::from_raw(raw) }
    }

    /// Polls the task once (or cancels it, or drops this stale notification).
    pub(crate) fn run(self) {
        let raw = self.0.raw;
        std::mem::forget(self);
        // SAFETY: the `Notified`'s reference is given up to the poll.
        unsafe { raw.poll() }
    }
}

impl<S: Schedule> Notified<S> {
    /// Cancels the task and drops its future on this thread: for a scheduler
    /// that can never run it (the blocking pool could start no thread).
    pub(crate) fn cancel_stranded(self) {
        // `NOTIFIED` is set (this is its `Notified`), so this only adds
        // `CANCELLED`; the poll below then drops the future instead.
        self.0.raw.state().transition_to_notified_and_cancel();
        self.run();
    }
}

impl<S: 'static> fmt::Debug for Notified<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Notified({})", self.id())
    }
}

/// What a spawn says about the task besides its future: where it was
/// spawned, its name, and whether the runtime is in debug mode.
#[derive(Clone, Debug)]
pub(crate) struct SpawnMeta {
    pub(crate) spawned_at: &'static Location<'static>,
    pub(crate) name: Option<std::sync::Arc<str>>,
    /// The runtime's debug mode (`Builder::debug`): record polls, warn
    /// about panics nobody will see.
    pub(crate) debug: bool,
}

impl SpawnMeta {
    pub(crate) fn at(spawned_at: &'static Location<'static>) -> SpawnMeta {
        SpawnMeta {
            spawned_at,
            name: None,
            debug: false,
        }
    }
}

/// A task's optional debug record, allocated only for a named task or in
/// debug mode (so that neither costs anything otherwise).
pub(crate) struct TaskDebug {
    pub(crate) name: Option<std::sync::Arc<str>>,
    pub(crate) debug: bool,
    /// When its last poll started: microseconds since `debug_epoch()`,
    /// plus one (0: never polled). Written by the polling worker;
    /// `Relaxed`: a sample for dumps, nothing is published through it.
    pub(crate) last_poll: std::sync::atomic::AtomicU64,
    /// Polls so far (`Relaxed`, as above).
    pub(crate) polls: std::sync::atomic::AtomicU64,
    /// Time spent in its polls, in total and in the longest one (`Relaxed`).
    pub(crate) poll_nanos: std::sync::atomic::AtomicU64,
    pub(crate) longest_poll_nanos: std::sync::atomic::AtomicU64,
}

/// The origin of `TaskDebug::last_poll`.
pub(crate) fn debug_epoch() -> std::time::Instant {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

impl TaskDebug {
    fn new(meta: &SpawnMeta) -> Option<std::sync::Arc<TaskDebug>> {
        (meta.name.is_some() || meta.debug).then(|| {
            std::sync::Arc::new(TaskDebug {
                name: meta.name.clone(),
                debug: meta.debug,
                last_poll: std::sync::atomic::AtomicU64::new(0),
                polls: std::sync::atomic::AtomicU64::new(0),
                poll_nanos: std::sync::atomic::AtomicU64::new(0),
                longest_poll_nanos: std::sync::atomic::AtomicU64::new(0),
            })
        })
    }

    /// Records a poll that took `nanos`.
    pub(crate) fn poll_took(&self, nanos: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.poll_nanos.fetch_add(nanos, Relaxed);
        self.longest_poll_nanos.fetch_max(nanos, Relaxed);
    }

    /// Records that a poll starts now.
    pub(crate) fn poll_starts(&self, now: std::time::Instant) {
        use std::sync::atomic::Ordering::Relaxed;
        let micros = now.saturating_duration_since(debug_epoch()).as_micros() as u64;
        self.last_poll.store(micros + 1, Relaxed);
        self.polls.fetch_add(1, Relaxed);
    }

    /// When the last poll started, if any.
    pub(crate) fn last_polled(&self) -> Option<std::time::Instant> {
        match self.last_poll.load(std::sync::atomic::Ordering::Relaxed) {
            0 => None,
            micros => Some(debug_epoch() + std::time::Duration::from_micros(micros - 1)),
        }
    }
}

/// Allocates a task for `future`, returning the registry's handle, the first
/// `Notified` and the `JoinHandle`.
pub(crate) fn new_task<F, S>(
    future: F,
    scheduler: S,
    id: Id,
    meta: SpawnMeta,
) -> (Task<S>, Notified<S>, JoinHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    let raw = RawTask::new(
        future,
        scheduler,
        id,
        meta.spawned_at,
        TaskDebug::new(&meta),
    );
    // The initial state counts exactly three references: the registry's, the
    // first `Notified`'s (with `NOTIFIED` set) and the join handle's; the task
    // was built with scheduler type `S` and output type `F::Output`.
    // SAFETY: the registry's reference (see above).
    let task = unsafe { Task::from_raw(raw) };
    // SAFETY: the first `Notified`'s reference (see above).
    let notified = unsafe { Notified::from_raw(raw) };
    // SAFETY: the join handle's reference, output type `F::Output` (see above).
    let join = unsafe { JoinHandle::new(raw) };
    (task, notified, join)
}
