//! mpsc channels: delivery exactly once in per-sender order across workers,
//! backpressure, closing, and cancelled sends/receives losing nothing.

mod common;

use common::{poll_once, runtime, watchdog, DropCounter, WakeFlag};
use ringwork::sync::mpsc::{self, SendError, TryRecvError, TrySendError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);
/// Messages per producer in the stress tests.
const PER_PRODUCER: u64 = 20_000;
const PRODUCERS: u64 = 4;

/// Checks that every `(producer, seq)` arrived exactly once and in order.
fn assert_each_once_in_order(received: &[(u64, u64)]) {
    let mut next = vec![0u64; PRODUCERS as usize];
    for &(producer, seq) in received {
        assert_eq!(
            seq, next[producer as usize],
            "producer {producer}: message out of order, duplicated or lost"
        );
        next[producer as usize] += 1;
    }
    assert!(
        next.iter().all(|&n| n == PER_PRODUCER),
        "missing messages: {next:?}"
    );
}

#[test]
fn bounded_stress_delivers_every_message_once_in_per_sender_order() {
    let received = watchdog(LIMIT, || {
        runtime(2).block_on(async {
            let (tx, mut rx) = mpsc::channel(64);
            let mut producers = ringwork::task::JoinSet::new();
            for producer in 0..PRODUCERS {
                let tx = tx.clone();
                producers.spawn(async move {
                    for seq in 0..PER_PRODUCER {
                        tx.send((producer, seq)).await.unwrap();
                    }
                });
            }
            drop(tx);
            let mut received = Vec::new();
            while let Some(message) = rx.recv().await {
                received.push(message);
            }
            while let Some(r) = producers.join_next().await {
                r.unwrap();
            }
            received
        })
    });
    assert_each_once_in_order(&received);
}

#[test]
fn unbounded_stress_with_recv_many_delivers_every_message_once_in_order() {
    let received = watchdog(LIMIT, || {
        runtime(2).block_on(async {
            let (tx, mut rx) = mpsc::unbounded_channel();
            let mut producers = ringwork::task::JoinSet::new();
            for producer in 0..PRODUCERS {
                let tx = tx.clone();
                producers.spawn(async move {
                    for seq in 0..PER_PRODUCER {
                        tx.send((producer, seq)).unwrap();
                        if seq % 64 == 0 {
                            ringwork::task::yield_now().await;
                        }
                    }
                });
            }
            drop(tx);
            let mut received = Vec::new();
            let mut batch = Vec::new();
            while rx.recv_many(&mut batch, 100).await > 0 {
                assert!(batch.len() <= 100);
                received.append(&mut batch);
            }
            while let Some(r) = producers.join_next().await {
                r.unwrap();
            }
            received
        })
    });
    assert_each_once_in_order(&received);
}

