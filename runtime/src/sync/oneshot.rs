//! A channel for exactly one value: asyncio's `Future` handed between
//! tasks.
//!
//! ```
//! use ringwork::sync::oneshot;
//!
//! # let rt = ringwork::Runtime::new().unwrap();
//! # rt.block_on(async {
//! let (tx, rx) = oneshot::channel();
//! ringwork::spawn(async move {
//!     tx.send(6 * 7).unwrap();
//! });
//! assert_eq!(rx.await, Ok(42));
//!
//! let (tx, rx) = oneshot::channel::<u8>();
//! drop(tx);
//! assert!(rx.await.is_err()); // the sender went away without sending
//! # });
//! ```
//!
//! Both ends notice when the other is gone: the receiver gets
//! [`RecvError`] when the sender is dropped unsent, and the sender can ask
//! [`Sender::is_closed`] or await [`Sender::closed`] to stop working on a
//! value nobody will receive.
//!
//! # The protocol
//!
//! One state word and three cells: the value, the receiver's waker and the
//! sender's waker. Each cell has one writer, and the word says when the
//! other side may read it:
//! - `value` is the sender's until it sets `TX_DONE` (with `VALUE`), then
//!   the receiver's.
//! - `rx_waker` is written by the receiver only while `RX_WAKER` is clear
//!   (it clears the bit first to replace a waker); the sender reads it, to
//!   wake it, only if the read-modify-write that set `TX_DONE` found
//!   `RX_WAKER` set. Those two read-modify-writes are ordered, so either the
//!   sender sees the bit and the receiver sees `TX_DONE` (and stops touching
//!   the cell), or the sender does not look.
//! - `tx_waker` mirrors that with `TX_WAKER` and `RX_CLOSED`.
//!
//! A send is one compare-and-swap plus the wake-up; a ready receive is one
//! load. All read-modify-writes are `AcqRel` and loads `Acquire`: the value
//! and wakers are published by the Release of the bit that announces them.

use crate::coop;
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::Arc;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// The sender finished: it sent (then `VALUE` is set too) or was dropped.
const TX_DONE: usize = 0b00001;
/// The value is in `value` (set together with `TX_DONE`).
const VALUE: usize = 0b00010;
/// The receiver closed the channel or was dropped: `send` fails.
const RX_CLOSED: usize = 0b00100;
/// `rx_waker` holds the receiver's waker, for the sender to wake.
const RX_WAKER: usize = 0b01000;
/// `tx_waker` holds the sender's waker (`closed`), for the receiver to wake.
const TX_WAKER: usize = 0b10000;

