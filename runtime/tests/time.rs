//! Timers: never early, none lost, cancelled promptly from any thread.

mod common;

use common::{runtime, watchdog};
use ringwork::time::{interval, sleep, sleep_until, timeout, Instant, MissedTickBehavior};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

#[test]
fn zero_and_sub_millisecond_sleeps_complete_and_never_early() {
    let rt = runtime(2);
    rt.block_on(async {
        let start = Instant::now();
        sleep(Duration::ZERO).await;
        for micros in [1u64, 10, 100, 500, 999] {
            let begin = Instant::now();
            sleep(Duration::from_micros(micros)).await;
            assert!(begin.elapsed() >= Duration::from_micros(micros));
        }
        assert!(start.elapsed() < Duration::from_secs(1));
    });
}

#[test]
fn ten_thousand_randomized_sleeps_never_fire_before_their_deadline() {
    let rt = runtime(2);
    let early = Arc::new(AtomicUsize::new(0));
    let done = watchdog(Duration::from_secs(60), {
        let early = early.clone();
        move || {
            rt.block_on(async move {
                let mut seed = 0x1234_5678u32;
                let handles: Vec<_> = (0..10_000)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        let micros = u64::from(seed % 50_000);
                        let early = early.clone();
                        ringwork::spawn(async move {
                            let deadline = Instant::now() + Duration::from_micros(micros);
                            sleep_until(deadline).await;
                            if Instant::now() < deadline {
                                early.fetch_add(1, Ordering::SeqCst);
                            }
                        })
                    })
                    .collect();
                let n = handles.len();
                for h in handles {
                    h.await.unwrap();
                }
                n
            })
        }
    });
    assert_eq!(done, 10_000);
    assert_eq!(early.load(Ordering::SeqCst), 0, "a timer fired early");
}

#[test]
fn a_hundred_thousand_concurrent_sleeps_all_fire_and_none_early() {
    let rt = runtime(2);
    let order = Arc::new(Mutex::new(Vec::with_capacity(100_000)));
    let o = order.clone();
    watchdog(Duration::from_secs(120), move || {
        rt.block_on(rt.spawn(async move {
            let base = Instant::now() + Duration::from_millis(20);
            let handles: Vec<_> = (0..100_000u64)
                .map(|i| {
                    let o = o.clone();
                    let deadline = base + Duration::from_millis(i % 100);
                    ringwork::spawn(async move {
                        sleep_until(deadline).await;
                        o.lock().unwrap().push((Instant::now(), deadline));
                    })
                })
                .collect();
            for h in handles {
                h.await.unwrap();
            }
        }))
        .unwrap();
    });
    let order = order.lock().unwrap();
    assert_eq!(order.len(), 100_000, "every sleep fired");
    assert!(
        order.iter().all(|(fired, deadline)| fired >= deadline),
        "none early"
    );
}

#[test]
fn timeout_returns_the_output_or_elapsed() {
    let rt = runtime(2);
    rt.block_on(async {
        assert_eq!(timeout(Duration::from_secs(10), async { 5 }).await, Ok(5));
        let begin = Instant::now();
        let err = timeout(Duration::from_millis(30), sleep(Duration::from_secs(60))).await;
        assert!(err.is_err());
        assert!(begin.elapsed() >= Duration::from_millis(30));
        assert!(begin.elapsed() < Duration::from_secs(5));
        let io: std::io::Error = err.unwrap_err().into();
        assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
    });
}

#[test]
fn a_zero_timeout_polled_in_a_loop_yields_and_receives_the_value() {
    watchdog(Duration::from_secs(20), || {
        // One worker: the sender runs only if the looping task yields.
        let rt = runtime(1);
        let (value, expired) = rt
            .block_on(rt.spawn(async {
                let (tx, mut rx) = ringwork::sync::oneshot::channel();
                drop(ringwork::spawn(async move {
                    sleep(Duration::from_millis(10)).await;
                    tx.send(7u32).unwrap();
                }));
                let mut expired = 0u64;
                loop {
                    match timeout(Duration::ZERO, &mut rx).await {
                        Ok(value) => break (value.unwrap(), expired),
                        Err(_) => expired += 1,
                    }
                }
            }))
            .unwrap();
        assert_eq!(value, 7);
        assert!(expired > 0, "the value came after at least one expiry");
    });
}

#[test]
fn far_future_sleeps_stay_pending_and_cancel_cleanly() {
    let rt = runtime(2);
    rt.block_on(async {
        for d in [
            Duration::from_secs(3600),
            Duration::from_secs(86_400 * 3),
            Duration::from_secs(86_400 * 365 * 5), // beyond the wheel's range
            Duration::MAX,
        ] {
            let r = timeout(Duration::from_millis(5), sleep(d)).await;
            assert!(r.is_err(), "{d:?} fired early");
        }
    });
}

