//! JoinSet, join_all, wait (each ReturnWhen, with and without a timeout),
//! join! and select!.

mod common;

use common::{runtime, watchdog, DropCounter, DropToken};
use ringwork::task::{join_all, wait, JoinSet, ReturnWhen};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

/// A task body that never finishes and counts its drop.
async fn hang(token: DropToken) {
    let _token = token;
    std::future::pending::<()>().await;
}

#[test]
fn join_set_yields_outputs_in_completion_order() {
    let order = watchdog(LIMIT, || {
        runtime(2).block_on(async {
            let mut set = JoinSet::new();
            for (i, ms) in [(0u32, 30u64), (1, 1), (2, 15)] {
                set.spawn(async move {
                    ringwork::time::sleep(Duration::from_millis(ms)).await;
                    i
                });
            }
            assert_eq!(set.len(), 3);
            let mut order = Vec::new();
            while let Some(r) = set.join_next().await {
                order.push(r.unwrap());
            }
            assert!(set.is_empty());
            order
        })
    });
    assert_eq!(order, [1, 2, 0]);
}

#[test]
fn dropping_a_join_set_aborts_its_tasks() {
    let drops = DropCounter::new();
    watchdog(LIMIT, {
        let drops = drops.clone();
        move || {
            runtime(2).block_on(async move {
                let mut set = JoinSet::new();
                for _ in 0..5 {
                    set.spawn(hang(drops.token()));
                }
                ringwork::time::sleep(Duration::from_millis(5)).await;
                drop(set);
                let deadline = Instant::now() + Duration::from_secs(10);
                while drops.drops() < 5 && Instant::now() < deadline {
                    ringwork::time::sleep(Duration::from_millis(1)).await;
                }
            })
        }
    });
    assert_eq!(drops.drops(), 5, "tasks outlived their JoinSet");
}

#[test]
fn abort_all_then_join_next_yields_cancelled_for_each() {
    let drops = DropCounter::new();
    watchdog(LIMIT, {
        let drops = drops.clone();
        move || {
            runtime(2).block_on(async move {
                let mut set = JoinSet::new();
                for _ in 0..4 {
                    set.spawn(hang(drops.token()));
                }
                set.abort_all();
                let mut cancelled = 0;
                while let Some(r) = set.join_next().await {
                    assert!(r.unwrap_err().is_cancelled());
                    cancelled += 1;
                }
                assert_eq!(cancelled, 4);
            })
        }
    });
    assert_eq!(drops.drops(), 4);
}

#[test]
fn try_join_next_returns_only_finished_tasks() {
    watchdog(LIMIT, || {
        runtime(2).block_on(async {
            let mut set = JoinSet::new();
            set.spawn(async { 1 });
            set.spawn(async {
                ringwork::time::sleep(Duration::from_secs(30)).await;
                2
            });
            let deadline = Instant::now() + Duration::from_secs(10);
            let first = loop {
                if let Some(r) = set.try_join_next() {
                    break r.unwrap();
                }
                assert!(
                    Instant::now() < deadline,
                    "the finished task never showed up"
                );
                ringwork::time::sleep(Duration::from_millis(1)).await;
            };
            assert_eq!(first, 1);
            assert!(set.try_join_next().is_none());
            assert_eq!(set.len(), 1);
            set.shutdown().await;
            assert!(set.is_empty());
        })
    });
}

#[test]
fn join_set_reports_panics_as_join_errors() {
    watchdog(LIMIT, || {
        runtime(2).block_on(async {
            let mut set = JoinSet::new();
            set.spawn(async { panic!("boom") });
            let err = set.join_next().await.unwrap().unwrap_err();
            assert!(err.is_panic());
        })
    });
}

#[test]
fn join_all_returns_outputs_in_input_order() {
    let out = watchdog(LIMIT, || {
        runtime(2).block_on(async {
            let handles: Vec<_> = (0..20u64)
                .map(|i| {
                    ringwork::spawn(async move {
                        ringwork::time::sleep(Duration::from_millis(20 - i)).await;
                        i
                    })
                })
                .collect();
            join_all(handles).await
        })
    });
    let out: Vec<u64> = out.into_iter().map(Result::unwrap).collect();
    assert_eq!(out, (0..20).collect::<Vec<_>>());
}

