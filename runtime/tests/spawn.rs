//! Spawning: counts, outputs, nesting, and spawning from outside.

mod common;

use common::{runtime, watchdog};
use ringwork::Handle;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Scales the stress loops; 1 in CI.
const SCALE: usize = 1;

#[test]
fn one_million_spawned_tasks_all_complete() {
    const TASKS: usize = 1_000_000 * SCALE;
    let completed = watchdog(Duration::from_secs(120), || {
        let rt = runtime(2);
        let counter = Arc::new(AtomicUsize::new(0));
        let counter2 = counter.clone();
        async fn spawn_batches(batches: usize, counter: Arc<AtomicUsize>) {
            // In batches, so the handles held at once stay bounded.
            for _ in 0..batches {
                let handles: Vec<_> = (0..10_000)
                    .map(|_| {
                        let counter = counter.clone();
                        ringwork::spawn(async move {
                            counter.fetch_add(1, Ordering::Relaxed);
                        })
                    })
                    .collect();
                for handle in handles {
                    handle.await.expect("task completes");
                }
            }
        }
        let batches = TASKS / 10_000;
        rt.block_on(async move {
            // Half spawned from the block_on thread (through the injector),
            // half from inside a task (onto a worker's local queue).
            spawn_batches(batches / 2, counter2.clone()).await;
            ringwork::spawn(spawn_batches(batches - batches / 2, counter2))
                .await
                .unwrap();
        });
        // Every task leaves the registry (just after its JoinHandle wakes).
        while rt.metrics().alive_tasks != 0 {
            std::thread::yield_now();
        }
        counter.load(Ordering::Relaxed)
    });
    assert_eq!(completed, TASKS);
}

#[test]
fn detached_tasks_all_run_without_join_handles() {
    let rt = runtime(2);
    let counter = Arc::new(AtomicUsize::new(0));
    let done = common::Gate::new();
    const TASKS: usize = 10_000;
    for _ in 0..TASKS {
        let counter = counter.clone();
        let done = done.clone();
        drop(rt.spawn(async move {
            if counter.fetch_add(1, Ordering::SeqCst) + 1 == TASKS {
                done.open();
            }
        }));
    }
    watchdog(Duration::from_secs(30), move || {
        common::block_on_plain(done.wait());
    });
    assert_eq!(counter.load(Ordering::SeqCst), TASKS);
}

#[test]
fn output_reaches_the_join_handle() {
    let rt = runtime(2);
    let out = rt.block_on(async {
        let text = ringwork::spawn(async { String::from("hello") })
            .await
            .unwrap();
        let vec = ringwork::spawn(async { vec![1u8; 1 << 20] }).await.unwrap();
        (text, vec.len())
    });
    assert_eq!(out, ("hello".to_owned(), 1 << 20));
}

#[test]
fn join_handle_works_from_outside_the_runtime() {
    let rt = runtime(2);
    let handle = rt.spawn(async { 7 * 6 });
    assert_eq!(common::block_on_plain(handle).unwrap(), 42);
}

#[test]
fn nested_spawns_complete() {
    let rt = runtime(2);
    let total = rt.block_on(async {
        let outer: Vec<_> = (0..50u64)
            .map(|i| {
                ringwork::spawn(async move {
                    let inner: Vec<_> = (0..50u64)
                        .map(|j| ringwork::spawn(async move { i * 50 + j }))
                        .collect();
                    let mut sum = 0;
                    for handle in inner {
                        sum += handle.await.unwrap();
                    }
                    sum
                })
            })
            .collect();
        let mut total = 0;
        for handle in outer {
            total += handle.await.unwrap();
        }
        total
    });
    assert_eq!(total, (0..2500u64).sum::<u64>());
}

#[test]
fn chained_spawns_run_to_the_end_of_the_chain() {
    fn chain(depth: usize, counter: Arc<AtomicUsize>, done: common::Gate) {
        drop(ringwork::spawn(async move {
            counter.fetch_add(1, Ordering::SeqCst);
            if depth == 0 {
                done.open();
            } else {
                chain(depth - 1, counter, done);
            }
        }));
    }
    let rt = runtime(2);
    let counter = Arc::new(AtomicUsize::new(0));
    let done = common::Gate::new();
    let (c, d) = (counter.clone(), done.clone());
    rt.block_on(async move {
        chain(999, c, d);
        done.wait().await;
    });
    assert_eq!(counter.load(Ordering::SeqCst), 1000);
}

#[test]
fn spawn_from_a_plain_thread_through_a_handle() {
    let rt = runtime(2);
    let handle = rt.handle().clone();
    let results: Vec<u32> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..4u32)
            .map(|t| {
                let handle = handle.clone();
                s.spawn(move || {
                    let joins: Vec<_> = (0..100u32)
                        .map(|i| handle.spawn(async move { t * 1000 + i }))
                        .collect();
                    common::block_on_plain(async {
                        let mut sum = 0;
                        for join in joins {
                            sum += join.await.unwrap();
                        }
                        sum
                    })
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let expected: Vec<u32> = (0..4u32)
        .map(|t| (0..100).map(|i| t * 1000 + i).sum())
        .collect();
    assert_eq!(results, expected);
}

#[test]
fn handle_current_is_the_runtime_inside_tasks_and_block_on() {
    let rt = runtime(2);
    let seed = rt.handle().seed();
    let (in_block_on, in_task) = rt.block_on(async {
        let in_block_on = Handle::current().seed();
        let in_task = ringwork::spawn(async { Handle::current().seed() })
            .await
            .unwrap();
        (in_block_on, in_task)
    });
    assert_eq!((in_block_on, in_task), (seed, seed));
}

#[test]
fn handle_try_current_fails_outside_a_runtime() {
    let err = Handle::try_current().unwrap_err();
    assert!(err.to_string().contains("no ringwork runtime"), "{err}");
}

#[test]
fn enter_guard_makes_spawn_work_outside_tasks() {
    let rt = runtime(1);
    let join = {
        let _guard = rt.enter();
        ringwork::spawn(async { 5 })
    };
    assert_eq!(common::block_on_plain(join).unwrap(), 5);
    assert!(
        Handle::try_current().is_err(),
        "guard dropped: no current runtime"
    );
}

#[test]
fn task_ids_are_unique_and_reported() {
    let rt = runtime(2);
    let a = rt.spawn(async {});
    let b = rt.spawn(async {});
    assert_ne!(a.id(), b.id());
    let ids = (a.id(), b.id());
    assert_eq!(ids.0, a.abort_handle().id());
    common::block_on_plain(async {
        a.await.unwrap();
        b.await.unwrap();
    });
}
