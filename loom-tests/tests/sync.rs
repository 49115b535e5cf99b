//! Models of the channels and primitives in `ringwork::sync`: oneshot,
//! bounded mpsc, Notify and Semaphore, each the shipped code running on
//! loom's primitives (through `runtime/src/loom.rs`), with
//! `loom::future::block_on` as the executor of each thread.
#![cfg(loom)]

use loom::future::block_on;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use ringwork::sync::{mpsc, oneshot, Notify, Semaphore};
use std::future::Future;

/// Counts drops of the values sent through a channel.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Proves: a oneshot value sent from another thread reaches a receiver
/// that is concurrently polling (the wake is never lost), and is dropped
/// exactly once.
#[test]
fn oneshot_send_races_the_receiving_poll() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = oneshot::channel();
        let value = Counted(drops.clone());
        let sender = thread::spawn(move || {
            assert!(tx.send(value).is_ok(), "the receiver is alive");
        });
        let got = block_on(rx).expect("the value arrives");
        drop(got);
        sender.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

/// Proves: a send racing the receiver's drop either fails (the sender gets
/// the value back) or succeeds (the receiver's drop frees it): the value is
/// dropped exactly once either way.
#[test]
fn oneshot_send_races_the_receiver_drop() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = oneshot::channel();
        let value = Counted(drops.clone());
        let sender = thread::spawn(move || {
            if let Err(value) = tx.send(value) {
                drop(value);
            }
        });
        drop(rx);
        sender.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

/// Proves: a sender dropped without sending wakes the waiting receiver,
/// which then reports the error (no hang).
#[test]
fn oneshot_sender_drop_wakes_the_receiver() {
    loom::model(|| {
        let (tx, rx) = oneshot::channel::<u8>();
        let dropper = thread::spawn(move || drop(tx));
        assert!(block_on(rx).is_err());
        dropper.join().unwrap();
    });
}

/// Proves: with a bounded channel of capacity 1, a send blocked on the
/// full channel is woken by the receive that frees the slot, and both
/// messages are delivered exactly once, in order.
#[test]
fn mpsc_send_blocked_on_full_is_woken_by_recv() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel::<u8>(1);
        tx.try_send(1).unwrap();
        let sender = thread::spawn(move || {
            block_on(tx.send(2)).expect("the receiver is alive");
        });
        assert_eq!(block_on(rx.recv()), Some(1));
        assert_eq!(block_on(rx.recv()), Some(2));
        // The sender is gone after sending: the channel ends.
        assert_eq!(block_on(rx.recv()), None);
        sender.join().unwrap();
    });
}

/// Proves: a send blocked on a full channel fails with its value (does not
/// hang) when the receiver is dropped concurrently, and every message is
/// dropped exactly once.
#[test]
fn mpsc_send_blocked_on_full_races_the_receiver_drop() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel(1);
        tx.try_send(Counted(drops.clone())).unwrap();
        let blocked = Counted(drops.clone());
        let sender = thread::spawn(move || {
            // Either the drop comes first (closed) or during the wait.
            let err = block_on(tx.send(blocked)).expect_err("the receiver is gone");
            drop(err);
        });
        drop(rx);
        sender.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    });
}

/// Proves: the last sender's drop racing a waiting `recv` ends the stream
/// after the messages sent before it (no lost message, no hang).
#[test]
fn mpsc_last_sender_drop_races_recv() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel::<u8>(2);
        let sender = thread::spawn(move || {
            tx.try_send(7).unwrap();
            drop(tx);
        });
        assert_eq!(block_on(rx.recv()), Some(7));
        assert_eq!(block_on(rx.recv()), None);
        sender.join().unwrap();
    });
}

/// Proves: `notify_one` from another thread is never lost, whether it
/// comes before the wait (stored permit) or during it (waking the waiter).
#[test]
fn notify_one_races_the_wait() {
    loom::model(|| {
        let notify = Arc::new(Notify::new());
        let n = notify.clone();
        let notifier = thread::spawn(move || n.notify_one());
        block_on(notify.notified());
        notifier.join().unwrap();
    });
}

/// Proves: `notify_waiters` reaches a `Notified` created before it, even
/// when the waiter registers concurrently with the call.
#[test]
fn notify_waiters_reaches_a_future_created_before_it() {
    loom::model(|| {
        let notify = Arc::new(Notify::new());
        let notified = notify.notified();
        let n = notify.clone();
        // `notified` borrows `notify`; the other thread uses its own Arc.
        let notifier = thread::spawn(move || n.notify_waiters());
        block_on(notified);
        notifier.join().unwrap();
    });
}

