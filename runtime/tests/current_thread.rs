//! The current-thread runtime: the thread in `block_on` runs every task,
//! with its own driver and wheel, kept between `block_on` calls. Runs on
//! both drivers (CI repeats the suite with `RINGWORK_DRIVER=epoll`).

// `block_on` returns `JoinHandle`s on purpose: tasks outlive one call.
#![allow(clippy::async_yields_async)]

mod common;

use common::{watchdog, DropCounter};
use ringwork::net::{TcpListener, TcpStream};
use ringwork::runtime::{Builder, RuntimeFlavor};
use ringwork::Runtime;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);

fn current_thread() -> Runtime {
    Builder::new_current_thread()
        .seed(0x5eed)
        .build()
        .expect("runtime builds")
}

#[test]
fn every_task_runs_on_the_thread_in_block_on() {
    watchdog(LIMIT, || {
        let runtime = current_thread();
        assert_eq!(
            runtime.handle().runtime_flavor(),
            RuntimeFlavor::CurrentThread
        );
        assert_eq!(runtime.handle().num_workers(), 1);
        let here = std::thread::current().id();
        let threads = runtime.block_on(async {
            let mut handles = Vec::new();
            for i in 0..200u64 {
                handles.push(ringwork::spawn(async move {
                    let mut seen = vec![std::thread::current().id()];
                    for _ in 0..3 {
                        ringwork::task::yield_now().await;
                        ringwork::time::sleep(Duration::from_micros(i % 7 * 100)).await;
                        seen.push(std::thread::current().id());
                    }
                    seen
                }));
            }
            let mut all = Vec::new();
            for handle in handles {
                all.extend(handle.await.expect("task"));
            }
            all
        });
        assert_eq!(threads.len(), 200 * 4);
        assert!(threads.iter().all(|id| *id == here), "a task ran elsewhere");
    });
}

#[test]
fn tcp_echo_runs_within_one_thread() {
    watchdog(LIMIT, || {
        let runtime = current_thread();
        let here = std::thread::current().id();
        let total = runtime.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = ringwork::spawn(async move {
                for _ in 0..10 {
                    let (stream, _) = listener.accept().await.unwrap();
                    ringwork::spawn(async move {
                        assert_eq!(std::thread::current().id(), here);
                        let mut buf = vec![0u8; 4096];
                        loop {
                            let (n, b) = stream.read(buf).await;
                            buf = b;
                            match n.unwrap() {
                                0 => break,
                                n => {
                                    let (r, _) = stream.write_all(buf[..n].to_vec()).await;
                                    r.unwrap();
                                }
                            }
                        }
                    });
                }
            });
            let mut clients = Vec::new();
            for c in 0..10u8 {
                clients.push(ringwork::spawn(async move {
                    let stream = TcpStream::connect(addr).await.unwrap();
                    let mut echoed = 0;
                    for round in 0..50u8 {
                        let msg = vec![c ^ round; 100];
                        let (r, _) = stream.write_all(msg.clone()).await;
                        r.unwrap();
                        let (r, got) = stream.read_exact(vec![0u8; 100]).await;
                        r.unwrap();
                        assert_eq!(got, msg);
                        echoed += got.len();
                    }
                    echoed
                }));
            }
            let mut total = 0;
            for client in clients {
                total += client.await.unwrap();
            }
            server.await.unwrap();
            total
        });
        assert_eq!(total, 10 * 50 * 100);
    });
}

#[test]
fn a_spawn_from_another_thread_wakes_the_parked_block_on() {
    watchdog(LIMIT, || {
        let runtime = current_thread();
        let handle = runtime.handle().clone();
        let here = std::thread::current().id();
        let (tx, rx) = std::sync::mpsc::channel();
        let spawner = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let join = handle.spawn(async { std::thread::current().id() });
            tx.send(join).unwrap();
        });
        let ran_on = runtime.block_on(async move {
            // Nothing to do until the other thread spawns: the worker parks.
            let join = ringwork::task::spawn_blocking(move || rx.recv().unwrap())
                .await
                .unwrap();
            join.await.unwrap()
        });
        spawner.join().unwrap();
        assert_eq!(ran_on, here);
    });
}

