//! Fixed files (`Builder::uring_fixed_files`): sockets registered in the
//! table of the worker ring where they are first used, named by their slot
//! there, by their descriptor on other rings, closed for real when dropped
//! (on any thread), and slots reused. The same echoes run on epoll, which
//! ignores the setting.

mod common;

use common::{pattern, watchdog};
use ringwork::io::DriverKind;
use ringwork::net::TcpStream;
use ringwork::runtime::{Builder, IoMetrics};
use ringwork::Runtime;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

fn runtime(kind: DriverKind, slots: u32) -> Option<Runtime> {
    common::build_on(
        kind,
        Builder::new_multi_thread()
            .worker_threads(1)
            .uring_fixed_files(Some(slots)),
    )
}

/// The sum of the workers' ring counters (`None` on epoll).
fn io(rt: &Runtime) -> Option<IoMetrics> {
    let workers = rt.handle().metrics().workers;
    let mut sum = IoMetrics::default();
    for w in workers {
        let io = w.io?;
        sum.fixed_files_registered += io.fixed_files_registered;
        sum.fixed_files_released += io.fixed_files_released;
        sum.fixed_file_table_full += io.fixed_file_table_full;
        sum.fixed_file_ops += io.fixed_file_ops;
        sum.fixed_file_fallbacks += io.fixed_file_fallbacks;
    }
    Some(sum)
}

/// A thread that accepts `connections` connections and echoes each (on a
/// thread of its own) until it closes; reports, per connection, the bytes
/// echoed and when its end was seen.
fn echo_peer(connections: usize) -> (SocketAddr, std::thread::JoinHandle<Vec<(usize, Instant)>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let echoes: Vec<_> = (0..connections)
            .map(|_| {
                let (mut conn, _) = listener.accept().unwrap();
                std::thread::spawn(move || {
                    conn.set_read_timeout(Some(Duration::from_secs(10)))
                        .unwrap();
                    let mut buf = [0u8; 4096];
                    let mut echoed = 0;
                    loop {
                        let n = conn
                            .read(&mut buf)
                            .expect("the connection ends, not stalls");
                        if n == 0 {
                            return (echoed, Instant::now());
                        }
                        conn.write_all(&buf[..n]).unwrap();
                        echoed += n;
                    }
                })
            })
            .collect();
        echoes.into_iter().map(|e| e.join().unwrap()).collect()
    });
    (addr, peer)
}

