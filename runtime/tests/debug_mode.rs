//! Debug mode (`Builder::debug`, `RINGWORK_DEBUG`): slow-poll reports,
//! panics nobody will see, task names and `Handle::dump`. Runs on both
//! drivers (CI repeats the suite with `RINGWORK_DRIVER=epoll`).

mod common;

use common::capture::{records, warnings_mentioning};
use common::watchdog;
use ringwork::runtime::Builder;
use ringwork::task;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

fn debug_runtime(threshold: Duration) -> ringwork::Runtime {
    records();
    Builder::new_multi_thread()
        .worker_threads(2)
        .debug(true)
        .slow_poll_threshold(threshold)
        .build()
        .unwrap()
}

#[test]
fn a_slow_poll_is_reported_with_the_tasks_name_spawn_site_and_worker() {
    watchdog(LIMIT, || {
        let runtime = debug_runtime(Duration::from_millis(30));
        runtime.block_on(async {
            task::Builder::new()
                .name("hog-7f3a")
                .spawn(async {
                    // Blocks its worker for 80 ms in one poll.
                    std::thread::sleep(Duration::from_millis(80));
                })
                .unwrap()
                .await
                .unwrap();
            // A well-behaved task is not reported.
            task::Builder::new()
                .name("polite-7f3a")
                .spawn(async {
                    for _ in 0..10 {
                        ringwork::time::sleep(Duration::from_millis(2)).await;
                    }
                })
                .unwrap()
                .await
                .unwrap();
        });
        // Reported just after the poll returns, which may be a moment after
        // its JoinHandle resolved.
        let start = std::time::Instant::now();
        while warnings_mentioning("hog-7f3a").is_empty() && start.elapsed() < LIMIT {
            std::thread::sleep(Duration::from_millis(1));
        }
        let reports = warnings_mentioning("hog-7f3a");
        assert_eq!(reports.len(), 1, "{reports:?}");
        let report = &reports[0];
        assert!(report.contains("slow poll"), "{report}");
        assert!(report.contains("debug_mode.rs"), "{report}");
        assert!(report.contains("worker="), "{report}");
        assert!(warnings_mentioning("polite-7f3a").is_empty());
        // At least the hog's (a poll preempted for 30 ms would add one).
        let metrics = runtime.metrics();
        let slow: u64 = metrics.workers.iter().map(|w| w.slow_polls).sum();
        assert!(slow >= 1);
        // The poll-time histogram saw every task poll; the hog's lands in
        // the [65.5 ms, 131 ms) bucket (2^16..2^17 µs) or above.
        let histogram: Vec<u64> = (0..ringwork::runtime::POLL_TIME_BUCKETS)
            .map(|b| {
                metrics
                    .workers
                    .iter()
                    .map(|w| w.poll_time_histogram[b])
                    .sum()
            })
            .collect();
        // (A poll still finishing on a worker is counted in `polls`
        // already, not yet in the histogram: at most one per worker.)
        let counted = histogram.iter().sum::<u64>();
        let polls = metrics.total_polls();
        assert!(
            counted <= polls && counted + 2 >= polls,
            "{counted} of {polls}"
        );
        assert!(histogram[17..].iter().sum::<u64>() >= 1, "{histogram:?}");
    });
}

#[test]
fn workers_report_time_parked_and_busy() {
    watchdog(LIMIT, || {
        let runtime = Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        // Idle for 200 ms: both workers sleep.
        std::thread::sleep(Duration::from_millis(200));
        let idle = runtime.metrics();
        for worker in &idle.workers {
            assert!(worker.parked >= Duration::from_millis(100), "{worker:?}");
            assert!(worker.poll_time_histogram.is_empty(), "debug mode is off");
        }
        // One worker spins for 150 ms in a task.
        runtime.block_on(async {
            ringwork::spawn(async {
                let start = std::time::Instant::now();
                while start.elapsed() < Duration::from_millis(150) {
                    std::hint::spin_loop();
                }
            })
            .await
            .unwrap();
        });
        let after = runtime.metrics();
        let grew = idle
            .workers
            .iter()
            .zip(&after.workers)
            .map(|(before, after)| after.busy.saturating_sub(before.busy))
            .max()
            .unwrap();
        assert!(grew >= Duration::from_millis(150), "{grew:?}");
    });
}

#[test]
fn with_debug_off_nothing_is_timed_or_reported() {
    watchdog(LIMIT, || {
        records();
        let runtime = Builder::new_multi_thread()
            .worker_threads(2)
            .debug(false)
            .slow_poll_threshold(Duration::from_millis(1))
            .build()
            .unwrap();
        runtime.block_on(async {
            task::Builder::new()
                .name("quiet-hog-91c2")
                .spawn(async { std::thread::sleep(Duration::from_millis(20)) })
                .unwrap()
                .await
                .unwrap();
            let panicked = task::Builder::new()
                .name("quiet-panic-91c2")
                .spawn(async { panic!("unseen") })
                .unwrap();
            drop(panicked);
            ringwork::time::sleep(Duration::from_millis(20)).await;
        });
        assert!(warnings_mentioning("91c2").is_empty());
        let slow: u64 = runtime.metrics().workers.iter().map(|w| w.slow_polls).sum();
        assert_eq!(slow, 0);
        // Names still show in dumps; poll records do not exist.
        runtime.block_on(async {
            let _idle = task::Builder::new()
                .name("named-91c2")
                .spawn(std::future::pending::<()>())
                .unwrap();
            ringwork::task::yield_now().await;
            let dump = ringwork::Handle::current().dump();
            let task = dump
                .tasks
                .iter()
                .find(|t| t.name.as_deref() == Some("named-91c2"))
                .expect("named task in the dump");
            assert_eq!(task.polls, None);
            assert_eq!(task.since_last_poll, None);
        });
    });
}

