//! Mutex, RwLock and Semaphore: exclusion across workers, FIFO fairness,
//! and cancelled lock/acquire futures losing no permit and no wake-up.

mod common;

use common::{poll_once, runtime, watchdog, WakeFlag};
use ringwork::sync::{AcquireError, Mutex, RwLock, Semaphore, TryAcquireError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn mutex_excludes_across_workers_while_held_over_awaits() {
    let total = watchdog(LIMIT, || {
        runtime(2).block_on(async {
            let shared = Arc::new(Mutex::new((0u64, false)));
            let mut set = ringwork::task::JoinSet::new();
            for _ in 0..8 {
                let shared = shared.clone();
                set.spawn(async move {
                    for i in 0..500 {
                        let mut guard = shared.lock().await;
                        assert!(!guard.1, "two holders at once");
                        guard.1 = true;
                        if i % 16 == 0 {
                            ringwork::task::yield_now().await;
                        }
                        guard.0 += 1;
                        guard.1 = false;
                    }
                });
            }
            while let Some(r) = set.join_next().await {
                r.unwrap();
            }
            let value = shared.lock().await.0;
            value
        })
    });
    assert_eq!(total, 8 * 500);
}

#[test]
fn mutex_waiters_are_served_in_fifo_order_so_none_starves() {
    // N contenders, each re-locking as soon as it unlocks (the pattern a
    // barging lock starves). With FIFO hand-off, the grants cycle through
    // the contenders in queue order, so nobody waits through more than
    // N - 1 acquisitions by others.
    const N: usize = 8;
    const ROUNDS: usize = 5;
    let mutex = Mutex::new(());
    let flags: Vec<WakeFlag> = (0..N).map(|_| WakeFlag::new()).collect();
    let held = mutex.try_lock().unwrap();
    let mut waiting: Vec<_> = (0..N).map(|_| Box::pin(mutex.lock())).collect();
    for (fut, flag) in waiting.iter_mut().zip(&flags) {
        assert!(poll_once(fut.as_mut(), flag).is_pending());
    }
    drop(held);
    let mut order = Vec::new();
    let mut last_grant = [0usize; N];
    for grant in 1..=N * ROUNDS {
        // Exactly one contender was woken and can proceed.
        let woken: Vec<usize> = (0..N).filter(|&i| flags[i].take() > 0).collect();
        assert_eq!(woken.len(), 1, "grant {grant}: woken {woken:?}");
        let i = woken[0];
        let guard = match poll_once(waiting[i].as_mut(), &flags[i]) {
            Poll::Ready(guard) => guard,
            Poll::Pending => panic!("woken contender {i} did not get the lock"),
        };
        if grant > N {
            let waited = grant - last_grant[i] - 1;
            assert!(
                waited < N,
                "contender {i} waited through {waited} acquisitions"
            );
        }
        last_grant[i] = grant;
        order.push(i);
        // Unlock and immediately ask again: goes behind everyone waiting.
        let mut again = Box::pin(mutex.lock());
        drop(guard);
        assert!(
            poll_once(again.as_mut(), &flags[i]).is_pending(),
            "contender {i} re-took the lock ahead of the queue"
        );
        waiting[i] = again;
    }
    let expected: Vec<usize> = (0..ROUNDS).flat_map(|_| 0..N).collect();
    assert_eq!(order, expected);
}

#[test]
fn mutex_contention_across_workers_completes_every_task() {
    // The same contention on two workers: every contender finishes all its
    // rounds (a starved one would hang the test past the watchdog).
    const TASKS: usize = 8;
    const ROUNDS: usize = 2_000;
    let total = watchdog(LIMIT, || {
        runtime(2).block_on(async {
            let lock = Arc::new(Mutex::new(0usize));
            let mut set = ringwork::task::JoinSet::new();
            for _ in 0..TASKS {
                let lock = lock.clone();
                set.spawn(async move {
                    for _ in 0..ROUNDS {
                        *lock.lock().await += 1;
                    }
                });
            }
            while let Some(r) = set.join_next().await {
                r.unwrap();
            }
            let total = *lock.lock().await;
            total
        })
    });
    assert_eq!(total, TASKS * ROUNDS);
}

#[test]
fn a_dropped_lock_future_passes_the_lock_on_and_wakes_the_next_waiter() {
    let mutex = Mutex::new(1);
    let guard = mutex.try_lock().unwrap();
    let (fa, fb) = (WakeFlag::new(), WakeFlag::new());
    let mut a = Box::pin(mutex.lock());
    let mut b = Box::pin(mutex.lock());
    assert!(poll_once(a.as_mut(), &fa).is_pending());
    assert!(poll_once(b.as_mut(), &fb).is_pending());
    drop(guard); // handed to `a`
    assert_eq!(fa.take(), 1);
    assert!(mutex.try_lock().is_err(), "a newcomer overtook the queue");
    drop(a); // `a` never saw it: `b` gets it
    assert_eq!(fb.take(), 1);
    match poll_once(b.as_mut(), &fb) {
        Poll::Ready(guard) => assert_eq!(*guard, 1),
        Poll::Pending => panic!("the lock was lost with the dropped future"),
    }
    drop(b);
    assert!(mutex.try_lock().is_ok());
}

#[test]
fn owned_guards_outlive_the_borrow_and_unlock_on_drop() {
    watchdog(LIMIT, || {
        runtime(2).block_on(async {
            let mutex = Arc::new(Mutex::new(Vec::new()));
            let guard = mutex.clone().lock_owned().await;
            let task = ringwork::spawn(async move {
                let mut guard = guard;
                guard.push(1);
            });
            task.await.unwrap();
            mutex.clone().try_lock_owned().unwrap().push(2);
            assert_eq!(*mutex.lock().await, [1, 2]);
        })
    });
}

#[test]
fn rwlock_shares_reads_and_makes_writers_exclusive() {
    watchdog(LIMIT, || {
        runtime(2).block_on(async {
            let lock = Arc::new(RwLock::new(0u32));
            let readers = Arc::new(AtomicUsize::new(0));
            let mut set = ringwork::task::JoinSet::new();
            for t in 0..6 {
                let (lock, readers) = (lock.clone(), readers.clone());
                set.spawn(async move {
                    for _ in 0..200 {
                        if t % 3 == 0 {
                            let mut w = lock.write().await;
                            assert_eq!(readers.load(Ordering::SeqCst), 0, "read during write");
                            *w += 1;
                            ringwork::task::yield_now().await;
                        } else {
                            let r = lock.read().await;
                            readers.fetch_add(1, Ordering::SeqCst);
                            let seen = *r;
                            ringwork::task::yield_now().await;
                            assert_eq!(*r, seen, "value changed under a read guard");
                            readers.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                });
            }
            while let Some(r) = set.join_next().await {
                r.unwrap();
            }
            assert_eq!(*lock.read().await, 2 * 200);
        })
    });
}

#[test]
fn a_waiting_writer_blocks_later_readers() {
    let lock = RwLock::new(());
    let first = lock.try_read().unwrap();
    let flag = WakeFlag::new();
    let mut writer = Box::pin(lock.write());
    assert!(poll_once(writer.as_mut(), &flag).is_pending());
    assert!(
        lock.try_read().is_err(),
        "a reader overtook the waiting writer"
    );
    drop(first);
    assert_eq!(flag.take(), 1);
    assert!(poll_once(writer.as_mut(), &flag).is_ready());
}

#[test]
fn semaphore_acquire_many_waits_for_all_permits_in_order() {
    let sem = Semaphore::new(3);
    let held = sem.try_acquire_many(2).unwrap();
    let (fa, fb) = (WakeFlag::new(), WakeFlag::new());
    let mut big = Box::pin(sem.acquire_many(3));
    let mut small = Box::pin(sem.acquire());
    assert!(poll_once(big.as_mut(), &fa).is_pending());
    // One permit is free, but `big` is first in line: `small` waits.
    assert!(poll_once(small.as_mut(), &fb).is_pending());
    assert_eq!(sem.available_permits(), 0);
    drop(held);
    assert_eq!(fa.take(), 1);
    let big_permit = match poll_once(big.as_mut(), &fa) {
        Poll::Ready(p) => p.unwrap(),
        Poll::Pending => panic!("big request not served"),
    };
    assert_eq!(big_permit.num_permits(), 3);
    assert_eq!(fb.take(), 0);
    drop(big_permit);
    assert_eq!(fb.take(), 1);
    assert!(poll_once(small.as_mut(), &fb).is_ready());
}

#[test]
fn a_dropped_acquire_future_returns_partial_permits() {
    let sem = Semaphore::new(2);
    let flag = WakeFlag::new();
    {
        let mut fut = Box::pin(sem.acquire_many(5));
        assert!(poll_once(fut.as_mut(), &flag).is_pending());
        assert_eq!(sem.available_permits(), 0);
    }
    assert_eq!(sem.available_permits(), 2);
    assert_eq!(sem.try_acquire_many(2).unwrap().num_permits(), 2);
}

#[test]
fn closing_a_semaphore_fails_waiters_but_not_holders() {
    watchdog(LIMIT, || {
        runtime(2).block_on(async {
            let sem = Arc::new(Semaphore::new(1));
            let permit = sem.clone().acquire_owned().await.unwrap();
            let waiter = {
                let sem = sem.clone();
                ringwork::spawn(async move { sem.acquire().await.map(|p| p.num_permits()) })
            };
            ringwork::time::sleep(Duration::from_millis(5)).await;
            sem.close();
            assert!(sem.is_closed());
            let err: AcquireError = waiter.await.unwrap().unwrap_err();
            assert_eq!(err.to_string(), "semaphore closed");
            assert_eq!(sem.try_acquire().err(), Some(TryAcquireError::Closed));
            drop(permit);
            assert_eq!(sem.available_permits(), 1);
        })
    });
}

#[test]
fn forget_and_add_permits_change_the_count() {
    let sem = Semaphore::new(2);
    sem.try_acquire().unwrap().forget();
    assert_eq!(sem.available_permits(), 1);
    sem.add_permits(4);
    assert_eq!(sem.available_permits(), 5);
    let mut a = sem.try_acquire_many(2).unwrap();
    a.merge(sem.try_acquire().unwrap());
    assert_eq!(a.num_permits(), 3);
    drop(a);
    assert_eq!(sem.available_permits(), 5);
}

#[test]
fn semaphore_limits_concurrency_across_workers() {
    let peak = watchdog(LIMIT, || {
        runtime(2).block_on(async {
            let sem = Arc::new(Semaphore::new(3));
            let running = Arc::new(AtomicUsize::new(0));
            let peak = Arc::new(AtomicUsize::new(0));
            let mut set = ringwork::task::JoinSet::new();
            for _ in 0..16 {
                let (sem, running, peak) = (sem.clone(), running.clone(), peak.clone());
                set.spawn(async move {
                    for _ in 0..50 {
                        let _p = sem.acquire().await.unwrap();
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        ringwork::task::yield_now().await;
                        running.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
            while let Some(r) = set.join_next().await {
                r.unwrap();
            }
            assert_eq!(sem.available_permits(), 3);
            peak.load(Ordering::SeqCst)
        })
    });
    assert!((1..=3).contains(&peak), "peak concurrency {peak}");
}

#[test]
fn owned_rwlock_guards_move_into_tasks() {
    watchdog(LIMIT, || {
        runtime(2).block_on(async {
            let lock = Arc::new(RwLock::new(1u32));
            let read = lock.clone().read_owned().await;
            let reader = ringwork::spawn(async move { *read });
            assert_eq!(reader.await.unwrap(), 1);
            let mut write = lock.clone().write_owned().await;
            assert!(lock.try_read().is_err());
            let writer = ringwork::spawn(async move {
                *write += 1;
            });
            writer.await.unwrap();
            assert_eq!(*lock.read().await, 2);
        })
    });
}
