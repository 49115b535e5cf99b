//! A single value that receivers watch for changes: configuration,
//! state, "the latest reading". Receivers see the latest value, not every
//! value; several sends between two looks count as one change.
//!
//! ```
//! use ringwork::sync::watch;
//!
//! # let rt = ringwork::Runtime::new().unwrap();
//! # rt.block_on(async {
//! let (tx, mut rx) = watch::channel("starting");
//! let watcher = ringwork::spawn(async move {
//!     rx.wait_for(|state| *state == "ready").await.map(|s| *s)
//! });
//! tx.send("loading").unwrap();
//! tx.send("ready").unwrap();
//! assert_eq!(watcher.await.unwrap(), Ok("ready"));
//! # });
//! ```

use super::notify::Notify;
use crate::loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A watch channel holding `initial`.
pub fn channel<T>(initial: T) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        value: parking_lot::RwLock::new(initial),
        version: AtomicU64::new(0),
        receivers: AtomicUsize::new(1),
        changed: Notify::new(),
        receivers_gone: Notify::new(),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared, seen: 0 },
    )
}

struct Shared<T> {
    value: parking_lot::RwLock<T>,
    /// `changes << 1 | CLOSED`. Bumped after each change of `value`, while
    /// still holding its write lock.
    version: AtomicU64,
    receivers: AtomicUsize,
    /// `notify_waiters` after each version bump.
    changed: Notify,
    /// `notify_waiters` when the last receiver goes.
    receivers_gone: Notify,
}

const CLOSED: u64 = 1;
const STEP: u64 = 2;

impl<T> Shared<T> {
    fn version(&self) -> u64 {
        // Acquire: pairs with the Release increment in `Sender::modify`, so
        // a receiver that sees a version sees the value written before it.
        self.version.load(Ordering::Acquire)
    }
}

/// The errors of `watch`.
pub mod error {
    use std::fmt;

    pub use crate::sync::send_error::SendError;

    /// The sender is gone: no more changes will come.
    #[derive(Debug, PartialEq, Eq, Clone, Copy)]
    pub struct RecvError(pub(super) ());

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("the watch sender was dropped")
        }
    }

    impl std::error::Error for RecvError {}
}

use error::{RecvError, SendError};

/// A read lock on the current value. Do not hold it across an `.await`:
/// the sender waits for it to go. Do not borrow twice on one thread either:
/// with a `send` waiting in between, the second borrow waits for the send,
/// which waits for the first borrow (a deadlock, as with tokio's `watch`).
pub struct Ref<'a, T> {
    guard: parking_lot::RwLockReadGuard<'a, T>,
    has_changed: bool,
}

impl<T> Ref<'_, T> {
    /// Whether this value was new to the receiver that borrowed it
    /// (`borrow_and_update` only; `false` for the sender's `borrow`).
    pub fn has_changed(&self) -> bool {
        self.has_changed
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The one writer of a watch channel. Dropping it closes the channel.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Replaces the value and notifies receivers. Fails, with the value and
    /// without storing it, if no receiver exists.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.receiver_count() == 0 {
            return Err(SendError(value));
        }
        self.send_replace(value);
        Ok(())
    }

    /// Replaces the value even with no receivers; returns the old one.
    pub fn send_replace(&self, value: T) -> T {
        let mut old = None;
        self.send_if_modified(|current| {
            old = Some(std::mem::replace(current, value));
            true
        });
        old.expect("the closure ran")
    }

    /// Modifies the value in place and notifies receivers.
    pub fn send_modify(&self, modify: impl FnOnce(&mut T)) {
        self.send_if_modified(|value| {
            modify(value);
            true
        });
    }

    /// Modifies the value in place; receivers are notified only if
    /// `modify` returns `true`. Returns what `modify` returned.
    pub fn send_if_modified(&self, modify: impl FnOnce(&mut T) -> bool) -> bool {
        let mut value = self.shared.value.write();
        if !modify(&mut value) {
            return false;
        }
        // Release: pairs with the Acquire in `Shared::version`; bumped under
        // the write lock so a reader that sees the new version and then
        // takes the read lock sees the new value.
        self.shared.version.fetch_add(STEP, Ordering::Release);
        drop(value);
        self.shared.changed.notify_waiters();
        true
    }

    /// The current value.
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            guard: self.shared.value.read(),
            has_changed: false,
        }
    }

    /// A new receiver; it counts the current value as seen.
    pub fn subscribe(&self) -> Receiver<T> {
        // Relaxed: the count is only compared with 0 by `send`/`closed`;
        // the subscriber itself is handed over by the caller.
        self.shared.receivers.fetch_add(1, Ordering::Relaxed);
        Receiver {
            seen: self.shared.version() & !CLOSED,
            shared: self.shared.clone(),
        }
    }

    /// Current number of receivers.
    pub fn receiver_count(&self) -> usize {
        // Acquire: pairs with the AcqRel decrement in `Receiver::drop`.
        self.shared.receivers.load(Ordering::Acquire)
    }

    /// Whether every receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.receiver_count() == 0
    }

    /// Resolves when every receiver is gone.
    ///
    /// Cancel safety: safe; it only observes.
    pub async fn closed(&self) {
        crate::coop::consume_budget().await;
        loop {
            let gone = self.shared.receivers_gone.notified();
            if self.is_closed() {
                return;
            }
            gone.await;
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        // Release: pairs with the Acquire in `Shared::version`.
        self.shared.version.fetch_or(CLOSED, Ordering::Release);
        self.shared.changed.notify_waiters();
    }
}

