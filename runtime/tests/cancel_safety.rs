//! Reads, receives and accepts are cancel safe on both drivers: whatever
//! the kernel delivers for a future that was dropped (a `timeout` expired,
//! a `select!` branch lost) is returned by the next operation on the
//! socket, in order, exactly once. On io_uring the dropped operation may
//! still be armed in the kernel when the peer acts; these tests make the
//! peer act right after the drop.

mod common;

use common::{for_each_accept_path, for_each_driver, watchdog};
use ringwork::net::{TcpListener, UdpSocket, UnixDatagram, UnixListener, UnixStream};
use ringwork::time::{sleep, timeout};
use ringwork::Runtime;
use std::io::{Read, Write};
use std::time::Duration;

const DROPPED_AFTER: Duration = Duration::from_millis(50);
const DEADLINE: Duration = Duration::from_secs(2);

/// Runs `body` as a task on each driver's runtime, under a watchdog.
fn on_each_driver<F, Fut>(body: F)
where
    F: Fn() -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    watchdog(Duration::from_secs(120), move || {
        // Every accept path: the bodies run on a worker, where listeners
        // use the multishot accept if the ring has it.
        for_each_accept_path(2, |rt: &Runtime| {
            rt.block_on(rt.spawn(body())).expect("test task");
        })
    });
}

fn temp_path(tag: &str) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("rw-cs-{tag}-{}-{n}", std::process::id()))
}

#[test]
fn a_tcp_read_that_timed_out_leaves_the_late_bytes_for_the_next_read() {
    on_each_driver(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        assert!(timeout(DROPPED_AFTER, stream.read(vec![0u8; 64]))
            .await
            .is_err());
        peer.write_all(b"hello").unwrap();
        let (res, buf) = timeout(DEADLINE, stream.read(Vec::with_capacity(64)))
            .await
            .expect("the late bytes arrive within 2 s");
        assert_eq!(&buf[..res.unwrap()], b"hello");
    });
}

#[test]
fn a_tcp_recv_buf_that_timed_out_leaves_the_late_bytes_for_the_next_recv_buf() {
    on_each_driver(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        assert!(timeout(DROPPED_AFTER, stream.recv_buf()).await.is_err());
        peer.write_all(b"hello").unwrap();
        // A write of 5 bytes may still arrive in pieces: collect them.
        let mut got = Vec::new();
        while got.len() < 5 {
            let buf = timeout(DEADLINE, stream.recv_buf())
                .await
                .expect("the late bytes arrive within 2 s")
                .unwrap();
            assert!(!buf.is_empty(), "end of stream before the bytes");
            got.extend_from_slice(&buf);
        }
        assert_eq!(got, b"hello");
    });
}

#[test]
fn a_unix_stream_read_that_timed_out_leaves_the_late_bytes_for_the_next_read() {
    on_each_driver(|| async {
        let (stream, peer) = UnixStream::pair().unwrap();
        assert!(timeout(DROPPED_AFTER, stream.read(vec![0u8; 64]))
            .await
            .is_err());
        peer.write_all(b"hello".as_slice()).await.0.unwrap();
        let (res, buf) = timeout(DEADLINE, stream.read(Vec::with_capacity(64)))
            .await
            .expect("the late bytes arrive within 2 s");
        assert_eq!(&buf[..res.unwrap()], b"hello");
    });
}

#[test]
fn a_udp_recv_from_that_timed_out_leaves_the_late_datagram_for_the_next() {
    on_each_driver(|| async {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert!(timeout(DROPPED_AFTER, socket.recv_from(vec![0u8; 64]))
            .await
            .is_err());
        peer.send_to(b"hello", socket.local_addr().unwrap())
            .unwrap();
        let (res, buf) = timeout(DEADLINE, socket.recv_from(Vec::with_capacity(64)))
            .await
            .expect("the late datagram arrives within 2 s");
        let (n, from) = res.unwrap();
        assert_eq!(
            (&buf[..n], from),
            (&b"hello"[..], peer.local_addr().unwrap())
        );
    });
}

