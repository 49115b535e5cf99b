//! [`LifoSlot`]: the task a worker runs next — the one its running task
//! woke or spawned last — in a slot other threads can empty.
//!
//! The owner puts and takes with one atomic swap each. Another thread may
//! take the task too (the monitor, `driver/handoff.rs`, when the owner is
//! stuck in a long poll), so a child spawned by a task that then runs for
//! long is not stranded behind it: the swap hands the task to exactly one
//! of them. Putting spawned tasks here (not at the back of the local queue)
//! is what makes spawn chains cheap; taking it from a stuck worker is what
//! keeps them live.

use super::Notified;
use crate::loom::sync::atomic::{AtomicPtr, Ordering};
use std::ptr::{self, NonNull};

#[derive(Debug)]
pub(crate) struct LifoSlot {
    /// Null, or a `Notified::into_ptr` (the slot owns that reference).
    task: AtomicPtr<()>,
}

impl LifoSlot {
    pub(crate) fn new() -> LifoSlot {
        LifoSlot {
            task: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Puts `task` in; returns the task it displaces.
    pub(crate) fn put(&self, task: Notified) -> Option<Notified> {
        // `AcqRel`: the release hands the task's reference to whoever takes
        // it; the acquire receives the displaced one's.
        let prev = self.task.swap(task.into_ptr().as_ptr(), Ordering::AcqRel);
        Self::own(prev)
    }

    /// Takes the task out, from any thread.
    pub(crate) fn take(&self) -> Option<Notified> {
        // Relaxed pre-check: an empty slot (the common case) costs no
        // read-modify-write. `AcqRel` swap: pairs with `put`'s.
        if self.task.load(Ordering::Relaxed).is_null() {
            return None;
        }
        Self::own(self.task.swap(ptr::null_mut(), Ordering::AcqRel))
    }

    /// Whether a task is in the slot: a hint (the monitor may empty it at
    /// any moment; an owner that sees a task and then takes none just goes
    /// round its loop once more).
    pub(crate) fn is_empty(&self) -> bool {
        self.task.load(Ordering::Relaxed).is_null()
    }

    fn own(ptr: *mut ()) -> Option<Notified> {
        let ptr = NonNull::new(ptr)?;
        // SAFETY: non-null values of `task` come only from `put`, each a
        // `Notified::into_ptr` of this scheduler's type; the swap that
        // returned it removed it from the slot, so it is taken back once.
        Some(unsafe { Notified::from_ptr(ptr) })
    }
}

impl Drop for LifoSlot {
    fn drop(&mut self) {
        drop(self.take());
    }
}
