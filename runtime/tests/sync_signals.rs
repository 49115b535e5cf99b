//! Notify, Barrier, oneshot, broadcast and watch: wake-ups are never lost,
//! every value is seen once per receiver, closing is noticed both ways.

mod common;

use common::{poll_once, runtime, watchdog, DropCounter, WakeFlag};
use ringwork::sync::broadcast::error::{RecvError, TryRecvError as BTryRecvError};
use ringwork::sync::oneshot::TryRecvError;
use ringwork::sync::{broadcast, oneshot, watch, Barrier, Notify};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn notify_one_before_the_wait_is_stored_as_a_single_permit() {
    let notify = Notify::new();
    notify.notify_one();
    notify.notify_one(); // permits do not accumulate
    let flag = WakeFlag::new();
    assert!(poll_once(std::pin::pin!(notify.notified()), &flag).is_ready());
    assert!(poll_once(std::pin::pin!(notify.notified()), &flag).is_pending());
}

#[test]
fn notify_one_wakes_waiters_one_at_a_time_in_order() {
    let notify = Notify::new();
    let (fa, fb) = (WakeFlag::new(), WakeFlag::new());
    let mut a = Box::pin(notify.notified());
    let mut b = Box::pin(notify.notified());
    assert!(poll_once(a.as_mut(), &fa).is_pending());
    assert!(poll_once(b.as_mut(), &fb).is_pending());
    notify.notify_one();
    assert_eq!((fa.take(), fb.take()), (1, 0));
    assert!(poll_once(a.as_mut(), &fa).is_ready());
    assert!(poll_once(b.as_mut(), &fb).is_pending());
}

#[test]
fn a_dropped_notified_passes_its_notification_on() {
    let notify = Notify::new();
    let (fa, fb) = (WakeFlag::new(), WakeFlag::new());
    let mut a = Box::pin(notify.notified());
    let mut b = Box::pin(notify.notified());
    assert!(poll_once(a.as_mut(), &fa).is_pending());
    assert!(poll_once(b.as_mut(), &fb).is_pending());
    notify.notify_one(); // chooses `a`
    drop(a); // ... which never sees it
    assert_eq!(
        fb.take(),
        1,
        "the notification was lost with the dropped future"
    );
    assert!(poll_once(b.as_mut(), &fb).is_ready());

    // With nobody else waiting it becomes the stored permit.
    let mut c = Box::pin(notify.notified());
    assert!(poll_once(c.as_mut(), &fa).is_pending());
    notify.notify_one();
    drop(c);
    assert!(poll_once(std::pin::pin!(notify.notified()), &fa).is_ready());
}

#[test]
fn notify_waiters_reaches_futures_created_before_it_even_if_unpolled() {
    let notify = Notify::new();
    let flag = WakeFlag::new();
    let mut polled = Box::pin(notify.notified());
    assert!(poll_once(polled.as_mut(), &flag).is_pending());
    let unpolled = notify.notified();
    notify.notify_waiters();
    let after = notify.notified();
    assert!(poll_once(polled.as_mut(), &flag).is_ready());
    assert!(poll_once(std::pin::pin!(unpolled), &flag).is_ready());
    assert!(
        poll_once(std::pin::pin!(after), &flag).is_pending(),
        "notify_waiters stored a permit"
    );
}

#[test]
fn notify_across_workers_never_loses_a_wakeup() {
    // Ping-pong over two Notify: a lost wake-up hangs it.
    watchdog(LIMIT, || {
        runtime(2).block_on(async {
            let ping = Arc::new(Notify::new());
            let pong = Arc::new(Notify::new());
            let (p, q) = (ping.clone(), pong.clone());
            let other = ringwork::spawn(async move {
                for _ in 0..5_000 {
                    p.notified().await;
                    q.notify_one();
                }
            });
            for _ in 0..5_000 {
                ping.notify_one();
                pong.notified().await;
            }
            other.await.unwrap();
        })
    });
}