#[test]
fn a_unix_datagram_recv_from_that_timed_out_leaves_the_late_datagram_for_the_next() {
    on_each_driver(|| async {
        let (here, there) = (temp_path("dg-a"), temp_path("dg-b"));
        let socket = UnixDatagram::bind(&here).unwrap();
        let peer = UnixDatagram::bind(&there).unwrap();
        assert!(timeout(DROPPED_AFTER, socket.recv_from(vec![0u8; 64]))
            .await
            .is_err());
        peer.send_to(b"hello".as_slice(), &here).await.0.unwrap();
        let (res, buf) = timeout(DEADLINE, socket.recv_from(Vec::with_capacity(64)))
            .await
            .expect("the late datagram arrives within 2 s");
        let (n, from) = res.unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(from.as_pathname(), Some(there.as_path()), "sender kept");
        // The connected form: `recv` after a dropped `recv`.
        let (a, b) = UnixDatagram::pair().unwrap();
        assert!(timeout(DROPPED_AFTER, a.recv(vec![0u8; 64])).await.is_err());
        b.send(b"again".as_slice()).await.0.unwrap();
        let (res, buf) = timeout(DEADLINE, a.recv(Vec::with_capacity(64)))
            .await
            .expect("the late datagram arrives within 2 s");
        assert_eq!(&buf[..res.unwrap()], b"again");
        let _ = std::fs::remove_file(&here);
        let _ = std::fs::remove_file(&there);
    });
}

#[test]
fn a_tcp_accept_that_timed_out_leaves_the_late_connection_for_the_next_accept() {
    on_each_driver(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        assert!(timeout(DROPPED_AFTER, listener.accept()).await.is_err());
        let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        peer.write_all(b"hi").unwrap();
        let (stream, from) = timeout(DEADLINE, listener.accept())
            .await
            .expect("the late connection is accepted within 2 s")
            .unwrap();
        assert_eq!(from, peer.local_addr().unwrap());
        let (res, buf) = stream.read_exact(Vec::with_capacity(2)).await;
        res.unwrap();
        assert_eq!(buf, b"hi");
        stream.write_all(b"ok".as_slice()).await.0.unwrap();
        let mut reply = [0u8; 2];
        peer.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"ok", "the connection was not closed");
    });
}

#[test]
fn a_unix_accept_that_timed_out_leaves_the_late_connection_for_the_next_accept() {
    on_each_driver(|| async {
        let path = temp_path("listener");
        let listener = UnixListener::bind(&path).unwrap();
        assert!(timeout(DROPPED_AFTER, listener.accept()).await.is_err());
        let mut peer = std::os::unix::net::UnixStream::connect(&path).unwrap();
        peer.write_all(b"hi").unwrap();
        let (stream, _) = timeout(DEADLINE, listener.accept())
            .await
            .expect("the late connection is accepted within 2 s")
            .unwrap();
        let (res, buf) = stream.read_exact(Vec::with_capacity(2)).await;
        res.unwrap();
        assert_eq!(buf, b"hi");
        let _ = std::fs::remove_file(&path);
    });
}

/// A tiny deterministic generator (the tests must not depend on a seed
/// crate): xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// The byte at position `i` of the test stream: a pattern in which any
/// loss, duplication or reordering shows.
fn stream_byte(i: u64) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

const STREAM_LEN: u64 = 16 << 20;
const MIN_ITERATIONS: u32 = 10_000;

#[test]
fn a_select_loop_racing_reads_against_a_timer_gets_every_byte_of_16_mib_once_in_order() {
    on_each_driver(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // The writer: 16 MiB in chunks of random size, pausing around the
        // reader's timer period now and then, so that timers fire while
        // bytes are on their way.
        let writer = std::thread::spawn(move || {
            let mut peer = std::net::TcpStream::connect(addr).unwrap();
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
            let mut sent = 0u64;
            while sent < STREAM_LEN {
                let len = (1 + rng.next() % 16_384).min(STREAM_LEN - sent);
                let chunk: Vec<u8> = (sent..sent + len).map(stream_byte).collect();
                peer.write_all(&chunk).unwrap();
                sent += len;
                if rng.next() % 8 == 0 {
                    std::thread::sleep(Duration::from_micros(500 + rng.next() % 1_000));
                }
            }
        });
        let (stream, _) = listener.accept().await.unwrap();
        let (mut received, mut iterations, mut timer_wins) = (0u64, 0u32, 0u32);
        let mut buf = Vec::with_capacity(1024);
        while received < STREAM_LEN || iterations < MIN_ITERATIONS {
            iterations += 1;
            if received == STREAM_LEN {
                // Everything arrived: the remaining iterations race reads
                // that can only end with the timer (or end-of-stream).
                match timeout(Duration::from_millis(1), stream.read(buf)).await {
                    Ok((res, back)) => {
                        assert_eq!(res.unwrap(), 0, "no byte beyond the stream");
                        buf = back;
                        continue;
                    }
                    Err(_) => {
                        timer_wins += 1;
                        buf = Vec::with_capacity(1024);
                        continue;
                    }
                }
            }
            ringwork::select! {
                (res, back) = stream.read(buf) => {
                    let n = res.unwrap();
                    assert!(n > 0, "end of stream at {received} of {STREAM_LEN}");
                    for (k, byte) in back[..n].iter().enumerate() {
                        let at = received + k as u64;
                        assert_eq!(*byte, stream_byte(at), "byte {at} lost, doubled or moved");
                    }
                    received += n as u64;
                    buf = back;
                    buf.clear();
                }
                _ = sleep(Duration::from_millis(1)) => {
                    timer_wins += 1;
                    // The read (and its buffer) went with the losing branch.
                    buf = Vec::with_capacity(1024);
                }
            }
        }
        writer.join().unwrap();
        assert_eq!(received, STREAM_LEN);
        assert!(timer_wins > 0, "the timer never won: nothing was cancelled");
        println!("{iterations} iterations, {timer_wins} reads dropped by the timer");
    });
}

