//! Loom models of the scheduler with its real worker loop, queues (the loom
//! stand-in for crossbeam-deque), idle protocol and condvar parker.
#![cfg(loom)]

use ringwork::runtime::Builder;

/// Proves: a task spawned from outside while the only worker goes to sleep
/// is run (no lost wake-up between the injector push and the park), its
/// output reaches `block_on`, and shutdown joins the worker.
#[test]
fn spawn_from_outside_wakes_the_only_worker() {
    loom::model(|| {
        let rt = Builder::new_multi_thread()
            .worker_threads(1)
            .seed(1)
            .build()
            .unwrap();
        let out = rt.block_on(rt.spawn(async { 7 }));
        assert_eq!(out.unwrap(), 7);
        drop(rt);
    });
}

/// Proves: with two workers, a task spawned by another task (onto a local
/// queue) runs even while the spawner waits on it, whichever worker takes
/// it, and nothing is lost when both workers race to sleep.
#[test]
fn nested_spawn_with_two_workers_completes() {
    loom::model(|| {
        let rt = Builder::new_multi_thread()
            .worker_threads(2)
            .seed(1)
            .build()
            .unwrap();
        let out = rt.block_on(rt.spawn(async { ringwork::spawn(async { 5 }).await.unwrap() + 1 }));
        assert_eq!(out.unwrap(), 6);
        drop(rt);
    });
}
