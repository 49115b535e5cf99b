//! Shutdown: dropping the runtime drops live futures, joins workers, and
//! leaves handles and wakers harmless.

mod common;

use common::{runtime, watchdog, DropCounter, Gate, PendingForever};
use ringwork::runtime::Builder;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn dropping_the_runtime_drops_every_pending_future() {
    let drops = DropCounter::new();
    let owner = Arc::new(());
    const TASKS: usize = 1_000;
    let handles = watchdog(Duration::from_secs(30), {
        let drops = drops.clone();
        let owner = owner.clone();
        move || {
            let rt = runtime(2);
            let handles: Vec<_> = (0..TASKS)
                .map(|i| {
                    let token = drops.token();
                    let owner = owner.clone();
                    rt.spawn(async move {
                        let _token = token;
                        let _owner = owner;
                        if i % 3 == 0 {
                            ringwork::task::yield_now().await;
                        }
                        std::future::pending::<()>().await;
                    })
                })
                .collect::<Vec<_>>();
            drop(rt);
            handles
        }
    });
    assert_eq!(drops.drops(), TASKS, "every future dropped exactly once");
    assert_eq!(Arc::strong_count(&owner), 1, "no task state leaked");
    for handle in handles {
        assert!(handle.is_finished());
        assert!(common::block_on_plain(handle).unwrap_err().is_cancelled());
    }
}

#[test]
fn futures_are_dropped_on_worker_threads() {
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("shutdown-test-worker")
        .build()
        .unwrap();
    let dropped_on = Arc::new(Mutex::new(Vec::new()));
    struct RecordThread(Arc<Mutex<Vec<Option<String>>>>);
    impl Drop for RecordThread {
        fn drop(&mut self) {
            self.0
                .lock()
                .unwrap()
                .push(std::thread::current().name().map(str::to_owned));
        }
    }
    for _ in 0..20 {
        let record = RecordThread(dropped_on.clone());
        drop(rt.spawn(async move {
            let _record = record;
            std::future::pending::<()>().await;
        }));
    }
    drop(rt);
    let names = dropped_on.lock().unwrap();
    assert_eq!(names.len(), 20);
    assert!(
        names
            .iter()
            .all(|n| n.as_deref() == Some("shutdown-test-worker")),
        "{names:?}"
    );
}

#[test]
fn spawn_after_shutdown_yields_cancelled() {
    let rt = runtime(2);
    let handle = rt.handle().clone();
    drop(rt);
    let drops = DropCounter::new();
    let token = drops.token();
    let join = handle.spawn(async move {
        let _token = token;
        1
    });
    assert!(join.is_finished());
    assert!(common::block_on_plain(join).unwrap_err().is_cancelled());
    assert_eq!(drops.drops(), 1, "the future was dropped right away");
}

#[test]
fn waker_used_after_the_runtime_is_gone_is_harmless() {
    let slot = Arc::new(Mutex::new(None));
    let rt = runtime(2);
    let s = slot.clone();
    let handle = rt.spawn(PendingForever { waker_slot: s });
    while slot.lock().unwrap().is_none() {
        std::thread::yield_now();
    }
    drop(rt);
    let waker = slot.lock().unwrap().take().unwrap();
    waker.wake_by_ref();
    let clone = waker.clone();
    waker.wake();
    drop(clone);
    assert!(common::block_on_plain(handle).unwrap_err().is_cancelled());
}

#[test]
fn shutdown_timeout_returns_while_a_task_blocks_its_worker() {
    let rt = runtime(2);
    let started = Gate::new();
    let release = Arc::new(AtomicUsize::new(0));
    let (s, r) = (started.clone(), release.clone());
    drop(rt.spawn(async move {
        s.open();
        // A badly behaved task: blocks its worker thread.
        while r.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }));
    watchdog(Duration::from_secs(10), {
        let started = started.clone();
        move || common::block_on_plain(started.wait())
    });
    let begin = Instant::now();
    rt.shutdown_timeout(Duration::from_millis(200));
    let waited = begin.elapsed();
    release.store(1, Ordering::SeqCst);
    assert!(waited >= Duration::from_millis(200), "waited {waited:?}");
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
}