#[test]
fn join_all_polls_only_woken_futures() {
    // 1,000 futures, each woken once by a sibling task: total polls stay
    // near 2 per future (first poll + the one after its wake), where
    // polling everything on every wake would take ~1,000 per future.
    struct CountPolls {
        polls: Arc<AtomicUsize>,
        ready: Arc<std::sync::atomic::AtomicBool>,
    }
    impl Future for CountPolls {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            if self.ready.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                let waker = cx.waker().clone();
                let ready = self.ready.clone();
                std::thread::spawn(move || {
                    ready.store(true, Ordering::SeqCst);
                    waker.wake();
                });
                Poll::Pending
            }
        }
    }
    let polls = Arc::new(AtomicUsize::new(0));
    watchdog(LIMIT, {
        let polls = polls.clone();
        move || {
            runtime(2).block_on(async move {
                let futures: Vec<_> = (0..1_000)
                    .map(|_| CountPolls {
                        polls: polls.clone(),
                        ready: Arc::new(false.into()),
                    })
                    .collect();
                join_all(futures).await;
            })
        }
    });
    let polls = polls.load(Ordering::SeqCst);
    assert!(polls <= 2_100, "{polls} polls for 1,000 futures");
}

/// The message of the panic in [`trio`].
const TRIO_PANIC: &str = "task 1 fails";

/// Keeps the expected panic of [`trio`] off stderr. Printing it can take
/// longer than the timeouts these tests use when `RUST_BACKTRACE` is set
/// (the first backtrace is symbolized), which would make the panicking task
/// finish late.
fn quiet_trio_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            if message != Some(TRIO_PANIC) {
                default(info);
            }
        }));
    });
}

/// Three tasks for `wait`: one finishes at once, one panics after 5 ms,
/// one hangs until aborted.
fn trio(drops: &DropCounter) -> Vec<ringwork::JoinHandle<u32>> {
    quiet_trio_panics();
    let token = drops.token();
    vec![
        ringwork::spawn(async { 1 }),
        ringwork::spawn(async {
            ringwork::time::sleep(Duration::from_millis(5)).await;
            panic!("{}", TRIO_PANIC)
        }),
        ringwork::spawn(async move {
            hang(token).await;
            3
        }),
    ]
}

#[test]
fn wait_first_completed_returns_as_soon_as_one_finishes() {
    let drops = DropCounter::new();
    watchdog(LIMIT, {
        let drops = drops.clone();
        move || {
            runtime(2).block_on(async move {
                let (done, pending) = wait(trio(&drops), ReturnWhen::FirstCompleted, None).await;
                assert_eq!(done.len(), 1);
                assert_eq!(done[0].0, 0);
                assert_eq!(*done[0].1.as_ref().unwrap(), 1);
                let indexes: Vec<usize> = pending.iter().map(|(i, _)| *i).collect();
                assert_eq!(indexes, [1, 2]);
                for (_, handle) in pending {
                    handle.abort();
                }
            })
        }
    });
}

#[test]
fn wait_first_exception_returns_at_the_panic() {
    let drops = DropCounter::new();
    watchdog(LIMIT, {
        let drops = drops.clone();
        move || {
            runtime(2).block_on(async move {
                let (done, pending) = wait(trio(&drops), ReturnWhen::FirstException, None).await;
                assert_eq!(done.len(), 2, "returned before the panic");
                assert_eq!(done[0].0, 0);
                assert_eq!(done[1].0, 1);
                assert!(done[1].1.as_ref().unwrap_err().is_panic());
                assert_eq!(pending.len(), 1);
                assert_eq!(pending[0].0, 2);
                assert!(!pending[0].1.is_finished());
                pending[0].1.abort();
            })
        }
    });
}

#[test]
fn wait_first_exception_without_failures_waits_for_all() {
    watchdog(LIMIT, || {
        runtime(2).block_on(async {
            let handles: Vec<_> = (0..3u64)
                .map(|i| {
                    ringwork::spawn(async move {
                        ringwork::time::sleep(Duration::from_millis(i * 3)).await;
                        i
                    })
                })
                .collect();
            let (done, pending) = wait(handles, ReturnWhen::FirstException, None).await;
            assert_eq!(done.len(), 3);
            assert!(pending.is_empty());
        })
    });
}

#[test]
fn wait_all_completed_with_a_timeout_returns_the_hanging_task_as_pending() {
    let drops = DropCounter::new();
    watchdog(LIMIT, {
        let drops = drops.clone();
        move || {
            runtime(2).block_on(async move {
                let started = Instant::now();
                let (done, pending) = wait(
                    trio(&drops),
                    ReturnWhen::AllCompleted,
                    Some(Duration::from_millis(200)),
                )
                .await;
                assert!(started.elapsed() >= Duration::from_millis(200));
                let mut finished: Vec<usize> = done.iter().map(|(i, _)| *i).collect();
                finished.sort_unstable();
                assert_eq!(finished, [0, 1]);
                assert_eq!(pending.len(), 1);
                // The pending task is still running, not cancelled.
                assert_eq!(drops.drops(), 0);
                pending[0].1.abort();
            })
        }
    });
}

