//! `block_on`: runs on the calling thread, and refuses to nest.

mod common;

use common::{runtime, watchdog};
use std::time::Duration;

#[test]
fn block_on_runs_the_future_on_the_calling_thread() {
    let rt = runtime(2);
    let me = std::thread::current().id();
    let there = rt.block_on(async { std::thread::current().id() });
    assert_eq!(me, there);
}

#[test]
fn block_on_inside_a_task_panics_with_an_explanation() {
    let rt = std::sync::Arc::new(runtime(2));
    let inner = rt.clone();
    let err = watchdog(Duration::from_secs(10), move || {
        let rt2 = inner.clone();
        inner.block_on(inner.spawn(async move { rt2.block_on(async { 1 }) }))
    })
    .unwrap_err();
    assert!(err.is_panic());
    assert!(
        err.to_string()
            .contains("already driving a ringwork runtime"),
        "{err}"
    );
    // The worker survived.
    assert_eq!(rt.block_on(rt.spawn(async { 2 })).unwrap(), 2);
}

#[test]
fn nested_block_on_panics_instead_of_deadlocking() {
    let rt = runtime(1);
    let other = runtime(1);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async { other.block_on(async { 1 }) })
    }));
    let payload = result.unwrap_err();
    let msg = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(msg.contains("already driving"), "{msg}");
    // Both runtimes still work afterwards.
    assert_eq!(rt.block_on(async { 3 }), 3);
    assert_eq!(other.block_on(async { 4 }), 4);
}

#[test]
fn block_on_can_be_called_again_and_from_several_threads() {
    let rt = runtime(2);
    for i in 0..10 {
        assert_eq!(rt.block_on(async move { i }), i);
    }
    std::thread::scope(|s| {
        for t in 0..4 {
            let rt = &rt;
            s.spawn(move || {
                let v = rt
                    .block_on(async move { ringwork::spawn(async move { t * 2 }).await.unwrap() });
                assert_eq!(v, t * 2);
            });
        }
    });
}
