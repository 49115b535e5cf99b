//! A multi-producer, multi-consumer channel where every receiver sees every
//! value: fan-out of events to subscribers.
//!
//! The channel keeps the last `capacity` values in a ring. A receiver that
//! falls more than `capacity` values behind does not lose them silently: its
//! next `recv` returns [`RecvError::Lagged`]`(n)` with the number it missed,
//! and then continues from the oldest value still kept. A value is dropped
//! as soon as every receiver that existed when it was sent has received it
//! (or when it is overwritten).
//!
//! ```
//! use ringwork::sync::broadcast;
//!
//! # let rt = ringwork::Runtime::new().unwrap();
//! # rt.block_on(async {
//! let (tx, mut rx1) = broadcast::channel(16);
//! let mut rx2 = tx.subscribe();
//! tx.send("hello").unwrap();
//! assert_eq!(rx1.recv().await, Ok("hello"));
//! assert_eq!(rx2.recv().await, Ok("hello"));
//!
//! let (tx, mut slow) = broadcast::channel(2);
//! for i in 0..5 {
//!     tx.send(i).unwrap();
//! }
//! assert_eq!(slow.recv().await, Err(broadcast::error::RecvError::Lagged(3)));
//! assert_eq!(slow.recv().await, Ok(3));
//! # });
//! ```

use super::wait_list::{Key, WaitList};
use super::wake_list::WakeList;
use crate::coop;
use crate::loom::sync::Arc;
use crate::loom::sync::Mutex;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

pub mod error {
    //! `broadcast` errors.
    use std::fmt;

    pub use crate::sync::send_error::SendError;

    /// Why `recv` returned no value.
    #[derive(Debug, PartialEq, Eq, Clone, Copy)]
    pub enum RecvError {
        /// Every sender is gone and this receiver has seen every value.
        Closed,
        /// The receiver fell behind and this many values were overwritten
        /// before it could see them; the next `recv` continues with the
        /// oldest value still kept.
        Lagged(u64),
    }

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                RecvError::Closed => f.write_str("the broadcast channel is closed"),
                RecvError::Lagged(n) => write!(f, "the receiver lagged behind by {n} values"),
            }
        }
    }

    impl std::error::Error for RecvError {}

    /// Why `try_recv` returned no value.
    #[derive(Debug, PartialEq, Eq, Clone, Copy)]
    pub enum TryRecvError {
        /// No new value yet.
        Empty,
        /// As [`RecvError::Closed`].
        Closed,
        /// As [`RecvError::Lagged`].
        Lagged(u64),
    }

    impl fmt::Display for TryRecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TryRecvError::Empty => f.write_str("no new value"),
                TryRecvError::Closed => f.write_str("the broadcast channel is closed"),
                TryRecvError::Lagged(n) => write!(f, "the receiver lagged behind by {n} values"),
            }
        }
    }

    impl std::error::Error for TryRecvError {}
}

use error::{RecvError, SendError, TryRecvError};

/// A channel keeping the last `capacity` values. The ring of `capacity`
/// slots is allocated here, up front.
///
/// # Panics
/// If `capacity` is 0, or too large to allocate.
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "broadcast::channel needs a capacity of at least 1"
    );
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            ring: (0..capacity)
                .map(|_| Slot {
                    pos: u64::MAX,
                    unread: 0,
                    value: None,
                })
                .collect(),
            tail: 0,
            receivers: 1,
            senders: 1,
            waiters: WaitList::new(),
        }),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared, next: 0 },
    )
}

struct Shared<T> {
    state: Mutex<State<T>>,
}

struct State<T> {
    ring: Box<[Slot<T>]>,
    /// Position of the next value to send; value `p` lives in
    /// `ring[p % capacity]` until `p + capacity` overwrites it.
    tail: u64,
    receivers: usize,
    senders: usize,
    /// Receivers waiting for `tail` to move (or for the last sender to go).
    waiters: WaitList<Waker>,
}

struct Slot<T> {
    /// The position stored here (`u64::MAX`: never written).
    pos: u64,
    /// Receivers that still have to read it; at 0 the value is dropped.
    unread: usize,
    value: Option<T>,
}

impl<T> State<T> {
    fn capacity(&self) -> u64 {
        self.ring.len() as u64
    }

    fn slot(&mut self, pos: u64) -> &mut Slot<T> {
        let cap = self.capacity();
        &mut self.ring[(pos % cap) as usize]
    }

    fn wake_all(&mut self, wake: &mut WakeList) {
        while let Some(key) = self.waiters.front() {
            if let Some(waker) = self.waiters.remove(key) {
                wake.push(waker);
            }
        }
    }
}

