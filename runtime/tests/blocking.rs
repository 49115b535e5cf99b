//! `spawn_blocking`: every job runs once, the thread cap holds, panics and
//! aborts are reported, idle threads retire, shutdown cancels queued jobs.

mod common;

use common::{watchdog, DropCounter, Gate};
use ringwork::runtime::Builder;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn rt(max_blocking: usize) -> ringwork::Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(max_blocking)
        .thread_keep_alive(Duration::from_millis(100))
        .build()
        .unwrap()
}

#[test]
fn ten_thousand_jobs_all_run_once_within_the_thread_cap() {
    let rt = rt(8);
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let sum = watchdog(Duration::from_secs(60), move || {
        let s = rt.block_on(async move {
            let handles: Vec<_> = (0..10_000u64)
                .map(|i| {
                    let r = r.clone();
                    ringwork::task::spawn_blocking(move || {
                        r.fetch_add(1, Ordering::SeqCst);
                        i
                    })
                })
                .collect();
            let mut sum = 0;
            for h in handles {
                sum += h.await.unwrap();
            }
            sum
        });
        let m = rt.metrics();
        assert!(m.blocking_threads_peak <= 8, "cap exceeded: {m:?}");
        assert!(m.blocking_threads_peak >= 1);
        s
    });
    assert_eq!(sum, (0..10_000u64).sum::<u64>());
    assert_eq!(runs.load(Ordering::SeqCst), 10_000);
}

#[test]
fn the_cap_holds_while_jobs_block() {
    let rt = rt(3);
    let gate = Gate::new();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let (g, running, peak) = (gate.clone(), running.clone(), peak.clone());
            rt.spawn_blocking(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                while !g.is_open() {
                    std::thread::sleep(Duration::from_millis(1));
                }
                running.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    // The cap is reached (bounded wait) and never exceeded while jobs block.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while peak.load(Ordering::SeqCst) < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the pool never reached its cap"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(
        peak.load(Ordering::SeqCst),
        3,
        "exactly the cap runs at once"
    );
    gate.open();
    watchdog(Duration::from_secs(30), move || {
        for h in handles {
            common::block_on_plain(h).unwrap();
        }
    });
}

#[test]
fn a_panicking_job_is_a_join_error_panic() {
    let rt = rt(2);
    let err = rt
        .block_on(rt.spawn_blocking(|| panic!("job fails")))
        .unwrap_err();
    assert!(err.is_panic());
    assert!(err.to_string().contains("job fails"), "{err}");
    assert_eq!(
        rt.block_on(rt.spawn_blocking(|| 3)).unwrap(),
        3,
        "the pool goes on"
    );
}

#[test]
fn abort_before_start_cancels_and_drops_the_closure() {
    let rt = rt(1);
    let gate = Gate::new();
    let g = gate.clone();
    let blocker = rt.spawn_blocking(move || {
        while !g.is_open() {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    let drops = DropCounter::new();
    let token = drops.token();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let queued = rt.spawn_blocking(move || {
        let _token = token;
        r.fetch_add(1, Ordering::SeqCst);
    });
    queued.abort();
    gate.open();
    assert!(common::block_on_plain(queued).unwrap_err().is_cancelled());
    common::block_on_plain(blocker).unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(drops.drops(), 1);
}

#[test]
fn idle_threads_retire_after_the_keep_alive() {
    let rt = rt(4);
    rt.block_on(async {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                ringwork::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(20)))
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
    });
    assert!(rt.metrics().blocking_threads >= 1);
    let handle = rt.handle().clone();
    watchdog(Duration::from_secs(10), move || {
        while handle.metrics().blocking_threads != 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
    });
}

#[test]
fn under_a_trickle_of_jobs_the_surplus_threads_still_retire() {
    let rt = ringwork::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .thread_keep_alive(Duration::from_millis(300))
        .build()
        .unwrap();
    let handle = rt.handle().clone();
    rt.block_on(async {
        // A burst: 8 threads.
        let burst: Vec<_> = (0..8)
            .map(|_| {
                ringwork::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(50)))
            })
            .collect();
        for job in burst {
            job.await.unwrap();
        }
        assert!(handle.metrics().blocking_threads >= 4);
        // Then one short job every 25 ms for 1.5 s: one thread is enough,
        // and the other idle threads must not be kept alive by it.
        for _ in 0..60 {
            ringwork::task::spawn_blocking(|| ()).await.unwrap();
            ringwork::time::sleep(Duration::from_millis(25)).await;
        }
    });
    let threads = handle.metrics().blocking_threads;
    assert!(
        threads <= 2,
        "{threads} blocking threads kept alive by a trickle of jobs"
    );
}

