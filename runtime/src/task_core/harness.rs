//! The monomorphised task operations behind the vtable: poll, complete,
//! cancel, the join-handle side, and freeing.
//!
//! Each function starts from a raw header pointer and the caller's promise of
//! which reference it holds (see each `# Safety`), and follows the ownership
//! table in `raw.rs`.

use super::error::JoinError;
use super::raw::{Cell, Core, Header, RawTask, Stage, Trailer};
use super::state::{Snapshot, TransitionToIdle, TransitionToRunning};
use super::waker::waker_ref;
use super::{Id, Notified, Schedule, Task};
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

/// Drops the result of a `catch_unwind` without letting a panic payload's
/// own `Drop` unwind (a payload that panics when dropped is leaked).
fn discard<T>(result: std::thread::Result<T>) {
    if let Err(payload) = result {
        if let Err(second) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            std::mem::forget(second);
        }
    }
}

/// Borrows the typed cell behind `ptr`.
///
/// # Safety
/// - `ptr` points to a live `Cell<F, S>` (the vtable it came from was built
///   for exactly these types, and the caller holds a reference).
unsafe fn cell<'a, F: Future, S>(ptr: NonNull<Header>) -> &'a Cell<F, S> {
    // SAFETY: `Cell` is `repr(C)` with the header first, so the header pointer
    // is the cell pointer; liveness and type are the caller's promise.
    unsafe { ptr.cast::<Cell<F, S>>().as_ref() }
}

impl<F: Future, S> Core<F, S> {
    /// Polls the future. Stores the result when it is ready or panics.
    ///
    /// # Safety
    /// - The caller holds `RUNNING` and the stage is `Running`.
    unsafe fn poll(&self, id: Id, cx: &mut Context<'_>) -> Poll<()> {
        let polled = panic::catch_unwind(AssertUnwindSafe(|| {
            self.stage.with_mut(|stage| {
                // SAFETY: `RUNNING` gives this thread exclusive access to the
                // stage; the future is never moved out of the allocation, so
                // pinning it in place is sound.
                let stage = unsafe { &mut *stage };
                let Stage::Running(future) = stage else {
                    unreachable!("task polled after it finished");
                };
                // SAFETY: see above: the future stays at this address until
                // it is dropped in place by `set_stage`.
                let future = unsafe { std::pin::Pin::new_unchecked(future) };
                future.poll(cx)
            })
        }));
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => {
                // SAFETY: caller's precondition (RUNNING).
                unsafe { self.finish(id, Ok(output)) };
                Poll::Ready(())
            }
            Err(payload) => {
                // SAFETY: caller's precondition (RUNNING).
                unsafe { self.finish(id, Err(JoinError::panic(id, payload))) };
                Poll::Ready(())
            }
        }
    }

    /// Drops the future (catching a panic from its `Drop`) and stores `result`;
    /// a panic while dropping the future replaces the result.
    ///
    /// # Safety
    /// - The caller holds `RUNNING`.
    unsafe fn finish(&self, id: Id, result: Result<F::Output, JoinError>) {
        // SAFETY: caller's precondition.
        let dropped = panic::catch_unwind(AssertUnwindSafe(|| unsafe {
            self.set_stage(Stage::Consumed)
        }));
        let result = match dropped {
            Ok(()) => result,
            Err(payload) => {
                // The output's own `Drop` may panic as well; that one is lost.
                discard(panic::catch_unwind(AssertUnwindSafe(move || drop(result))));
                Err(JoinError::panic(id, payload))
            }
        };
        // SAFETY: caller's precondition; dropping `Consumed` cannot panic.
        unsafe { self.set_stage(Stage::Finished(result)) };
    }

    /// Drops whatever the stage holds and replaces it. Assignment stores the
    /// new value even if dropping the old one panics, so a panicking future
    /// `Drop` cannot cause a second drop.
    ///
    /// # Safety
    /// - The caller has exclusive access to the stage (see the table in `raw.rs`).
    unsafe fn set_stage(&self, stage: Stage<F>) {
        // SAFETY: exclusive access is the caller's precondition.
        self.stage.with_mut(|ptr| unsafe { *ptr = stage });
    }

    /// Drops the stored output, catching a panic from its `Drop`.
    ///
    /// # Safety
    /// - The caller has exclusive access to the stage.
    unsafe fn drop_output(&self) {
        // SAFETY: caller's precondition.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| unsafe {
            self.set_stage(Stage::Consumed)
        }));
    }

    /// Debug mode: the output about to be dropped unread is a panic, so
    /// nobody will ever see it (asyncio's "exception was never
    /// retrieved"): say so.
    ///
    /// # Safety
    /// - The caller has exclusive access to the stage.
    #[inline]
    unsafe fn report_unseen_panic(&self, header: &Header) {
        if header.debug.as_ref().is_some_and(|d| d.debug) {
            // SAFETY: forwarded precondition.
            unsafe { self.report_unseen_panic_slow(header) };
        }
    }

    /// # Safety
    /// - As for `report_unseen_panic`.
    #[cold]
    #[inline(never)]
    unsafe fn report_unseen_panic_slow(&self, header: &Header) {
        self.stage.with(|ptr| {
            // SAFETY: caller's precondition (a shared read of the stage).
            if let Stage::Finished(Err(err)) = unsafe { &*ptr } {
                if err.is_panic() {
                    let name = header.debug.as_ref().and_then(|d| d.name.as_deref());
                    tracing::warn!(
                        task.id = %header.id,
                        task.name = name.unwrap_or("-"),
                        spawned_at = %header.spawned_at,
                        "task {} ({}, spawned at {}) panicked and its JoinHandle was dropped \
                         without reading the result: nobody will see this panic: {err}",
                        header.id,
                        name.unwrap_or("unnamed"),
                        header.spawned_at,
                    );
                }
            }
        });
    }

    /// Moves the result out of the stage.
    ///
    /// # Safety
    /// - The caller is the `JoinHandle`, the task is `COMPLETE`, and the result
    ///   was not taken before.
    unsafe fn take_output(&self) -> Result<F::Output, JoinError> {
        self.stage.with_mut(|ptr| {
            // SAFETY: after `COMPLETE`, the join handle owns the stage.
            match std::mem::replace(unsafe { &mut *ptr }, Stage::Consumed) {
                Stage::Finished(result) => result,
                _ => panic!("JoinHandle polled after it returned Ready"),
            }
        })
    }
}

