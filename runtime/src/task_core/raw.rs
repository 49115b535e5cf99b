//! The task allocation and its type-erased handle.
//!
//! # Fields in the task
//!
//! A task is one heap allocation, a `#[repr(C)]` [`Cell`]: the [`Header`]
//! first (so a pointer to the cell is a pointer to the header), then the
//! [`Core`] (scheduler handle and stage), then the [`Trailer`] (join waker).
//!
//! | field | who may touch it, and when |
//! | --- | --- |
//! | `header.state` | anyone holding a reference, through `State`'s transitions |
//! | `header.vtable`, `id`, `spawned_at`, `debug` | immutable after creation (`debug`'s counters are atomics) |
//! | `header.owned_index` | the registry of live tasks, under its shard lock |
//! | `core.scheduler` | immutable after creation; read by anyone holding a reference |
//! | `core.stage` | the thread holding `RUNNING`; after `COMPLETE`, the `JoinHandle` (or, without `JOIN_INTEREST`, the completing thread), exactly once |
//! | `trailer.waker` | the `JoinHandle` while `JOIN_WAKER` is clear and the task is not complete; the task side (read only, until `COMPLETE`, then the completing thread) while `JOIN_WAKER` is set |

use super::error::JoinError;
use super::harness;
use super::state::State;
use super::{Id, Schedule};
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::AtomicUsize;
use std::future::Future;
use std::panic::Location;
use std::ptr::NonNull;
use std::task::Waker;

/// The start of every task allocation.
#[repr(C)]
pub(crate) struct Header {
    pub(super) state: State,
    pub(super) vtable: &'static Vtable,
    pub(super) id: Id,
    /// Where the task was spawned (for debug output).
    pub(super) spawned_at: &'static Location<'static>,
    /// Index of the task in its shard of the registry of live tasks.
    pub(super) owned_index: AtomicUsize,
    /// Name and poll record (named tasks, debug mode); immutable pointer.
    pub(super) debug: Option<std::sync::Arc<super::TaskDebug>>,
}

/// The monomorphised operations of one task type.
pub(super) struct Vtable {
    /// Runs one poll on behalf of the `Notified` whose reference is passed in.
    pub(super) poll: unsafe fn(NonNull<Header>),
    /// Hands a `Notified` (whose reference is already counted) to the scheduler.
    pub(super) schedule: unsafe fn(NonNull<Header>),
    /// Frees the allocation.
    pub(super) dealloc: unsafe fn(NonNull<Header>),
    /// `JoinHandle::poll`: writes `Poll<Result<T, JoinError>>` into `dst` when ready.
    pub(super) try_read_output: unsafe fn(NonNull<Header>, *mut (), &Waker),
    /// `JoinHandle::drop`.
    pub(super) drop_join_handle: unsafe fn(NonNull<Header>),
    /// Runtime shutdown: cancel the task if idle; consumes one reference.
    pub(super) shutdown: unsafe fn(NonNull<Header>),
}

/// The whole task allocation.
#[repr(C)]
pub(super) struct Cell<F: Future, S> {
    pub(super) header: Header,
    pub(super) core: Core<F, S>,
    pub(super) trailer: Trailer,
}

pub(super) struct Core<F: Future, S> {
    pub(super) scheduler: S,
    pub(super) stage: UnsafeCell<Stage<F>>,
}

/// What the task holds: the future, then its result, then nothing.
pub(super) enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

pub(super) struct Trailer {
    pub(super) waker: UnsafeCell<Option<Waker>>,
}

/// A type-erased pointer to a task. Copying it does not count a reference:
/// the owner of each copy decides what reference, if any, it stands for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawTask {
    ptr: NonNull<Header>,
}

// SAFETY: a `RawTask` is a pointer to a task whose shared fields are accessed
// only through atomics (`State`) or under the ownership rules in the module
// docs, which hold whichever thread the pointer is on. The future and output
// types are `Send` (enforced by `spawn`), so the stage may move between threads.
unsafe impl Send for RawTask {}
// SAFETY: as for `Send`: `&RawTask` only gives access to the same pointer.
unsafe impl Sync for RawTask {}