/// Sends to every receiver. Cloneable; the channel closes for receivers
/// when the last sender is dropped.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Sends `value` to every current receiver and returns how many there
    /// are. Fails, with the value, if there is none. Never waits: a full
    /// ring overwrites its oldest value (receivers that had not read it get
    /// `Lagged`).
    pub fn send(&self, value: T) -> Result<usize, SendError<T>> {
        let mut wake = WakeList::new();
        let mut state = self.shared.state.lock();
        let receivers = state.receivers;
        if receivers == 0 {
            return Err(SendError(value));
        }
        let tail = state.tail;
        let slot = state.slot(tail);
        slot.pos = tail;
        slot.unread = receivers;
        let overwritten = slot.value.replace(value);
        state.tail += 1;
        state.wake_all(&mut wake);
        drop(state);
        drop(overwritten);
        wake.wake_all();
        Ok(receivers)
    }

    /// A new receiver that sees values sent from now on.
    pub fn subscribe(&self) -> Receiver<T> {
        let mut state = self.shared.state.lock();
        state.receivers += 1;
        Receiver {
            shared: self.shared.clone(),
            next: state.tail,
        }
    }

    /// Current number of receivers.
    pub fn receiver_count(&self) -> usize {
        self.shared.state.lock().receivers
    }

    /// Whether both send to the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.state.lock().senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut wake = WakeList::new();
        let mut state = self.shared.state.lock();
        state.senders -= 1;
        if state.senders == 0 {
            state.wake_all(&mut wake);
        }
        drop(state);
        wake.wake_all();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Sender").finish_non_exhaustive()
    }
}

/// Receives every value sent after it was created.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// Position of the next value this receiver reads.
    next: u64,
}

enum Next<T> {
    Value(T),
    Lagged(u64),
    Closed,
    Empty,
}

/// Reads position `*next` for a receiver (under the lock).
fn read_next<T: Clone>(next: &mut u64, state: &mut State<T>) -> Next<T> {
    if *next == state.tail {
        return if state.senders == 0 {
            Next::Closed
        } else {
            Next::Empty
        };
    }
    let pos = *next;
    let oldest = state.tail - state.capacity().min(state.tail);
    let slot = state.slot(pos);
    if slot.pos != pos {
        // Overwritten: skip to the oldest value still kept.
        *next = oldest;
        return Next::Lagged(oldest - pos);
    }
    *next += 1;
    slot.unread -= 1;
    let value = if slot.unread == 0 {
        // The last reader moves the value out instead of cloning it.
        slot.value.take()
    } else {
        slot.value.clone()
    };
    Next::Value(value.expect("an unread slot holds its value"))
}

impl<T: Clone> Receiver<T> {
    /// The next value.
    ///
    /// Cancel safety: safe; a value is taken only in the poll that returns
    /// it.
    pub fn recv(&mut self) -> Recv<'_, T> {
        Recv {
            receiver: self,
            key: None,
        }
    }

    /// The next value if one is ready.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut state = self.shared.state.lock();
        match read_next(&mut self.next, &mut state) {
            Next::Value(v) => Ok(v),
            Next::Lagged(n) => Err(TryRecvError::Lagged(n)),
            Next::Closed => Err(TryRecvError::Closed),
            Next::Empty => Err(TryRecvError::Empty),
        }
    }
}

impl<T> Receiver<T> {
    /// A new receiver that sees values sent from now on.
    pub fn resubscribe(&self) -> Receiver<T> {
        let mut state = self.shared.state.lock();
        state.receivers += 1;
        Receiver {
            shared: self.shared.clone(),
            next: state.tail,
        }
    }

    /// Values sent that this receiver has not read yet (including ones it
    /// will find overwritten).
    pub fn len(&self) -> usize {
        (self.shared.state.lock().tail - self.next) as usize
    }

    /// Whether this receiver has read everything sent so far.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.shared.state.lock();
        state.receivers -= 1;
        // Give up this receiver's claim on the values it has not read, so
        // they are dropped once the others have read them.
        let oldest = state.tail - state.capacity().min(state.tail);
        let mut dropped = Vec::new();
        for pos in self.next.max(oldest)..state.tail {
            let slot = state.slot(pos);
            if slot.pos == pos {
                slot.unread -= 1;
                if slot.unread == 0 {
                    dropped.extend(slot.value.take());
                }
            }
        }
        drop(state);
        drop(dropped);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Receiver")
            .field("next", &self.next)
            .finish()
    }
}

/// The future of [`Receiver::recv`].
#[must_use = "futures do nothing unless polled"]
pub struct Recv<'a, T> {
    receiver: &'a mut Receiver<T>,
    /// This future's node in the waiters, while it waits.
    key: Option<Key>,
}

impl<T: Clone> Future for Recv<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let progress = std::task::ready!(coop::poll_proceed(cx));
        let receiver = &mut *this.receiver;
        let mut state = receiver.shared.state.lock();
        if let Some(key) = this.key.take() {
            state.waiters.remove(key);
        }
        let out = match read_next(&mut receiver.next, &mut state) {
            Next::Value(v) => Ok(v),
            Next::Lagged(n) => Err(RecvError::Lagged(n)),
            Next::Closed => Err(RecvError::Closed),
            Next::Empty => {
                this.key = Some(state.waiters.push_back(cx.waker().clone()));
                return Poll::Pending;
            }
        };
        drop(state);
        progress.made_progress();
        Poll::Ready(out)
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.receiver.shared.state.lock().waiters.remove(key);
        }
    }
}

impl<T> fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Recv").finish_non_exhaustive()
    }
}
