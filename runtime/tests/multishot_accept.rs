//! Listeners on every accept path: io_uring with the multishot accept (the
//! default), io_uring with single-shot accepts
//! (`Builder::uring_multishot_accept(false)`), and epoll. Each connection
//! is accepted exactly once, by whichever of several concurrent `accept`s,
//! and a dropped listener closes what was accepted for it and never taken.

mod common;

use common::{fd_list, for_each_accept_path, open_fds, settle, watchdog};
use ringwork::net::TcpListener;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

/// Held by every test of this file: one counts the process's descriptors,
/// which the others' connections would change.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn concurrent_accepts_on_one_listener_each_get_distinct_connections() {
    const CLIENTS: u32 = 400;
    let _serial = one_at_a_time();
    watchdog(Duration::from_secs(120), || {
        for_each_accept_path(2, |rt| {
            let listener = Arc::new(rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap());
            let addr = listener.local_addr().unwrap();
            // Three acceptors on the workers, each reading the client's
            // number from every connection it gets, until all are in.
            let taken = Arc::new(std::sync::Mutex::new(Vec::new()));
            let acceptors: Vec<_> = (0..3)
                .map(|_| {
                    let listener = listener.clone();
                    let taken = taken.clone();
                    rt.spawn(async move {
                        loop {
                            let (stream, _) = listener.accept().await.unwrap();
                            let (res, buf) = stream.read_exact(vec![0u8; 4]).await;
                            res.unwrap();
                            let id = u32::from_le_bytes(buf[..4].try_into().unwrap());
                            let mut taken = taken.lock().unwrap();
                            taken.push(id);
                            if taken.len() as u32 == CLIENTS {
                                return;
                            }
                        }
                    })
                })
                .collect();
            let clients: Vec<_> = (0..CLIENTS)
                .map(|id| {
                    let mut client = std::net::TcpStream::connect(addr).unwrap();
                    client.write_all(&id.to_le_bytes()).unwrap();
                    client
                })
                .collect();
            // One acceptor returns when the last connection is counted; the
            // others are left waiting and are aborted.
            rt.block_on(async {
                loop {
                    if taken.lock().unwrap().len() as u32 == CLIENTS {
                        break;
                    }
                    ringwork::time::sleep(Duration::from_millis(5)).await;
                }
            });
            for acceptor in &acceptors {
                acceptor.abort();
            }
            let taken = taken.lock().unwrap().clone();
            let distinct: BTreeSet<u32> = taken.iter().copied().collect();
            assert_eq!(
                taken.len(),
                CLIENTS as usize,
                "accepted {} times",
                taken.len()
            );
            assert_eq!(
                distinct.len(),
                CLIENTS as usize,
                "a connection was accepted twice"
            );
            drop(clients);
        })
    });
}

#[test]
fn a_dropped_listener_closes_the_connections_it_accepted_and_nobody_took() {
    let _serial = one_at_a_time();
    watchdog(Duration::from_secs(60), || {
        for_each_accept_path(2, |rt| {
            // The runtime's own descriptors exist before the baseline.
            rt.block_on(ringwork::time::sleep(Duration::from_millis(1)));
            let before = open_fds();
            let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
            let addr = listener.local_addr().unwrap();
            // One accept on a worker arms the multishot accept (where there
            // is one); then five more clients connect, and the kernel
            // accepts them for the listener while no `accept` runs.
            let first_client = std::net::TcpStream::connect(addr).unwrap();
            let (first, listener) = rt
                .block_on(rt.spawn(async move {
                    let (stream, _) = listener.accept().await.unwrap();
                    (stream, listener)
                }))
                .unwrap();
            let mut waiting: Vec<_> = (0..5)
                .map(|_| std::net::TcpStream::connect(addr).unwrap())
                .collect();
            std::thread::sleep(Duration::from_millis(50));
            // Dropped on a worker, as a server's accept loop would be.
            rt.block_on(rt.spawn(async move { drop(listener) }))
                .unwrap();
            for client in &mut waiting {
                client
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut byte = [0u8; 1];
                // EOF (closed after being accepted) or a reset (dropped from
                // the backlog): either way not left hanging. (`EINTR`: this
                // thread's own ring posting a completion interrupts a read
                // that has a timeout, which Linux then does not restart.)
                loop {
                    match client.read(&mut byte) {
                        Ok(0) => break,
                        Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => break,
                        Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                        other => panic!("a waiting client got {other:?} instead of a close"),
                    }
                }
            }
            drop((first, first_client, waiting));
            // Every descriptor is closed again (the cancel completes a
            // moment after the drop: wait for it, boundedly).
            let after = settle(before, Duration::from_secs(2), open_fds);
            assert_eq!(after, before, "a descriptor leaked: {}", fd_list());
        })
    });
}

