//! Multi-producer, single-consumer queues: asyncio's `Queue` for tasks on
//! any worker.
//!
//! - [`channel`]`(capacity)`: bounded. `send().await` waits for room, so a
//!   slow consumer caps the memory producers can fill; `try_send` fails
//!   instead of waiting; [`Sender::reserve`] takes a slot first and sends
//!   later without failing.
//! - [`unbounded_channel`]: `send` never waits.
//!
//! Messages from one sender arrive in the order it sent them; each message
//! is delivered at most once, and every message accepted by `send` is
//! delivered unless the receiver is dropped. The channel closes for
//! senders when the receiver is dropped or calls `close` (messages already
//! queued can still be received), and `recv` returns `None` once every
//! sender is gone and the queue is empty.
//!
//! ```
//! use ringwork::sync::mpsc;
//!
//! # let rt = ringwork::Runtime::new().unwrap();
//! # rt.block_on(async {
//! let (tx, mut rx) = mpsc::channel(16);
//! for id in 0..3 {
//!     let tx = tx.clone();
//!     ringwork::spawn(async move {
//!         for i in 0..10 {
//!             tx.send((id, i)).await.unwrap();
//!         }
//!     });
//! }
//! drop(tx);
//! let mut got = Vec::new();
//! while let Some(message) = rx.recv().await {
//!     got.push(message);
//! }
//! assert_eq!(got.len(), 30);
//! # });
//! ```

mod chan;
mod error;

pub use error::{SendError, TryRecvError, TrySendError};

use crate::loom::sync::Arc;
use chan::{Chan, Rejected, Rx, TryRecv};
use std::fmt;
use std::task::{Context, Poll};

/// A bounded channel holding at most `capacity` messages.
///
/// # Panics
/// If `capacity` is 0 or larger than [`Semaphore::MAX_PERMITS`](crate::sync::Semaphore::MAX_PERMITS).
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "mpsc::channel needs a capacity of at least 1");
    let chan = Chan::new(Some(capacity));
    (
        Sender { chan: chan.clone() },
        Receiver { rx: Rx::new(chan) },
    )
}

/// A channel without a bound: `send` never waits.
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let chan = Chan::new(None);
    (
        UnboundedSender { chan: chan.clone() },
        UnboundedReceiver { rx: Rx::new(chan) },
    )
}

/// Sends to a bounded channel. Cloning adds a sender; the channel is
/// disconnected for the receiver when the last one is dropped.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting for room if the channel is full. Fails, with
    /// the value, if the receiver closed the channel or was dropped.
    ///
    /// Cancel safety: dropping the future before it resolves drops `value`
    /// unsent (and gives back any slot it was assigned, to the next waiting
    /// sender). To keep the value when a `select!` picks another branch,
    /// await [`reserve`](Sender::reserve) there and send through the permit.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.chan.acquire_slot().await.is_err() {
            return Err(SendError(value));
        }
        self.chan.push(value, true).map_err(|Rejected(value)| {
            self.chan.slots().release(1);
            SendError(value)
        })
    }

    /// Sends `value` if there is room now.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        match self.chan.slots().try_acquire(1) {
            Ok(()) => {}
            Err(super::batch::TryAcquire::NoPermits) => return Err(TrySendError::Full(value)),
            Err(super::batch::TryAcquire::Closed) => return Err(TrySendError::Closed(value)),
        }
        self.chan.push(value, true).map_err(|Rejected(value)| {
            self.chan.slots().release(1);
            TrySendError::Closed(value)
        })
    }

    /// Waits for a slot and holds it: [`Permit::send`] then cannot fail or
    /// wait.
    ///
    /// Cancel safety: dropping the future before it resolves loses nothing
    /// but its place in the queue of waiting senders.
    pub async fn reserve(&self) -> Result<Permit<'_, T>, SendError<()>> {
        self.chan.acquire_slot().await.map_err(|_| SendError(()))?;
        Ok(Permit { chan: &self.chan })
    }

    /// [`reserve`](Sender::reserve) that keeps the sender in the permit.
    ///
    /// Cancel safety: as for `reserve`, except that dropping the future
    /// also drops the sender it consumed.
    pub async fn reserve_owned(self) -> Result<OwnedPermit<T>, SendError<()>> {
        self.chan.acquire_slot().await.map_err(|_| SendError(()))?;
        Ok(OwnedPermit { sender: Some(self) })
    }

    /// Takes a slot if one is free now.
    pub fn try_reserve(&self) -> Result<Permit<'_, T>, TrySendError<()>> {
        match self.chan.slots().try_acquire(1) {
            Ok(()) => Ok(Permit { chan: &self.chan }),
            Err(super::batch::TryAcquire::NoPermits) => Err(TrySendError::Full(())),
            Err(super::batch::TryAcquire::Closed) => Err(TrySendError::Closed(())),
        }
    }

    /// Resolves once the receiver closed the channel or was dropped.
    ///
    /// Cancel safety: safe; it only observes.
    pub async fn closed(&self) {
        self.chan.closed().await
    }

    /// Whether the receiver closed the channel or was dropped.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// Free slots right now.
    pub fn capacity(&self) -> usize {
        self.chan.slots().available_permits()
    }

    /// The capacity the channel was created with.
    pub fn max_capacity(&self) -> usize {
        self.chan.max_capacity()
    }

    /// Whether both senders feed the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }

    /// Sends from a thread outside the runtime, blocking it while the
    /// channel is full.
    ///
    /// # Panics
    /// If called on a runtime worker or inside `block_on`.
    #[cfg(not(loom))]
    pub fn blocking_send(&self, value: T) -> Result<(), SendError<T>> {
        super::block_on_thread("mpsc::Sender::blocking_send", self.send(value))
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Sender")
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// One reserved slot in a bounded channel; dropping it unused frees the
/// slot.
#[must_use = "the slot is freed as soon as the permit is dropped"]
pub struct Permit<'a, T> {
    chan: &'a Arc<Chan<T>>,
}