#[test]
fn shutdown_cancels_queued_jobs_and_waits_for_running_ones() {
    let rt = rt(1);
    let started = Gate::new();
    let s = started.clone();
    let finished = Arc::new(AtomicUsize::new(0));
    let f = finished.clone();
    let running = rt.spawn_blocking(move || {
        s.open();
        std::thread::sleep(Duration::from_millis(50));
        f.fetch_add(1, Ordering::SeqCst);
    });
    let drops = DropCounter::new();
    let token = drops.token();
    let queued = rt.spawn_blocking(move || drop(token));
    watchdog(Duration::from_secs(10), {
        let started = started.clone();
        move || common::block_on_plain(started.wait())
    });
    watchdog(Duration::from_secs(10), move || drop(rt));
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "the running job finished before drop returned"
    );
    assert!(common::block_on_plain(running).is_ok());
    assert!(common::block_on_plain(queued).unwrap_err().is_cancelled());
    assert_eq!(drops.drops(), 1);
}

/// Runs `JOBS` jobs of 100 ms each from a task, all spawned before any is
/// awaited; returns the wall time and the names of the threads that ran them.
fn burst(rt: &ringwork::Runtime) -> (Duration, Vec<String>) {
    const JOBS: usize = 10;
    rt.block_on(async {
        let start = std::time::Instant::now();
        let handles: Vec<_> = (0..JOBS)
            .map(|_| {
                ringwork::task::spawn_blocking(|| {
                    std::thread::sleep(Duration::from_millis(100));
                    std::thread::current().name().map(str::to_owned)
                })
            })
            .collect();
        let mut names = Vec::new();
        for h in handles {
            names.push(h.await.unwrap().expect("pool threads are named"));
        }
        (start.elapsed(), names)
    })
}