/// A burst larger than the completion queue ends the multishot accept
/// (the kernel stops a multishot request whose completion does not fit);
/// the next `accept` arms a new one, and no connection is lost.
#[test]
fn a_burst_larger_than_the_completion_queue_is_accepted_whole() {
    const CLIENTS: usize = 2000;
    let _serial = one_at_a_time();
    watchdog(Duration::from_secs(120), || {
        for_each_accept_path(2, |rt| {
            let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
            let addr = listener.local_addr().unwrap();
            let server = rt.spawn(async move {
                let mut accepted = Vec::with_capacity(CLIENTS);
                for _ in 0..CLIENTS {
                    accepted.push(listener.accept().await.unwrap().0);
                }
                accepted.len()
            });
            let clients: Vec<_> = (0..CLIENTS)
                .map(|_| std::net::TcpStream::connect(addr).unwrap())
                .collect();
            assert_eq!(rt.block_on(server).unwrap(), CLIENTS);
            drop(clients);
        })
    });
}

/// `incoming()` yields what `accept` would, each connection once, and a
/// stream dropped while it waits loses nothing: the next `accept` gets the
/// connection that came after.
#[test]
fn incoming_yields_every_connection_once_and_a_dropped_stream_loses_none() {
    use futures_core::Stream;
    const CLIENTS: u32 = 50;
    let _serial = one_at_a_time();
    watchdog(Duration::from_secs(60), || {
        for_each_accept_path(2, |rt| {
            let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
            let addr = listener.local_addr().unwrap();
            let clients = std::thread::spawn(move || {
                (0..CLIENTS)
                    .map(|id| {
                        let mut client = std::net::TcpStream::connect(addr).unwrap();
                        client.write_all(&id.to_le_bytes()).unwrap();
                        client
                    })
                    .collect::<Vec<_>>()
            });
            let (listener, ids) = rt
                .block_on(rt.spawn(async move {
                    let mut ids = BTreeSet::new();
                    {
                        let mut incoming = listener.incoming();
                        for _ in 0..CLIENTS {
                            let next = std::future::poll_fn(|cx| {
                                std::pin::Pin::new(&mut incoming).poll_next(cx)
                            })
                            .await;
                            let (stream, _) = next.expect("it never ends").unwrap();
                            let (res, buf) = stream.read_exact(vec![0u8; 4]).await;
                            res.unwrap();
                            assert!(
                                ids.insert(u32::from_le_bytes(buf[..4].try_into().unwrap())),
                                "a connection came twice"
                            );
                        }
                        // One more poll that waits, then the stream is dropped.
                        let waited = ringwork::time::timeout(
                            Duration::from_millis(20),
                            std::future::poll_fn(|cx| {
                                std::pin::Pin::new(&mut incoming).poll_next(cx)
                            }),
                        )
                        .await;
                        assert!(waited.is_err(), "no client was left to connect");
                    }
                    (listener, ids)
                }))
                .unwrap();
            assert_eq!(ids.len() as u32, CLIENTS);
            let clients = clients.join().unwrap();
            let mut late = std::net::TcpStream::connect(addr).unwrap();
            late.write_all(b"late").unwrap();
            let got = rt
                .block_on(rt.spawn(async move {
                    let (stream, _) =
                        ringwork::time::timeout(Duration::from_secs(2), listener.accept())
                            .await
                            .expect("the late connection is accepted")
                            .unwrap();
                    let (res, buf) = stream.read_exact(vec![0u8; 4]).await;
                    res.unwrap();
                    buf
                }))
                .unwrap();
            assert_eq!(got, b"late");
            drop(clients);
            // One listener, 51 connections: armed once where the runtime
            // uses the multishot accept (a re-arm per call would show
            // here), never on the other paths.
            let arms: u64 = rt
                .metrics()
                .workers
                .iter()
                .filter_map(|w| w.io)
                .map(|io| io.multishot_arms)
                .sum();
            let multishot = rt
                .handle()
                .uring_features()
                .is_some_and(|f| f.multishot_accept);
            assert_eq!(arms, u64::from(multishot), "multishot accepts armed");
        })
    });
}