/// Proves: two threads contending for one permit both get it in turn (the
/// release hands it to the waiter, no lost wake-up), and the permit is
/// back in the semaphore at the end.
#[test]
fn semaphore_release_hands_the_permit_to_the_waiter() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let in_critical = Arc::new(AtomicUsize::new(0));
        let other = {
            let (sem, in_critical) = (sem.clone(), in_critical.clone());
            thread::spawn(move || {
                let permit = block_on(sem.acquire()).unwrap();
                assert_eq!(in_critical.fetch_add(1, Ordering::SeqCst), 0);
                in_critical.fetch_sub(1, Ordering::SeqCst);
                drop(permit);
            })
        };
        let permit = block_on(sem.acquire()).unwrap();
        assert_eq!(in_critical.fetch_add(1, Ordering::SeqCst), 0);
        in_critical.fetch_sub(1, Ordering::SeqCst);
        drop(permit);
        other.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}

/// Proves: `close` racing a waiting acquire fails it (no hang) and leaves
/// the permits where they were.
#[test]
fn semaphore_close_races_a_waiting_acquire() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.try_acquire().unwrap();
        let closer = {
            let sem = sem.clone();
            thread::spawn(move || sem.close())
        };
        assert!(block_on(sem.acquire()).is_err());
        closer.join().unwrap();
        drop(held);
        assert_eq!(sem.available_permits(), 1);
    });
}

/// Proves: a reserved slot dropped unused on another thread while the
/// receiver closes the channel and waits still lets `recv` finish with
/// `None` (the receiver waits for outstanding slots after a close, so the
/// drop must wake it; no lost wake-up between the two flags).
#[test]
fn mpsc_close_races_an_unused_permit_drop() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel::<u8>(1);
        // A second sender stays alive, so only the close can end `recv`.
        let keep = tx.clone();
        let owned = block_on(tx.reserve_owned()).unwrap();
        let dropper = thread::spawn(move || drop(owned.release()));
        rx.close();
        assert_eq!(block_on(rx.recv()), None);
        dropper.join().unwrap();
        drop(keep);
    });
}

/// Proves: a receiver that replaces its registered waker (polled from a
/// different task context) while the sender sends is still woken, through
/// the new waker, and gets the value; the cell hand-over between the two
/// sides never overlaps a write with a read (loom checks the cell).
#[test]
fn oneshot_waker_replacement_races_the_send() {
    loom::model(|| {
        let (tx, mut rx) = oneshot::channel::<u8>();
        let sender = thread::spawn(move || tx.send(5).unwrap());
        let mut first = true;
        let got = block_on(std::future::poll_fn(|cx| {
            if first {
                first = false;
                // Register a different waker first, then replace it.
                let mut other = std::task::Context::from_waker(std::task::Waker::noop());
                if let std::task::Poll::Ready(v) = std::pin::Pin::new(&mut rx).poll(&mut other) {
                    return std::task::Poll::Ready(v);
                }
            }
            std::pin::Pin::new(&mut rx).poll(cx)
        }));
        assert_eq!(got, Ok(5));
        sender.join().unwrap();
    });
}

/// Proves: `Sender::closed` waiting on another thread is woken by the
/// receiver's drop (the sender-side waker hand-over mirrors the receiver's).
#[test]
fn oneshot_closed_is_woken_by_the_receiver_drop() {
    loom::model(|| {
        let (mut tx, rx) = oneshot::channel::<u8>();
        let waiter = thread::spawn(move || {
            block_on(tx.closed());
            assert!(tx.is_closed());
        });
        drop(rx);
        waiter.join().unwrap();
    });
}

/// Polls `future` once with a waker that does nothing (registers it).
fn poll_once<F: Future + Unpin>(future: &mut F) -> std::task::Poll<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    std::pin::Pin::new(future).poll(&mut cx)
}

/// Proves: an acquire future dropped while the permit it waits for is
/// being released on another thread (before, during or after the hand-off
/// to it) loses no permit: it is back in the semaphore at the end.
#[test]
fn a_dropped_acquire_racing_the_release_loses_no_permit() {
    loom::model(|| {
        // A std `Arc`: the owned permit API takes one.
        let sem = std::sync::Arc::new(Semaphore::new(1));
        let permit = sem.clone().try_acquire_owned().unwrap();
        let releaser = thread::spawn(move || drop(permit));
        {
            let mut acquire = Box::pin(sem.acquire());
            let _ = poll_once(&mut acquire);
        }
        releaser.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}

/// Proves: a `notify_one` that picks a waiter being dropped at that moment
/// is not lost: it goes on to the stored permit, which the next `notified`
/// consumes at once.
#[test]
fn a_dropped_notified_racing_notify_one_passes_it_on() {
    loom::model(|| {
        let notify = Arc::new(Notify::new());
        let n = notify.clone();
        {
            let mut first = Box::pin(notify.notified());
            assert!(poll_once(&mut first).is_pending());
            let notifier = thread::spawn(move || n.notify_one());
            drop(first);
            notifier.join().unwrap();
        }
        block_on(notify.notified());
    });
}