impl<T> Permit<'_, T> {
    /// Sends `value` into the reserved slot. Never waits; the message is
    /// delivered unless the receiver has been dropped (then it is dropped).
    pub fn send(self, value: T) {
        let chan = self.chan;
        std::mem::forget(self);
        if chan.push(value, true).is_err() {
            chan.release_slot();
        }
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        self.chan.release_slot();
    }
}

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Permit").finish_non_exhaustive()
    }
}

/// One reserved slot, owning its sender.
#[must_use = "the slot is freed as soon as the permit is dropped"]
pub struct OwnedPermit<T> {
    /// `None` after `send`/`release`.
    sender: Option<Sender<T>>,
}

impl<T> OwnedPermit<T> {
    /// Sends `value` into the reserved slot and returns the sender.
    pub fn send(mut self, value: T) -> Sender<T> {
        let sender = self.sender.take().expect("an unused permit has its sender");
        if sender.chan.push(value, true).is_err() {
            sender.chan.release_slot();
        }
        sender
    }

    /// Frees the slot unused and returns the sender.
    pub fn release(mut self) -> Sender<T> {
        let sender = self.sender.take().expect("an unused permit has its sender");
        sender.chan.release_slot();
        sender
    }
}

impl<T> Drop for OwnedPermit<T> {
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take() {
            sender.chan.release_slot();
        }
    }
}

impl<T> fmt::Debug for OwnedPermit<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::OwnedPermit").finish_non_exhaustive()
    }
}

/// Receives from a bounded channel.
pub struct Receiver<T> {
    rx: Rx<T>,
}

/// Receives from an unbounded channel.
pub struct UnboundedReceiver<T> {
    rx: Rx<T>,
}

/// The receive-side API, identical for both flavours.
macro_rules! receiver_methods {
    ($name:literal) => {
        /// The next message; `None` once every sender is gone (or the
        /// channel was closed and all reserved slots were used or freed)
        /// and nothing is left.
        ///
        /// Cancel safety: safe. A message is taken only in the poll that
        /// returns it, so dropping the future loses nothing.
        pub async fn recv(&mut self) -> Option<T> {
            std::future::poll_fn(|cx| self.rx.poll_recv(cx)).await
        }

        /// Moves up to `limit` waiting messages into `buffer` (at least one,
        /// waiting for it if needed). Returns how many; 0 means the channel
        /// is finished (as for `recv` returning `None`), or `limit` was 0.
        ///
        /// Cancel safety: safe, as `recv`.
        pub async fn recv_many(&mut self, buffer: &mut Vec<T>, limit: usize) -> usize {
            std::future::poll_fn(|cx| self.rx.poll_recv_many(cx, buffer, limit)).await
        }

        /// Polls for the next message (for hand-written futures).
        pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
            self.rx.poll_recv(cx)
        }

        /// Takes a waiting message without waiting.
        pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
            match self.rx.try_recv() {
                TryRecv::Value(v) => Ok(v),
                TryRecv::Empty => Err(TryRecvError::Empty),
                TryRecv::Disconnected => Err(TryRecvError::Disconnected),
            }
        }

        /// Closes the channel for senders (waiting and later sends fail);
        /// messages already sent, and those sent through permits reserved
        /// before, can still be received.
        pub fn close(&mut self) {
            self.rx.close();
        }

        /// Whether the channel was closed (by `close`).
        pub fn is_closed(&self) -> bool {
            self.rx.chan.is_closed()
        }

        /// Messages waiting to be received.
        pub fn len(&self) -> usize {
            self.rx.len()
        }

        /// Whether no message is waiting.
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }

        /// Waits for the next message from a thread outside the runtime.
        ///
        /// # Panics
        /// If called on a runtime worker or inside `block_on`.
        #[cfg(not(loom))]
        pub fn blocking_recv(&mut self) -> Option<T> {
            super::block_on_thread($name, self.recv())
        }
    };
}

impl<T> Receiver<T> {
    receiver_methods!("mpsc::Receiver::blocking_recv");
}

impl<T> UnboundedReceiver<T> {
    receiver_methods!("mpsc::UnboundedReceiver::blocking_recv");
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Receiver").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for UnboundedReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::UnboundedReceiver")
            .finish_non_exhaustive()
    }
}

/// Sends to an unbounded channel.
pub struct UnboundedSender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> UnboundedSender<T> {
    /// Queues `value`. Fails, with the value, if the receiver closed the
    /// channel or was dropped. Never waits.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.chan
            .push(value, false)
            .map_err(|Rejected(value)| SendError(value))
    }

    /// Resolves once the receiver closed the channel or was dropped.
    ///
    /// Cancel safety: safe; it only observes.
    pub async fn closed(&self) {
        self.chan.closed().await
    }

    /// Whether the receiver closed the channel or was dropped.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// Whether both senders feed the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        UnboundedSender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for UnboundedSender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> fmt::Debug for UnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::UnboundedSender")
            .field("closed", &self.is_closed())
            .finish()
    }
}
