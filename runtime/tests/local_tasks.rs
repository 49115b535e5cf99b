//! `LocalSet`/`spawn_local` (`!Send` tasks on the thread that drives the
//! set) and `task_local!` (values that follow a task across workers). Both
//! drivers: CI repeats the suite with `RINGWORK_DRIVER=epoll`.

mod common;

use common::watchdog;
use ringwork::net::{TcpListener, TcpStream};
use ringwork::runtime::Builder;
use ringwork::task::{spawn_local, LocalSet};
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn local_tasks_never_leave_the_thread_that_drives_the_set() {
    watchdog(LIMIT, || {
        let runtime = common::runtime(2);
        let local = LocalSet::new();
        let here = std::thread::current().id();
        let worker_threads = Arc::new(Mutex::new(HashSet::new()));
        let seen: Rc<RefCell<Vec<ThreadId>>> = Rc::default();
        let local_seen = seen.clone();
        let workers_seen = worker_threads.clone();
        local.block_on(&runtime, async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            // Peers on the workers: each wakes its local task from there.
            let mut peers = Vec::new();
            for i in 0..20u8 {
                let workers_seen = workers_seen.clone();
                peers.push(ringwork::spawn(async move {
                    let stream = TcpStream::connect(addr).await.unwrap();
                    for round in 0..20u8 {
                        workers_seen
                            .lock()
                            .unwrap()
                            .insert(std::thread::current().id());
                        let (r, _) = stream.write_all(vec![i ^ round; 32]).await;
                        r.unwrap();
                        let (r, got) = stream.read_exact(vec![0u8; 32]).await;
                        r.unwrap();
                        assert_eq!(got, vec![i ^ round; 32]);
                    }
                }));
            }
            let mut locals = Vec::new();
            for _ in 0..20 {
                let (stream, _) = listener.accept().await.unwrap();
                let seen = local_seen.clone();
                // `Rc` inside: this future is not `Send`.
                locals.push(spawn_local(async move {
                    let stream = Rc::new(stream);
                    let mut buf = vec![0u8; 32];
                    loop {
                        seen.borrow_mut().push(std::thread::current().id());
                        let (r, b) = stream.read(buf).await;
                        buf = b;
                        let n = r.unwrap();
                        if n == 0 {
                            return;
                        }
                        let (r, _) = stream.write_all(buf[..n].to_vec()).await;
                        r.unwrap();
                        ringwork::time::sleep(Duration::from_micros(50)).await;
                    }
                }));
            }
            for peer in peers {
                peer.await.unwrap();
            }
            for task in locals {
                task.await.unwrap();
            }
        });
        let seen = seen.borrow();
        assert!(seen.len() >= 20 * 20, "{} polls recorded", seen.len());
        assert!(
            seen.iter().all(|id| *id == here),
            "a local task ran elsewhere"
        );
        // The wake-ups came from the runtime's worker threads.
        let workers = worker_threads.lock().unwrap();
        assert!(!workers.contains(&here), "peers ran on the block_on thread");
        assert!(!workers.is_empty());
    });
}

#[test]
fn a_local_task_handle_is_awaited_from_a_task_on_a_worker() {
    watchdog(LIMIT, || {
        let runtime = common::runtime(2);
        let local = LocalSet::new();
        let got = local.block_on(&runtime, async {
            let counter = Rc::new(Cell::new(40u32));
            let handle = spawn_local(async move {
                ringwork::time::sleep(Duration::from_millis(5)).await;
                counter.set(counter.get() + 2);
                counter.get()
            });
            // The handle is `Send`: a worker's task awaits it.
            ringwork::spawn(async move { handle.await.unwrap() })
                .await
                .unwrap()
        });
        assert_eq!(got, 42);
    });
}

/// Records the thread its drop ran on.
struct DropProbe(Arc<Mutex<Option<ThreadId>>>);

impl Drop for DropProbe {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = Some(std::thread::current().id());
    }
}

