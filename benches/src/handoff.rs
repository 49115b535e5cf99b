//! A single-slot mailbox written with std only, so that message-passing
//! workloads use the very same handoff on every runtime and the comparison
//! measures the schedulers (who runs the woken task, and when), not channel
//! implementations.
//!
//! The protocol is strict alternation: a sender puts one message in, the one
//! receiver takes it out, and only then may the next message be sent. That is
//! what a ping-pong or a "done" signal needs, and it keeps the mailbox to one
//! mutex guarding both the message and the receiver's waker, so a wake-up can
//! never be lost between the check and the registration.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// A one-message slot shared by a sender and a single receiving task.
pub struct Mailbox<T> {
    slot: Mutex<Slot<T>>,
}

/// What the mutex guards: the message in transit and the waker of the task
/// waiting for it, if it is waiting.
struct Slot<T> {
    message: Option<T>,
    receiver: Option<Waker>,
}

impl<T> Mailbox<T> {
    /// An empty mailbox.
    pub fn new() -> Mailbox<T> {
        Mailbox {
            slot: Mutex::new(Slot {
                message: None,
                receiver: None,
            }),
        }
    }

    /// Puts `message` in the slot and wakes the receiver if it is waiting.
    ///
    /// # Panics
    ///
    /// If the previous message has not been received yet: the workloads using
    /// the mailbox alternate strictly, so that would be a bug in the workload
    /// (or a lost wake-up in a runtime), and the benchmark must not go on.
    pub fn send(&self, message: T) {
        let receiver = {
            let mut slot = self.lock();
            assert!(
                slot.message.is_none(),
                "mailbox already holds an unreceived message: the workload's strict \
                 alternation was broken"
            );
            slot.message = Some(message);
            slot.receiver.take()
        };
        // Woken outside the lock, so the woken task never contends with us.
        if let Some(waker) = receiver {
            waker.wake();
        }
    }

    /// Waits for the next message and takes it out of the slot.
    pub fn recv(&self) -> Recv<'_, T> {
        Recv { mailbox: self }
    }

    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        // A poisoned lock means a workload task panicked while holding it; the
        // slot itself is always left consistent, so carry on and let the
        // panic surface through the task's join handle.
        self.slot
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<T> Default for Mailbox<T> {
    fn default() -> Mailbox<T> {
        Mailbox::new()
    }
}

impl<T> fmt::Debug for Mailbox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slot = self.lock();
        f.debug_struct("Mailbox")
            .field("has_message", &slot.message.is_some())
            .field("receiver_waiting", &slot.receiver.is_some())
            .finish()
    }
}

/// The future returned by [`Mailbox::recv`].
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a, T> {
    mailbox: &'a Mailbox<T>,
}

impl<T> Future for Recv<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut slot = self.mailbox.lock();
        if let Some(message) = slot.message.take() {
            slot.receiver = None;
            return Poll::Ready(message);
        }
        match &mut slot.receiver {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            receiver => *receiver = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recv")
            .field("mailbox", self.mailbox)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Mailbox;
    use std::future::Future;
    use std::pin::pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    /// Counts how often it was woken.
    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn message_sent_before_recv_is_ready_at_once() {
        let mailbox = Mailbox::new();
        mailbox.send(7);
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut recv = pin!(mailbox.recv());
        assert_eq!(
            recv.as_mut().poll(&mut Context::from_waker(&waker)),
            Poll::Ready(7)
        );
        assert_eq!(counter.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn send_wakes_a_waiting_receiver_once() {
        let mailbox = Mailbox::new();
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mut recv = pin!(mailbox.recv());
        assert_eq!(recv.as_mut().poll(&mut cx), Poll::Pending);
        assert_eq!(recv.as_mut().poll(&mut cx), Poll::Pending);
        mailbox.send("hello");
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert_eq!(recv.as_mut().poll(&mut cx), Poll::Ready("hello"));
    }

    #[test]
    #[should_panic(expected = "strict alternation")]
    fn second_send_before_recv_panics() {
        let mailbox = Mailbox::new();
        mailbox.send(1);
        mailbox.send(2);
    }
}
