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
//! All state sits behind one small mutex: each end takes it once per
//! operation, and the hand-off costs a wake-up, which dwarfs the lock.

use crate::coop;
use crate::loom::sync::{Arc, Mutex};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Creates a one-value channel.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Mutex::new(State {
        value: None,
        sender_done: false,
        receiver_closed: false,
        rx_waker: None,
        tx_waker: None,
    }));
    (
        Sender {
            inner: Some(inner.clone()),
        },
        Receiver { inner: Some(inner) },
    )
}

struct State<T> {
    value: Option<T>,
    /// The sender sent or was dropped: no value will come after `value`.
    sender_done: bool,
    /// The receiver closed or was dropped: `send` fails.
    receiver_closed: bool,
    rx_waker: Option<Waker>,
    tx_waker: Option<Waker>,
}

fn store_waker(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

/// The sending end; [`send`](Sender::send) consumes it.
pub struct Sender<T> {
    /// `None` once sent.
    inner: Option<Arc<Mutex<State<T>>>>,
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
    inner: Option<Arc<Mutex<State<T>>>>,
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
        let mut state = inner.lock();
        if state.receiver_closed {
            // Nothing will be sent any more: a receiver that closed and
            // still awaits resolves with the error.
            state.sender_done = true;
            let waker = state.rx_waker.take();
            drop(state);
            if let Some(waker) = waker {
                waker.wake();
            }
            return Err(value);
        }
        state.value = Some(value);
        state.sender_done = true;
        let waker = state.rx_waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Whether the receiver was dropped or closed (a `send` would fail).
    pub fn is_closed(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|i| i.lock().receiver_closed)
    }

    /// Resolves when the receiver is dropped or closed.
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let progress = std::task::ready!(coop::poll_proceed(cx));
        let Some(inner) = &self.inner else {
            progress.made_progress();
            return Poll::Ready(());
        };
        let mut state = inner.lock();
        if state.receiver_closed {
            progress.made_progress();
            return Poll::Ready(());
        }
        store_waker(&mut state.tx_waker, cx);
        Poll::Pending
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
        let mut state = inner.lock();
        state.sender_done = true;
        let waker = state.rx_waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Sender").finish_non_exhaustive()
    }
}

impl<T> Receiver<T> {
    /// Takes the value if it has been sent.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let Some(inner) = &self.inner else {
            return Err(TryRecvError::Closed);
        };
        let mut state = inner.lock();
        if let Some(value) = state.value.take() {
            drop(state);
            self.inner = None;
            return Ok(value);
        }
        if state.sender_done {
            drop(state);
            self.inner = None;
            return Err(TryRecvError::Closed);
        }
        Err(TryRecvError::Empty)
    }

    /// Refuses the value: a later `send` fails and returns it to the sender.
    /// A value sent before the close can still be taken with `try_recv`.
    pub fn close(&mut self) {
        let Some(inner) = &self.inner else { return };
        let mut state = inner.lock();
        state.receiver_closed = true;
        let waker = state.tx_waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
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
        let mut state = inner.lock();
        let out = if let Some(value) = state.value.take() {
            Ok(value)
        } else if state.sender_done {
            Err(RecvError(()))
        } else {
            store_waker(&mut state.rx_waker, cx);
            return Poll::Pending;
        };
        drop(state);
        this.inner = None;
        progress.made_progress();
        Poll::Ready(out)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        let mut state = inner.lock();
        state.receiver_closed = true;
        let value = state.value.take();
        let waker = state.tx_waker.take();
        drop(state);
        drop(value);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Receiver").finish_non_exhaustive()
    }
}