#[test]
fn wait_timeout_with_only_hanging_tasks_returns_nothing_done() {
    let drops = DropCounter::new();
    watchdog(LIMIT, {
        let drops = drops.clone();
        move || {
            runtime(2).block_on(async move {
                let handles = vec![ringwork::spawn(hang(drops.token()))];
                let (done, pending) = wait(
                    handles,
                    ReturnWhen::FirstCompleted,
                    Some(Duration::from_millis(10)),
                )
                .await;
                assert!(done.is_empty());
                assert_eq!(pending.len(), 1);
            })
        }
    });
}

#[test]
fn join_macro_runs_futures_concurrently_on_one_task() {
    watchdog(LIMIT, || {
        runtime(1).block_on(async {
            let started = Instant::now();
            let (a, b, c) = ringwork::join!(
                async {
                    ringwork::time::sleep(Duration::from_millis(30)).await;
                    1
                },
                async {
                    ringwork::time::sleep(Duration::from_millis(30)).await;
                    "b"
                },
                async { 3u8 },
            );
            assert_eq!((a, b, c), (1, "b", 3));
            // Concurrent, not one after the other (which would take 60 ms).
            assert!(started.elapsed() < Duration::from_millis(55));
            assert_eq!(ringwork::join!(), ());
        })
    });
}

#[test]
fn select_runs_the_first_ready_branch_and_drops_the_others() {
    let drops = DropCounter::new();
    watchdog(LIMIT, {
        let drops = drops.clone();
        move || {
            runtime(2).block_on(async move {
                let token = drops.token();
                let got = ringwork::select! {
                    _ = hang(token) => 0,
                    v = async { 7 } => v,
                };
                assert_eq!(got, 7);
            })
        }
    });
    assert_eq!(
        drops.drops(),
        1,
        "the losing branch's future was not dropped"
    );
}

#[test]
fn select_disables_branches_whose_pattern_fails_and_runs_else() {
    watchdog(LIMIT, || {
        runtime(2).block_on(async {
            let got = ringwork::select! {
                Some(v) = async { None::<u32> } => v,
                Ok(v) = async { Err::<u32, ()>(()) } => v,
                else => 99,
            };
            assert_eq!(got, 99);

            // A mismatching branch does not end the select: the other wins.
            let got = ringwork::select! {
                biased;
                Some(v) = async { None::<u32> } => v,
                v = async {
                    ringwork::time::sleep(Duration::from_millis(2)).await;
                    5
                } => v,
            };
            assert_eq!(got, 5);

            // A false precondition disables a branch before it is polled.
            let polled = Arc::new(AtomicUsize::new(0));
            let p = polled.clone();
            let got = ringwork::select! {
                v = async move { p.fetch_add(1, Ordering::SeqCst); 1 }, if false => v,
                else => 2,
            };
            assert_eq!((got, polled.load(Ordering::SeqCst)), (2, 0));
        })
    });
}

#[test]
fn select_handlers_can_return_and_break_from_the_enclosing_code() {
    fn first_even(values: Vec<u32>) -> Option<u32> {
        runtime(1).block_on(async move {
            let (tx, mut rx) = ringwork::sync::mpsc::unbounded_channel();
            for v in values {
                tx.send(v).unwrap();
            }
            drop(tx);
            loop {
                ringwork::select! {
                    v = rx.recv() => {
                        let v = v?;
                        if v % 2 == 0 {
                            break Some(v);
                        }
                    }
                }
            }
        })
    }
    watchdog(LIMIT, || {
        assert_eq!(first_even(vec![1, 3, 4, 5]), Some(4));
        assert_eq!(first_even(vec![1, 3]), None);
    });
}

#[test]
fn select_is_not_biased_unless_asked() {
    // Two always-ready branches: without `biased;` both win sometimes.
    watchdog(LIMIT, || {
        runtime(1).block_on(async {
            let mut wins = [0u32; 2];
            for _ in 0..200 {
                let i = ringwork::select! {
                    v = async { 0 } => v,
                    v = async { 1 } => v,
                };
                wins[i] += 1;
            }
            assert!(wins[0] > 20 && wins[1] > 20, "unfair: {wins:?}");
            for _ in 0..50 {
                let i = ringwork::select! {
                    biased;
                    v = async { 0 } => v,
                    v = async { 1 } => v,
                };
                assert_eq!(i, 0);
            }
        })
    });
}

