//! Panics inside tasks: surfaced as `JoinError::Panic`, never fatal to a worker.

mod common;

use common::{runtime, DropCounter};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Waker;

#[test]
fn panic_in_poll_becomes_join_error_panic() {
    let rt = runtime(2);
    let err = rt
        .block_on(async { ringwork::spawn(async { panic!("boom") }).await })
        .unwrap_err();
    assert!(err.is_panic() && !err.is_cancelled());
    assert!(err.to_string().contains("boom"), "{err}");
    let payload = err.into_panic();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
}

#[test]
fn runtime_keeps_working_after_many_panics() {
    let rt = runtime(2);
    let results = rt.block_on(async {
        let handles: Vec<_> = (0..200)
            .map(|i| {
                ringwork::spawn(async move {
                    if i % 2 == 0 {
                        panic!("task {i} fails");
                    }
                    i
                })
            })
            .collect();
        let mut ok = 0;
        let mut panicked = 0;
        for handle in handles {
            match handle.await {
                Ok(_) => ok += 1,
                Err(e) if e.is_panic() => panicked += 1,
                Err(e) => panic!("unexpected {e}"),
            }
        }
        (ok, panicked)
    });
    assert_eq!(results, (100, 100));
    // Both workers are still alive and running tasks.
    let out = rt.block_on(async {
        let hs: Vec<_> = (0..100)
            .map(|i| ringwork::spawn(async move { i }))
            .collect();
        let mut sum = 0;
        for h in hs {
            sum += h.await.unwrap();
        }
        sum
    });
    assert_eq!(out, 4950);
}

#[test]
fn panic_drops_the_future_state_once() {
    let rt = runtime(1);
    let drops = DropCounter::new();
    let token = drops.token();
    let err = rt
        .block_on(rt.spawn(async move {
            let _token = token;
            ringwork::task::yield_now().await;
            panic!("after yield");
        }))
        .unwrap_err();
    assert!(err.is_panic());
    assert_eq!(drops.drops(), 1);
}

struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("drop panics");
    }
}

#[test]
fn panic_while_dropping_an_aborted_future_is_contained() {
    let rt = runtime(1);
    let armed = common::Gate::new();
    let a = armed.clone();
    let handle = rt.spawn(async move {
        let _bomb = PanicOnDrop;
        a.open();
        std::future::pending::<()>().await;
    });
    // Wait until the bomb is live inside the suspended future.
    common::watchdog(std::time::Duration::from_secs(10), move || {
        common::block_on_plain(armed.wait())
    });
    handle.abort();
    let err = common::block_on_plain(handle).unwrap_err();
    assert!(
        err.is_panic(),
        "a panicking Drop surfaces as a panic: {err:?}"
    );
    assert_eq!(rt.block_on(rt.spawn(async { 1 })).unwrap(), 1);
}

#[test]
fn panic_while_dropping_an_unread_output_is_contained() {
    let rt = runtime(1);
    let h = rt.spawn(async { PanicOnDrop });
    while !h.is_finished() {
        std::thread::yield_now();
    }
    // Dropping the handle drops the output, whose Drop panics: contained.
    let dropped = std::panic::catch_unwind(AssertUnwindSafe(|| drop(h)));
    assert!(
        dropped.is_ok(),
        "the output's panicking Drop is not rethrown"
    );
    // Detached: the completing worker drops the output itself.
    drop(rt.spawn(async { PanicOnDrop }));
    assert_eq!(rt.block_on(rt.spawn(async { 2 })).unwrap(), 2);
}

/// A waker whose `wake` panics.
struct PanickingWake;

impl std::task::Wake for PanickingWake {
    fn wake(self: Arc<Self>) {
        panic!("waker panics");
    }
}

#[test]
fn panicking_join_waker_does_not_kill_the_worker() {
    let rt = runtime(1);
    let gate = common::Gate::new();
    let g = gate.clone();
    let mut handle = rt.spawn(async move { g.wait().await });
    // Register a join waker that panics when the task completes.
    let waker = Waker::from(Arc::new(PanickingWake));
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(std::pin::Pin::new(&mut handle).poll(&mut cx).is_pending());
    gate.open();
    while !handle.is_finished() {
        std::thread::yield_now();
    }
    let polls_after = Arc::new(AtomicUsize::new(0));
    let p = polls_after.clone();
    rt.block_on(rt.spawn(async move {
        p.fetch_add(1, Ordering::SeqCst);
    }))
    .unwrap();
    assert_eq!(polls_after.load(Ordering::SeqCst), 1, "the worker survived");
    assert!(common::block_on_plain(handle).is_ok());
}

use std::future::Future;