struct Inner<T> {
    state: AtomicUsize,
    value: UnsafeCell<Option<T>>,
    rx_waker: UnsafeCell<Option<Waker>>,
    tx_waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the cells are accessed by the rules in the module docs (one writer
// each, hand-over through the state word); the value moves from the sender's
// thread to the receiver's, hence `T: Send`.
unsafe impl<T: Send> Send for Inner<T> {}
// SAFETY: as for `Send`; shared access never touches a cell outside those
// rules.
unsafe impl<T: Send> Sync for Inner<T> {}

impl<T> Inner<T> {
    /// Registers `waker` in `slot`, the cell announced by `bit`, unless the
    /// other side has set `done`. Returns `false` if it saw `done` (the
    /// caller then re-reads the state instead of waiting).
    ///
    /// # Safety
    /// - Only the side that owns `slot` (the receiver for `rx_waker`, the
    ///   sender for `tx_waker`) calls this for it, never concurrently.
    unsafe fn register(
        &self,
        slot: &UnsafeCell<Option<Waker>>,
        bit: usize,
        done: usize,
        waker: &Waker,
    ) -> bool {
        let state = self.state.load(Ordering::Acquire);
        if state & done != 0 {
            return false;
        }
        if state & bit != 0 {
            // SAFETY: only this side writes the slot, and it is not writing
            // now (precondition); the other side may be reading it too,
            // which is fine for a shared read.
            let same = slot.with(|p| unsafe { &*p }.as_ref().is_some_and(|w| w.will_wake(waker)));
            if same {
                return true;
            }
            // Take the slot back before writing it. AcqRel: pairs with the
            // other side's RMW that sets `done` (see the module docs).
            if self.state.fetch_and(!bit, Ordering::AcqRel) & done != 0 {
                return false;
            }
        }
        // SAFETY: `bit` is clear and `done` was not set when we cleared or
        // found it clear, so the other side will not read the slot until it
        // sees `bit` again; only this side writes it (precondition).
        slot.with_mut(|p| unsafe { *p = Some(waker.clone()) });
        // AcqRel: Release publishes the waker to the other side's RMW that
        // sets `done`; Acquire pairs with that RMW if it came first.
        self.state.fetch_or(bit, Ordering::AcqRel) & done == 0
    }

    /// Wakes the waker in `slot`.
    ///
    /// # Safety
    /// - The caller's read-modify-write that set the other side's `done`
    ///   bit returned a state with this slot's bit set.
    unsafe fn wake(slot: &UnsafeCell<Option<Waker>>) {
        slot.with(|p| {
            // SAFETY: by the precondition the owner wrote the slot before
            // setting its bit (published by that Release) and will not write
            // it again now that it sees `done`.
            if let Some(waker) = unsafe { &*p } {
                waker.wake_by_ref();
            }
        });
    }

    /// Takes the value.
    ///
    /// # Safety
    /// - Called by the receiver after observing `TX_DONE | VALUE`, once.
    unsafe fn take_value(&self) -> T {
        // SAFETY: after `TX_DONE` the sender never touches `value` again,
        // and the Acquire that observed it makes the write visible.
        self.value
            .with_mut(|p| unsafe { (*p).take() })
            .expect("VALUE is set only after the value is written")
    }
}

/// Creates a one-value channel.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Inner {
        state: AtomicUsize::new(0),
        value: UnsafeCell::new(None),
        rx_waker: UnsafeCell::new(None),
        tx_waker: UnsafeCell::new(None),
    });
    (
        Sender {
            inner: Some(inner.clone()),
        },
        Receiver { inner: Some(inner) },
    )
}

/// The sending end; [`send`](Sender::send) consumes it.
pub struct Sender<T> {
    /// `None` once sent.
    inner: Option<Arc<Inner<T>>>,
}

/// The receiving end; a future of the value.
///
/// Cancel safety: dropping the `.await` loses nothing: awaiting the
/// receiver again (or `try_recv`) still yields the value.
///
/// Polling it again after it resolved panics (it is consumed by then, as
/// with any future).
pub struct Receiver<T> {
    /// `None` once the value (or the error) was delivered.
    inner: Option<Arc<Inner<T>>>,
}

/// The sender was dropped without sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError(());

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the oneshot sender was dropped without sending")
    }
}

impl std::error::Error for RecvError {}

/// Why [`Receiver::try_recv`] returned no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing sent yet; the sender still exists.
    Empty,
    /// The sender was dropped without sending, or the value was already
    /// received.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("no value sent yet"),
            TryRecvError::Closed => f.write_str("the oneshot channel is closed"),
        }
    }
}

impl std::error::Error for TryRecvError {}

impl<T> Sender<T> {
    /// Sends `value`. Fails, handing `value` back, if the receiver was
    /// dropped or closed.
    pub fn send(mut self, value: T) -> Result<(), T> {
        let inner = self.inner.take().expect("an unsent Sender has its state");
        // SAFETY: the sender owns `value` until it sets `TX_DONE`.
        inner.value.with_mut(|p| unsafe { *p = Some(value) });
        let mut state = inner.state.load(Ordering::Acquire);
        loop {
            if state & RX_CLOSED != 0 {
                // SAFETY: `TX_DONE` is not set yet: the cell is still ours.
                let value = inner.value.with_mut(|p| unsafe { (*p).take() });
                // Finish without a value, so a receiver that closed and
                // still awaits resolves with the error.
                let prev = inner.state.fetch_or(TX_DONE, Ordering::AcqRel);
                if prev & RX_WAKER != 0 {
                    // SAFETY: our RMW setting `TX_DONE` found `RX_WAKER`.
                    unsafe { Inner::<T>::wake(&inner.rx_waker) };
                }
                return Err(value.expect("written above"));
            }
            // AcqRel: Release publishes the value to the receiver's Acquire
            // of `TX_DONE`; Acquire pairs with the receiver's waker
            // registration (`RX_WAKER`).
            match inner.state.compare_exchange_weak(
                state,
                state | TX_DONE | VALUE,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        if state & RX_WAKER != 0 {
            // SAFETY: the successful CAS setting `TX_DONE` found `RX_WAKER`.
            unsafe { Inner::<T>::wake(&inner.rx_waker) };
        }
        Ok(())
    }

    /// Whether the receiver was dropped or closed (a `send` would fail).
    pub fn is_closed(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|i| i.state.load(Ordering::Acquire) & RX_CLOSED != 0)
    }

    /// Resolves when the receiver is dropped or closed.
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let progress = std::task::ready!(coop::poll_proceed(cx));
        let Some(inner) = &self.inner else {
            progress.made_progress();
            return Poll::Ready(());
        };
        // SAFETY: the sender owns `tx_waker`; `&mut self` excludes a
        // concurrent call.
        if unsafe { inner.register(&inner.tx_waker, TX_WAKER, RX_CLOSED, cx.waker()) } {
            return Poll::Pending;
        }
        progress.made_progress();
        Poll::Ready(())
    }

