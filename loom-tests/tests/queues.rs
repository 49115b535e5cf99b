//! Loom model of the scheduler's run queues (`runtime/src/scheduler/`): a
//! worker's LIFO slot and local queue (the loom stand-in for crossbeam-deque),
//! the injector, and stealing, driven through the real worker loop's ticks
//! by `ringwork::loom_api::ModelWorkers`.
#![cfg(loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use ringwork::loom_api::ModelWorkers;
use std::future::Future;

/// A task that records its run in `runs` and checks it is the first.
fn counted(runs: &Arc<AtomicUsize>) -> impl Future<Output = ()> + Send + 'static {
    let runs = runs.clone();
    async move {
        let before = runs.fetch_add(1, Ordering::SeqCst);
        assert_eq!(before, 0, "a task ran twice");
    }
}

/// Proves: tasks placed in worker 0's LIFO slot (the first one pushed out to
/// the back of its local queue by the second) and in the injector, while
/// worker 1 steals from worker 0's queue and both take from the injector,
/// each run exactly once: none is lost or duplicated between the queues, the
/// slot and a steal, whoever wins each race.
#[test]
fn every_task_runs_once_across_lifo_local_injector_and_steals() {
    loom::model(|| {
        let workers = ModelWorkers::new(2);
        let runs: Vec<_> = (0..3).map(|_| Arc::new(AtomicUsize::new(0))).collect();

        // Worker 0: two wake-ups into its LIFO slot (the first moves to the
        // stealable local queue), then its loop until it finds nothing.
        let owner = {
            let workers = workers.clone();
            let (lifo_0, lifo_1) = (counted(&runs[0]), counted(&runs[1]));
            thread::spawn(move || {
                workers.run_as(0, |w| {
                    let handles = [w.spawn_lifo(lifo_0), w.spawn_lifo(lifo_1)];
                    w.run_until_idle();
                    handles
                })
            })
        };
        // Worker 1: two ticks (injector, then a steal from worker 0), then it
        // runs what it took until it finds nothing.
        let thief = {
            let workers = workers.clone();
            thread::spawn(move || {
                workers.run_as(1, |w| {
                    w.run_tick();
                    w.run_tick();
                    w.run_until_idle();
                })
            })
        };
        // From outside the runtime: into the injector.
        let injected = workers.spawn(counted(&runs[2]));

        let [lifo_0, lifo_1] = owner.join().unwrap();
        let handles = [lifo_0, lifo_1, injected];
        thief.join().unwrap();
        // Whatever is still queued (the two workers' loops above stop at the
        // first tick that finds nothing) is run by its own worker now.
        workers.run_as(0, |w| w.run_until_idle());
        workers.run_as(1, |w| w.run_until_idle());

        for (i, runs) in runs.iter().enumerate() {
            assert_eq!(runs.load(Ordering::SeqCst), 1, "task {i} ran once");
        }
        assert!(handles.iter().all(|h| h.is_finished()));
        assert_eq!(workers.alive(), 0);
        workers.shutdown();
    });
}

/// Proves: a task spawned into worker 0's LIFO slot (as every spawn from a
/// worker is), while the monitor rescues it for a stuck worker 0 and worker 1
/// looks for work, runs exactly once: the owner's take and the monitor's
/// take of the slot cannot both get it, and a rescued task reaches the
/// injector, where worker 1 (or worker 0, later) finds it.
#[test]
fn a_lifo_task_rescued_from_a_stuck_worker_runs_once() {
    loom::model(|| {
        let workers = ModelWorkers::new(2);
        let runs = Arc::new(AtomicUsize::new(0));
        let spawned = workers.run_as(0, |_| workers.spawn(counted(&runs)));

        let owner = {
            let workers = workers.clone();
            thread::spawn(move || workers.run_as(0, |w| w.run_tick()))
        };
        let monitor = {
            let workers = workers.clone();
            thread::spawn(move || workers.rescue(0))
        };
        let idle = workers.run_as(1, |w| w.run_tick());
        let owner = owner.join().unwrap();
        monitor.join().unwrap();
        // At most one of the two ticks got the task.
        assert!(!(owner && idle), "both workers ran a task; there was one");
        workers.run_as(0, |w| w.run_until_idle());
        workers.run_as(1, |w| w.run_until_idle());

        assert_eq!(runs.load(Ordering::SeqCst), 1, "the task ran once");
        assert!(spawned.is_finished());
        assert_eq!(workers.alive(), 0);
        workers.shutdown();
    });
}