/// The branches 100 `select!`s over four ready futures pick, on a
/// current-thread runtime seeded `seed`: in a spawned task and in the
/// `block_on` future.
fn select_winners(seed: u64) -> Vec<u8> {
    let runtime = ringwork::runtime::Builder::new_current_thread()
        .seed(seed)
        .build()
        .unwrap();
    runtime.block_on(async {
        let pick = || async {
            let mut winners = Vec::new();
            for _ in 0..50 {
                winners.push(ringwork::select! {
                    v = async { 0u8 } => v,
                    v = async { 1u8 } => v,
                    v = async { 2u8 } => v,
                    v = async { 3u8 } => v,
                });
            }
            winners
        };
        let mut winners = ringwork::spawn(pick()).await.unwrap();
        winners.extend(pick().await);
        winners
    })
}

#[test]
fn select_order_comes_from_the_runtime_seed_so_a_seed_replays_it() {
    let first = select_winners(0x5eed);
    assert_eq!(select_winners(0x5eed), first, "same seed, same order");
    // Every branch wins sometimes (not biased).
    for branch in 0..4u8 {
        assert!(first.contains(&branch), "{first:?}");
    }
    let others: Vec<Vec<u8>> = (1..4u64).map(select_winners).collect();
    assert!(
        others.iter().any(|o| *o != first),
        "three other seeds all gave the same 100 choices"
    );
}

#[test]
fn try_join_next_keeps_the_waker_of_an_earlier_poll() {
    let flag = common::WakeFlag::new();
    watchdog(LIMIT, {
        let flag = flag.clone();
        move || {
            runtime(2).block_on(async move {
                let mut set = JoinSet::new();
                let (tx, rx) = ringwork::sync::oneshot::channel::<()>();
                set.spawn(async move {
                    let _ = rx.await;
                });
                let waker = flag.waker();
                let mut cx = Context::from_waker(&waker);
                assert!(set.poll_join_next(&mut cx).is_pending());
                assert!(set.try_join_next().is_none());
                tx.send(()).unwrap();
                let deadline = Instant::now() + Duration::from_secs(10);
                while flag.take() == 0 {
                    assert!(Instant::now() < deadline, "the registered waker was lost");
                    ringwork::time::sleep(Duration::from_millis(1)).await;
                }
                assert!(set.join_next().await.unwrap().is_ok());
            })
        }
    });
}

#[test]
fn select_drops_the_losing_futures_before_the_handler_runs() {
    watchdog(LIMIT, || {
        runtime(2).block_on(async {
            let mutex = ringwork::sync::Mutex::new(());
            let held = mutex.lock().await;
            let relocked = ringwork::select! {
                biased;
                _guard = mutex.lock() => false,
                _ = async {} => {
                    drop(held);
                    // The losing `lock()` must not still be queued (it would
                    // be handed the lock and never give it back).
                    ringwork::time::timeout(Duration::from_secs(5), mutex.lock())
                        .await
                        .is_ok()
                }
            };
            assert!(relocked);

            // A handler may use what a losing future borrowed.
            let (tx, mut rx) = ringwork::sync::mpsc::channel::<u8>(1);
            ringwork::select! {
                biased;
                Some(_) = rx.recv() => unreachable!("nothing was sent"),
                _ = async {} => rx.close(),
            }
            assert!(tx.is_closed());

            // Conditions are evaluated before the futures borrow.
            let mut items = vec![1, 2];
            let popped = ringwork::select! {
                v = async { items.pop() }, if !items.is_empty() => v,
                else => None,
            };
            assert_eq!(popped, Some(2));
        })
    });
}

#[test]
fn join_macro_lets_a_second_future_progress_while_the_first_spends_the_budget() {
    watchdog(LIMIT, || {
        runtime(1).block_on(async {
            let steps = Arc::new(AtomicUsize::new(0));
            let s = steps.clone();
            let ((), at) = ringwork::join!(
                async move {
                    for _ in 0..2_000 {
                        s.fetch_add(1, Ordering::SeqCst);
                        ringwork::task::consume_budget().await;
                    }
                },
                async {
                    ringwork::task::consume_budget().await;
                    steps.load(Ordering::SeqCst)
                },
            );
            assert!(
                at < 2_000,
                "the second future waited for the first to finish"
            );
        })
    });
}

#[test]
fn a_timeout_fires_around_a_future_that_is_always_ready() {
    watchdog(LIMIT, || {
        runtime(1).block_on(async {
            let busy = async {
                loop {
                    ringwork::task::consume_budget().await;
                }
            };
            let started = Instant::now();
            let result = ringwork::time::timeout(Duration::from_millis(20), busy).await;
            assert!(result.is_err());
            assert!(started.elapsed() < Duration::from_secs(10));
        })
    });
}
