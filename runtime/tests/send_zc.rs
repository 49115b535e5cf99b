//! Zero-copy sends (`Builder::uring_send_zc`): the same bytes and results as
//! plain sends on both drivers; on io_uring the kernel's notification
//! releases the buffer (loopback copies, and says so), and a dropped send
//! frees its buffer only after that.

mod common;

use common::{pattern, watchdog, DropCounter, DropToken};
use ringwork::buf::IoBuf;
use ringwork::io::DriverKind;
use ringwork::net::TcpStream;
use ringwork::runtime::Builder;
use ringwork::Runtime;
use std::io::Read;
use std::time::{Duration, Instant};

const THRESHOLD: u32 = 64 * 1024;

fn runtime(kind: DriverKind) -> Option<Runtime> {
    common::build_on(
        kind,
        Builder::new_multi_thread()
            .worker_threads(2)
            .uring_send_zc(Some(THRESHOLD)),
    )
}

fn connected(rt: &Runtime) -> (TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = rt
        .block_on(rt.spawn(async move { TcpStream::connect(addr).await }))
        .unwrap()
        .unwrap();
    let (peer, _) = listener.accept().unwrap();
    (client, peer)
}

fn zc_counts(rt: &Runtime) -> (u64, u64) {
    rt.handle()
        .metrics()
        .workers
        .iter()
        .filter_map(|w| w.io)
        .fold((0, 0), |(n, c), io| {
            (n + io.zc_notifications, c + io.zc_copied)
        })
}

#[test]
fn large_and_small_writes_arrive_whole_with_zero_copy_sends_on() {
    watchdog(Duration::from_secs(60), || {
        for kind in [DriverKind::Uring, DriverKind::Epoll] {
            let Some(rt) = runtime(kind) else {
                continue;
            };
            let (stream, mut peer) = connected(&rt);
            const LEN: usize = 8 << 20;
            let reader = std::thread::spawn(move || {
                let mut got = Vec::new();
                peer.read_to_end(&mut got).map(|_| got)
            });
            rt.block_on(rt.spawn(async move {
                let data = pattern(LEN);
                // 1 MiB writes (zero-copy on io_uring), then small ones
                // (plain) for the last 64 KiB.
                let (big, small) = data.split_at(LEN - 65536);
                for chunk in big.chunks(1 << 20) {
                    let (res, _) = stream.write_all(chunk.to_vec()).await;
                    res.unwrap();
                }
                for chunk in small.chunks(1000) {
                    let (res, _) = stream.write_all(chunk.to_vec()).await;
                    res.unwrap();
                }
                stream.shutdown(std::net::Shutdown::Write).unwrap();
            }))
            .unwrap();
            let got = reader.join().unwrap().unwrap();
            assert!(got == pattern(LEN), "{kind:?}: the bytes differ");
            let (notified, copied) = zc_counts(&rt);
            if kind == DriverKind::Uring {
                assert!(notified >= 7, "the 1 MiB writes went zero-copy: {notified}");
                // Loopback never sends from the user's pages.
                assert_eq!(copied, notified, "loopback copies every zero-copy send");
            } else {
                assert_eq!((notified, copied), (0, 0));
            }
        }
    });
}

/// A buffer that counts its drop.
struct Counted {
    bytes: Vec<u8>,
    _token: DropToken,
}

// SAFETY: the bytes live in the `Vec`'s heap storage, unchanged while the
// value is not touched through `&mut`.
unsafe impl IoBuf for Counted {
    fn stable_ptr(&self) -> *const u8 {
        self.bytes.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.bytes.len()
    }
    fn bytes_total(&self) -> usize {
        self.bytes.len()
    }
}

#[test]
fn a_dropped_zero_copy_send_frees_its_buffer_once_the_kernel_lets_go() {
    watchdog(Duration::from_secs(60), || {
        for kind in [DriverKind::Uring, DriverKind::Epoll] {
            let Some(rt) = runtime(kind) else {
                continue;
            };
            let (stream, peer) = connected(&rt);
            let drops = DropCounter::new();
            let token = drops.token();
            // The peer reads nothing: 16 MiB cannot all go, so the send is
            // still in the kernel when its future is dropped.
            let stream = rt
                .block_on(rt.spawn(async move {
                    let buf = Counted {
                        bytes: pattern(16 << 20),
                        _token: token,
                    };
                    let write = stream.write_all(buf);
                    let timed_out = ringwork::time::timeout(Duration::from_millis(100), write)
                        .await
                        .is_err();
                    assert!(timed_out, "a peer that reads nothing cannot take 16 MiB");
                    stream
                }))
                .unwrap();
            // Closing both ends ends the send; the buffer is freed then.
            drop(peer);
            drop(stream);
            let deadline = Instant::now() + Duration::from_secs(5);
            while drops.drops() == 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            assert_eq!(drops.drops(), 1, "{kind:?}: the buffer was freed once");
        }
    });
}

#[test]
fn unix_sockets_which_refuse_zero_copy_get_plain_sends() {
    watchdog(Duration::from_secs(60), || {
        for kind in [DriverKind::Uring, DriverKind::Epoll] {
            let Some(rt) = runtime(kind) else {
                continue;
            };
            let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().unwrap();
            let reader = std::thread::spawn(move || {
                let mut got = Vec::new();
                theirs.read_to_end(&mut got).map(|_| got)
            });
            rt.block_on(rt.spawn(async move {
                let ours = ringwork::net::UnixStream::from_std(ours).unwrap();
                let (res, _) = ours.write_all(pattern(1 << 20)).await;
                res.unwrap();
            }))
            .unwrap();
            assert!(
                reader.join().unwrap().unwrap() == pattern(1 << 20),
                "{kind:?}"
            );
            assert_eq!(zc_counts(&rt), (0, 0), "{kind:?}: no zero-copy send tried");
        }
    });
}