impl Trailer {
    /// # Safety
    /// - The caller owns the waker field (see the table in `raw.rs`).
    unsafe fn set_waker(&self, waker: Option<Waker>) {
        // SAFETY: caller's precondition.
        self.waker.with_mut(|ptr| unsafe { *ptr = waker });
    }

    /// # Safety
    /// - The field is not written concurrently: either the caller owns it, or
    ///   `JOIN_WAKER` is set and the handle is alive (the task side only reads).
    unsafe fn will_wake(&self, waker: &Waker) -> bool {
        // SAFETY: caller's precondition.
        self.waker
            .with(|ptr| unsafe { (*ptr).as_ref() }.is_some_and(|w| w.will_wake(waker)))
    }

    /// # Safety
    /// - As for `will_wake`.
    unsafe fn wake_join(&self) {
        // SAFETY: caller's precondition.
        self.waker.with(|ptr| match unsafe { (*ptr).as_ref() } {
            Some(waker) => waker.wake_by_ref(),
            None => unreachable!("JOIN_WAKER set without a waker"),
        });
    }
}

/// Runs one poll of the task.
///
/// # Safety
/// - `ptr` is a live `Cell<F, S>` and the caller gives up a `Notified`'s reference.
pub(super) unsafe fn poll<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: caller's precondition.
    let cell = unsafe { cell::<F, S>(ptr) };
    // SAFETY: caller's precondition: `ptr` is live.
    let raw = unsafe { RawTask::from_raw(ptr) };
    let header = &cell.header;
    match header.state.transition_to_running() {
        TransitionToRunning::Success => {
            // SAFETY: the running `Notified`'s reference outlives the waker.
            let waker = unsafe { waker_ref(ptr) };
            let mut cx = Context::from_waker(&waker);
            // SAFETY: the transition gave us `RUNNING` and the stage is
            // `Running` (only completion replaces it, and that ends `RUNNING`).
            if unsafe { cell.core.poll(header.id, &mut cx) }.is_ready() {
                // SAFETY: we hold `RUNNING` and a `Notified` reference.
                unsafe { complete::<F, S>(ptr) };
                return;
            }
            match header.state.transition_to_idle() {
                TransitionToIdle::Ok => {}
                TransitionToIdle::OkDealloc => {
                    // SAFETY: the count reached zero.
                    unsafe { dealloc::<F, S>(ptr) };
                }
                TransitionToIdle::OkNotified => {
                    // SAFETY: the transition counted a reference for the new
                    // `Notified`, of a task with scheduler type `S`.
                    let task = unsafe { Notified::<S>::from_raw(raw) };
                    cell.core.scheduler.yield_now(task);
                    // Only now let go of the running reference: another worker
                    // may already have run the task to completion.
                    // SAFETY: we give up the running `Notified`'s reference.
                    unsafe { raw.drop_reference() };
                }
                TransitionToIdle::Cancelled => {
                    // SAFETY: we still hold `RUNNING` and a `Notified` reference.
                    unsafe { cancel_and_complete::<F, S>(ptr) };
                }
            }
        }
        TransitionToRunning::Cancelled => {
            // SAFETY: we hold `RUNNING` and a `Notified` reference.
            unsafe { cancel_and_complete::<F, S>(ptr) };
        }
        TransitionToRunning::Failed => {
            // SAFETY: we give up the `Notified`'s reference.
            unsafe { raw.drop_reference() };
        }
    }
}

