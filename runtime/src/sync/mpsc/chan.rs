//! The channel both `mpsc` flavours share: a queue behind a mutex, a
//! receiver-side batch, the count of senders, and (bounded only) a
//! semaphore of free slots.
//!
//! # Who touches what
//!
//! - `queue` (under its mutex): senders push; the receiver swaps the whole
//!   queue into its private `batch` when the batch runs dry, so it takes the
//!   lock once per batch rather than once per message, and senders contend
//!   with it only that often. The receiver's waker and the "receiver is
//!   gone" flag live under the same lock, so a push and a receiver going to
//!   sleep cannot miss each other.
//! - `slots` (bounded only): one permit per message the channel may hold.
//!   A sender takes one before pushing; the receiver gives it back when it
//!   hands the message to the user (not when it moves it into `batch`), so
//!   queue + batch never exceed the capacity. Closing the channel closes the
//!   semaphore, which fails every waiting and later `send`.
//! - `senders`: live `Sender`s. The last one to go takes the queue lock to
//!   wake the receiver, which then sees the count at 0 under the lock.
//!
//! # When `recv` returns `None`
//!
//! When the queue and batch are empty and no message can arrive any more:
//! every sender is gone, or the receiver closed the channel *and* no
//! reserved slot is outstanding (a `Permit` taken before `close` may still
//! send; the message is delivered, not lost). A permit dropped unused after
//! the close wakes the receiver so it can notice.

use super::super::batch::{Acquire, BatchSemaphore, Closed};
use super::super::Notify;
use crate::coop;
use crate::loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use crate::loom::sync::Arc;
use crate::loom::sync::Mutex;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

pub(super) struct Chan<T> {
    queue: Mutex<Queue<T>>,
    /// Bounded channels: free slots.
    slots: Option<BatchSemaphore>,
    capacity: usize,
    senders: AtomicUsize,
    /// The receiver closed the channel or was dropped.
    closed: AtomicBool,
    /// Wakes `Sender::closed` waiters.
    closed_notify: Notify,
}

struct Queue<T> {
    items: VecDeque<T>,
    rx_waker: Option<Waker>,
    /// The receiver was dropped: pushes fail (nobody would drop the items).
    rx_dropped: bool,
}

/// Why a push failed: the value comes back.
pub(super) struct Rejected<T>(pub(super) T);

impl<T> Chan<T> {
    /// `capacity: None` makes an unbounded channel.
    pub(super) fn new(capacity: Option<usize>) -> Arc<Chan<T>> {
        Arc::new(Chan {
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                rx_waker: None,
                rx_dropped: false,
            }),
            slots: capacity.map(BatchSemaphore::new),
            capacity: capacity.unwrap_or(usize::MAX),
            senders: AtomicUsize::new(1),
            closed: AtomicBool::new(false),
            closed_notify: Notify::new(),
        })
    }

    pub(super) fn slots(&self) -> &BatchSemaphore {
        self.slots.as_ref().expect("a bounded channel has slots")
    }

    pub(super) fn max_capacity(&self) -> usize {
        self.capacity
    }

    /// Pushes `value`. `reserved`: the caller holds a slot taken before any
    /// close (bounded channels), so only a dropped receiver refuses it.
    pub(super) fn push(&self, value: T, reserved: bool) -> Result<(), Rejected<T>> {
        let mut queue = self.queue.lock();
        // Relaxed: `closed` is set under this lock (see `close`).
        if queue.rx_dropped || (!reserved && self.closed.load(Ordering::Relaxed)) {
            return Err(Rejected(value));
        }
        queue.items.push_back(value);
        let waker = queue.rx_waker.take();
        drop(queue);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    pub(super) fn is_closed(&self) -> bool {
        // Acquire: pairs with the Release store in `close`.
        self.closed.load(Ordering::Acquire)
    }

    /// Resolves once the receiver closed the channel or was dropped.
    pub(super) async fn closed(&self) {
        crate::coop::consume_budget().await;
        loop {
            // Created before the check: a `notify_waiters` after the check
            // completes it.
            let notified = self.closed_notify.notified();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }

    pub(super) fn add_sender(&self) {
        // Relaxed: the caller holds a sender, so the count cannot be 0 and
        // nothing is published by the increment.
        self.senders.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn drop_sender(&self) {
        // AcqRel: Release so the receiver, which loads the count with
        // Acquire, sees every push this sender made; Acquire so the last
        // sender sees the others' pushes before it wakes the receiver.
        if self.senders.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        self.wake_receiver();
    }

    /// Wakes the receiver if it waits (outside the queue lock).
    fn wake_receiver(&self) {
        let waker = self.queue.lock().rx_waker.take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// An unused reserved slot returns (bounded channels).
    pub(super) fn release_slot(&self) {
        self.slots().release(1);
        self.slot_returned();
    }

    /// After a slot went back to the semaphore unused: after a close, the
    /// receiver may be waiting for the last outstanding slot.
    fn slot_returned(&self) {
        // SeqCst fence: pairs with the one in `Rx::refill`. Either this
        // thread sees the close (and wakes the receiver below), or the
        // receiver, closing then checking the slots, sees the slot back.
        fence(Ordering::SeqCst);
        if self.is_closed() {
            self.wake_receiver();
        }
    }

    /// Waits for a free slot (bounded channels).
    pub(super) fn acquire_slot(&self) -> AcquireSlot<'_, T> {
        AcquireSlot {
            chan: self,
            acquire: Some(self.slots().acquire(1)),
        }
    }

    fn close(&self) {
        let queue = self.queue.lock();
        // Release: pairs with `is_closed`'s Acquire. Under the queue lock so
        // `push` sees it consistently.
        self.closed.store(true, Ordering::Release);
        drop(queue);
        if let Some(slots) = &self.slots {
            slots.close();
        }
        self.closed_notify.notify_waiters();
    }
}

/// The future of [`Chan::acquire_slot`]. Dropped before it resolves, it
/// gives back any slot it had already been handed (the semaphore does
/// that) and then, like [`Chan::release_slot`], wakes a receiver that may be
/// waiting for that slot after a close.
pub(super) struct AcquireSlot<'a, T> {
    chan: &'a Chan<T>,
    /// `None` once resolved.
    acquire: Option<Acquire<'a>>,
}

impl<T> Future for AcquireSlot<'_, T> {
    type Output = Result<(), Closed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let acquire = this
            .acquire
            .as_mut()
            .expect("AcquireSlot polled after it resolved");
        let result = std::task::ready!(Pin::new(acquire).poll(cx));
        this.acquire = None;
        Poll::Ready(result)
    }
}