/// A registered buffer (`Builder::uring_fixed_buffers`) sent zero-copy on a
/// ring that holds its pool is named by its index
/// (`IORING_RECVSEND_FIXED_BUF`, counted in `IoMetrics::fixed_buffer_ops`),
/// whole or as a slice, and every byte arrives; on epoll the same calls
/// send the same bytes.
#[test]
fn registered_buffers_sent_zero_copy_are_named_by_their_index_and_arrive_whole() {
    const BUF: usize = 256 * 1024;
    const ROUNDS: usize = 8;
    watchdog(Duration::from_secs(60), || {
        for kind in [DriverKind::Uring, DriverKind::Epoll] {
            let Some(rt) = common::build_on(
                kind,
                Builder::new_multi_thread()
                    .worker_threads(2)
                    .uring_send_zc(Some(THRESHOLD))
                    .uring_fixed_buffers(Some((4, BUF))),
            ) else {
                continue;
            };
            let (stream, mut peer) = connected(&rt);
            let reader = std::thread::spawn(move || {
                let mut got = Vec::new();
                peer.read_to_end(&mut got).map(|_| got)
            });
            let pool = rt.handle().fixed_buffers().expect("a pool");
            let data = pattern(ROUNDS * BUF);
            let expected = rt
                .block_on(rt.spawn(async move {
                    let mut expected = Vec::new();
                    for chunk in data.chunks(BUF) {
                        let mut buf = pool.get().await;
                        assert_eq!(buf.fill_from(chunk), BUF);
                        let (res, buf) = stream.write_all(buf).await;
                        res.unwrap();
                        expected.extend_from_slice(chunk);
                        // A part of the buffer, past the first KiB.
                        let (res, _) = stream.write_all(buf.slice(1024..BUF)).await;
                        res.unwrap();
                        expected.extend_from_slice(&chunk[1024..]);
                    }
                    stream.shutdown(std::net::Shutdown::Write).unwrap();
                    expected
                }))
                .unwrap();
            let got = reader.join().unwrap().unwrap();
            assert!(got == expected, "{kind:?}: the bytes differ");
            let fixed: u64 = rt
                .handle()
                .metrics()
                .workers
                .iter()
                .filter_map(|w| w.io)
                .map(|io| io.fixed_buffer_ops)
                .sum();
            let (notified, copied) = zc_counts(&rt);
            if kind == DriverKind::Uring {
                assert!(
                    fixed >= 2 * ROUNDS as u64,
                    "every send named its buffer: {fixed}"
                );
                assert!(
                    notified >= fixed,
                    "each went zero-copy: {notified} < {fixed}"
                );
                assert_eq!(copied, notified, "loopback copies every zero-copy send");
            } else {
                assert_eq!((fixed, notified), (0, 0), "{kind:?}");
            }
        }
    });
}

/// Datagrams at or above the threshold go as `SENDMSG_ZC` on io_uring
/// (each one notified, and copied on loopback); every datagram arrives
/// whole, in order, with the same bytes as a plain send, on both drivers.
#[test]
fn large_datagrams_sent_zero_copy_arrive_whole() {
    const DATAGRAM: usize = 65_000;
    const COUNT: usize = 16;
    watchdog(Duration::from_secs(60), || {
        for kind in [DriverKind::Uring, DriverKind::Epoll] {
            // A datagram is at most 64 KiB - 29 bytes: a lower threshold.
            let Some(rt) = common::build_on(
                kind,
                Builder::new_multi_thread()
                    .worker_threads(2)
                    .uring_send_zc(Some(16 * 1024)),
            ) else {
                continue;
            };
            let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            socket2::SockRef::from(&receiver)
                .set_recv_buffer_size(4 << 20)
                .unwrap();
            let target = receiver.local_addr().unwrap();
            let reader = std::thread::spawn(move || {
                receiver
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut got = Vec::new();
                let mut buf = vec![0; 1 << 16];
                for _ in 0..COUNT {
                    let n = receiver.recv(&mut buf).unwrap();
                    got.push(buf[..n].to_vec());
                }
                got
            });
            let data = pattern(DATAGRAM * COUNT);
            let sent = data.clone();
            rt.block_on(rt.spawn(async move {
                let socket = ringwork::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
                for chunk in sent.chunks(DATAGRAM) {
                    let (res, _) = socket.send_to(chunk.to_vec(), target).await;
                    assert_eq!(res.unwrap(), DATAGRAM);
                }
            }))
            .unwrap();
            let got = reader.join().unwrap();
            let expected: Vec<Vec<u8>> = data.chunks(DATAGRAM).map(<[u8]>::to_vec).collect();
            assert!(got == expected, "{kind:?}: the datagrams differ");
            let (notified, copied) = zc_counts(&rt);
            if kind == DriverKind::Uring {
                assert_eq!(notified, COUNT as u64, "each datagram went zero-copy");
                assert_eq!(copied, notified, "loopback copies every zero-copy send");
            } else {
                assert_eq!((notified, copied), (0, 0));
            }
        }
    });
}