#[test]
fn a_panic_nobody_will_see_is_reported_and_an_awaited_one_is_not() {
    watchdog(LIMIT, || {
        let runtime = debug_runtime(Duration::from_secs(10));
        runtime.block_on(async {
            // Handle dropped first, then the panic.
            let gate = std::sync::Arc::new(common::Gate::new());
            let opened = gate.clone();
            let early = task::Builder::new()
                .name("orphan-b81e")
                .spawn(async move {
                    opened.wait().await;
                    panic!("orphan boom");
                })
                .unwrap();
            drop(early);
            gate.open();
            // The panic first, then the handle dropped unread.
            let late = task::Builder::new()
                .name("unread-b81e")
                .spawn(async { panic!("unread boom") })
                .unwrap();
            while !late.is_finished() {
                ringwork::time::sleep(Duration::from_millis(1)).await;
            }
            drop(late);
            // Awaited: seen, so not reported.
            let seen = task::Builder::new()
                .name("seen-b81e")
                .spawn(async { panic!("seen boom") })
                .unwrap();
            assert!(seen.await.unwrap_err().is_panic());
            // Bounded: the orphan panics on a worker, maybe a while later
            // on a loaded machine.
            let start = std::time::Instant::now();
            while warnings_mentioning("orphan-b81e").is_empty() && start.elapsed() < LIMIT / 2 {
                ringwork::time::sleep(Duration::from_millis(2)).await;
            }
        });
        for name in ["orphan-b81e", "unread-b81e"] {
            let reports = warnings_mentioning(name);
            assert_eq!(reports.len(), 1, "{name}: {reports:?}");
            assert!(reports[0].contains("nobody will see"), "{}", reports[0]);
        }
        assert!(warnings_mentioning("seen-b81e").is_empty());
    });
}

#[test]
fn a_dump_lists_live_tasks_with_state_and_time_since_their_last_poll() {
    watchdog(LIMIT, || {
        let runtime = debug_runtime(Duration::from_secs(10));
        runtime.block_on(async {
            let stuck = task::Builder::new()
                .name("stuck-40d1")
                .spawn(std::future::pending::<()>())
                .unwrap();
            let ticking = task::Builder::new()
                .name("ticking-40d1")
                .spawn(async {
                    loop {
                        ringwork::time::sleep(Duration::from_millis(1)).await;
                    }
                })
                .unwrap();
            ringwork::time::sleep(Duration::from_millis(60)).await;
            let dump = ringwork::Handle::current().dump();
            let find = |name: &str| {
                dump.tasks
                    .iter()
                    .find(|t| t.name.as_deref() == Some(name))
                    .cloned()
                    .unwrap_or_else(|| panic!("{name} not in {dump}"))
            };
            let stuck_row = find("stuck-40d1");
            let ticking_row = find("ticking-40d1");
            assert_eq!(stuck_row.state, "idle");
            assert_eq!(stuck_row.polls, Some(1));
            assert!(stuck_row.since_last_poll.unwrap() >= Duration::from_millis(50));
            assert!(ticking_row.polls.unwrap() > 5, "{ticking_row:?}");
            assert!(ticking_row.poll_time.unwrap() >= ticking_row.longest_poll.unwrap());
            assert!(stuck_row.longest_poll.unwrap() < Duration::from_millis(50));
            assert!(ticking_row.since_last_poll.unwrap() < stuck_row.since_last_poll.unwrap());
            assert!(stuck_row.spawned_at.file().ends_with("debug_mode.rs"));
            // Longest-idle first, and the text names both.
            let text = dump.to_string();
            let stuck_at = text.find("stuck-40d1").unwrap();
            let ticking_at = text.find("ticking-40d1").unwrap();
            assert!(stuck_at < ticking_at, "{text}");
            stuck.abort();
            ticking.abort();
        });
    });
}

#[test]
fn task_builder_outside_a_runtime_is_an_error_not_a_panic() {
    let err = task::Builder::new()
        .name("nowhere")
        .spawn(async {})
        .unwrap_err();
    assert!(err.to_string().contains("no ringwork runtime"), "{err}");
}

/// Run by the next test in child processes, with `RINGWORK_DEBUG` set.
#[test]
fn debug_env_probe() {
    if std::env::var_os("RINGWORK_DEBUG_PROBE").is_none() {
        return;
    }
    match Builder::new_multi_thread().worker_threads(1).build() {
        Err(err) => println!("probe: build error: {err}"),
        Ok(runtime) => {
            let polls = runtime.block_on(async {
                let _t = ringwork::spawn(std::future::pending::<()>());
                ringwork::task::yield_now().await;
                ringwork::Handle::current().dump().tasks[0].polls
            });
            println!("probe: debug {}", polls.is_some());
        }
    }
}

#[test]
fn ringwork_debug_turns_debug_mode_on_and_a_bad_value_is_an_error() {
    let run = |value: &str| -> String {
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "debug_env_probe",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("RINGWORK_DEBUG_PROBE", "1")
            .env("RINGWORK_DEBUG", value)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|l| l.split_once("probe: ").map(|(_, rest)| rest.to_owned()))
            .collect()
    };
    assert_eq!(run("1"), "debug true");
    assert_eq!(run("0"), "debug false");
    let bad = run("yes");
    assert!(bad.contains("RINGWORK_DEBUG must be"), "{bad}");
}
