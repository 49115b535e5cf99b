//! `ringwork::net::UdpSocket` over loopback: datagrams with addresses
//! (SENDMSG/RECVMSG) and connected send/recv.

mod common;

use common::watchdog;
use ringwork::net::UdpSocket;
use ringwork::runtime::Builder;
use ringwork::Runtime;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

fn rt() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime builds")
}

/// A server task echoes `count` datagrams back to their senders; the client
/// sends numbered datagrams one at a time and checks each echo and its
/// source address.
async fn echo_round_trips(bind: &str, count: u32) -> io::Result<()> {
    let server = UdpSocket::bind(bind).await?;
    let server_addr = server.local_addr()?;
    let client = UdpSocket::bind(bind).await?;
    let client_addr = client.local_addr()?;
    assert_ne!(server_addr.port(), 0);

    let echo = ringwork::spawn(async move {
        let mut buf = Vec::with_capacity(2048);
        for _ in 0..count {
            buf.clear();
            let (res, b) = server.recv_from(buf).await;
            let (n, from) = res?;
            assert_eq!(from, client_addr, "recv_from names the sender");
            let (res, b) = server.send_to(b, from).await;
            assert_eq!(res?, n, "one whole datagram sent");
            buf = b;
        }
        io::Result::Ok(())
    });

    for i in 0..count {
        let msg = format!("datagram {i} {}", "x".repeat(i as usize % 700));
        let (res, _) = client.send_to(msg.clone().into_bytes(), server_addr).await;
        assert_eq!(res?, msg.len());
        let (res, buf) = client.recv_from(Vec::with_capacity(2048)).await;
        let (n, from) = res?;
        assert_eq!(from, server_addr, "the echo comes from the server");
        assert_eq!(n, msg.len());
        assert_eq!(buf, msg.as_bytes());
    }
    echo.await.expect("echo task")?;
    Ok(())
}

#[test]
fn send_to_and_recv_from_round_trip_on_ipv4_loopback() {
    watchdog(LIMIT, || {
        rt().block_on(echo_round_trips("127.0.0.1:0", 200))
            .expect("IPv4 round trips");
    });
}

#[test]
fn send_to_and_recv_from_round_trip_on_ipv6_loopback() {
    watchdog(LIMIT, || {
        let rt = rt();
        let available = rt.block_on(async { UdpSocket::bind("[::1]:0").await.is_ok() });
        if !available {
            println!("skipped: no IPv6 loopback");
            return;
        }
        rt.block_on(echo_round_trips("[::1]:0", 200))
            .expect("IPv6 round trips");
    });
}

#[test]
fn connected_sockets_send_and_recv_without_addresses() {
    watchdog(LIMIT, || {
        rt().block_on(async {
            let a = UdpSocket::bind("127.0.0.1:0").await?;
            let b = UdpSocket::bind("127.0.0.1:0").await?;
            assert_eq!(
                a.peer_addr().expect_err("not connected yet").kind(),
                io::ErrorKind::NotConnected
            );
            a.connect(b.local_addr()?).await?;
            b.connect(a.local_addr()?).await?;
            assert_eq!(a.peer_addr()?, b.local_addr()?);
            assert_eq!(b.peer_addr()?, a.local_addr()?);

            let b_task = ringwork::spawn(async move {
                for _ in 0..100 {
                    let (res, buf) = b.recv(Vec::with_capacity(64)).await;
                    let n = res?;
                    let (res, _) = b.send(buf[..n].to_ascii_uppercase()).await;
                    res?;
                }
                io::Result::Ok(())
            });
            for i in 0..100 {
                let msg = format!("hello {i}");
                let (res, _) = a.send(msg.clone().into_bytes()).await;
                assert_eq!(res?, msg.len());
                let (res, buf) = a.recv(Vec::with_capacity(64)).await;
                let n = res?;
                assert_eq!(&buf[..n], msg.to_ascii_uppercase().as_bytes());
            }
            b_task.await.expect("peer task")?;
            io::Result::Ok(())
        })
        .expect("connected round trips");
    });
}

#[test]
fn a_datagram_longer_than_the_buffer_is_truncated_to_it() {
    watchdog(LIMIT, || {
        rt().block_on(async {
            let a = UdpSocket::bind("127.0.0.1:0").await?;
            let b = UdpSocket::bind("127.0.0.1:0").await?;
            a.send_to(vec![5u8; 100], b.local_addr()?).await.0?;
            let (res, buf) = b.recv_from(Vec::with_capacity(10)).await;
            let (n, from) = res?;
            assert_eq!((n, from), (10, a.local_addr()?));
            assert_eq!(buf, vec![5u8; 10]);
            // The next datagram is read whole: the rest of the first is gone.
            a.send_to(b"next".as_slice(), b.local_addr()?).await.0?;
            let (res, buf) = b.recv_from(Vec::with_capacity(10)).await;
            assert_eq!(res?.0, 4);
            assert_eq!(buf, b"next");
            io::Result::Ok(())
        })
        .expect("truncation");
    });
}

#[test]
fn a_recv_from_dropped_mid_flight_leaves_the_socket_usable() {
    watchdog(LIMIT, || {
        rt().block_on(async {
            let a = UdpSocket::bind("127.0.0.1:0").await?;
            let b = UdpSocket::bind("127.0.0.1:0").await?;
            for _ in 0..16 {
                // Pending: nothing was sent. Poll once (submitted), drop.
                let mut recv = Box::pin(b.recv_from(Vec::with_capacity(64)));
                std::future::poll_fn(|cx| {
                    assert!(recv.as_mut().poll(cx).is_pending());
                    std::task::Poll::Ready(())
                })
                .await;
                ringwork::task::yield_now().await;
                drop(recv);
                // Let the driver send the cancellation before the next step
                // (a receive cancelled while a datagram arrives may still
                // complete with it: completion-based I/O).
                ringwork::task::yield_now().await;
            }
            let to: SocketAddr = b.local_addr()?;
            a.send_to(b"after".as_slice(), to).await.0?;
            let (res, buf) = b.recv_from(Vec::with_capacity(64)).await;
            assert_eq!(res?.0, 5);
            assert_eq!(buf, b"after", "a cancelled receive took the datagram");
            io::Result::Ok(())
        })
        .expect("socket usable after dropped receives");
    });
}