#[test]
fn reset_before_and_after_firing() {
    let rt = runtime(2);
    rt.block_on(async {
        // Before firing: move a far deadline near.
        let mut s = sleep(Duration::from_secs(60));
        let mut s_pinned = Pin::new(&mut s);
        assert!(futures_poll_once(s_pinned.as_mut()).await.is_pending());
        let begin = Instant::now();
        s.reset(Instant::now() + Duration::from_millis(10));
        (&mut s).await;
        let took = begin.elapsed();
        assert!(
            took >= Duration::from_millis(10) && took < Duration::from_secs(5),
            "{took:?}"
        );
        // After firing: it can be armed again.
        s.reset(Instant::now() + Duration::from_millis(10));
        let begin = Instant::now();
        (&mut s).await;
        assert!(begin.elapsed() >= Duration::from_millis(10));
    });
}

/// Polls once and reports the result.
async fn futures_poll_once<F: Future + Unpin>(mut f: F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut f).poll(cx))).await
}

#[test]
fn a_sleep_dropped_on_another_thread_is_disarmed() {
    let rt = runtime(2);
    rt.block_on(async {
        let mut s = Box::pin(sleep(Duration::from_secs(60)));
        assert!(futures_poll_once(s.as_mut()).await.is_pending());
        // Armed on this thread's wheel; dropped on a plain thread.
        std::thread::spawn(move || drop(s)).join().unwrap();
        // The wheel no longer holds it: a short sleep still works normally.
        sleep(Duration::from_millis(5)).await;
    });
}

#[test]
fn dropping_a_timer_from_inside_a_wake_does_not_deadlock() {
    // A waker that drops another armed sleep when woken.
    struct DropOnWake {
        victim: Mutex<Option<Pin<Box<ringwork::time::Sleep>>>>,
        woken: AtomicUsize,
    }
    impl std::task::Wake for DropOnWake {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            drop(self.victim.lock().unwrap().take());
            self.woken.fetch_add(1, Ordering::SeqCst);
        }
    }
    let rt = runtime(1);
    rt.block_on(async {
        let mut victim = Box::pin(sleep(Duration::from_secs(60)));
        assert!(futures_poll_once(victim.as_mut()).await.is_pending());
        let hook = Arc::new(DropOnWake {
            victim: Mutex::new(Some(victim)),
            woken: AtomicUsize::new(0),
        });
        let waker = std::task::Waker::from(hook.clone());
        let mut short = Box::pin(sleep(Duration::from_millis(5)));
        let mut cx = Context::from_waker(&waker);
        assert!(short.as_mut().poll(&mut cx).is_pending());
        let deadline = Instant::now() + Duration::from_secs(5);
        while hook.woken.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "the wake never came");
            sleep(Duration::from_millis(1)).await;
        }
        assert!(hook.victim.lock().unwrap().is_none());
    });
}

#[test]
fn interval_bursts_delays_or_skips_missed_ticks() {
    let rt = runtime(1);
    rt.block_on(async {
        for behavior in [
            MissedTickBehavior::Burst,
            MissedTickBehavior::Delay,
            MissedTickBehavior::Skip,
        ] {
            let period = Duration::from_millis(10);
            let mut ticks = interval(period);
            ticks.set_missed_tick_behavior(behavior);
            let first = ticks.tick().await;
            // Miss about 5 periods.
            std::thread::sleep(Duration::from_millis(55));
            let late = ticks.tick().await;
            if behavior == MissedTickBehavior::Delay {
                // Delay schedules from when the previous tick was taken.
                assert!(late >= first + period, "{behavior:?}");
            } else {
                assert_eq!(
                    late,
                    first + period,
                    "{behavior:?}: the missed tick reports its schedule"
                );
            }
            let t = Instant::now();
            let next = ticks.tick().await;
            match behavior {
                MissedTickBehavior::Burst => {
                    // Burst: the next tick is the (long past) scheduled one,
                    // returned at once rather than a period after `t`.
                    assert_eq!(next, first + 2 * period);
                    assert!(next < t, "burst: no wait");
                }
                MissedTickBehavior::Delay => {
                    assert!(
                        next >= t + period - Duration::from_millis(2),
                        "delay: a full period later"
                    );
                }
                MissedTickBehavior::Skip => {
                    assert_eq!(
                        (next - first).as_nanos() % period.as_nanos(),
                        0,
                        "skip: on the grid"
                    );
                    assert!(next > first + 5 * period, "skip: missed ticks dropped");
                }
            }
        }
    });
}