#[test]
fn shutdown_wakes_parked_workers_promptly() {
    let rt = runtime(2);
    // Let the workers go idle and park.
    std::thread::sleep(Duration::from_millis(50));
    let begin = Instant::now();
    watchdog(Duration::from_secs(10), move || drop(rt));
    assert!(begin.elapsed() < Duration::from_secs(2));
}

#[test]
fn thread_start_and_stop_hooks_run_once_per_worker() {
    let starts = Arc::new(AtomicUsize::new(0));
    let stops = Arc::new(AtomicUsize::new(0));
    let (a, b) = (starts.clone(), stops.clone());
    let rt = Builder::new_multi_thread()
        .worker_threads(3)
        .on_thread_start(move || {
            a.fetch_add(1, Ordering::SeqCst);
        })
        .on_thread_stop(move || {
            b.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    rt.block_on(async {});
    drop(rt);
    assert_eq!(starts.load(Ordering::SeqCst), 3);
    assert_eq!(stops.load(Ordering::SeqCst), 3);
}

#[test]
fn dropping_a_runtime_inside_its_own_task_does_not_deadlock() {
    let rt = Arc::new(Mutex::new(Some(runtime(2))));
    let done = Gate::new();
    let (slot, d) = (rt.clone(), done.clone());
    let guard = rt.lock().unwrap();
    drop(guard.as_ref().unwrap().spawn(async move {
        let rt = slot.lock().unwrap().take();
        drop(rt);
        d.open();
    }));
    drop(guard);
    watchdog(Duration::from_secs(10), move || {
        common::block_on_plain(done.wait())
    });
}

#[test]
fn dropping_the_runtime_inside_spawn_blocking_returns() {
    const TASKS: usize = 4;
    let rt = runtime(2);
    let handle = rt.handle().clone();
    let drops = DropCounter::new();
    for _ in 0..TASKS {
        let token = drops.token();
        drop(rt.spawn(async move {
            let _token = token;
            std::future::pending::<()>().await;
        }));
    }
    // Another blocking job, running while the runtime is dropped: the drop
    // waits for it, as it would from any thread that is not a pool thread.
    let other_started = Gate::new();
    let other_done = Arc::new(AtomicUsize::new(0));
    let other = {
        let (started, done) = (other_started.clone(), other_done.clone());
        handle.spawn_blocking(move || {
            started.open();
            std::thread::sleep(Duration::from_millis(50));
            done.fetch_add(1, Ordering::SeqCst);
        })
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let (d, o) = (drops.clone(), other_done.clone());
    drop(handle.spawn_blocking(move || {
        common::block_on_plain(other_started.wait());
        drop(rt);
        // What the drop finished before it returned.
        tx.send((d.drops(), o.load(Ordering::SeqCst))).unwrap();
    }));
    let (dropped, other_finished) = watchdog(Duration::from_secs(10), move || rx.recv().unwrap());
    assert_eq!(
        dropped, TASKS,
        "every task was dropped before drop returned"
    );
    assert_eq!(other_finished, 1, "the other running job was waited for");
    assert!(common::block_on_plain(other).is_ok());
}

#[test]
fn panicking_thread_stop_hook_does_not_hang_drop() {
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(|| panic!("start hook panics"))
        .on_thread_stop(|| panic!("stop hook panics"))
        .build()
        .unwrap();
    assert_eq!(
        rt.block_on(rt.spawn(async { 1 })).unwrap(),
        1,
        "workers survived the start hook"
    );
    watchdog(Duration::from_secs(10), move || drop(rt));
}

#[test]
fn shutdown_background_frees_tasks_queued_in_the_injector() {
    let owner = Arc::new(());
    let rt = runtime(1);
    // Keep the only worker busy so spawned tasks stay queued.
    let started = Gate::new();
    let s = started.clone();
    drop(rt.spawn(async move {
        s.open();
        std::thread::sleep(Duration::from_millis(200));
    }));
    watchdog(Duration::from_secs(10), {
        let started = started.clone();
        move || common::block_on_plain(started.wait())
    });
    for _ in 0..1000 {
        let owner = owner.clone();
        drop(rt.spawn(async move {
            let _owner = owner;
        }));
    }
    rt.shutdown_background();
    // The worker finishes its sleep, sweeps and exits; then nothing holds
    // the tasks any more.
    watchdog(Duration::from_secs(10), move || {
        while Arc::strong_count(&owner) > 1 {
            std::thread::sleep(Duration::from_millis(5));
        }
    });
}