#[test]
fn barrier_releases_rounds_with_exactly_one_leader_each() {
    watchdog(LIMIT, || {
        runtime(2).block_on(async {
            const N: usize = 4;
            const ROUNDS: usize = 50;
            let barrier = Arc::new(Barrier::new(N));
            let arrived = Arc::new(AtomicUsize::new(0));
            let leaders = Arc::new(AtomicUsize::new(0));
            let tasks: Vec<_> = (0..N)
                .map(|_| {
                    let (barrier, arrived, leaders) =
                        (barrier.clone(), arrived.clone(), leaders.clone());
                    ringwork::spawn(async move {
                        for round in 0..ROUNDS {
                            arrived.fetch_add(1, Ordering::SeqCst);
                            let result = barrier.wait().await;
                            // Everyone of this round arrived before anyone left.
                            assert!(arrived.load(Ordering::SeqCst) >= (round + 1) * N);
                            if result.is_leader() {
                                leaders.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    })
                })
                .collect();
            for r in ringwork::task::join_all(tasks).await {
                r.unwrap();
            }
            assert_eq!(leaders.load(Ordering::SeqCst), ROUNDS);
        })
    });
}

#[test]
fn oneshot_delivers_across_workers_and_reports_a_dropped_sender() {
    watchdog(LIMIT, || {
        runtime(2).block_on(async {
            for i in 0..1_000u32 {
                let (tx, rx) = oneshot::channel();
                let sender = ringwork::spawn(async move { tx.send(i).unwrap() });
                assert_eq!(rx.await, Ok(i));
                sender.await.unwrap();
            }
            let (tx, rx) = oneshot::channel::<u32>();
            let dropper = ringwork::spawn(async move { drop(tx) });
            assert!(rx.await.is_err());
            dropper.await.unwrap();
        })
    });
}

#[test]
fn oneshot_sender_notices_the_receiver_going_away() {
    watchdog(LIMIT, || {
        runtime(2).block_on(async {
            let (mut tx, rx) = oneshot::channel::<u32>();
            assert!(!tx.is_closed());
            let dropper = ringwork::spawn(async move {
                ringwork::time::sleep(Duration::from_millis(2)).await;
                drop(rx);
            });
            tx.closed().await;
            assert!(tx.is_closed());
            assert_eq!(
                tx.send(5),
                Err(5),
                "send after the receiver left returns the value"
            );
            dropper.await.unwrap();
        })
    });
}

#[test]
fn oneshot_try_recv_close_and_drop_semantics() {
    let drops = DropCounter::new();
    let (tx, mut rx) = oneshot::channel();
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
    assert!(tx.send(drops.token()).is_ok());
    assert!(rx.try_recv().is_ok());
    assert_eq!(drops.drops(), 1);
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Closed));

    // A value sent but never received is dropped with the receiver.
    let (tx, rx) = oneshot::channel();
    tx.send(drops.token()).ok().unwrap();
    drop(rx);
    assert_eq!(drops.drops(), 2);

    // close(): a later send fails; a value sent before stays receivable.
    let (tx, mut rx) = oneshot::channel::<u8>();
    rx.close();
    assert_eq!(tx.send(1), Err(1));
    let (tx, mut rx) = oneshot::channel::<u8>();
    tx.send(2).unwrap();
    rx.close();
    assert_eq!(rx.try_recv(), Ok(2));
}

#[test]
fn a_dropped_oneshot_receive_loses_nothing() {
    let (tx, mut rx) = oneshot::channel::<u8>();
    let flag = WakeFlag::new();
    assert!(poll_once(std::pin::Pin::new(&mut rx), &flag).is_pending());
    tx.send(3).unwrap();
    assert_eq!(flag.take(), 1);
    assert_eq!(
        poll_once(std::pin::Pin::new(&mut rx), &flag),
        Poll::Ready(Ok(3))
    );
}