impl<T: fmt::Debug> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Sender")
            .field("value", &*self.borrow())
            .finish()
    }
}

/// Watches the value. Cloning makes a receiver that has seen what this one
/// has.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// The version (without `CLOSED`) this receiver has seen.
    seen: u64,
}

impl<T> Receiver<T> {
    /// The current value, without marking it seen.
    pub fn borrow(&self) -> Ref<'_, T> {
        let guard = self.shared.value.read();
        let has_changed = self.shared.version() & !CLOSED != self.seen;
        Ref { guard, has_changed }
    }

    /// The current value, marking it seen.
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let guard = self.shared.value.read();
        // Read under the read lock: the version cannot move while we hold
        // it (writers bump it under the write lock).
        let version = self.shared.version() & !CLOSED;
        let has_changed = version != self.seen;
        self.seen = version;
        Ref { guard, has_changed }
    }

    /// Whether the value changed since this receiver last marked it seen.
    /// `Err` once the sender is gone.
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        let version = self.shared.version();
        if version & CLOSED != 0 {
            return Err(RecvError(()));
        }
        Ok(version & !CLOSED != self.seen)
    }

    /// Marks the current value as seen.
    pub fn mark_unchanged(&mut self) {
        self.seen = self.shared.version() & !CLOSED;
    }

    /// Marks the current value as not seen: the next `changed` returns at
    /// once.
    pub fn mark_changed(&mut self) {
        self.seen = self.seen.wrapping_sub(STEP);
    }

    /// Waits for a value this receiver has not seen, and marks it seen.
    /// `Err` when the sender is gone and nothing new is left to see.
    ///
    /// Cancel safety: safe; nothing is marked seen until it resolves.
    pub async fn changed(&mut self) -> Result<(), RecvError> {
        // A change may already be there: spend budget before looking (and
        // before marking anything seen, for cancel safety).
        crate::coop::consume_budget().await;
        loop {
            // Created before the check: a change after it completes it.
            let notified = self.shared.changed.notified();
            let version = self.shared.version();
            if version & !CLOSED != self.seen {
                self.seen = version & !CLOSED;
                return Ok(());
            }
            if version & CLOSED != 0 {
                return Err(RecvError(()));
            }
            notified.await;
        }
    }

    /// Waits until the value satisfies `predicate` (checking the current
    /// value first) and returns it, marked seen. `Err` if the sender goes
    /// first.
    ///
    /// Cancel safety: safe.
    pub async fn wait_for(
        &mut self,
        mut predicate: impl FnMut(&T) -> bool,
    ) -> Result<Ref<'_, T>, RecvError> {
        crate::coop::consume_budget().await;
        loop {
            let notified = self.shared.changed.notified();
            // In its own scope so the (non-`Send`) guard is not held across
            // the `.await` below.
            let closed = {
                let guard = self.shared.value.read();
                // Under the read lock: the version matches the value tested,
                // so "closed" below means "closed, and this was the last
                // value".
                let version = self.shared.version();
                let has_changed = version & !CLOSED != self.seen;
                self.seen = version & !CLOSED;
                if predicate(&guard) {
                    return Ok(Ref { guard, has_changed });
                }
                version & CLOSED != 0
            };
            if closed {
                return Err(RecvError(()));
            }
            notified.await;
        }
    }

    /// Whether both watch the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        // Relaxed: see `Sender::subscribe`.
        self.shared.receivers.fetch_add(1, Ordering::Relaxed);
        Receiver {
            shared: self.shared.clone(),
            seen: self.seen,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // AcqRel: pairs with the Acquire in `Sender::receiver_count`.
        if self.shared.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.receivers_gone.notify_waiters();
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Receiver")
            .field("value", &*self.borrow())
            .finish()
    }
}
