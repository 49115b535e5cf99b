//! TCP over io_uring: echo at scale, bulk transfer, half-close, resets,
//! split halves, and futures that move between threads mid-operation.

mod common;

use common::watchdog;
use ringwork::buf::IoBuf;
use ringwork::net::{TcpListener, TcpStream};
use ringwork::Runtime;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

fn rt() -> Arc<Runtime> {
    Arc::new(common::runtime(2))
}

/// Accepts forever, echoing every connection until it closes.
async fn echo_server(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        drop(ringwork::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let (res, b) = stream.read(buf).await;
                let n = match res {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let (res, b) = stream.write_all(b.slice(..n)).await;
                buf = b.into_inner();
                if res.is_err() {
                    return;
                }
            }
        }));
    }
}

async fn start_echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(ringwork::spawn(echo_server(listener)));
    addr
}

#[test]
fn echo_a_thousand_connections_a_hundred_messages_each_every_byte_checked() {
    require_opcodes!(Accept, Connect, Recv, Send);
    const CONNS: usize = 1000;
    const MESSAGES: usize = 100;
    const SIZE: usize = 32;
    let rt = rt();
    let r = rt.clone();
    let checked = watchdog(Duration::from_secs(240), move || {
        r.block_on(async {
            let addr = start_echo_server().await;
            let clients: Vec<_> = (0..CONNS)
                .map(|c| {
                    ringwork::spawn(async move {
                        let stream = TcpStream::connect(addr).await.unwrap();
                        let mut checked = 0;
                        let mut reply = Vec::with_capacity(SIZE);
                        for m in 0..MESSAGES {
                            let msg: Vec<u8> =
                                (0..SIZE).map(|i| (c * 31 + m * 7 + i) as u8).collect();
                            let (res, msg) = stream.write_all(msg).await;
                            res.unwrap();
                            reply.clear();
                            let (res, r) = stream.read_exact(reply).await;
                            res.unwrap();
                            assert_eq!(r, msg, "connection {c} message {m}");
                            reply = r;
                            checked += SIZE;
                        }
                        checked
                    })
                })
                .collect();
            let mut total = 0;
            for client in clients {
                total += client.await.unwrap();
            }
            total
        })
    });
    assert_eq!(checked, CONNS * MESSAGES * SIZE);
}

fn checksum(state: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(state, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[test]
fn sixty_four_mib_transfer_arrives_intact() {
    require_opcodes!(Accept, Connect, Recv, Send);
    const TOTAL: usize = 64 << 20;
    const CHUNK: usize = 256 << 10;
    let rt = rt();
    let r = rt.clone();
    let (sent, received) = watchdog(Duration::from_secs(240), move || {
        r.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let receiver = ringwork::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                let mut hash = 0xcbf2_9ce4_8422_2325u64;
                let mut len = 0;
                let mut buf = vec![0u8; CHUNK];
                loop {
                    let (res, b) = stream.read(buf).await;
                    let n = res.unwrap();
                    if n == 0 {
                        return (hash, len);
                    }
                    hash = checksum(hash, &b[..n]);
                    len += n;
                    buf = b;
                }
            });
            let stream = TcpStream::connect(addr).await.unwrap();
            let mut hash = 0xcbf2_9ce4_8422_2325u64;
            let mut seed = 0x9e37_79b9u32;
            for _ in 0..TOTAL / CHUNK {
                let chunk: Vec<u8> = (0..CHUNK)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        seed as u8
                    })
                    .collect();
                hash = checksum(hash, &chunk);
                stream.write_all(chunk).await.0.unwrap();
            }
            stream.shutdown(std::net::Shutdown::Write).unwrap();
            ((hash, TOTAL), receiver.await.unwrap())
        })
    });
    assert_eq!(sent, received);
}