impl<T> Drop for AcquireSlot<'_, T> {
    fn drop(&mut self) {
        if let Some(acquire) = self.acquire.take() {
            drop(acquire);
            self.chan.slot_returned();
        }
    }
}

/// The receiving half shared by `Receiver` and `UnboundedReceiver`.
pub(super) struct Rx<T> {
    pub(super) chan: Arc<Chan<T>>,
    /// Messages taken from the queue in one swap, not yet handed out.
    batch: VecDeque<T>,
}

/// What `try_recv` found.
pub(super) enum TryRecv<T> {
    Value(T),
    Empty,
    Disconnected,
}

impl<T> Rx<T> {
    pub(super) fn new(chan: Arc<Chan<T>>) -> Rx<T> {
        Rx {
            chan,
            batch: VecDeque::new(),
        }
    }

    /// Hands `n` messages to the user: their slots become free.
    fn delivered(&self, n: usize) {
        if n > 0 {
            if let Some(slots) = &self.chan.slots {
                slots.release(n);
            }
        }
    }

    /// Refills `batch` from the queue. Returns `Empty` or `Disconnected` if
    /// nothing came; registers `waker` (if given) when `Empty`.
    fn refill(&mut self, waker: Option<&Waker>) -> TryRecv<()> {
        debug_assert!(self.batch.is_empty());
        let mut queue = self.chan.queue.lock();
        if !queue.items.is_empty() {
            std::mem::swap(&mut queue.items, &mut self.batch);
            return TryRecv::Value(());
        }
        // Acquire: pairs with `drop_sender`'s AcqRel (the pushes of every
        // sender happened before, and we hold the lock they pushed under).
        let no_senders = self.chan.senders.load(Ordering::Acquire) == 0;
        let closed = self.chan.is_closed();
        if closed {
            // Pairs with the fence in `Chan::slot_returned` (a slot freed
            // unused concurrently with the close: one side sees the other).
            fence(Ordering::SeqCst);
        }
        let drained = closed
            && self
                .chan
                .slots
                .as_ref()
                .is_none_or(|s| s.available_permits() == self.chan.capacity);
        if no_senders || drained {
            return TryRecv::Disconnected;
        }
        if let Some(waker) = waker {
            match &mut queue.rx_waker {
                Some(w) if w.will_wake(waker) => {}
                slot => *slot = Some(waker.clone()),
            }
        }
        TryRecv::Empty
    }

    /// Takes up to `limit` (at least 1) messages with `take`, waiting for
    /// the first; `None` once the channel is finished. Spends one unit of
    /// budget when it completes.
    fn poll_take<R>(
        &mut self,
        cx: &mut Context<'_>,
        limit: usize,
        take: impl FnOnce(std::collections::vec_deque::Drain<'_, T>) -> R,
    ) -> Poll<Option<R>> {
        let progress = std::task::ready!(coop::poll_proceed(cx));
        if self.batch.is_empty() {
            match self.refill(Some(cx.waker())) {
                TryRecv::Value(()) => {}
                TryRecv::Empty => return Poll::Pending,
                TryRecv::Disconnected => {
                    progress.made_progress();
                    return Poll::Ready(None);
                }
            }
        }
        let n = limit.min(self.batch.len());
        let taken = take(self.batch.drain(..n));
        self.delivered(n);
        progress.made_progress();
        Poll::Ready(Some(taken))
    }

    pub(super) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.poll_take(cx, 1, |mut one| one.next().expect("one message taken"))
    }

    pub(super) fn poll_recv_many(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<T>,
        limit: usize,
    ) -> Poll<usize> {
        if limit == 0 {
            return Poll::Ready(0);
        }
        self.poll_take(cx, limit, |messages| {
            let before = out.len();
            out.extend(messages);
            out.len() - before
        })
        .map(|n| n.unwrap_or(0))
    }

    pub(super) fn try_recv(&mut self) -> TryRecv<T> {
        if self.batch.is_empty() {
            match self.refill(None) {
                TryRecv::Value(()) => {}
                TryRecv::Empty => return TryRecv::Empty,
                TryRecv::Disconnected => return TryRecv::Disconnected,
            }
        }
        let value = self.batch.pop_front().expect("refilled batch is non-empty");
        self.delivered(1);
        TryRecv::Value(value)
    }

    pub(super) fn close(&mut self) {
        self.chan.close();
    }

    /// Messages waiting to be received.
    pub(super) fn len(&self) -> usize {
        self.batch.len() + self.chan.queue.lock().items.len()
    }
}

impl<T> Drop for Rx<T> {
    fn drop(&mut self) {
        let mut queue = self.chan.queue.lock();
        queue.rx_dropped = true;
        let items = std::mem::take(&mut queue.items);
        drop(queue);
        self.chan.close();
        // Dropped outside the lock: a message's Drop may use the channel.
        drop(items);
    }
}
