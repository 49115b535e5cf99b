//! Provided buffer rings and multishot receive (`Builder::uring_buf_ring`):
//! every byte arrives once and in order whatever the reads look like, an
//! empty ring or a socket nobody reads loses nothing and starves nobody,
//! and every buffer goes back to its ring — from any thread, and when the
//! stream is dropped with buffers unread. `recv_buf` works on both drivers
//! (a heap buffer on epoll).

mod common;

use common::{pattern, small_buf_ring, watchdog};
use ringwork::io::DriverKind;
use ringwork::net::{TcpListener, TcpStream};
use ringwork::runtime::{BufRingConfig, Builder, IoMetrics};
use ringwork::Runtime;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// A runtime of `kind`; on io_uring with `buf_ring`. `None` where io_uring
/// is unavailable (the test is skipped there, and says so).
fn runtime(kind: DriverKind, workers: usize, buf_ring: BufRingConfig) -> Option<Runtime> {
    common::build_on(
        kind,
        Builder::new_multi_thread()
            .worker_threads(workers)
            .uring_buf_ring(Some(buf_ring)),
    )
}

/// Reads `len` bytes with `recv_buf` on a runtime task (none may be an
/// early end of stream).
fn recv_exactly(rt: &Runtime, stream: TcpStream, len: usize) -> Vec<u8> {
    rt.block_on(rt.spawn(async move {
        let mut got = Vec::new();
        while got.len() < len {
            let buf = stream.recv_buf().await.unwrap();
            assert!(!buf.is_empty());
            got.extend_from_slice(&buf);
        }
        got
    }))
    .unwrap()
}

/// Every worker's io_uring counters, summed.
fn io_totals(rt: &Runtime) -> IoMetrics {
    let mut total = IoMetrics::default();
    for worker in rt.handle().metrics().workers {
        if let Some(io) = worker.io {
            total.buffers_taken += io.buffers_taken;
            total.buffers_returned += io.buffers_returned;
            total.no_buffers += io.no_buffers;
            total.capped += io.capped;
            total.recv_arms += io.recv_arms;
        }
    }
    total
}