impl RawTask {
    /// Allocates a task; the state starts at `State::new()` (three references).
    pub(super) fn new<F, S>(
        future: F,
        scheduler: S,
        id: Id,
        spawned_at: &'static Location<'static>,
        debug: Option<std::sync::Arc<super::TaskDebug>>,
    ) -> RawTask
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
        S: Schedule,
    {
        let cell = Box::new(Cell {
            header: Header {
                state: State::new(),
                vtable: vtable::<F, S>(),
                id,
                spawned_at,
                owned_index: AtomicUsize::new(usize::MAX),
                debug,
            },
            core: Core {
                scheduler,
                stage: UnsafeCell::new(Stage::Running(future)),
            },
            trailer: Trailer {
                waker: UnsafeCell::new(None),
            },
        });
        let ptr = NonNull::from(Box::leak(cell)).cast::<Header>();
        RawTask { ptr }
    }

    /// The task's address (for a slot that stores tasks as pointers).
    pub(crate) fn as_ptr(self) -> NonNull<Header> {
        self.ptr
    }

    /// # Safety
    /// - `ptr` must point to the header of a live task allocation.
    pub(super) unsafe fn from_raw(ptr: NonNull<Header>) -> RawTask {
        RawTask { ptr }
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: every `RawTask` in use stands for (or borrows) a counted
        // reference, so the allocation is live; the header is never mutated
        // except through atomics.
        unsafe { self.ptr.as_ref() }
    }

    pub(super) fn state(&self) -> &State {
        &self.header().state
    }

    /// # Safety
    /// - The caller gives up the reference of a `Notified`.
    pub(super) unsafe fn poll(self) {
        // SAFETY: forwarded precondition; the vtable matches the allocation.
        unsafe { (self.header().vtable.poll)(self.ptr) }
    }

    /// # Safety
    /// - The caller gives up a reference that becomes the new `Notified`'s.
    pub(super) unsafe fn schedule(self) {
        // SAFETY: forwarded precondition; the vtable matches the allocation.
        unsafe { (self.header().vtable.schedule)(self.ptr) }
    }

    /// # Safety
    /// - The reference count reached zero and no other pointer is used again.
    pub(super) unsafe fn dealloc(self) {
        // SAFETY: forwarded precondition; the vtable matches the allocation.
        unsafe { (self.header().vtable.dealloc)(self.ptr) }
    }

    /// # Safety
    /// - Only the `JoinHandle` calls this; `dst` points to a
    ///   `Poll<Result<T, JoinError>>` where `T` is the future's output type.
    pub(super) unsafe fn try_read_output(self, dst: *mut (), waker: &Waker) {
        // SAFETY: forwarded precondition; the vtable matches the allocation.
        unsafe { (self.header().vtable.try_read_output)(self.ptr, dst, waker) }
    }

    /// # Safety
    /// - Only the `JoinHandle`'s `Drop` calls this, once; it gives up the
    ///   handle's reference.
    pub(super) unsafe fn drop_join_handle(self) {
        // SAFETY: forwarded precondition; the vtable matches the allocation.
        unsafe { (self.header().vtable.drop_join_handle)(self.ptr) }
    }

    /// # Safety
    /// - The caller gives up one reference (the registry's).
    pub(super) unsafe fn shutdown(self) {
        // SAFETY: forwarded precondition; the vtable matches the allocation.
        unsafe { (self.header().vtable.shutdown)(self.ptr) }
    }

    /// Releases one reference, freeing the task if it was the last.
    ///
    /// # Safety
    /// - The caller owns the reference it releases.
    pub(super) unsafe fn drop_reference(self) {
        if self.state().ref_dec() {
            // SAFETY: the count reached zero, so no other handle remains.
            unsafe { self.dealloc() }
        }
    }
}

fn vtable<F, S>() -> &'static Vtable
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    &Vtable {
        poll: harness::poll::<F, S>,
        schedule: harness::schedule::<F, S>,
        dealloc: harness::dealloc::<F, S>,
        try_read_output: harness::try_read_output::<F, S>,
        drop_join_handle: harness::drop_join_handle::<F, S>,
        shutdown: harness::shutdown::<F, S>,
    }
}