/// Drops the future, stores `JoinError::Cancelled`, completes.
///
/// # Safety
/// - The caller holds `RUNNING` and one reference it gives up.
unsafe fn cancel_and_complete<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: caller's precondition.
    let cell = unsafe { cell::<F, S>(ptr) };
    let id = cell.header.id;
    // SAFETY: `RUNNING` is held.
    unsafe { cell.core.finish(id, Err(JoinError::cancelled(id))) };
    // SAFETY: `RUNNING` and one reference are held.
    unsafe { complete::<F, S>(ptr) };
}

/// Publishes completion: wakes or cleans up for the join handle, leaves the
/// registry of live tasks, releases references.
///
/// # Safety
/// - The stage holds `Finished`; the caller holds `RUNNING` and one reference
///   (a `Notified`'s, or the registry's during shutdown) that it gives up.
unsafe fn complete<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: caller's precondition.
    let cell = unsafe { cell::<F, S>(ptr) };
    let snapshot = cell.header.state.transition_to_complete();
    // A panicking join waker must not unwind through the scheduler.
    let woken = panic::catch_unwind(AssertUnwindSafe(|| {
        if !snapshot.is_join_interested() {
            // SAFETY: without a join handle, the completing thread owns the
            // output; no one else will read it.
            unsafe { cell.core.report_unseen_panic(&cell.header) };
            // SAFETY: as above.
            unsafe { cell.core.drop_output() };
        } else if snapshot.has_join_waker() {
            // SAFETY: `JOIN_WAKER` is set: the task side owns the field.
            unsafe { cell.trailer.wake_join() };
            let after = cell.header.state.unset_join_waker_after_complete();
            if !after.is_join_interested() {
                // SAFETY: the handle is gone and left the waker to us.
                unsafe { cell.trailer.set_waker(None) };
            }
        }
    }));
    discard(woken);

    // SAFETY: `ptr` is live (we hold a reference); the `Task` only borrows
    // that reference (it is never dropped), so the count stays right.
    let raw = unsafe { RawTask::from_raw(ptr) };
    // SAFETY: as above; the scheduler type is `S` (the vtable's).
    let me = std::mem::ManuallyDrop::new(unsafe { Task::<S>::from_raw(raw) });
    let released = cell.core.scheduler.release(&me);
    let count = if released.is_some() { 2 } else { 1 };
    // The registry's reference (if it still had one) is released below with ours.
    std::mem::forget(released);
    if cell.header.state.ref_dec_many(count) {
        // SAFETY: the count reached zero.
        unsafe { dealloc::<F, S>(ptr) };
    }
}

/// Submits a `Notified` whose reference the caller already counted.
///
/// # Safety
/// - `ptr` is a live `Cell<F, S>`; the caller gives up one reference.
pub(super) unsafe fn schedule<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: caller's precondition.
    let cell = unsafe { cell::<F, S>(ptr) };
    // SAFETY: caller's precondition: `ptr` is live.
    let raw = unsafe { RawTask::from_raw(ptr) };
    // SAFETY: the given-up reference becomes the `Notified`'s.
    let task = unsafe { Notified::<S>::from_raw(raw) };
    cell.core.scheduler.schedule(task);
}

/// Frees the allocation.
///
/// # Safety
/// - `ptr` is a `Cell<F, S>` whose reference count reached zero.
pub(super) unsafe fn dealloc<F: Future, S>(ptr: NonNull<Header>) {
    // SAFETY: the allocation came from `Box::new` in `RawTask::new`, and no
    // other reference exists, so rebuilding and dropping the box is the unique
    // free. Dropping it drops whatever the stage and trailer still hold.
    drop(unsafe { Box::from_raw(ptr.cast::<Cell<F, S>>().as_ptr()) });
}

