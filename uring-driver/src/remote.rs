//! What other threads may touch of a driver: its [`Unparker`] and its
//! queue of cancellation requests.
//!
//! # Unpark protocol
//!
//! `state` is `EMPTY`, `PARKED` (the owner is in, or about to enter,
//! `io_uring_enter` waiting for completions) or `NOTIFIED` (a wake-up token).
//! The owner keeps a read of the eventfd pending in its ring, so a write to
//! the eventfd completes that read and ends the owner's wait.
//!
//! - `unpark`: `swap(NOTIFIED)`; only if the previous state was `PARKED` is
//!   the eventfd written — a driver that is not parked costs one atomic swap,
//!   no syscall.
//! - owner, before waiting: `CAS(EMPTY → PARKED)`; if it finds `NOTIFIED`, it
//!   consumes the token with `swap(EMPTY)` and does not wait. After waiting:
//!   `swap(EMPTY)`.
//!
//! Either the unparker's swap comes first (the owner's CAS fails and it does
//! not block) or the owner's CAS comes first (the unparker sees `PARKED` and
//! writes the eventfd, whose completion ends the wait). Both are `SeqCst`
//! read-modify-writes on one word, so one of the two orders holds.
//!
//! The owner resets the word with a swap, not a store, because the reset
//! consumes every token set so far, and the owner must then see the writes
//! each of those unparkers made before unparking (a pushed task). A second
//! unparker that finds `NOTIFIED` (or `PARKED` after the wait already ended)
//! writes nothing and relies on that. A read-modify-write reads the last
//! token, so the owner's `SeqCst` swap acquires from every unparker's
//! release swap before it; a plain store reads nothing, and the owner could
//! miss the work and wait with no write coming (the loom models in
//! `loom-tests/tests/unpark.rs` found this).

use crate::sync::atomic::{AtomicU8, Ordering};
use crate::sync::{Arc, Mutex};
use crate::sys::EventFd;
use std::fmt;

const EMPTY: u8 = 0;
const PARKED: u8 = 1;
const NOTIFIED: u8 = 2;

/// What `unpark` does to end the owner's wait: for the driver, write its
/// eventfd. The loom models substitute a condvar (`loom_api::ModelUnparker`),
/// which is why the protocol is generic over it.
pub(crate) trait WakeOwner: Send + Sync {
    fn wake_owner(&self);
}

impl WakeOwner for EventFd {
    fn wake_owner(&self) {
        self.notify();
    }
}

/// The driver's type-erased view of an operation's slot, for cancellation
/// requests.
pub(crate) trait Completable: Send + Sync {
    /// Whether the future was dropped (or the slot's cap was reached) and
    /// the final CQE has not arrived: the operation is still worth an
    /// `ASYNC_CANCEL`.
    fn awaits_cancel(&self) -> bool;
}

/// A dropped operation the owner should cancel. The slot reference keeps
/// the slot's address — its `user_data` — from being reused by another
/// operation before the owner has looked at the request (a late
/// `ASYNC_CANCEL` would otherwise hit the newcomer).
pub(crate) struct CancelRequest {
    pub(crate) user_data: u64,
    pub(crate) slot: Arc<dyn Completable>,
}

pub(crate) struct Remote<E = EventFd> {
    state: AtomicU8,
    eventfd: E,
    /// Dropped operations to cancel, pushed by any thread and drained by the
    /// owner on its next flush.
    cancels: Mutex<Vec<CancelRequest>>,
    /// Fixed-file slots whose descriptor's owner let go (`files.rs`), to
    /// be cleared by the owner on its next flush.
    released_files: Mutex<Vec<u32>>,
}

impl<E: WakeOwner> Remote<E> {
    pub(crate) fn new(eventfd: E) -> Remote<E> {
        Remote {
            state: AtomicU8::new(EMPTY),
            eventfd,
            cancels: Mutex::new(Vec::new()),
            released_files: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn eventfd(&self) -> &E {
        &self.eventfd
    }

    pub(crate) fn unpark(&self) {
        if self.state.swap(NOTIFIED, Ordering::SeqCst) == PARKED {
            self.eventfd.wake_owner();
        }
    }

    /// Owner: about to wait. `false` if a token was pending (consumed; do
    /// not wait).
    pub(crate) fn begin_park(&self) -> bool {
        match self
            .state
            .compare_exchange(EMPTY, PARKED, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => true,
            Err(_) => {
                // A swap, not a store: see the module docs.
                self.state.swap(EMPTY, Ordering::SeqCst);
                false
            }
        }
    }

    /// Owner: the wait ended (for any reason); any token is consumed.
    pub(crate) fn end_park(&self) {
        // A swap, not a store: see the module docs.
        self.state.swap(EMPTY, Ordering::SeqCst);
    }

    /// Owner: consumes a pending token without waiting.
    pub(crate) fn clear_token(&self) {
        let _ = self
            .state
            .compare_exchange(NOTIFIED, EMPTY, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Any thread: asks the owner to cancel an operation, and wakes it.
    pub(crate) fn request_cancel(&self, request: CancelRequest) {
        self.cancels.lock().push(request);
        self.unpark();
    }

    /// Any thread: asks the owner to clear a fixed-file slot, and wakes it.
    pub(crate) fn release_file(&self, slot: u32) {
        self.released_files.lock().push(slot);
        self.unpark();
    }

    /// Owner: takes the fixed-file slots to clear.
    pub(crate) fn take_released_files(&self, into: &mut Vec<u32>) {
        let mut released = self.released_files.lock();
        if !released.is_empty() {
            into.append(&mut released);
        }
    }

    /// Owner: takes the pending cancellation requests.
    pub(crate) fn take_cancels(&self, into: &mut Vec<CancelRequest>) {
        let mut cancels = self.cancels.lock();
        if !cancels.is_empty() {
            into.append(&mut cancels);
        }
    }
}

/// Wakes a driver's owner thread from any thread. Cheap when the owner is
/// not parked (no syscall).
#[derive(Clone)]
pub struct Unparker {
    pub(crate) remote: Arc<Remote>,
}

impl Unparker {
    /// Ends the owner's current or next park.
    pub fn unpark(&self) {
        self.remote.unpark();
    }
}

impl fmt::Debug for Unparker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unparker").finish_non_exhaustive()
    }
}
