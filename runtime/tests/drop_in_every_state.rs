//! Dropping a runtime with work in every state — reads and an armed accept
//! in flight on the workers' drivers, sleeps armed, a blocking job running,
//! tasks that yield forever — returns in bounded time and leaves no
//! descriptor or thread behind, on both drivers. (One test in this binary:
//! it counts the process's descriptors and threads.)

mod common;

use common::{open_fds, settle, watchdog};
use ringwork::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Asserts that `count()` comes back to `baseline` within 5 s.
fn settles(what: &str, baseline: usize, count: impl Fn() -> usize) {
    let after = settle(baseline, Duration::from_secs(5), count);
    assert_eq!(after, baseline, "{what} left behind");
}

#[test]
fn dropping_a_runtime_with_work_in_every_state_returns_promptly_and_leaks_nothing() {
    watchdog(Duration::from_secs(120), || {
        // Not `for_each_driver`: it keeps its runtime until the body
        // returns, and the drop is what is measured here.
        for kind in [
            ringwork::io::DriverKind::Uring,
            ringwork::io::DriverKind::Epoll,
        ] {
            let fds_before = open_fds();
            let threads_before = threads();
            let rt = match ringwork::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .driver(kind)
                .build()
            {
                Ok(rt) => rt,
                Err(err) => {
                    println!("skipped {kind:?}: {err}");
                    continue;
                }
            };
            let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
            let addr = listener.local_addr().unwrap();
            let mut peers = Vec::new();
            // An accept loop (a multishot accept armed on io_uring) and, per
            // connection, a read that never completes.
            drop(rt.spawn(async move {
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    drop(ringwork::spawn(async move {
                        let _ = stream.read(vec![0u8; 4096]).await;
                    }));
                }
            }));
            for _ in 0..20 {
                peers.push(std::net::TcpStream::connect(addr).unwrap());
            }
            // Outgoing connections with reads in flight, from tasks.
            for _ in 0..10 {
                drop(rt.spawn(async move {
                    let stream = TcpStream::connect(addr).await.unwrap();
                    let _ = stream.read(vec![0u8; 4096]).await;
                }));
            }
            // Timers armed for an hour, and tasks that never stop yielding.
            for _ in 0..100 {
                drop(rt.spawn(ringwork::time::sleep(Duration::from_secs(3600))));
            }
            for _ in 0..4 {
                drop(rt.spawn(async {
                    loop {
                        ringwork::task::yield_now().await;
                    }
                }));
            }
            // A blocking job still running when the runtime is dropped.
            drop(rt.spawn_blocking(|| std::thread::sleep(Duration::from_millis(300))));
            std::thread::sleep(Duration::from_millis(100));

            let started = Instant::now();
            drop(rt);
            let took = started.elapsed();
            println!("{kind:?}: dropped in {took:?}");
            assert!(
                took < Duration::from_secs(5),
                "{kind:?}: drop took {took:?}"
            );
            drop(peers);
            settles("descriptors", fds_before, open_fds);
            settles("threads", threads_before, threads);
        }
    });
}