#[test]
fn a_read_in_flight_survives_between_block_on_calls() {
    watchdog(LIMIT, || {
        let runtime = current_thread();
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        // First call: connect, and leave a task with a read in flight.
        let reader = runtime.block_on(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            let reader = ringwork::spawn(async move {
                let (r, buf) = stream.read_exact(vec![0u8; 5]).await;
                r.unwrap();
                buf
            });
            // Let the task start its read.
            for _ in 0..10 {
                ringwork::task::yield_now().await;
            }
            reader
        });
        let (mut peer, _) = std_listener.accept().unwrap();
        peer.write_all(b"hello").unwrap();
        // Between the calls the thread is free for another runtime, with
        // its own driver.
        let other = common::runtime(1);
        let echoed = other.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let client = std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.write_all(b"x").unwrap();
            });
            let (s, _) = listener.accept().await.unwrap();
            let (r, buf) = s.read_exact(vec![0u8; 1]).await;
            r.unwrap();
            client.join().unwrap();
            buf
        });
        assert_eq!(echoed, b"x");
        drop(other);
        // Second call: the read completes with the bytes sent meanwhile.
        let got = runtime.block_on(async move { reader.await.unwrap() });
        assert_eq!(got, b"hello");
        // And a timer armed in one call fires in the next.
        let sleeper = runtime.block_on(async {
            ringwork::spawn(async {
                let start = Instant::now();
                ringwork::time::sleep(Duration::from_millis(30)).await;
                start.elapsed()
            })
        });
        std::thread::sleep(Duration::from_millis(40));
        let slept = runtime.block_on(async move { sleeper.await.unwrap() });
        assert!(slept >= Duration::from_millis(30), "{slept:?}");
        let mut rest = Vec::new();
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        drop(runtime);
        // The runtime's socket is closed with it.
        assert_eq!(peer.read_to_end(&mut rest).unwrap(), 0);
    });
}

#[test]
fn block_on_from_another_thread_panics_naming_the_driving_thread() {
    watchdog(LIMIT, || {
        let runtime = std::sync::Arc::new(current_thread());
        runtime.block_on(async {});
        let elsewhere = runtime.clone();
        let result = std::thread::Builder::new()
            .name("intruder".into())
            .spawn(move || elsewhere.block_on(async {}))
            .unwrap()
            .join();
        let payload = result.expect_err("block_on on another thread must panic");
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(message.contains("first called `block_on`"), "{message}");
        let name = std::thread::current()
            .name()
            .unwrap_or("<unnamed>")
            .to_owned();
        assert!(message.contains(&name), "{message}");
        // The runtime still works on its own thread.
        assert_eq!(runtime.block_on(async { 7 }), 7);
    });
}

#[test]
fn dropping_the_runtime_drops_every_task_and_returns_promptly() {
    watchdog(LIMIT, || {
        let runtime = current_thread();
        let drops = DropCounter::new();
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        runtime.block_on({
            let drops = drops.clone();
            async move {
                for _ in 0..10 {
                    let token = drops.token();
                    ringwork::spawn(async move {
                        let _token = token;
                        ringwork::time::sleep(Duration::from_secs(3600)).await;
                    });
                }
                for _ in 0..10 {
                    let token = drops.token();
                    let stream = TcpStream::connect(addr).await.unwrap();
                    ringwork::spawn(async move {
                        let _token = token;
                        let _ = stream.read(vec![0u8; 64]).await;
                    });
                }
                ringwork::task::yield_now().await;
            }
        });
        // Spawned after the last block_on: never ran.
        let token = drops.token();
        drop(runtime.spawn(async move {
            let _token = token;
        }));
        let start = Instant::now();
        drop(runtime);
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(drops.drops(), 21);
    });
}

#[test]
fn dropping_it_on_another_thread_drops_its_tasks() {
    watchdog(LIMIT, || {
        let runtime = current_thread();
        let drops = DropCounter::new();
        let token = drops.token();
        runtime.block_on(async move {
            ringwork::spawn(async move {
                let _token = token;
                ringwork::time::sleep(Duration::from_secs(3600)).await;
            });
            ringwork::task::yield_now().await;
        });
        std::thread::spawn(move || drop(runtime)).join().unwrap();
        assert_eq!(drops.drops(), 1);
        // This thread takes the orphaned driver down on its next
        // current-thread `block_on`, and works as before.
        assert_eq!(current_thread().block_on(async { 1 }), 1);
    });
}

#[test]
fn nested_block_on_is_refused() {
    watchdog(LIMIT, || {
        let runtime = std::sync::Arc::new(current_thread());
        let inner = runtime.clone();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime.block_on(async move { inner.block_on(async {}) })
        }));
        assert!(result.is_err());
        // The core went back to its thread's storage during the unwind.
        assert_eq!(runtime.block_on(async { 3 }), 3);
    });
}

#[test]
fn worker_threads_other_than_one_is_an_invalid_setting() {
    let err = Builder::new_current_thread()
        .worker_threads(2)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("current_thread"), "{err}");
    Builder::new_current_thread()
        .worker_threads(1)
        .build()
        .expect("one worker is what it has");
}

#[test]
fn a_panicking_block_on_future_leaves_the_runtime_usable() {
    watchdog(LIMIT, || {
        let runtime = current_thread();
        let task = runtime.block_on(async { ringwork::spawn(async { 5 }) });
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime.block_on(async { panic!("boom") })
        }));
        assert!(result.is_err());
        assert_eq!(runtime.block_on(task).unwrap(), 5);
    });
}