    /// Waits until the receiver is dropped or closed: lets a producer stop
    /// computing a value nobody will receive.
    ///
    /// Cancel safety: safe; it only observes.
    pub async fn closed(&mut self) {
        std::future::poll_fn(|cx| self.poll_closed(cx)).await
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        // AcqRel: see `send`.
        if inner.state.fetch_or(TX_DONE, Ordering::AcqRel) & RX_WAKER != 0 {
            // SAFETY: our RMW setting `TX_DONE` found `RX_WAKER`.
            unsafe { Inner::<T>::wake(&inner.rx_waker) };
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Sender").finish_non_exhaustive()
    }
}

impl<T> Receiver<T> {
    /// The outcome once the sender is done: the value, or the error.
    fn finish(&mut self, state: usize) -> Result<T, RecvError> {
        debug_assert!(state & TX_DONE != 0);
        let inner = self
            .inner
            .take()
            .expect("an unfinished Receiver has its state");
        if state & VALUE != 0 {
            // SAFETY: `TX_DONE | VALUE` observed; `inner` was taken out of
            // `self`, so this runs once.
            Ok(unsafe { inner.take_value() })
        } else {
            Err(RecvError(()))
        }
    }

    /// Takes the value if it has been sent.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let Some(inner) = &self.inner else {
            return Err(TryRecvError::Closed);
        };
        // Acquire: pairs with the sender's Release of `TX_DONE`.
        let state = inner.state.load(Ordering::Acquire);
        if state & TX_DONE == 0 {
            return Err(TryRecvError::Empty);
        }
        self.finish(state).map_err(|_| TryRecvError::Closed)
    }

    /// Refuses the value: a later `send` fails and returns it to the sender.
    /// A value sent before the close can still be taken with `try_recv`.
    pub fn close(&mut self) {
        let Some(inner) = &self.inner else { return };
        // AcqRel: pairs with the sender's registration of `TX_WAKER`.
        let prev = inner.state.fetch_or(RX_CLOSED, Ordering::AcqRel);
        if prev & TX_WAKER != 0 && prev & TX_DONE == 0 {
            // SAFETY: our RMW setting `RX_CLOSED` found `TX_WAKER`.
            unsafe { Inner::<T>::wake(&inner.tx_waker) };
        }
    }

    /// Waits for the value from a thread outside the runtime.
    ///
    /// # Panics
    /// If called from a runtime worker or inside `block_on` (it would block
    /// the thread that has to run the sender).
    #[cfg(not(loom))]
    pub fn blocking_recv(self) -> Result<T, RecvError> {
        super::block_on_thread("oneshot::Receiver::blocking_recv", self)
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let progress = std::task::ready!(coop::poll_proceed(cx));
        let inner = this
            .inner
            .as_ref()
            .expect("oneshot::Receiver polled after it resolved");
        // SAFETY: the receiver owns `rx_waker`; `Pin<&mut Self>` excludes a
        // concurrent call.
        if unsafe { inner.register(&inner.rx_waker, RX_WAKER, TX_DONE, cx.waker()) } {
            return Poll::Pending;
        }
        // Acquire: `register` saw `TX_DONE`; re-read for `VALUE`.
        let state = inner.state.load(Ordering::Acquire);
        progress.made_progress();
        Poll::Ready(this.finish(state))
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // A value sent but not received is dropped with the shared state,
        // by whichever end lets go of it last.
        self.close();
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Receiver").finish_non_exhaustive()
    }
}