/// Two senders, three receivers, on two workers. Returns, per receiver,
/// how many values it received and how many `Lagged` reported missing.
fn broadcast_stress(capacity: usize) -> Vec<(u64, u64)> {
    const SENDERS: u64 = 2;
    const PER_SENDER: u64 = 5_000;
    const RECEIVERS: usize = 3;
    watchdog(LIMIT, move || {
        runtime(2).block_on(async move {
            let (tx, rx) = broadcast::channel(capacity);
            let receivers: Vec<_> = (0..RECEIVERS)
                .map(|_| {
                    let mut rx = rx.resubscribe();
                    ringwork::spawn(async move {
                        let mut next = [0u64; SENDERS as usize];
                        let (mut received, mut lagged) = (0, 0);
                        loop {
                            match rx.recv().await {
                                Ok((s, seq)) => {
                                    // Per-sender order; gaps only after a lag.
                                    assert!(seq >= next[s as usize], "duplicate or reordered");
                                    if lagged == 0 {
                                        assert_eq!(seq, next[s as usize], "gap without a Lagged");
                                    }
                                    next[s as usize] = seq + 1;
                                    received += 1;
                                }
                                Err(RecvError::Lagged(n)) => lagged += n,
                                Err(RecvError::Closed) => break,
                            }
                        }
                        (received, lagged)
                    })
                })
                .collect();
            drop(rx);
            let senders: Vec<_> = (0..SENDERS)
                .map(|s| {
                    let tx = tx.clone();
                    ringwork::spawn(async move {
                        for seq in 0..PER_SENDER {
                            tx.send((s, seq)).unwrap();
                            if seq % 16 == 0 {
                                ringwork::task::yield_now().await;
                            }
                        }
                    })
                })
                .collect();
            drop(tx);
            for s in senders {
                s.await.unwrap();
            }
            let mut counts = Vec::new();
            for r in receivers {
                let (received, lagged) = r.await.unwrap();
                // Nothing vanishes silently: every value was received or
                // reported missing.
                assert_eq!(received + lagged, SENDERS * PER_SENDER);
                counts.push((received, lagged));
            }
            counts
        })
    })
}

#[test]
fn broadcast_stress_every_receiver_sees_every_value_once_in_order() {
    // The ring holds everything: no lag possible, every value exactly once.
    for (received, lagged) in broadcast_stress(10_000) {
        assert_eq!((received, lagged), (10_000, 0));
    }
}

#[test]
fn broadcast_stress_with_a_small_ring_accounts_for_every_value() {
    broadcast_stress(16);
}

#[test]
fn broadcast_counts_received_plus_lagged_exactly() {
    let (tx, mut rx) = broadcast::channel(4);
    for i in 0..10u32 {
        tx.send(i).unwrap();
    }
    let mut received = Vec::new();
    let mut lagged = 0;
    loop {
        match rx.try_recv() {
            Ok(v) => received.push(v),
            Err(BTryRecvError::Lagged(n)) => lagged += n,
            Err(BTryRecvError::Empty) => break,
            Err(BTryRecvError::Closed) => unreachable!(),
        }
    }
    assert_eq!(received, [6, 7, 8, 9]);
    assert_eq!(lagged, 6);
    drop(tx);
    assert_eq!(rx.try_recv(), Err(BTryRecvError::Closed));
}

#[test]
fn broadcast_drops_a_value_once_every_receiver_has_it() {
    let drops = DropCounter::new();
    let token = Arc::new(drops.token());
    let (tx, mut a) = broadcast::channel(8);
    let mut b = tx.subscribe();
    tx.send(token.clone()).unwrap();
    drop(token);
    drop(a.try_recv().unwrap());
    assert_eq!(drops.drops(), 0);
    drop(b.try_recv().unwrap());
    assert_eq!(
        drops.drops(),
        1,
        "the last reader should take the value out"
    );

    // A receiver dropped without reading releases its claim.
    let token = Arc::new(drops.token());
    tx.send(token.clone()).unwrap();
    drop(token);
    drop(a.try_recv().unwrap());
    drop(b);
    assert_eq!(drops.drops(), 2);
    assert_eq!(tx.receiver_count(), 1);
}

#[test]
fn broadcast_send_without_receivers_returns_the_value() {
    let (tx, rx) = broadcast::channel::<u8>(2);
    drop(rx);
    assert_eq!(tx.send(7).unwrap_err().0, 7);
}

#[test]
fn a_dropped_broadcast_recv_leaves_no_stale_waiter() {
    let (tx, mut rx) = broadcast::channel::<u8>(2);
    let flag = WakeFlag::new();
    {
        let mut recv = Box::pin(rx.recv());
        assert!(poll_once(recv.as_mut(), &flag).is_pending());
    }
    tx.send(1).unwrap();
    assert_eq!(flag.take(), 0, "a dropped recv future was still woken");
    assert_eq!(rx.try_recv(), Ok(1));
}