#[test]
fn aborting_from_another_thread_drops_the_task_on_its_own_thread() {
    watchdog(LIMIT, || {
        let runtime = common::runtime(2);
        let local = LocalSet::new();
        let dropped_on = Arc::new(Mutex::new(None));
        let here = std::thread::current().id();
        let probe = DropProbe(dropped_on.clone());
        let result = local.block_on(&runtime, async move {
            let handle = spawn_local(async move {
                let _probe = probe;
                let _not_send = Rc::new(());
                std::future::pending::<()>().await;
            });
            ringwork::task::yield_now().await;
            std::thread::scope(|s| {
                s.spawn(|| handle.abort()).join().unwrap();
            });
            handle.await
        });
        assert!(result.unwrap_err().is_cancelled());
        assert_eq!(*dropped_on.lock().unwrap(), Some(here));
    });
}

#[test]
fn dropping_the_set_drops_unfinished_tasks_and_reports_them_cancelled() {
    watchdog(LIMIT, || {
        let runtime = common::runtime(1);
        let local = LocalSet::new();
        let dropped_on = Arc::new(Mutex::new(None));
        let probe = DropProbe(dropped_on.clone());
        #[allow(clippy::async_yields_async)] // the handle outlives the call
        let handle = local.block_on(&runtime, async move {
            spawn_local(async move {
                let _probe = probe;
                ringwork::time::sleep(Duration::from_secs(3600)).await;
            })
        });
        assert_eq!(local.len(), 1);
        assert!(!handle.is_finished());
        drop(local);
        assert!(handle.is_finished());
        assert_eq!(
            *dropped_on.lock().unwrap(),
            Some(std::thread::current().id())
        );
        let result = runtime.block_on(handle);
        assert!(result.unwrap_err().is_cancelled());
    });
}

#[test]
fn a_panicking_local_task_reports_the_panic_through_its_handle() {
    watchdog(LIMIT, || {
        let runtime = common::runtime(1);
        let local = LocalSet::new();
        let (panicked, after) = local.block_on(&runtime, async {
            let bad = spawn_local(async {
                ringwork::task::yield_now().await;
                panic!("local boom");
            });
            let good = spawn_local(async { 5 });
            (bad.await, good.await)
        });
        let err = panicked.unwrap_err();
        assert!(err.is_panic());
        assert!(err.to_string().contains("local boom"), "{err}");
        assert_eq!(after.unwrap(), 5);
    });
}

#[test]
fn spawn_local_outside_a_local_set_panics_saying_so() {
    let runtime = common::runtime(1);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(async {
            drop(spawn_local(async {}));
        })
    }));
    let payload = result.unwrap_err();
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(message.contains("outside a `LocalSet`"), "{message}");
}

#[test]
fn awaiting_the_set_runs_until_every_task_has_finished() {
    watchdog(LIMIT, || {
        let runtime = common::runtime(2);
        let mut local = LocalSet::new();
        let done = Rc::new(Cell::new(0));
        for i in 0..300u64 {
            let done = done.clone();
            // Spawned before the set runs: they start when it is driven.
            drop(local.spawn_local(async move {
                ringwork::time::sleep(Duration::from_micros(i * 10)).await;
                done.set(done.get() + 1);
            }));
        }
        assert_eq!(local.len(), 300);
        runtime.block_on(&mut local);
        assert_eq!(done.get(), 300);
        assert!(local.is_empty());
    });
}

#[test]
fn more_ready_tasks_than_one_poll_runs_do_not_starve_the_runtime() {
    watchdog(LIMIT, || {
        let runtime = common::runtime(1);
        let local = LocalSet::new();
        let spins = Rc::new(Cell::new(0u64));
        let counted = spins.clone();
        let ticks = local.block_on(&runtime, async move {
            // 1000 local tasks that yield forever...
            for _ in 0..1000 {
                let spins = counted.clone();
                drop(spawn_local(async move {
                    loop {
                        spins.set(spins.get() + 1);
                        ringwork::task::yield_now().await;
                    }
                }));
            }
            // ...and a timer on the runtime still fires, repeatedly.
            let mut ticks = 0;
            for _ in 0..5 {
                ringwork::time::sleep(Duration::from_millis(2)).await;
                ticks += 1;
            }
            ticks
        });
        assert_eq!(ticks, 5);
        assert!(spins.get() >= 1000);
    });
}