/// Waits (bounded) until every provided buffer handed out is back.
fn all_buffers_back(rt: &Runtime) -> IoMetrics {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let io = io_totals(rt);
        if io.buffers_taken == io.buffers_returned || Instant::now() > deadline {
            return io;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A listener and a std client connected to it; the server side is
/// accepted on a worker.
fn connected(rt: &Runtime) -> (TcpStream, std::net::TcpStream) {
    let listener = rt
        .block_on(async { TcpListener::bind("127.0.0.1:0").await })
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let client = std::net::TcpStream::connect(addr).unwrap();
    let (server, _) = rt
        .block_on(rt.spawn(async move { listener.accept().await }))
        .unwrap()
        .unwrap();
    (server, client)
}

/// A small deterministic generator of read sizes.
fn sizes(seed: u64) -> impl FnMut() -> usize {
    let mut x = seed | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        1 + (x % 9000) as usize
    }
}

#[test]
fn reads_of_every_size_mixed_with_recv_buf_get_every_byte_in_order() {
    watchdog(Duration::from_secs(60), || {
        for kind in [DriverKind::Uring, DriverKind::Epoll] {
            let Some(rt) = runtime(kind, 2, small_buf_ring()) else {
                continue;
            };
            let (server, mut client) = connected(&rt);
            const LEN: usize = 4 << 20;
            let writer = std::thread::spawn(move || client.write_all(&pattern(LEN)));
            let got = rt
                .block_on(rt.spawn(async move {
                    let mut got = Vec::with_capacity(LEN);
                    let mut size = sizes(7);
                    let mut turn = 0u32;
                    loop {
                        turn += 1;
                        let n = if turn % 3 == 0 {
                            let buf = server.recv_buf().await.unwrap();
                            got.extend_from_slice(&buf);
                            buf.len()
                        } else {
                            let (res, buf) = server.read(Vec::with_capacity(size())).await;
                            got.extend_from_slice(&buf);
                            res.unwrap()
                        };
                        if n == 0 {
                            return got;
                        }
                    }
                }))
                .unwrap();
            writer.join().unwrap().unwrap();
            assert_eq!(got.len(), LEN, "{kind:?}");
            assert!(got == pattern(LEN), "{kind:?}: bytes out of order");
            if kind == DriverKind::Uring {
                let io = all_buffers_back(&rt);
                assert!(io.buffers_taken > 0, "the multishot receive served: {io:?}");
                assert_eq!(io.buffers_taken, io.buffers_returned, "{io:?}");
            }
        }
    });
}

#[test]
fn an_echo_server_sends_the_buffers_it_received() {
    watchdog(Duration::from_secs(60), || {
        for kind in [DriverKind::Uring, DriverKind::Epoll] {
            let Some(rt) = runtime(kind, 2, small_buf_ring()) else {
                continue;
            };
            let (server, mut client) = connected(&rt);
            let echo = rt.spawn(async move {
                loop {
                    let buf = server.recv_buf().await?;
                    if buf.is_empty() {
                        return Ok::<_, std::io::Error>(());
                    }
                    let (res, _) = server.write_all(buf).await;
                    res?;
                }
            });
            const LEN: usize = 1 << 20;
            let mut reader = client.try_clone().unwrap();
            let writer = std::thread::spawn(move || {
                client.write_all(&pattern(LEN)).unwrap();
                client.shutdown(std::net::Shutdown::Write).unwrap();
            });
            let mut echoed = Vec::new();
            reader.read_to_end(&mut echoed).unwrap();
            writer.join().unwrap();
            rt.block_on(echo).unwrap().unwrap();
            assert!(echoed == pattern(LEN), "{kind:?}: the echo differs");
        }
    });
}

/// Bytes folded into one number (order matters).
fn checksum(acc: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(acc, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[test]
fn a_two_buffer_ring_loses_no_byte_of_a_16_mib_stream() {
    watchdog(Duration::from_secs(120), || {
        let two = BufRingConfig {
            entries: 2,
            buf_size: 4096,
            per_socket: 1,
        };
        for kind in [DriverKind::Uring, DriverKind::Epoll] {
            let Some(rt) = runtime(kind, 2, two) else {
                continue;
            };
            let (server, mut client) = connected(&rt);
            const LEN: usize = 16 << 20;
            let data = pattern(LEN);
            let expected = checksum(0xcbf2_9ce4_8422_2325, &data);
            let writer = std::thread::spawn(move || client.write_all(&data));
            let (got, sum) = rt
                .block_on(rt.spawn(async move {
                    let (mut got, mut sum) = (0usize, 0xcbf2_9ce4_8422_2325);
                    // Hold the previous buffer while asking for the next:
                    // with two in the ring, it runs dry.
                    let mut previous = None;
                    loop {
                        let buf = server.recv_buf().await.unwrap();
                        if buf.is_empty() {
                            drop(previous);
                            return (got, sum);
                        }
                        got += buf.len();
                        sum = checksum(sum, &buf);
                        previous = Some(buf);
                    }
                }))
                .unwrap();
            writer.join().unwrap().unwrap();
            assert_eq!((got, sum), (LEN, expected), "{kind:?}");
            if kind == DriverKind::Uring {
                let io = all_buffers_back(&rt);
                println!("{io:?}");
                assert!(
                    io.no_buffers + io.capped > 0,
                    "the ring ran dry or the cap stopped the receive: {io:?}"
                );
                assert_eq!(io.buffers_taken, io.buffers_returned, "{io:?}");
            }
        }
    });
}

#[test]
fn buffers_go_back_to_their_ring_from_any_thread_and_a_non_worker_drains_an_armed_receive() {
    watchdog(Duration::from_secs(60), || {
        let Some(rt) = runtime(DriverKind::Uring, 2, small_buf_ring()) else {
            return;
        };
        let (server, mut client) = connected(&rt);
        client.write_all(&pattern(1000)).unwrap();
        // A worker arms the receive and reads the first bytes; the buffers
        // it got are dropped on a thread that is not the runtime's.
        let (server, first) = rt
            .block_on(rt.spawn(async move {
                let buf = server.recv_buf().await.unwrap();
                (server, buf)
            }))
            .unwrap();
        assert!(first.is_pooled(), "served from the provided buffers");
        let mut got = first.to_vec();
        std::thread::spawn(move || drop(first)).join().unwrap();
        // The rest is read by `block_on`'s thread, which may not arm a
        // receive but takes what the armed one posts.
        let writer = std::thread::spawn(move || {
            client.write_all(&pattern(200_000)[1000..]).unwrap();
        });
        let mut pooled = 0;
        rt.block_on(async {
            while got.len() < 200_000 {
                let buf = server.recv_buf().await.unwrap();
                assert!(!buf.is_empty());
                pooled += usize::from(buf.is_pooled());
                got.extend_from_slice(&buf);
                std::thread::spawn(move || drop(buf)).join().unwrap();
            }
        });
        writer.join().unwrap();
        assert!(got == pattern(200_000));
        assert!(pooled > 0, "the armed receive kept serving off its worker");
        let io = all_buffers_back(&rt);
        assert_eq!(io.buffers_taken, io.buffers_returned, "{io:?}");
    });
}

#[test]
fn dropping_a_stream_gives_back_every_buffer_its_unread_completions_hold() {
    watchdog(Duration::from_secs(60), || {
        let Some(rt) = runtime(DriverKind::Uring, 2, small_buf_ring()) else {
            return;
        };
        let fds = common::open_fds();
        let (server, mut client) = connected(&rt);
        client.write_all(b"x").unwrap();
        let server = rt
            .block_on(rt.spawn(async move {
                let buf = server.recv_buf().await.unwrap();
                assert_eq!(&buf[..], b"x");
                server
            }))
            .unwrap();
        // Unread data: the armed receive queues buffers (up to its cap).
        client.write_all(&pattern(64 * 1024)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        drop(server);
        let io = all_buffers_back(&rt);
        assert_eq!(io.buffers_taken, io.buffers_returned, "{io:?}");
        assert!(
            io.buffers_taken > 1,
            "the unread completions' buffers were given back: {io:?}"
        );
        drop(client);
        let left = common::settle(fds, Duration::from_secs(5), common::open_fds);
        assert_eq!(left, fds, "the socket closed after the receive's last CQE");
    });
}

#[test]
fn a_socket_nobody_reads_is_capped_and_its_neighbours_still_get_buffers() {
    watchdog(Duration::from_secs(60), || {
        let sizes = BufRingConfig {
            entries: 32,
            buf_size: 4096,
            per_socket: 4,
        };
        // One worker: both sockets use the same ring's buffers.
        let Some(rt) = runtime(DriverKind::Uring, 1, sizes) else {
            return;
        };
        let (hog, mut hog_peer) = connected(&rt);
        let (other, mut other_peer) = connected(&rt);
        hog_peer.write_all(b"x").unwrap();
        let hog = rt
            .block_on(rt.spawn(async move {
                hog.recv_buf().await.unwrap();
                hog
            }))
            .unwrap();
        // 1 MiB nobody reads (the socket buffers take what the ring does
        // not).
        const LEN: usize = 1 << 20;
        let hog_writer = std::thread::spawn(move || hog_peer.write_all(&pattern(LEN)));
        std::thread::sleep(Duration::from_millis(200));
        let before = io_totals(&rt);
        assert!(
            before.capped == 0,
            "counted by the reader, which has not read"
        );
        // The neighbour streams 1 MiB through the same ring.
        let other_writer = std::thread::spawn(move || other_peer.write_all(&pattern(LEN)));
        let got = recv_exactly(&rt, other, LEN);
        other_writer.join().unwrap().unwrap();
        assert!(got == pattern(LEN));
        let during = io_totals(&rt);
        assert_eq!(
            during.no_buffers, before.no_buffers,
            "the capped socket left buffers for its neighbour: {during:?}"
        );
        // The capped socket, read now, delivers all of its bytes.
        let hog_got = recv_exactly(&rt, hog, LEN);
        hog_writer.join().unwrap().unwrap();
        assert!(hog_got == pattern(LEN));
        let io = all_buffers_back(&rt);
        assert!(io.capped > 0, "the unread socket hit its cap: {io:?}");
        assert_eq!(io.buffers_taken, io.buffers_returned, "{io:?}");
    });
}

#[test]
fn a_buffer_ring_the_settings_refuse_is_a_build_error() {
    let bad = BufRingConfig {
        entries: 3,
        buf_size: 4096,
        per_socket: 1,
    };
    let err = Builder::new_multi_thread()
        .driver(DriverKind::Uring)
        .uring_buf_ring(Some(bad))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("power of two"), "{err}");
}

#[test]
fn small_deliveries_nobody_reads_stop_the_receive_at_its_cap_and_lose_nothing() {
    watchdog(Duration::from_secs(60), || {
        let sizes = BufRingConfig {
            entries: 32,
            buf_size: 4096,
            per_socket: 4,
        };
        let Some(rt) = runtime(DriverKind::Uring, 1, sizes) else {
            return;
        };
        let (server, mut client) = connected(&rt);
        client.write_all(b"start").unwrap();
        let server = rt
            .block_on(rt.spawn(async move {
                assert_eq!(&server.recv_buf().await.unwrap()[..], b"start");
                server
            }))
            .unwrap();
        // Twenty small messages, spaced so that each is a delivery (a
        // buffer) of its own, far below the byte limit: the cancel at four
        // unread completions stops the receive.
        let data = pattern(20 * 10);
        for message in data.chunks(10) {
            client.write_all(message).unwrap();
            std::thread::sleep(Duration::from_millis(3));
        }
        drop(client);
        let got = rt
            .block_on(rt.spawn(async move {
                let mut got = Vec::new();
                loop {
                    let buf = server.recv_buf().await.unwrap();
                    if buf.is_empty() {
                        return got;
                    }
                    got.extend_from_slice(&buf);
                }
            }))
            .unwrap();
        assert!(got == data, "every byte, in order");
        let io = all_buffers_back(&rt);
        assert!(
            io.capped > 0,
            "the unread completions reached the cap: {io:?}"
        );
        assert_eq!(io.buffers_taken, io.buffers_returned, "{io:?}");
    });
}
