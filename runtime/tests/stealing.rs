//! Work stealing and the idle protocol, observed through metrics.

mod common;

use common::{runtime, watchdog};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn spin_for(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

#[test]
fn idle_worker_steals_cpu_bound_tasks_spawned_on_another_worker() {
    let rt = runtime(2);
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let t = threads.clone();
    watchdog(Duration::from_secs(60), {
        let rt_handle = rt.handle().clone();
        move || {
            let spawner = rt_handle.spawn(async move {
                // All spawned from this one worker, onto its local queue.
                let handles: Vec<_> = (0..64)
                    .map(|_| {
                        let t = t.clone();
                        ringwork::spawn(async move {
                            spin_for(Duration::from_millis(2));
                            t.lock().unwrap().insert(std::thread::current().id());
                        })
                    })
                    .collect();
                for h in handles {
                    h.await.unwrap();
                }
            });
            common::block_on_plain(spawner).unwrap();
        }
    });
    let metrics = rt.metrics();
    assert!(
        metrics.total_steal_operations() > 0,
        "the idle worker stole: {metrics:?}"
    );
    assert!(metrics.total_stolen_tasks() >= metrics.total_steal_operations());
    assert_eq!(threads.lock().unwrap().len(), 2, "both workers ran tasks");
}

#[test]
fn idle_workers_park_and_wake_for_new_work() {
    let rt = runtime(2);
    // Idle workers park (bounded wait: a loaded machine may be slow to run them).
    let deadline = Instant::now() + Duration::from_secs(10);
    while rt.metrics().unparked_workers != 0 {
        assert!(
            Instant::now() < deadline,
            "workers never parked: {:?}",
            rt.metrics()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = rt.metrics();
    assert!(
        before.workers.iter().all(|w| w.parks >= 1),
        "idle workers parked: {before:?}"
    );
    assert_eq!(before.unparked_workers, 0, "{before:?}");
    // New work from outside wakes a worker.
    let out = watchdog(Duration::from_secs(10), {
        let h = rt.handle().clone();
        move || common::block_on_plain(h.spawn(async { 3 })).unwrap()
    });
    assert_eq!(out, 3);
    assert!(rt.metrics().total_polls() > before.total_polls());
}

#[test]
fn metrics_report_polls_and_alive_tasks() {
    let rt = runtime(2);
    let gate = common::Gate::new();
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let g = gate.clone();
            rt.spawn(async move { g.wait().await })
        })
        .collect();
    assert_eq!(rt.metrics().alive_tasks, 10);
    gate.open();
    for h in handles {
        common::block_on_plain(h).unwrap();
    }
    // A task leaves the registry just after its JoinHandle is woken.
    let handle = rt.handle().clone();
    watchdog(Duration::from_secs(10), move || {
        while handle.metrics().alive_tasks != 0 {
            std::thread::yield_now();
        }
    });
    let m = rt.metrics();
    assert_eq!(m.workers.len(), 2);
    assert!(m.total_polls() >= 10, "{m:?}");
}

#[test]
fn work_spreads_across_workers_from_the_injector() {
    let rt = runtime(2);
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let handles: Vec<_> = (0..200)
        .map(|_| {
            let t = threads.clone();
            rt.spawn(async move {
                spin_for(Duration::from_micros(500));
                t.lock().unwrap().insert(std::thread::current().id());
            })
        })
        .collect();
    watchdog(Duration::from_secs(60), move || {
        for h in handles {
            common::block_on_plain(h).unwrap();
        }
    });
    assert_eq!(threads.lock().unwrap().len(), 2);
}

#[test]
fn a_child_spawned_by_a_busy_task_runs_on_an_idle_worker() {
    let rt = runtime(2);
    let ran = common::Gate::new();
    let r = ran.clone();
    let parent = rt.spawn(async move {
        let r2 = r.clone();
        drop(ringwork::spawn(async move { r2.open() }));
        // Block this worker; the child must run elsewhere meanwhile.
        let start = Instant::now();
        while !r.is_open() && start.elapsed() < Duration::from_secs(5) {
            std::hint::spin_loop();
        }
        r.is_open()
    });
    let child_ran_while_parent_blocked = watchdog(Duration::from_secs(10), move || {
        common::block_on_plain(parent).unwrap()
    });
    assert!(child_ran_while_parent_blocked);
    assert!(ran.is_open());
}