#[test]
fn a_slow_consumer_caps_the_queue_at_capacity() {
    const CAPACITY: usize = 8;
    watchdog(LIMIT, || {
        runtime(2).block_on(async {
            let (tx, mut rx) = mpsc::channel(CAPACITY);
            let sent = Arc::new(AtomicUsize::new(0));
            let mut producers = ringwork::task::JoinSet::new();
            for _ in 0..3 {
                let (tx, sent) = (tx.clone(), sent.clone());
                producers.spawn(async move {
                    for i in 0..200u32 {
                        tx.send(i).await.unwrap();
                        sent.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
            drop(tx);
            let mut received = 0;
            loop {
                // Let the producers fill the channel as far as they can.
                ringwork::time::sleep(Duration::from_micros(200)).await;
                assert!(
                    rx.len() <= CAPACITY,
                    "queue holds {} > {CAPACITY}",
                    rx.len()
                );
                let in_channel = sent.load(Ordering::SeqCst) - received;
                assert!(
                    in_channel <= CAPACITY,
                    "{in_channel} messages accepted beyond capacity"
                );
                match rx.recv().await {
                    Some(_) => received += 1,
                    None => break,
                }
            }
            assert_eq!(received, 600);
            while let Some(r) = producers.join_next().await {
                r.unwrap();
            }
        })
    });
}

#[test]
fn a_dropped_send_future_gives_its_slot_to_the_next_sender() {
    let (tx, mut rx) = mpsc::channel::<u32>(1);
    tx.try_send(1).unwrap();
    let flag_a = WakeFlag::new();
    let flag_b = WakeFlag::new();
    let mut a = Box::pin(tx.send(2));
    let mut b = Box::pin(tx.send(3));
    assert!(poll_once(a.as_mut(), &flag_a).is_pending());
    assert!(poll_once(b.as_mut(), &flag_b).is_pending());
    assert_eq!(rx.try_recv(), Ok(1)); // frees the slot: assigned to `a`
    assert_eq!(flag_a.take(), 1);
    drop(a); // `a` never completed: its slot passes to `b`
    assert_eq!(flag_b.take(), 1, "the next waiting sender was not woken");
    assert_eq!(poll_once(b.as_mut(), &flag_b), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Ok(3));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(tx.capacity(), 1, "a slot was lost");
}

#[test]
fn a_dropped_recv_future_loses_no_message() {
    let (tx, mut rx) = mpsc::channel::<u32>(4);
    let flag = WakeFlag::new();
    {
        let mut recv = Box::pin(rx.recv());
        assert!(poll_once(recv.as_mut(), &flag).is_pending());
    }
    tx.try_send(9).unwrap();
    assert_eq!(rx.try_recv(), Ok(9));
}

#[test]
fn try_send_reports_full_then_closed_and_returns_the_value() {
    let (tx, mut rx) = mpsc::channel(1);
    tx.try_send("a").unwrap();
    assert_eq!(tx.try_send("b"), Err(TrySendError::Full("b")));
    rx.close();
    assert_eq!(tx.try_send("c"), Err(TrySendError::Closed("c")));
    // Messages sent before the close are still delivered, then None.
    assert_eq!(rx.try_recv(), Ok("a"));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn close_fails_waiting_senders_but_delivers_reserved_permits() {
    watchdog(LIMIT, || {
        runtime(2).block_on(async {
            let (tx, mut rx) = mpsc::channel::<u32>(2);
            let permit = tx.reserve().await.unwrap();
            tx.send(1).await.unwrap();
            let blocked = {
                let tx = tx.clone();
                ringwork::spawn(async move { tx.send(2).await })
            };
            ringwork::time::sleep(Duration::from_millis(5)).await;
            rx.close();
            assert_eq!(blocked.await.unwrap(), Err(SendError(2)));
            assert!(tx.is_closed());
            tx.closed().await;
            permit.send(3);
            assert_eq!(rx.recv().await, Some(1));
            assert_eq!(rx.recv().await, Some(3));
            // Closed, empty, no outstanding permit: finished although a
            // sender is still alive.
            assert_eq!(rx.recv().await, None);
        })
    });
}

#[test]
fn recv_returns_none_after_close_once_an_unused_permit_is_dropped() {
    watchdog(LIMIT, || {
        runtime(2).block_on(async {
            let (tx, mut rx) = mpsc::channel::<u32>(2);
            let permit = tx.reserve_owned().await.unwrap();
            rx.close();
            let receiver = ringwork::spawn(async move { rx.recv().await });
            ringwork::time::sleep(Duration::from_millis(5)).await;
            assert!(
                !receiver.is_finished(),
                "None before the permit was settled"
            );
            drop(permit.release());
            assert_eq!(receiver.await.unwrap(), None);
        })
    });
}

#[test]
fn recv_returns_none_when_every_sender_is_dropped() {
    watchdog(LIMIT, || {
        runtime(2).block_on(async {
            let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
            let tx2 = tx.clone();
            let receiver = ringwork::spawn(async move {
                let mut got = Vec::new();
                while let Some(v) = rx.recv().await {
                    got.push(v);
                }
                got
            });
            tx.send(1).unwrap();
            drop(tx);
            ringwork::time::sleep(Duration::from_millis(2)).await;
            tx2.send(2).unwrap();
            drop(tx2);
            assert_eq!(receiver.await.unwrap(), vec![1, 2]);
        })
    });
}

#[test]
fn dropping_the_receiver_drops_queued_messages_and_fails_senders() {
    let drops = DropCounter::new();
    let (tx, rx) = mpsc::channel(4);
    tx.try_send(drops.token()).unwrap();
    tx.try_send(drops.token()).unwrap();
    drop(rx);
    assert_eq!(drops.drops(), 2);
    assert!(tx.is_closed());
    let err = tx.try_send(drops.token()).unwrap_err();
    assert!(matches!(err, TrySendError::Closed(_)));
    drop(err);
    assert_eq!(drops.drops(), 3);

    let (tx, rx) = mpsc::unbounded_channel();
    drop(rx);
    assert!(tx.send(drops.token()).is_err());
    assert_eq!(drops.drops(), 4);
}

#[test]
fn blocking_send_and_recv_work_from_plain_threads() {
    watchdog(LIMIT, || {
        let rt = runtime(2);
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        let (back_tx, mut back_rx) = mpsc::channel::<u32>(1);
        let echo = rt.spawn(async move {
            while let Some(v) = rx.recv().await {
                back_tx.send(v * 2).await.unwrap();
            }
        });
        let producer = std::thread::spawn(move || {
            for i in 0..100 {
                tx.blocking_send(i).unwrap();
            }
        });
        let sum: u32 = (0..100).map(|_| back_rx.blocking_recv().unwrap()).sum();
        producer.join().unwrap();
        assert_eq!(back_rx.blocking_recv(), None);
        assert_eq!(sum, 2 * (0..100).sum::<u32>());
        rt.block_on(echo).unwrap();
    });
}

#[test]
fn an_always_ready_receiver_still_yields_to_other_tasks() {
    // The receive loop never waits (the channel is pre-filled), yet the
    // other task on the single worker gets to run: recv spends budget.
    watchdog(LIMIT, || {
        let rt = runtime(1);
        // Spawned from a task on the only worker: both tasks are queued
        // before either runs.
        rt.block_on(rt.spawn(async {
            let (tx, mut rx) = mpsc::unbounded_channel();
            for i in 0..10_000u32 {
                tx.send(i).unwrap();
            }
            let ran = Arc::new(AtomicUsize::new(0));
            let flag = ran.clone();
            let consumer = ringwork::spawn(async move {
                let mut seen_other = false;
                for _ in 0..10_000 {
                    rx.recv().await.unwrap();
                    seen_other |= flag.load(Ordering::SeqCst) == 1;
                }
                seen_other
            });
            let other = ringwork::spawn(async move {
                ran.store(1, Ordering::SeqCst);
            });
            other.await.unwrap();
            assert!(
                consumer.await.unwrap(),
                "the other task never ran during the loop"
            );
        }))
        .unwrap();
    });
}

#[test]
fn a_granted_send_dropped_after_close_still_lets_recv_finish() {
    // The receive frees the slot and hands it to the waiting send; the
    // receiver closes and waits for outstanding slots; the send future is
    // dropped before it noticed its slot. Its slot goes back and the
    // receiver must be woken to see the channel finished.
    let (tx, mut rx) = mpsc::channel::<u32>(1);
    tx.try_send(1).unwrap();
    let (send_flag, recv_flag) = (WakeFlag::new(), WakeFlag::new());
    let mut send = Box::pin(tx.send(2));
    assert!(poll_once(send.as_mut(), &send_flag).is_pending());
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(send_flag.take(), 1, "the freed slot was handed to the send");
    rx.close();
    {
        let mut recv = Box::pin(rx.recv());
        assert!(poll_once(recv.as_mut(), &recv_flag).is_pending());
        drop(send);
        assert_eq!(recv_flag.take(), 1, "the receiver was not woken");
        assert_eq!(poll_once(recv.as_mut(), &recv_flag), Poll::Ready(None));
    }
}