#[test]
fn half_close_delivers_eof_and_the_other_direction_still_works() {
    require_opcodes!(Accept, Connect, Recv, Send);
    let rt = rt();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = ringwork::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            loop {
                let (res, buf) = stream.read(vec![0u8; 64]).await;
                let n = res.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            stream.write_all(b"bye".as_slice()).await.0.unwrap();
            got
        });
        let client = TcpStream::connect(addr).await.unwrap();
        client.write_all(b"hello".as_slice()).await.0.unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let (res, reply) = client.read_exact(Vec::with_capacity(3)).await;
        res.unwrap();
        assert_eq!(reply, b"bye");
        assert_eq!(server.await.unwrap(), b"hello");
    });
}

#[test]
fn peer_reset_mid_write_is_an_error_not_a_panic() {
    require_opcodes!(Accept, Connect, Recv, Send);
    let rt = rt();
    let kind = rt.block_on(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().unwrap();
        // Close with SO_LINGER 0: the peer gets a RST.
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a valid option value of the right size for SO_LINGER.
        let rc = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&server),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0);
        drop(server);
        let chunk = vec![7u8; 64 << 10];
        let mut buf = chunk;
        for _ in 0..1000 {
            let (res, b) = client.write_all(buf).await;
            buf = b;
            if let Err(err) = res {
                return err.kind();
            }
        }
        panic!("writes to a reset connection kept succeeding");
    });
    assert!(
        matches!(kind, ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
        "{kind:?}"
    );
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    require_opcodes!(Accept, Connect, Recv, Send);
    let rt = rt();
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let err = rt.block_on(TcpStream::connect(addr)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn split_halves_read_and_write_from_two_tasks() {
    require_opcodes!(Accept, Connect, Recv, Send);
    let rt = rt();
    rt.block_on(async {
        let addr = start_echo_server().await;
        let (reader, writer) = TcpStream::connect(addr).await.unwrap().into_split();
        const N: usize = 200;
        let writing = ringwork::spawn(async move {
            for i in 0..N {
                writer.write_all(vec![i as u8; 100]).await.0.unwrap();
            }
            writer.shutdown().unwrap();
        });
        let reading = ringwork::spawn(async move {
            let mut got = Vec::new();
            while got.len() < N * 100 {
                let (res, buf) = reader.read(vec![0u8; 1000]).await;
                let n = res.unwrap();
                assert!(n > 0, "early EOF");
                got.extend_from_slice(&buf[..n]);
            }
            got
        });
        writing.await.unwrap();
        let got = reading.await.unwrap();
        let expected: Vec<u8> = (0..N)
            .flat_map(|i| std::iter::repeat_n(i as u8, 100))
            .collect();
        assert_eq!(got, expected);
    });
}

#[test]
fn a_read_submitted_on_a_worker_completes_when_awaited_on_another_thread() {
    require_opcodes!(Accept, Connect, Recv, Send);
    let rt = rt();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        // Submit the read on a worker's ring: poll it once inside a task.
        let submitted = ringwork::spawn(async move {
            let mut read = Box::pin(async move { server.read(vec![0u8; 16]).await });
            let first = std::future::poll_fn(|cx| {
                std::task::Poll::Ready(read.as_mut().poll(cx).is_pending())
            })
            .await;
            assert!(first, "no data yet: the read is in flight");
            (read, std::thread::current().id())
        })
        .await
        .unwrap();
        let (read, worker_thread) = submitted;
        // Finish it on the block_on thread, whose own ring did not submit it.
        assert_ne!(worker_thread, std::thread::current().id());
        client.write_all(b"moved".as_slice()).await.0.unwrap();
        let (res, buf) = read.await;
        assert_eq!(&buf[..res.unwrap()], b"moved");
    });
}