#[test]
fn a_select_loop_racing_receives_against_a_timer_gets_every_datagram_once() {
    const DATAGRAMS: u32 = 3_000;
    on_each_driver(|| async {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let acked = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let seen_by_sender = acked.clone();
        // The sender keeps at most 64 datagrams ahead of the receiver (so
        // the socket buffer never overflows: UDP would drop, not the
        // runtime), pausing now and then around the timer period.
        let sender = std::thread::spawn(move || {
            let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let mut rng = Rng(7);
            for i in 0..DATAGRAMS {
                while i >= seen_by_sender.load(std::sync::atomic::Ordering::Acquire) + 64 {
                    std::thread::sleep(Duration::from_micros(100));
                }
                peer.send_to(&i.to_le_bytes(), addr).unwrap();
                if rng.next() % 16 == 0 {
                    std::thread::sleep(Duration::from_micros(500 + rng.next() % 1_000));
                }
            }
            peer.local_addr().unwrap()
        });
        let mut seen = vec![false; DATAGRAMS as usize];
        let (mut count, mut timer_wins) = (0u32, 0u32);
        let mut from_addr = None;
        while count < DATAGRAMS {
            ringwork::select! {
                (res, buf) = socket.recv_from(Vec::with_capacity(16)) => {
                    let (n, from) = res.unwrap();
                    assert_eq!(n, 4);
                    let i = u32::from_le_bytes(buf[..4].try_into().unwrap()) as usize;
                    assert!(!seen[i], "datagram {i} delivered twice");
                    seen[i] = true;
                    count += 1;
                    from_addr = Some(from);
                    acked.store(count, std::sync::atomic::Ordering::Release);
                }
                _ = sleep(Duration::from_millis(1)) => timer_wins += 1,
            }
        }
        let sender_addr = sender.join().unwrap();
        assert_eq!(from_addr, Some(sender_addr), "senders kept");
        assert!(seen.iter().all(|s| *s));
        assert!(timer_wins > 0, "the timer never won: nothing was cancelled");
        println!("{DATAGRAMS} datagrams, {timer_wins} receives dropped by the timer");
    });
}

#[test]
fn a_select_loop_racing_accepts_against_a_timer_accepts_every_connection_once() {
    const CONNECTIONS: u32 = 300;
    on_each_driver(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let clients = std::thread::spawn(move || {
            let mut rng = Rng(11);
            let mut kept = Vec::new();
            for i in 0..CONNECTIONS {
                let mut peer = std::net::TcpStream::connect(addr).unwrap();
                peer.write_all(&i.to_le_bytes()).unwrap();
                kept.push(peer);
                if rng.next() % 4 == 0 {
                    std::thread::sleep(Duration::from_micros(500 + rng.next() % 1_000));
                }
            }
            kept
        });
        let mut seen = vec![false; CONNECTIONS as usize];
        let (mut count, mut timer_wins) = (0u32, 0u32);
        while count < CONNECTIONS {
            ringwork::select! {
                res = listener.accept() => {
                    let (stream, _) = res.unwrap();
                    let (res, buf) = stream.read_exact(Vec::with_capacity(4)).await;
                    res.unwrap();
                    let i = u32::from_le_bytes(buf.try_into().unwrap()) as usize;
                    assert!(!seen[i], "connection {i} accepted twice");
                    seen[i] = true;
                    count += 1;
                }
                _ = sleep(Duration::from_millis(1)) => timer_wins += 1,
            }
        }
        drop(clients.join().unwrap());
        assert!(seen.iter().all(|s| *s));
        assert!(timer_wins > 0, "the timer never won: nothing was cancelled");
        println!("{CONNECTIONS} connections, {timer_wins} accepts dropped by the timer");
    });
}