/// The counters, once `done` holds for them (the slot is cleared, and
/// counted, just after the peer can see the connection's end): waits up to
/// 5 s, then returns them as they are.
fn io_when(rt: &Runtime, done: impl Fn(&IoMetrics) -> bool) -> Option<IoMetrics> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let io = io(rt)?;
        if done(&io) || Instant::now() >= deadline {
            return Some(io);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// 100 round trips over one connection; returns the stream.
async fn round_trips(stream: TcpStream, rounds: usize) -> TcpStream {
    let data = pattern(64 * rounds);
    for chunk in data.chunks(64) {
        let (res, _) = stream.write_all(chunk.to_vec()).await;
        res.unwrap();
        let (res, back) = stream.read_exact(vec![0u8; 64]).await;
        res.unwrap();
        assert_eq!(back, chunk);
    }
    stream
}

#[test]
fn a_socket_is_used_by_its_slot_and_closed_when_dropped() {
    watchdog(Duration::from_secs(60), || {
        for kind in [DriverKind::Uring, DriverKind::Epoll] {
            let Some(rt) = runtime(kind, 8) else {
                continue;
            };
            let (addr, peer) = echo_peer(1);
            rt.block_on(rt.spawn(async move {
                let stream = TcpStream::connect(addr).await.unwrap();
                drop(round_trips(stream, 100).await);
            }))
            .unwrap();
            let dropped = Instant::now();
            let ends = peer.join().unwrap();
            assert_eq!(ends[0].0, 6400, "{kind:?}");
            // The connection ended once the slot was cleared: the worker
            // did it at once.
            let latency = ends[0].1.saturating_duration_since(dropped);
            assert!(latency < Duration::from_secs(2), "{kind:?}: {latency:?}");
            match io_when(&rt, |io| io.fixed_files_released == 1) {
                Some(io) => {
                    assert_eq!(io.fixed_files_registered, 1, "{io:?}");
                    assert_eq!(io.fixed_files_released, 1, "{io:?}");
                    assert_eq!(io.fixed_file_fallbacks, 0, "{io:?}");
                    // Connect, the writes that went through the ring and
                    // the reads: at least the 100 reads named the slot.
                    assert!(io.fixed_file_ops >= 100, "{io:?}");
                }
                None => assert_eq!(kind, DriverKind::Epoll),
            }
        }
    });
}

/// A socket registered on one runtime's worker ring, then used from
/// another runtime's worker, goes by its descriptor there (counted), and
/// dropped there, it still closes: the drop asks the first ring's owner,
/// which is parked, to clear the slot.
#[test]
fn a_socket_used_on_another_ring_goes_by_descriptor_and_closes_when_dropped_there() {
    watchdog(Duration::from_secs(60), || {
        for kind in [DriverKind::Uring, DriverKind::Epoll] {
            let (Some(home), Some(away)) = (runtime(kind, 8), runtime(kind, 8)) else {
                continue;
            };
            let (addr, peer) = echo_peer(1);
            let stream = home
                .block_on(home.spawn(async move {
                    let stream = TcpStream::connect(addr).await.unwrap();
                    round_trips(stream, 10).await
                }))
                .unwrap();
            // `home`'s worker has nothing to do now: it parks.
            std::thread::sleep(Duration::from_millis(50));
            let dropped = away
                .block_on(away.spawn(async move {
                    drop(round_trips(stream, 10).await);
                    Instant::now()
                }))
                .unwrap();
            let ends = peer.join().unwrap();
            assert_eq!(ends[0].0, 1280, "{kind:?}");
            let latency = ends[0].1.saturating_duration_since(dropped);
            assert!(latency < Duration::from_secs(2), "{kind:?}: {latency:?}");
            let home_io = io_when(&home, |io| io.fixed_files_released == 1);
            let (Some(home_io), Some(away_io)) = (home_io, io(&away)) else {
                assert_eq!(kind, DriverKind::Epoll);
                continue;
            };
            assert_eq!(home_io.fixed_files_registered, 1, "{home_io:?}");
            assert_eq!(home_io.fixed_files_released, 1, "{home_io:?}");
            assert_eq!(home_io.fixed_file_fallbacks, 0, "{home_io:?}");
            assert_eq!(away_io.fixed_files_registered, 0, "{away_io:?}");
            assert_eq!(away_io.fixed_file_ops, 0, "{away_io:?}");
            assert!(away_io.fixed_file_fallbacks >= 10, "{away_io:?}");
        }
    });
}

/// A table of 2 slots and 6 connections at once: two are registered, the
/// others go by descriptor (the full table counted), every byte echoes;
/// then 40 connections one after another reuse the freed slots.
#[test]
fn a_full_table_leaves_sockets_unregistered_and_freed_slots_are_reused() {
    watchdog(Duration::from_secs(60), || {
        for kind in [DriverKind::Uring, DriverKind::Epoll] {
            let Some(rt) = runtime(kind, 2) else {
                continue;
            };
            let (addr, peer) = echo_peer(6 + 40);
            rt.block_on(rt.spawn(async move {
                let mut streams = Vec::new();
                for _ in 0..6 {
                    streams.push(TcpStream::connect(addr).await.unwrap());
                }
                let mut done = Vec::new();
                for stream in streams {
                    done.push(round_trips(stream, 5).await);
                }
                drop(done);
                for _ in 0..40 {
                    let stream = TcpStream::connect(addr).await.unwrap();
                    drop(round_trips(stream, 2).await);
                    // Let the worker clear the slot before the next one.
                    ringwork::time::sleep(Duration::from_millis(1)).await;
                }
            }))
            .unwrap();
            let ends = peer.join().unwrap();
            let echoed: usize = ends.iter().map(|(n, _)| n).sum();
            assert_eq!(echoed, 6 * 320 + 40 * 128, "{kind:?}");
            let Some(io) = io_when(&rt, |io| io.fixed_files_released == 2 + 40) else {
                assert_eq!(kind, DriverKind::Epoll);
                continue;
            };
            assert_eq!(io.fixed_files_registered, 2 + 40, "{io:?}");
            assert_eq!(io.fixed_files_released, 2 + 40, "{io:?}");
            assert!(io.fixed_file_table_full >= 4, "{io:?}");
        }
    });
}

#[test]
fn a_table_over_the_descriptor_limit_is_a_build_error_naming_it() {
    let Some(rt) = runtime(DriverKind::Uring, 8) else {
        return;
    };
    drop(rt);
    let err = Builder::new_multi_thread()
        .worker_threads(1)
        .driver(DriverKind::Uring)
        .uring_fixed_files(Some(1 << 30))
        .build()
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("fixed files") && text.contains("RLIMIT_NOFILE"),
        "{text}"
    );
}

/// On a current-thread runtime the driver runs only inside `block_on`: a
/// registered socket dropped between two calls closes at the next one.
#[test]
fn a_current_thread_runtime_closes_a_socket_dropped_between_block_ons_at_the_next() {
    watchdog(Duration::from_secs(60), || {
        for kind in [DriverKind::Uring, DriverKind::Epoll] {
            let Some(rt) = common::build_on(
                kind,
                Builder::new_current_thread().uring_fixed_files(Some(4)),
            ) else {
                continue;
            };
            let (addr, peer) = echo_peer(1);
            let stream = rt.block_on(async move {
                let stream = TcpStream::connect(addr).await.unwrap();
                round_trips(stream, 3).await
            });
            drop(stream);
            rt.block_on(ringwork::time::sleep(Duration::from_millis(10)));
            let ends = peer.join().unwrap();
            assert_eq!(ends[0].0, 192, "{kind:?}");
            if let Some(io) = io_when(&rt, |io| io.fixed_files_released == 1) {
                assert_eq!(
                    (io.fixed_files_registered, io.fixed_files_released),
                    (1, 1),
                    "{io:?}"
                );
            }
        }
    });
}