fn burst_runtime() -> ringwork::Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(5)
        .thread_keep_alive(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[test]
fn a_burst_of_jobs_starts_threads_up_to_the_cap_even_with_an_idle_thread() {
    watchdog(Duration::from_secs(30), || {
        // A fresh pool.
        let rt = burst_runtime();
        let (took, _) = burst(&rt);
        let peak = rt.metrics().blocking_threads_peak;
        assert_eq!(peak, 5, "fresh pool: threads started for the burst");
        assert!(took < Duration::from_millis(500), "fresh pool: {took:?}");

        // One idle thread left over by an earlier job: the burst must not
        // count it once per job.
        let rt = burst_runtime();
        rt.block_on(rt.spawn_blocking(|| ())).unwrap();
        assert_eq!(rt.metrics().blocking_threads, 1);
        let (took, _) = burst(&rt);
        let peak = rt.metrics().blocking_threads_peak;
        assert_eq!(peak, 5, "one idle thread: threads started for the burst");
        assert!(
            took < Duration::from_millis(500),
            "one idle thread: {took:?}"
        );
    });
}

#[test]
fn pool_threads_are_named_ringwork_blocking_n_counting_up() {
    watchdog(Duration::from_secs(30), || {
        let rt = Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("custom-worker")
            .max_blocking_threads(5)
            .thread_keep_alive(Duration::from_secs(30))
            .build()
            .unwrap();
        let first = rt
            .block_on(rt.spawn_blocking(|| std::thread::current().name().map(str::to_owned)))
            .unwrap();
        assert_eq!(first.as_deref(), Some("ringwork-blocking-0"));
        let (_, names) = burst(&rt);
        let started = rt.metrics().blocking_threads_peak;
        let mut distinct: Vec<usize> = names
            .iter()
            .map(|name| {
                let n = name
                    .strip_prefix("ringwork-blocking-")
                    .unwrap_or_else(|| panic!("not a pool thread name: {name}"));
                n.parse().expect("N is a number")
            })
            .collect();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(
            distinct.iter().all(|&n| n < started),
            "N counts the threads started ({started}): {distinct:?}"
        );
    });
}

#[test]
fn spawn_inside_spawn_blocking_runs_the_task_on_the_same_runtime() {
    watchdog(Duration::from_secs(30), || {
        let rt = Builder::new_multi_thread()
            .worker_threads(2)
            .seed(0x5eed_b10c)
            .build()
            .unwrap();
        rt.block_on(async {
            // The JoinHandle is returned out of the job and awaited here.
            let (inner, seed) = ringwork::task::spawn_blocking(|| {
                let seed = ringwork::Handle::try_current()
                    .expect("the runtime is current in a blocking job")
                    .seed();
                (ringwork::spawn(async { 6 * 7 }), seed)
            })
            .await
            .unwrap();
            assert_eq!(seed, 0x5eed_b10c, "the job's runtime, not another");
            assert_eq!(inner.await.unwrap(), 42);
        });
        // The result of a task spawned in the job, sent through a std channel.
        let (tx, rx) = std::sync::mpsc::channel();
        drop(rt.spawn_blocking(move || {
            drop(ringwork::spawn(async move { tx.send(7).unwrap() }));
        }));
        assert_eq!(rx.recv().unwrap(), 7);
    });
}

#[test]
fn a_runtime_whose_blocking_jobs_spawned_tasks_is_freed_when_dropped() {
    const JOBS: usize = 8;
    // The stop hook lives in the runtime's shared state: its count falls
    // back to 1 only when that state is freed.
    let sentinel = Arc::new(());
    let s = sentinel.clone();
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(1)
        .on_thread_stop(move || drop(s.clone()))
        .build()
        .unwrap();
    let drops = DropCounter::new();
    let jobs: Vec<_> = (0..JOBS)
        .map(|_| {
            let token = drops.token();
            rt.spawn_blocking(move || {
                drop(ringwork::spawn(async move {
                    let _token = token;
                    std::future::pending::<()>().await;
                }));
            })
        })
        .collect();
    for job in jobs {
        common::block_on_plain(job).unwrap();
    }
    // Jobs still queued (behind the one busy thread) at shutdown hold the
    // runtime's handle until shutdown cancels them.
    let gate = Gate::new();
    let started = Gate::new();
    let (g, st) = (gate.clone(), started.clone());
    let busy = rt.spawn_blocking(move || {
        st.open();
        while !g.is_open() {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    // The busy job runs (not queued) before shutdown starts, also on a
    // loaded machine.
    common::block_on_plain(started.wait());
    let queued: Vec<_> = (0..JOBS).map(|_| rt.spawn_blocking(|| ())).collect();
    watchdog(Duration::from_secs(10), move || {
        rt.shutdown_timeout(Duration::from_millis(200))
    });
    for job in queued {
        assert!(common::block_on_plain(job).unwrap_err().is_cancelled());
    }
    gate.open();
    common::block_on_plain(busy).unwrap();
    watchdog(Duration::from_secs(10), move || {
        while drops.drops() < JOBS || Arc::strong_count(&sentinel) > 1 {
            std::thread::sleep(Duration::from_millis(5));
        }
    });
}

#[test]
fn zero_max_blocking_threads_is_an_error() {
    let err = Builder::new_multi_thread()
        .max_blocking_threads(0)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}