/// `JoinHandle::poll`.
///
/// # Safety
/// - `ptr` is a live `Cell<F, S>`; the caller is its `JoinHandle`; `dst`
///   points to a `Poll<Result<F::Output, JoinError>>`.
pub(super) unsafe fn try_read_output<F: Future, S>(
    ptr: NonNull<Header>,
    dst: *mut (),
    waker: &Waker,
) {
    // SAFETY: caller's precondition.
    let cell = unsafe { cell::<F, S>(ptr) };
    // SAFETY: the caller is the join handle.
    if unsafe { can_read_output(&cell.header, &cell.trailer, waker) } {
        // SAFETY: `COMPLETE` is set and the join handle owns the stage.
        let output = unsafe { cell.core.take_output() };
        // SAFETY: `dst` points to a `Poll<Result<F::Output, JoinError>>`
        // (caller's precondition).
        unsafe { *dst.cast::<Poll<Result<F::Output, JoinError>>>() = Poll::Ready(output) };
    }
}

/// Decides whether the output is ready; if not, makes sure `waker` will be
/// woken at completion.
///
/// # Safety
/// - The caller is the task's `JoinHandle`.
unsafe fn can_read_output(header: &Header, trailer: &Trailer, waker: &Waker) -> bool {
    let snapshot = header.state.load();
    debug_assert!(snapshot.is_join_interested());
    if snapshot.is_complete() {
        return true;
    }
    let outcome = if snapshot.has_join_waker() {
        // SAFETY: the task side only reads the field while the handle lives.
        if unsafe { trailer.will_wake(waker) } {
            return false;
        }
        header
            .state
            .unset_join_waker()
            // SAFETY: `unset_join_waker` succeeded: the handle owns the field.
            .and_then(|_| unsafe { install_join_waker(header, trailer, waker.clone()) })
    } else {
        // SAFETY: `JOIN_WAKER` is clear: the handle owns the field.
        unsafe { install_join_waker(header, trailer, waker.clone()) }
    };
    match outcome {
        Ok(_) => false,
        Err(snapshot) => {
            debug_assert!(snapshot.is_complete());
            true
        }
    }
}

/// Writes the join waker, then hands the field to the task side.
///
/// # Safety
/// - The caller (the join handle) owns the waker field.
unsafe fn install_join_waker(
    header: &Header,
    trailer: &Trailer,
    waker: Waker,
) -> Result<Snapshot, Snapshot> {
    // SAFETY: caller's precondition.
    unsafe { trailer.set_waker(Some(waker)) };
    let result = header.state.set_join_waker();
    if result.is_err() {
        // The task completed first: the field stays ours; clear it.
        // SAFETY: `set_join_waker` failed, so ownership did not move.
        unsafe { trailer.set_waker(None) };
    }
    result
}

/// `JoinHandle::drop`.
///
/// # Safety
/// - `ptr` is a live `Cell<F, S>`; the caller is its `JoinHandle` and gives up
///   the handle's reference.
pub(super) unsafe fn drop_join_handle<F: Future, S>(ptr: NonNull<Header>) {
    // SAFETY: caller's precondition.
    let cell = unsafe { cell::<F, S>(ptr) };
    let prev = cell.header.state.transition_to_join_handle_dropped();
    if prev.is_complete() {
        // SAFETY: completed with `JOIN_INTEREST` set: the output is ours.
        unsafe { cell.core.report_unseen_panic(&cell.header) };
        // SAFETY: as above.
        unsafe { cell.core.drop_output() };
    }
    if !prev.is_complete() || !prev.has_join_waker() {
        // The field is ours: either the transition cleared `JOIN_WAKER` (not
        // complete), or the completing thread already gave the field back.
        // Clearing it here means freeing the task never runs a user waker's
        // `Drop` on whatever thread lets go last.
        // SAFETY: see above.
        discard(panic::catch_unwind(AssertUnwindSafe(|| unsafe {
            cell.trailer.set_waker(None)
        })));
    }
    // SAFETY: caller's precondition: `ptr` is live.
    let raw = unsafe { RawTask::from_raw(ptr) };
    // SAFETY: we give up the join handle's reference.
    unsafe { raw.drop_reference() };
}

/// Cancels the task for runtime shutdown if no one is polling it.
///
/// # Safety
/// - `ptr` is a live `Cell<F, S>`; the caller gives up one reference.
pub(super) unsafe fn shutdown<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: caller's precondition.
    let cell = unsafe { cell::<F, S>(ptr) };
    if cell.header.state.transition_to_shutdown() {
        // SAFETY: we took `RUNNING`; we hold the given-up reference.
        unsafe { cancel_and_complete::<F, S>(ptr) };
    } else {
        // Running elsewhere (its poller will cancel it) or already complete.
        // SAFETY: caller's precondition: `ptr` is live.
        let raw = unsafe { RawTask::from_raw(ptr) };
        // SAFETY: we give up our reference.
        unsafe { raw.drop_reference() };
    }
}
