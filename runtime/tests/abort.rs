//! `abort()` and `AbortHandle`: before, during and after a task runs.

mod common;

use common::{runtime, watchdog, DropCounter, Gate, PendingForever};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn abort_before_first_poll_never_polls_and_reports_cancelled() {
    let rt = runtime(1);
    let polls = Arc::new(AtomicUsize::new(0));
    let drops = DropCounter::new();
    let (p, token) = (polls.clone(), drops.token());
    let result = rt.block_on(async move {
        // Keep the only worker busy so the new task cannot start yet.
        let blocked = Arc::new(AtomicUsize::new(0));
        let b = blocked.clone();
        let busy = ringwork::spawn(async move {
            b.store(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(50));
        });
        while blocked.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        let handle = ringwork::spawn(async move {
            let _token = token;
            p.fetch_add(1, Ordering::SeqCst);
        });
        handle.abort();
        let result = handle.await;
        busy.await.unwrap();
        result
    });
    let err = result.expect_err("aborted");
    assert!(err.is_cancelled() && !err.is_panic());
    assert_eq!(
        polls.load(Ordering::SeqCst),
        0,
        "an aborted task is never polled"
    );
    assert_eq!(drops.drops(), 1, "its future is dropped exactly once");
}

#[test]
fn abort_while_pending_drops_the_future_once() {
    let rt = runtime(2);
    let drops = DropCounter::new();
    let token = drops.token();
    let slot = Arc::new(std::sync::Mutex::new(None));
    let s = slot.clone();
    let handle = rt.spawn(async move {
        let _token = token;
        PendingForever { waker_slot: s }.await;
    });
    // Wait until the task has been polled and is parked.
    watchdog(Duration::from_secs(10), {
        let slot = slot.clone();
        move || {
            while slot.lock().unwrap().is_none() {
                std::thread::yield_now();
            }
        }
    });
    assert!(!handle.is_finished());
    handle.abort();
    let err = common::block_on_plain(handle).unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(drops.drops(), 1);
    // Waking the dead task through its stored waker is harmless.
    slot.lock().unwrap().take().unwrap().wake();
}

#[test]
fn abort_during_a_poll_cancels_when_the_poll_returns() {
    let rt = runtime(2);
    let drops = DropCounter::new();
    let token = drops.token();
    let entered = Gate::new();
    let release = Arc::new(AtomicUsize::new(0));
    let (e, r) = (entered.clone(), release.clone());
    let handle = rt.spawn(async move {
        let _token = token;
        e.open();
        // Stay inside this poll until the test has called abort().
        while r.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        ringwork::task::yield_now().await;
        unreachable!("a cancelled task is not polled again");
    });
    watchdog(Duration::from_secs(10), {
        let entered = entered.clone();
        move || common::block_on_plain(entered.wait())
    });
    handle.abort();
    release.store(1, Ordering::SeqCst);
    let err = common::block_on_plain(handle).unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(drops.drops(), 1);
}

#[test]
fn abort_after_completion_keeps_the_output() {
    let rt = runtime(2);
    let handle = rt.spawn(async { 99 });
    while !handle.is_finished() {
        std::thread::yield_now();
    }
    handle.abort();
    assert_eq!(common::block_on_plain(handle).unwrap(), 99);
}

#[test]
fn abort_handle_cancels_a_detached_task() {
    let rt = runtime(2);
    let drops = DropCounter::new();
    let token = drops.token();
    let abort = {
        let handle = rt.spawn(async move {
            let _token = token;
            std::future::pending::<()>().await;
        });
        let abort = handle.abort_handle();
        drop(handle); // detach
        abort
    };
    let clone = abort.clone();
    clone.abort();
    abort.abort(); // twice is fine
    watchdog(Duration::from_secs(10), move || {
        while !abort.is_finished() {
            std::thread::yield_now();
        }
    });
    assert_eq!(drops.drops(), 1);
}

#[test]
fn dropping_a_join_handle_detaches_and_the_task_still_runs() {
    let rt = runtime(2);
    let gate = Gate::new();
    let ran = Gate::new();
    let (g, r) = (gate.clone(), ran.clone());
    drop(rt.spawn(async move {
        g.wait().await;
        r.open();
    }));
    gate.open();
    watchdog(Duration::from_secs(10), move || {
        common::block_on_plain(ran.wait())
    });
}

#[test]
fn many_concurrent_aborts_drop_every_future_once() {
    let rt = runtime(2);
    let drops = DropCounter::new();
    const TASKS: usize = 2_000;
    let handles: Vec<_> = (0..TASKS)
        .map(|i| {
            let token = drops.token();
            rt.spawn(async move {
                let _token = token;
                for _ in 0..i % 7 {
                    ringwork::task::yield_now().await;
                }
                if i % 2 == 0 {
                    std::future::pending::<()>().await;
                }
                i
            })
        })
        .collect();
    for handle in &handles {
        handle.abort();
    }
    let mut cancelled = 0;
    for (i, handle) in handles.into_iter().enumerate() {
        match common::block_on_plain(handle) {
            Ok(v) => assert_eq!(v, i),
            Err(e) => {
                assert!(e.is_cancelled());
                cancelled += 1;
            }
        }
    }
    assert!(cancelled >= TASKS / 2, "every pending task was cancelled");
    assert_eq!(drops.drops(), TASKS);
}