#[test]
fn many_tasks_migrating_between_workers_all_finish_their_io() {
    require_opcodes!(Accept, Connect, Recv, Send);
    let rt = rt();
    let moved = rt.block_on(async {
        let addr = start_echo_server().await;
        let tasks: Vec<_> = (0..64)
            .map(|t| {
                ringwork::spawn(async move {
                    let stream = TcpStream::connect(addr).await.unwrap();
                    let mut threads = std::collections::HashSet::new();
                    for i in 0..50u32 {
                        threads.insert(std::thread::current().id());
                        // Burn a little CPU so the other worker steals.
                        let start = std::time::Instant::now();
                        while start.elapsed() < Duration::from_micros(50) {
                            std::hint::spin_loop();
                        }
                        let msg = format!("{t}:{i}");
                        let (res, msg) = stream.write_all(msg).await;
                        res.unwrap();
                        let (res, reply) = stream.read_exact(Vec::with_capacity(msg.len())).await;
                        res.unwrap();
                        assert_eq!(reply, msg.as_bytes());
                    }
                    threads.len() > 1
                })
            })
            .collect();
        let mut moved = 0;
        for task in tasks {
            moved += usize::from(task.await.unwrap());
        }
        moved
    });
    assert!(moved > 0, "no task ever changed worker");
}

#[test]
fn listener_from_std_and_stream_options_work() {
    require_opcodes!(Accept, Connect, Recv, Send);
    let rt = rt();
    rt.block_on(async {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let listener = TcpListener::from_std(std_listener).unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert_eq!(server.peer_addr().unwrap(), client.local_addr().unwrap());
        client.set_nodelay(true).unwrap();
        assert!(client.nodelay().unwrap());
        client.set_nodelay(false).unwrap();
        assert!(!client.nodelay().unwrap());
    });
}

use std::future::Future;

#[test]
fn interleaved_reads_and_writes_on_one_socket_from_two_tasks_never_hang_on_either_driver() {
    common::for_each_driver(2, |rt| {
        let rt = rt.handle().clone();
        watchdog(Duration::from_secs(60), move || {
            let echo = rt.spawn(async {
                let addr = start_echo_server().await;
                let stream = Arc::new(TcpStream::connect(addr).await.unwrap());
                const ROUNDS: usize = 2_000;
                let writer = {
                    let s = stream.clone();
                    ringwork::spawn(async move {
                        for i in 0..ROUNDS {
                            s.write_all(vec![(i % 251) as u8; 8]).await.0.unwrap();
                            if i % 16 == 0 {
                                ringwork::task::yield_now().await;
                            }
                        }
                    })
                };
                let reader = ringwork::spawn(async move {
                    let mut got = 0;
                    let mut buf = vec![0u8; 256];
                    while got < ROUNDS * 8 {
                        let (res, b) = stream.read(buf).await;
                        let n = res.unwrap();
                        assert!(n > 0, "early EOF");
                        for (k, byte) in b[..n].iter().enumerate() {
                            assert_eq!(*byte, (((got + k) / 8) % 251) as u8, "byte {}", got + k);
                        }
                        got += n;
                        buf = b;
                    }
                    got
                });
                writer.await.unwrap();
                reader.await.unwrap()
            });
            assert_eq!(common::block_on_plain(echo).unwrap(), 2_000 * 8);
        });
    });
}

/// A host name is looked up on the blocking pool, not on the worker (the
/// pool's first thread appears); a literal address needs no lookup (no
/// pool thread).
#[test]
fn connect_by_host_name_resolves_on_the_blocking_pool_and_by_address_without_it() {
    common::watchdog(Duration::from_secs(60), || {
        common::for_each_driver(1, |rt| {
            let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
            let port = listener.local_addr().unwrap().port();
            rt.block_on(rt.spawn(async move {
                let by_address = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
                drop(by_address);
            }))
            .unwrap();
            assert_eq!(
                rt.metrics().blocking_threads_peak,
                0,
                "a literal address went to the blocking pool"
            );
            rt.block_on(rt.spawn(async move {
                let by_name = TcpStream::connect(format!("localhost:{port}")).await;
                let by_pair = TcpStream::connect(("localhost", port)).await;
                (by_name.map(drop), by_pair.map(drop))
            }))
            .map(|(a, b)| {
                a.expect("localhost:PORT connects");
                b.expect("(\"localhost\", PORT) connects");
            })
            .unwrap();
            assert!(
                rt.metrics().blocking_threads_peak >= 1,
                "the name lookup did not run on the blocking pool"
            );
            drop(listener);
        })
    });
}