#[test]
fn a_sequential_file_read_that_timed_out_leaves_the_late_bytes_for_the_next_read() {
    on_each_driver(|| async {
        let (reader, writer) = common::pipe();
        let file = ringwork::fs::File::from_std(reader);
        assert!(timeout(DROPPED_AFTER, file.read(vec![0u8; 64]))
            .await
            .is_err());
        let mut writer = writer;
        writer.write_all(b"hello").unwrap();
        let (res, buf) = timeout(DEADLINE, file.read(Vec::with_capacity(64)))
            .await
            .expect("the late bytes arrive within 2 s");
        assert_eq!(&buf[..res.unwrap()], b"hello");
    });
}

/// Blocks the only worker of `rt` until the returned flag is set, so that
/// nothing polls or reaps on it meanwhile (a CPU-heavy or blocking task).
fn block_the_worker(rt: &Runtime) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    let release = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = common::Gate::new();
    let (r, s) = (release.clone(), started.clone());
    drop(rt.spawn(async move {
        s.open();
        while !r.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }));
    common::block_on_plain(started.wait());
    release
}

/// The deterministic form of the race: the kernel completes a read while
/// the reading task is being aborted, before its completion is polled (on
/// io_uring: the RECV is done, its CQE not yet reaped). The next read gets
/// the bytes.
#[test]
fn bytes_a_read_got_while_its_task_was_aborted_go_to_the_next_read() {
    watchdog(Duration::from_secs(60), || {
        for_each_driver(1, |rt| {
            let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
            let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let stream = std::sync::Arc::new(rt.block_on(listener.accept()).unwrap().0);
            let s = stream.clone();
            let reader = rt.spawn(async move { s.read(vec![0u8; 64]).await.0.map(drop) });
            std::thread::sleep(Duration::from_millis(20)); // the read is armed
            let release = block_the_worker(rt);
            peer.write_all(b"hello").unwrap();
            std::thread::sleep(Duration::from_millis(20)); // the kernel received
            reader.abort();
            release.store(true, std::sync::atomic::Ordering::SeqCst);
            assert!(common::block_on_plain(reader).unwrap_err().is_cancelled());
            let got = rt
                .block_on(rt.spawn(async move {
                    let (res, buf) = timeout(DEADLINE, stream.read(Vec::with_capacity(64)))
                        .await
                        .expect("the bytes arrive within 2 s");
                    buf[..res.unwrap()].to_vec()
                }))
                .unwrap();
            assert_eq!(got, b"hello");
        })
    });
}

#[test]
fn a_datagram_a_receive_got_while_its_task_was_aborted_goes_to_the_next_receive() {
    watchdog(Duration::from_secs(60), || {
        for_each_driver(1, |rt| {
            let socket = std::sync::Arc::new(rt.block_on(UdpSocket::bind("127.0.0.1:0")).unwrap());
            let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let s = socket.clone();
            let receiver = rt.spawn(async move { s.recv_from(vec![0u8; 64]).await.0.map(drop) });
            std::thread::sleep(Duration::from_millis(20)); // the receive is armed
            let release = block_the_worker(rt);
            peer.send_to(b"hello", socket.local_addr().unwrap())
                .unwrap();
            std::thread::sleep(Duration::from_millis(20)); // the kernel received
            receiver.abort();
            release.store(true, std::sync::atomic::Ordering::SeqCst);
            assert!(common::block_on_plain(receiver).unwrap_err().is_cancelled());
            let (got, from) = rt
                .block_on(rt.spawn(async move {
                    let (res, buf) = timeout(DEADLINE, socket.recv_from(Vec::with_capacity(64)))
                        .await
                        .expect("the datagram arrives within 2 s");
                    let (n, from) = res.unwrap();
                    (buf[..n].to_vec(), from)
                }))
                .unwrap();
            assert_eq!(
                (got.as_slice(), from),
                (&b"hello"[..], peer.local_addr().unwrap())
            );
        })
    });
}