#[test]
fn a_local_set_runs_on_a_current_thread_runtime() {
    watchdog(LIMIT, || {
        let runtime = Builder::new_current_thread().build().unwrap();
        let local = LocalSet::new();
        let value = Rc::new(RefCell::new(String::new()));
        let inner = value.clone();
        local.block_on(&runtime, async move {
            let a = spawn_local({
                let inner = inner.clone();
                async move {
                    ringwork::time::sleep(Duration::from_millis(2)).await;
                    inner.borrow_mut().push('b');
                }
            });
            inner.borrow_mut().push('a');
            a.await.unwrap();
        });
        assert_eq!(*value.borrow(), "ab");
    });
}

ringwork::task_local! {
    static REQUEST: u64;
    static NAME: String;
}

#[test]
fn a_task_local_follows_its_task_across_workers() {
    watchdog(LIMIT, || {
        let runtime = common::runtime(2);
        let threads = runtime.block_on(async {
            let mut handles = Vec::new();
            for id in 0..64u64 {
                handles.push(ringwork::spawn(REQUEST.scope(id, async move {
                    let mut threads = HashSet::new();
                    for round in 0..50 {
                        threads.insert(std::thread::current().id());
                        assert_eq!(REQUEST.get(), id, "round {round}");
                        if round % 5 == 0 {
                            ringwork::time::sleep(Duration::from_micros(100)).await;
                        } else {
                            ringwork::task::yield_now().await;
                        }
                    }
                    threads.len()
                })));
            }
            let mut moved = 0;
            for handle in handles {
                if handle.await.unwrap() > 1 {
                    moved += 1;
                }
            }
            moved
        });
        // Whether tasks moved is up to the scheduler; every read above
        // checked its own value either way.
        println!("{threads} of 64 tasks ran on more than one worker");
        // Outside every scope, nothing is set.
        assert!(REQUEST.try_with(|_| ()).is_err());
    });
}

#[test]
fn nested_scopes_restore_the_outer_value() {
    let runtime = common::runtime(1);
    runtime.block_on(NAME.scope("outer".to_owned(), async {
        assert_eq!(NAME.get(), "outer");
        NAME.scope("inner".to_owned(), async {
            ringwork::task::yield_now().await;
            assert_eq!(NAME.get(), "inner");
        })
        .await;
        assert_eq!(NAME.get(), "outer");
        let len = NAME.sync_scope("sync".to_owned(), || NAME.with(|n| n.len()));
        assert_eq!(len, 4);
        assert_eq!(NAME.get(), "outer");
    }));
    assert!(NAME.try_with(|_| ()).is_err());
}

#[test]
fn a_task_spawned_inside_a_scope_does_not_inherit_the_value() {
    let runtime = common::runtime(2);
    let (outer, inner) = runtime.block_on(REQUEST.scope(3, async {
        let child = ringwork::spawn(async { REQUEST.try_with(|v| *v).ok() });
        (REQUEST.get(), child.await.unwrap())
    }));
    assert_eq!(outer, 3);
    assert_eq!(inner, None);
}

#[test]
fn with_outside_a_scope_panics_and_try_with_reports_it() {
    let err = REQUEST.try_with(|v| *v).unwrap_err();
    assert!(err.to_string().contains("not set"), "{err}");
    let result = std::panic::catch_unwind(|| REQUEST.with(|v| *v));
    assert!(result.is_err());
}

#[test]
fn a_panicking_poll_leaves_no_value_behind() {
    let result = std::panic::catch_unwind(|| {
        common::block_on_plain(REQUEST.scope(9, async {
            assert_eq!(REQUEST.get(), 9);
            panic!("inside the scope");
        }))
    });
    assert!(result.is_err());
    assert!(REQUEST.try_with(|_| ()).is_err());
}

/// Checks the key's value when dropped.
struct ReadsRequestOnDrop(Arc<Mutex<Option<u64>>>);

impl Drop for ReadsRequestOnDrop {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = REQUEST.try_with(|v| *v).ok();
    }
}

#[test]
fn a_scoped_future_dropped_unfinished_sees_its_value_in_drop() {
    let seen = Arc::new(Mutex::new(None));
    let probe = ReadsRequestOnDrop(seen.clone());
    let future = REQUEST.scope(11, async move {
        let _probe = probe;
        std::future::pending::<()>().await;
    });
    drop(future);
    assert_eq!(*seen.lock().unwrap(), Some(11));
}
