//! The paused test clock of a current-thread runtime: `time::pause`,
//! `advance`, `resume`, auto-advance, `Builder::start_paused` and
//! `#[ringwork::test(start_paused = true)]`. Both drivers (CI repeats the
//! suite with `RINGWORK_DRIVER=epoll`).

mod common;

use common::watchdog;
use ringwork::runtime::Builder;
use ringwork::time::{self, Instant};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// The paused clock lands on a timer's deadline rounded up to the wheel's
/// millisecond, never before it.
#[track_caller]
fn assert_about(elapsed: Duration, expected: Duration) {
    assert!(
        elapsed >= expected && elapsed < expected + Duration::from_millis(2),
        "{elapsed:?}, expected {expected:?} (+ under 2 ms)"
    );
}

fn paused() -> ringwork::Runtime {
    Builder::new_current_thread()
        .start_paused(true)
        .build()
        .unwrap()
}

#[test]
fn an_hour_of_sleeps_takes_no_real_time_and_fires_in_deadline_order() {
    watchdog(LIMIT, || {
        let runtime = paused();
        let real = std::time::Instant::now();
        let order = runtime.block_on(async {
            let start = Instant::now();
            let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let mut handles = Vec::new();
            for minutes in [60u64, 5, 30, 1, 45, 15] {
                let order = order.clone();
                handles.push(ringwork::spawn(async move {
                    time::sleep(Duration::from_secs(minutes * 60)).await;
                    let at = Instant::now() - start;
                    order.lock().unwrap().push((minutes, at));
                }));
            }
            for handle in handles {
                handle.await.unwrap();
            }
            assert_about(Instant::now() - start, Duration::from_secs(3600));
            let order = order.lock().unwrap().clone();
            order
        });
        let minutes: Vec<u64> = order.iter().map(|(m, _)| *m).collect();
        assert_eq!(minutes, vec![1, 5, 15, 30, 45, 60]);
        for (m, at) in order {
            // The clock moved exactly to each deadline (1 ms wheel).
            assert_eq!(at.as_secs(), m * 60, "{at:?}");
        }
        assert!(
            real.elapsed() < Duration::from_secs(5),
            "{:?}",
            real.elapsed()
        );
    });
}

#[test]
fn advance_fires_what_is_due_and_nothing_later() {
    watchdog(LIMIT, || {
        let runtime = paused();
        runtime.block_on(async {
            let fired = Rc::new(RefCell::new(Vec::new()));
            let local = ringwork::task::LocalSet::new();
            local
                .run_until(async {
                    for secs in [1u64, 2, 3] {
                        let fired = fired.clone();
                        drop(ringwork::task::spawn_local(async move {
                            time::sleep(Duration::from_secs(secs)).await;
                            fired.borrow_mut().push(secs);
                        }));
                    }
                    ringwork::task::yield_now().await; // arm them
                    let start = Instant::now();
                    time::advance(Duration::from_millis(2500)).await;
                    assert_eq!(Instant::now() - start, Duration::from_millis(2500));
                    assert_eq!(*fired.borrow(), vec![1, 2]);
                    time::advance(Duration::from_secs(1)).await;
                    assert_eq!(*fired.borrow(), vec![1, 2, 3]);
                })
                .await;
        });
    });
}

#[test]
fn timeout_and_interval_run_on_the_paused_clock() {
    watchdog(LIMIT, || {
        let runtime = paused();
        let real = std::time::Instant::now();
        runtime.block_on(async {
            let start = Instant::now();
            let result = time::timeout(Duration::from_secs(30), std::future::pending::<()>()).await;
            assert!(result.is_err());
            assert_about(Instant::now() - start, Duration::from_secs(30));

            let mut ticks = time::interval(Duration::from_secs(1));
            let first = ticks.tick().await;
            let mut last = first;
            for _ in 0..100 {
                last = ticks.tick().await;
            }
            assert_about(last - first, Duration::from_secs(100));
        });
        assert!(real.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn the_clock_does_not_jump_while_a_blocking_job_runs() {
    watchdog(LIMIT, || {
        let runtime = paused();
        runtime.block_on(async {
            let start = Instant::now();
            let sleeper = ringwork::spawn(async move {
                time::sleep(Duration::from_secs(10)).await;
            });
            // 100 ms of real work on the blocking pool: the only timer is
            // 10 s away, but the job's result may be what matters.
            let value = ringwork::task::spawn_blocking(|| {
                std::thread::sleep(Duration::from_millis(100));
                7
            })
            .await
            .unwrap();
            assert_eq!(value, 7);
            assert!(
                Instant::now() - start < Duration::from_secs(10),
                "the clock jumped during the job"
            );
            assert!(!sleeper.is_finished());
            sleeper.await.unwrap();
            assert!(Instant::now() - start >= Duration::from_secs(10));
        });
    });
}

#[test]
fn auto_advance_does_not_wait_for_io() {
    watchdog(LIMIT, || {
        let runtime = paused();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            // Answers after 200 ms of real time.
            std::thread::sleep(Duration::from_millis(200));
            let _ = std::io::Write::write_all(&mut stream, b"late");
        });
        let real = std::time::Instant::now();
        let timed_out = runtime.block_on(async move {
            let stream = ringwork::net::TcpStream::connect(addr).await.unwrap();
            let read = time::timeout(Duration::from_secs(5), stream.read(vec![0u8; 8])).await;
            read.is_err()
        });
        // Nothing was ready, so the clock jumped the 5 s timeout at once.
        assert!(timed_out);
        assert!(
            real.elapsed() < Duration::from_millis(200),
            "{:?}",
            real.elapsed()
        );
        peer.join().unwrap();
    });
}

#[test]
fn resume_runs_on_from_the_advanced_time_never_backwards() {
    watchdog(LIMIT, || {
        let runtime = Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let before = Instant::now();
            time::pause();
            time::advance(Duration::from_secs(3600)).await;
            let paused_at = Instant::now();
            time::resume();
            let after = Instant::now();
            assert!(after >= paused_at);
            assert!(after - before >= Duration::from_secs(3600));
            // Running again: a real sleep takes real time.
            let real = std::time::Instant::now();
            time::sleep(Duration::from_millis(20)).await;
            assert!(real.elapsed() >= Duration::from_millis(20));
        });
    });
}

#[test]
fn pausing_a_multi_thread_runtime_is_refused_with_a_reason() {
    let runtime = common::runtime(2);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(async { time::pause() })
    }));
    let payload = result.unwrap_err();
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("current_thread"), "{message}");
    let err = Builder::new_multi_thread()
        .start_paused(true)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn advance_without_pause_panics_saying_so() {
    let runtime = Builder::new_current_thread().build().unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(time::advance(Duration::from_secs(1)))
    }));
    let payload = result.unwrap_err();
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("not paused"), "{message}");
}

#[test]
fn outside_a_runtime_instant_is_the_system_clock() {
    let runtime = paused();
    runtime.block_on(async { time::advance(Duration::from_secs(86_400)).await });
    let ours = Instant::now().into_std();
    let system = std::time::Instant::now();
    assert!(system.duration_since(ours) < Duration::from_secs(1));
}

#[ringwork::test(flavor = "current_thread", start_paused = true)]
async fn a_test_can_start_paused() {
    let start = Instant::now();
    time::sleep(Duration::from_secs(24 * 3600)).await;
    assert_about(Instant::now() - start, Duration::from_secs(24 * 3600));
}