#[test]
fn timers_work_inside_block_on_on_a_plain_thread_and_across_calls() {
    let rt = runtime(1);
    for _ in 0..3 {
        let begin = Instant::now();
        rt.block_on(sleep(Duration::from_millis(5)));
        assert!(begin.elapsed() >= Duration::from_millis(5));
    }
    // A sleep armed in one block_on call and finished in the next re-arms.
    let mut s = Box::pin(sleep(Duration::from_millis(30)));
    rt.block_on(async {
        assert!(futures_poll_once(s.as_mut()).await.is_pending());
    });
    let begin = Instant::now();
    rt.block_on(s);
    assert!(begin.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_timer_polled_after_its_runtime_is_gone_panics_until_its_deadline_then_completes() {
    let rt = runtime(1);
    let mut s = Box::pin(sleep(Duration::from_millis(50)));
    rt.block_on(async {
        assert!(futures_poll_once(s.as_mut()).await.is_pending());
    });
    drop(rt);
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    let before = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        s.as_mut().poll(&mut cx).is_pending()
    }));
    let message = panic_message(before.expect_err("before its deadline: nothing would wake it"));
    assert!(message.contains("no ringwork runtime"), "{message}");
    std::thread::sleep(Duration::from_millis(60));
    assert!(
        s.as_mut().poll(&mut cx).is_ready(),
        "after its deadline: ready, no timer needed"
    );
}

/// The text of a panic payload.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map_or_else(|| "<not a string>".to_owned(), |s| (*s).to_owned()),
    }
}

#[test]
fn a_sleep_polled_on_a_thread_without_a_runtime_panics_saying_so() {
    // The watchdog runs this on a plain thread of its own.
    let message = watchdog(Duration::from_secs(10), || {
        let result = std::panic::catch_unwind(|| {
            common::block_on_plain(sleep(Duration::from_millis(10)));
        });
        panic_message(result.expect_err("polling a sleep with no runtime panics"))
    });
    assert!(message.contains("no ringwork runtime"), "{message}");
}

#[test]
fn a_sleep_on_a_plain_thread_under_runtime_enter_completes() {
    const SLEEPS: usize = 3;
    let rt = Arc::new(runtime(1));
    // The only worker parks with a timer a minute away: a sleep armed on its
    // wheel from the plain thread must make it re-compute its park timeout.
    let armed = common::Gate::new();
    let a = armed.clone();
    drop(rt.spawn(async move {
        let mut far = Box::pin(sleep(Duration::from_secs(60)));
        assert!(futures_poll_once(far.as_mut()).await.is_pending());
        a.open();
        far.await;
    }));
    common::block_on_plain(armed.wait());
    let r = rt.clone();
    let completed = watchdog(Duration::from_secs(10), move || {
        let _entered = r.enter();
        let mut completed = 0;
        for _ in 0..SLEEPS {
            let begin = Instant::now();
            common::block_on_plain(sleep(Duration::from_millis(20)));
            assert!(begin.elapsed() >= Duration::from_millis(20), "never early");
            completed += 1;
        }
        let timed_out = common::block_on_plain(timeout(
            Duration::from_millis(20),
            std::future::pending::<()>(),
        ));
        assert!(timed_out.is_err());
        completed
    });
    assert_eq!(completed, SLEEPS);
    // Entered through a handle of a runtime that has shut down: no wheel
    // is left to arm a sleep on.
    let handle = rt.handle().clone();
    drop(Arc::into_inner(rt).expect("the only reference"));
    let message = watchdog(Duration::from_secs(10), move || {
        let _entered = handle.enter();
        let result = std::panic::catch_unwind(|| {
            common::block_on_plain(sleep(Duration::from_millis(10)));
        });
        panic_message(result.expect_err("no timer is left to wake it"))
    });
    assert!(message.contains("shut down"), "{message}");
}

#[test]
fn a_sleep_inside_spawn_blocking_completes() {
    const SLEEPS: usize = 3;
    // No timer armed anywhere: the only worker parks with no timeout.
    let rt = runtime(1);
    let completed = watchdog(Duration::from_secs(10), move || {
        rt.block_on(rt.spawn_blocking(|| {
            let mut completed = 0;
            for _ in 0..SLEEPS {
                let begin = Instant::now();
                common::block_on_plain(sleep(Duration::from_millis(20)));
                assert!(begin.elapsed() >= Duration::from_millis(20), "never early");
                completed += 1;
            }
            completed
        }))
        .unwrap()
    });
    assert_eq!(completed, SLEEPS);
}

#[test]
fn an_interval_of_duration_max_ticks_once_and_never_panics() {
    let rt = runtime(1);
    rt.block_on(async {
        let mut ticks = interval(Duration::MAX);
        ticks.tick().await;
        let second = timeout(Duration::from_millis(10), ticks.tick()).await;
        assert!(second.is_err(), "the second tick is ~forever away");
        ticks.reset();
        for behavior in [MissedTickBehavior::Delay, MissedTickBehavior::Skip] {
            ticks.set_missed_tick_behavior(behavior);
            assert!(timeout(Duration::from_millis(5), ticks.tick())
                .await
                .is_err());
        }
    });
}
