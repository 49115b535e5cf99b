//! Raw wakers that point at a task header.
//!
//! A `Waker` built here holds one task reference (except the one lent to a
//! poll by [`waker_ref`], which borrows the running `Notified`'s). The vtable
//! is shared by every task type: it dispatches through the header's own
//! vtable when it must schedule or free.

use super::raw::{Header, RawTask};
use super::state::TransitionToNotified;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(clone, wake_by_val, wake_by_ref, drop_waker);

/// A waker that borrows the caller's reference to the task.
pub(super) struct WakerRef {
    waker: ManuallyDrop<Waker>,
}

impl Deref for WakerRef {
    type Target = Waker;
    fn deref(&self) -> &Waker {
        &self.waker
    }
}

/// Builds a waker for the poll of the task at `ptr` without counting a
/// reference; it is never dropped, only cloned.
///
/// # Safety
/// - The caller holds a reference to the task for as long as the `WakerRef`
///   lives.
pub(super) unsafe fn waker_ref(ptr: NonNull<Header>) -> WakerRef {
    let raw = RawWaker::new(ptr.as_ptr() as *const (), &WAKER_VTABLE);
    // SAFETY: the vtable's functions uphold the `RawWaker` contract: clone
    // counts a reference, wake and drop release one, and the data pointer is
    // a live header while any of those references exist.
    let waker = unsafe { Waker::from_raw(raw) };
    WakerRef {
        waker: ManuallyDrop::new(waker),
    }
}

/// # Safety
/// - `data` is a header pointer that came from this module.
unsafe fn task(data: *const ()) -> RawTask {
    // SAFETY: `data` came from a `NonNull<Header>` in `waker_ref` or `clone`.
    let ptr = unsafe { NonNull::new_unchecked(data as *mut Header) };
    // SAFETY: the waker holds or borrows a reference, so the task is live.
    unsafe { RawTask::from_raw(ptr) }
}

unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: the waker being cloned holds or borrows a reference.
    let task = unsafe { task(data) };
    task.header().state.ref_inc();
    RawWaker::new(data, &WAKER_VTABLE)
}

unsafe fn wake_by_val(data: *const ()) {
    // The waker's own reference is kept across the scheduling call and
    // released only after it: the scheduler may run, complete and free the
    // task on another thread before `schedule` returns.
    // SAFETY: the waker being consumed holds a reference.
    unsafe { wake_by_ref(data) };
    // SAFETY: that reference is released here, once.
    unsafe { drop_waker(data) };
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: the waker holds or borrows a reference.
    let task = unsafe { task(data) };
    match task.header().state.transition_to_notified_by_ref() {
        TransitionToNotified::DoNothing => {}
        // SAFETY: the transition counted a reference for the new `Notified`.
        TransitionToNotified::Submit => unsafe { task.schedule() },
    }
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: the waker being dropped holds a reference.
    let task = unsafe { task(data) };
    // SAFETY: that reference is released here.
    unsafe { task.drop_reference() };
}