#[test]
fn watch_receivers_see_the_latest_value_and_the_close() {
    watchdog(LIMIT, || {
        runtime(2).block_on(async {
            let (tx, mut rx) = watch::channel(0u32);
            let watcher = ringwork::spawn(async move {
                let mut seen = Vec::new();
                while rx.changed().await.is_ok() {
                    seen.push(*rx.borrow_and_update());
                }
                seen
            });
            for i in 1..=100 {
                tx.send(i).unwrap();
                if i % 10 == 0 {
                    ringwork::time::sleep(Duration::from_millis(1)).await;
                }
            }
            drop(tx);
            let seen = watcher.await.unwrap();
            assert_eq!(seen.last(), Some(&100), "the final value was missed");
            assert!(
                seen.windows(2).all(|w| w[0] < w[1]),
                "values went backwards"
            );
        })
    });
}

#[test]
fn watch_change_tracking_and_sender_side_close() {
    watchdog(LIMIT, || {
        runtime(2).block_on(async {
            let (tx, mut rx) = watch::channel("a");
            assert_eq!(rx.has_changed(), Ok(false));
            tx.send_replace("b");
            assert_eq!(rx.has_changed(), Ok(true));
            assert!(rx.borrow_and_update().has_changed());
            assert_eq!(rx.has_changed(), Ok(false));
            rx.mark_changed();
            rx.changed().await.unwrap();
            assert!(!tx.send_if_modified(|_| false));
            assert_eq!(rx.has_changed(), Ok(false));
            let rx2 = rx.clone();
            assert_eq!(tx.receiver_count(), 2);
            drop((rx, rx2));
            tx.closed().await;
            assert!(tx.send("c").is_err());
        })
    });
}

#[test]
fn a_send_refused_after_close_resolves_the_waiting_receiver() {
    let (tx, mut rx) = oneshot::channel::<u8>();
    let flag = WakeFlag::new();
    rx.close();
    assert!(poll_once(std::pin::Pin::new(&mut rx), &flag).is_pending());
    assert_eq!(tx.send(1), Err(1));
    assert_eq!(flag.take(), 1);
    assert!(matches!(
        poll_once(std::pin::Pin::new(&mut rx), &flag),
        Poll::Ready(Err(_))
    ));
}

/// Whether a task looping `iterations` times over an always-ready `op`
/// lets another task on the single worker run before the loop ends.
fn always_ready_loop_yields<F, Fut>(iterations: usize, op: F) -> bool
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    watchdog(LIMIT, move || {
        let rt = runtime(1);
        // Both tasks are spawned from a task on the only worker, so both are
        // queued before either runs (spawning from the `block_on` thread
        // could let the loop finish before the other task exists).
        rt.block_on(rt.spawn(async move {
            let ran = Arc::new(AtomicUsize::new(0));
            let seen = ran.clone();
            let mut op = op;
            let looping = ringwork::spawn(async move {
                let mut other_ran_meanwhile = false;
                for _ in 0..iterations {
                    op().await;
                    other_ran_meanwhile |= seen.load(Ordering::SeqCst) == 1;
                }
                other_ran_meanwhile
            });
            let other = ringwork::spawn(async move { ran.store(1, Ordering::SeqCst) });
            other.await.unwrap();
            looping.await.unwrap()
        }))
        .unwrap()
    })
}

#[test]
fn ready_watch_changes_and_barrier_waits_spend_budget() {
    let (tx, rx) = watch::channel(0u32);
    let rx = Arc::new(std::sync::Mutex::new(rx));
    assert!(
        always_ready_loop_yields(1_000, move || {
            let rx = rx.clone();
            async move {
                let mut rx = rx.lock().unwrap().clone();
                rx.mark_changed();
                rx.changed().await.unwrap();
            }
        }),
        "watch::changed never yielded"
    );
    drop(tx);
    let barrier = Arc::new(Barrier::new(1));
    assert!(
        always_ready_loop_yields(1_000, move || {
            let barrier = barrier.clone();
            async move {
                assert!(barrier.wait().await.is_leader());
            }
        }),
        "Barrier::wait never yielded"
    );
}
