//! [`JoinHandle`] and [`AbortHandle`].

use super::error::JoinError;
use super::raw::RawTask;
use super::Id;
use crate::coop;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

/// An owned permission to await a spawned task's output.
///
/// Awaiting it yields `Ok(output)`, or a [`JoinError`] when the task was
/// cancelled or panicked. Dropping it *detaches* the task: the task keeps
/// running and its output is dropped when it finishes.
///
/// `JoinHandle` is cancel safe: dropping the `.await` loses nothing; the
/// output stays in the task until the handle is polled again or dropped.
pub struct JoinHandle<T> {
    raw: RawTask,
    _output: PhantomData<T>,
}

// SAFETY: the handle moves `T` out of the task, possibly on another thread
// than the one that produced it, so `T: Send` is required; the task itself is
// shared through atomics (see `raw.rs`).
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: `&JoinHandle` only allows `abort`, `is_finished` and `id`, which
// touch the atomic state word, never `T`.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    /// # Safety
    /// - `raw` carries the join handle's reference of a task whose output is `T`.
    pub(super) unsafe fn new(raw: RawTask) -> JoinHandle<T> {
        JoinHandle {
            raw,
            _output: PhantomData,
        }
    }

    /// Requests cancellation. The task's future is dropped on a worker the
    /// next time it would be polled (immediately if it is idle; after the
    /// current poll if it is running), and awaiting this handle then yields
    /// [`JoinError::is_cancelled`]. Aborting a finished task does nothing;
    /// the output remains readable.
    pub fn abort(&self) {
        remote_abort(self.raw);
    }

    /// Whether the task has finished (returned, panicked or was cancelled).
    pub fn is_finished(&self) -> bool {
        self.raw.state().load().is_complete()
    }

    /// A handle that can abort the task without owning its output.
    pub fn abort_handle(&self) -> AbortHandle {
        self.raw.state().ref_inc();
        AbortHandle { raw: self.raw }
    }

    /// The task's id.
    pub fn id(&self) -> Id {
        self.raw.header().id
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let progress = std::task::ready!(coop::poll_proceed(cx));
        let mut out: Poll<Result<T, JoinError>> = Poll::Pending;
        // SAFETY: this is the task's join handle, and `out` has the type the
        // task's vtable writes (`T` is the future's output type by `new`).
        unsafe {
            self.raw.try_read_output(
                &mut out as *mut Poll<Result<T, JoinError>> as *mut (),
                cx.waker(),
            )
        };
        if out.is_ready() {
            progress.made_progress();
        }
        out
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        // SAFETY: this is the join handle, dropped once; it gives up its reference.
        unsafe { self.raw.drop_join_handle() }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// A cloneable handle that cancels a task without awaiting it.
pub struct AbortHandle {
    raw: RawTask,
}

// SAFETY: an `AbortHandle` only touches the task's atomic state word and
// schedules it; it never touches the future or its output.
unsafe impl Send for AbortHandle {}
// SAFETY: as for `Send`.
unsafe impl Sync for AbortHandle {}

impl AbortHandle {
    /// Requests cancellation; see [`JoinHandle::abort`].
    pub fn abort(&self) {
        remote_abort(self.raw);
    }

    /// Whether the task has finished.
    pub fn is_finished(&self) -> bool {
        self.raw.state().load().is_complete()
    }

    /// The task's id.
    pub fn id(&self) -> Id {
        self.raw.header().id
    }
}

impl Clone for AbortHandle {
    fn clone(&self) -> AbortHandle {
        self.raw.state().ref_inc();
        AbortHandle { raw: self.raw }
    }
}

impl Drop for AbortHandle {
    fn drop(&mut self) {
        // SAFETY: the abort handle gives up its own reference.
        unsafe { self.raw.drop_reference() }
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle")
            .field("id", &self.id())
            .field("finished", &self.is_finished())
            .finish()
    }
}

fn remote_abort(raw: RawTask) {
    if raw.state().transition_to_notified_and_cancel() {
        // SAFETY: the transition counted a reference for the new `Notified`,
        // which a worker will run to drop the future.
        unsafe { raw.schedule() };
    }
}
