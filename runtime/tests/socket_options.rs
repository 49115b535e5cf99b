//! Socket options and builders: `TcpSocket` (reuseaddr/reuseport, bind
//! before connect, backlog, only_v6), options on streams and listeners
//! (keepalive, linger, ttl, nodelay, buffer sizes), UDP multicast and
//! broadcast, and `net::lookup_host`. Loopback only; bad values are
//! `io::Error`s, never panics.

mod common;

use common::{run, watchdog};
use ringwork::net::{lookup_host, TcpListener, TcpSocket, TcpStream, UdpSocket};
use ringwork::time::timeout;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr};
use std::time::Duration;

fn loopback_v4() -> SocketAddr {
    (Ipv4Addr::LOCALHOST, 0).into()
}

#[test]
fn tcp_socket_binds_before_connecting_and_listens_with_a_backlog() {
    run(|| async {
        let server = TcpSocket::new_v4().unwrap();
        server.set_reuseaddr(true).unwrap();
        assert!(server.reuseaddr().unwrap());
        server.bind(loopback_v4()).unwrap();
        let addr = server.local_addr().unwrap();
        assert_ne!(addr.port(), 0);
        let listener = server.listen(16).unwrap();
        assert_eq!(listener.local_addr().unwrap(), addr);

        // The client binds its own address first; the server sees it.
        let client = TcpSocket::new_v4().unwrap();
        client.bind(loopback_v4()).unwrap();
        let client_addr = client.local_addr().unwrap();
        let (stream, accepted) = ringwork::join!(client.connect(addr), listener.accept());
        let stream = stream.unwrap();
        let (server_side, peer) = accepted.unwrap();
        assert_eq!(peer, client_addr);
        assert_eq!(stream.local_addr().unwrap(), client_addr);
        stream.write_all(b"hi".as_slice()).await.0.unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let (res, got) = server_side.read_to_end(Vec::new()).await;
        assert_eq!((res.unwrap(), &got[..]), (2, &b"hi"[..]));

        // Without `bind`, `listen` takes a port the kernel picks; a huge
        // backlog is capped, not an error.
        let listener = TcpSocket::new_v4().unwrap().listen(u32::MAX).unwrap();
        assert_ne!(listener.local_addr().unwrap().port(), 0);
    });
}

#[test]
fn reuseport_lets_two_listeners_share_a_port_and_without_it_the_port_is_in_use() {
    run(|| async {
        let first = TcpSocket::new_v4().unwrap();
        first.set_reuseport(true).unwrap();
        assert!(first.reuseport().unwrap());
        first.bind(loopback_v4()).unwrap();
        let addr = first.local_addr().unwrap();
        let first = first.listen(8).unwrap();

        let second = TcpSocket::new_v4().unwrap();
        second.set_reuseport(true).unwrap();
        second.bind(addr).unwrap();
        let second = second.listen(8).unwrap();
        assert_eq!(second.local_addr().unwrap(), addr);

        let third = TcpSocket::new_v4().unwrap();
        assert!(!third.reuseport().unwrap());
        let err = third.bind(addr).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");

        // Both listeners take connections to the port between them.
        let mut accepted = 0;
        for _ in 0..8 {
            let client = TcpStream::connect(addr).await.unwrap();
            ringwork::select! {
                res = first.accept() => { res.unwrap(); }
                res = second.accept() => { res.unwrap(); }
            }
            accepted += 1;
            drop(client);
        }
        assert_eq!(accepted, 8);
    });
}

#[test]
fn an_address_of_the_other_family_is_invalid_input() {
    run(|| async {
        let v4 = TcpSocket::new_v4().unwrap();
        let err = v4.bind((Ipv6Addr::LOCALHOST, 0).into()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("not an IPv4 address"), "{err}");
        let err = v4
            .connect((Ipv6Addr::LOCALHOST, 1).into())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let v6 = TcpSocket::new_v6().unwrap();
        let err = v6.bind(loopback_v4()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        // only_v6 is an IPv6 option: an IPv4 socket refuses it.
        assert!(TcpSocket::new_v4().unwrap().set_only_v6(true).is_err());
        assert!(TcpSocket::new_v4().unwrap().only_v6().is_err());
    });
}

#[test]
fn an_only_v6_listener_keeps_the_setting_and_takes_ipv6_connections() {
    run(|| async {
        for only in [true, false] {
            let socket = TcpSocket::new_v6().unwrap();
            socket.set_only_v6(only).unwrap();
            assert_eq!(socket.only_v6().unwrap(), only);
            socket.bind((Ipv6Addr::UNSPECIFIED, 0).into()).unwrap();
            let listener = socket.listen(8).unwrap();
            assert_eq!(listener.only_v6().unwrap(), only);
            let port = listener.local_addr().unwrap().port();
            let v6 = TcpStream::connect((Ipv6Addr::LOCALHOST, port)).await;
            let v6 = v6.expect("an IPv6 client connects to [::]");
            listener.accept().await.unwrap();
            drop(v6);
            // An IPv4 client reaches a dual-stack listener only.
            let v4 = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await;
            if only {
                assert_eq!(v4.unwrap_err().kind(), ErrorKind::ConnectionRefused);
            } else {
                let v4 = v4.unwrap();
                let (_, peer) = listener.accept().await.unwrap();
                let mapped = match peer {
                    SocketAddr::V6(peer) => peer.ip().to_ipv4_mapped(),
                    SocketAddr::V4(_) => None,
                };
                assert_eq!(mapped, Some(Ipv4Addr::LOCALHOST), "{peer}");
                drop(v4);
            }
        }
        assert!(TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .only_v6()
            .is_err());
    });
}

#[test]
fn stream_options_round_trip_and_bad_values_are_errors() {
    run(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();

        stream.set_nodelay(true).unwrap();
        assert!(stream.nodelay().unwrap());
        stream.set_nodelay(false).unwrap();
        assert!(!stream.nodelay().unwrap());

        assert!(!stream.keepalive().unwrap());
        stream.set_keepalive(true).unwrap();
        assert!(stream.keepalive().unwrap());
        stream.set_keepalive(false).unwrap();
        stream
            .set_keepalive_params(Duration::from_secs(30), Duration::from_secs(5), 3)
            .unwrap();
        assert!(stream.keepalive().unwrap(), "params turn keepalive on");
        assert_eq!(
            stream.keepalive_params().unwrap(),
            (Duration::from_secs(30), Duration::from_secs(5), 3)
        );
        let secs = Duration::from_secs;
        for (idle, interval, retries) in [
            (Duration::from_millis(500), secs(5), 3),
            (secs(30), Duration::ZERO, 3),
            (secs(30), secs(5), 0),
        ] {
            let err = stream
                .set_keepalive_params(idle, interval, retries)
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        }

        assert_eq!(stream.linger().unwrap(), None);
        stream.set_linger(Some(Duration::from_secs(2))).unwrap();
        assert_eq!(stream.linger().unwrap(), Some(Duration::from_secs(2)));
        stream.set_linger(None).unwrap();
        assert_eq!(stream.linger().unwrap(), None);
        // Half a second would be read as zero (a reset on close): refused.
        let err = stream
            .set_linger(Some(Duration::from_millis(500)))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert_eq!(stream.linger().unwrap(), None);

        stream.set_ttl(42).unwrap();
        assert_eq!(stream.ttl().unwrap(), 42);
        for bad in [0, 256] {
            let err = stream.set_ttl(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "ttl {bad}: {err}");
        }
        assert_eq!(stream.ttl().unwrap(), 42);

        stream.set_recv_buffer_size(16 * 1024).unwrap();
        let small = stream.recv_buffer_size().unwrap();
        stream.set_recv_buffer_size(256 * 1024).unwrap();
        let large = stream.recv_buffer_size().unwrap();
        assert!(small >= 16 * 1024 && large > small, "{small} then {large}");
        stream.set_send_buffer_size(32 * 1024).unwrap();
        assert!(stream.send_buffer_size().unwrap() >= 32 * 1024);
        let err = stream.set_recv_buffer_size(usize::MAX).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let err = stream.set_send_buffer_size(1 << 40).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);

        listener.set_ttl(17).unwrap();
        assert_eq!(listener.ttl().unwrap(), 17);
        assert!(listener.set_ttl(0).is_err());
    });
}

#[test]
fn options_set_on_a_tcp_socket_carry_over_to_its_stream_and_to_accepted_connections() {
    run(|| async {
        let server = TcpSocket::new_v4().unwrap();
        server.set_keepalive(true).unwrap();
        server.set_linger(Some(Duration::ZERO)).unwrap();
        server.set_nodelay(true).unwrap();
        server.set_recv_buffer_size(96 * 1024).unwrap();
        let rcvbuf = server.recv_buffer_size().unwrap();
        server.bind(loopback_v4()).unwrap();
        let listener = server.listen(8).unwrap();
        listener.set_ttl(33).unwrap();

        let client = TcpSocket::new_v4().unwrap();
        client.set_send_buffer_size(48 * 1024).unwrap();
        let sndbuf = client.send_buffer_size().unwrap();
        client.set_ttl(7).unwrap();
        let stream = client
            .connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        assert_eq!(stream.send_buffer_size().unwrap(), sndbuf);
        assert_eq!(stream.ttl().unwrap(), 7);

        let (accepted, _) = listener.accept().await.unwrap();
        assert!(accepted.keepalive().unwrap());
        assert_eq!(accepted.linger().unwrap(), Some(Duration::ZERO));
        assert!(accepted.nodelay().unwrap());
        assert_eq!(accepted.recv_buffer_size().unwrap(), rcvbuf);
        assert_eq!(accepted.ttl().unwrap(), 33);
    });
}

#[test]
fn linger_zero_resets_the_connection_and_read_to_end_keeps_what_it_read() {
    run(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&server);
        let reader = ringwork::spawn(async move { server.read_to_end(b">".to_vec()).await });
        client
            .write_all(b"before the reset".as_slice())
            .await
            .0
            .unwrap();
        // Wait until the reader has taken the bytes off the socket: a reset
        // discards what is still queued there.
        let mut queued: libc::c_int = -1;
        for _ in 0..1000 {
            // SAFETY: FIONREAD writes one `c_int` through the pointer, to a
            // local that outlives the call; `fd` is open (the reader task
            // owns the stream until the reset ends its read).
            let rc = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut queued) };
            assert_eq!(rc, 0, "FIONREAD: {}", std::io::Error::last_os_error());
            if queued == 0 {
                break;
            }
            ringwork::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(queued, 0, "the reader never took the bytes");
        client.set_linger(Some(Duration::ZERO)).unwrap();
        drop(client);
        let (res, got) = timeout(Duration::from_secs(10), reader)
            .await
            .expect("the reset ends the read")
            .unwrap();
        assert_eq!(res.unwrap_err().kind(), ErrorKind::ConnectionReset);
        assert_eq!(got, b">before the reset");
    });
}

#[test]
fn udp_ttl_broadcast_and_multicast_options_round_trip() {
    run(|| async {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket.set_ttl(9).unwrap();
        assert_eq!(socket.ttl().unwrap(), 9);
        assert!(socket.set_ttl(0).is_err());

        assert!(!socket.broadcast().unwrap());
        socket.set_broadcast(true).unwrap();
        assert!(socket.broadcast().unwrap());
        socket.set_broadcast(false).unwrap();
        assert!(!socket.broadcast().unwrap());

        assert!(socket.multicast_loop_v4().unwrap());
        socket.set_multicast_loop_v4(false).unwrap();
        assert!(!socket.multicast_loop_v4().unwrap());
        assert_eq!(socket.multicast_ttl_v4().unwrap(), 1);
        socket.set_multicast_ttl_v4(16).unwrap();
        assert_eq!(socket.multicast_ttl_v4().unwrap(), 16);
        let err = socket.set_multicast_ttl_v4(256).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);

        let v6 = UdpSocket::bind("[::1]:0").await.unwrap();
        assert!(v6.multicast_loop_v6().unwrap());
        v6.set_multicast_loop_v6(false).unwrap();
        assert!(!v6.multicast_loop_v6().unwrap());
        v6.set_ttl(12).unwrap();
        assert_eq!(v6.ttl().unwrap(), 12, "the IPv6 hop limit");

        // A unicast group is refused before the kernel is asked.
        for err in [
            socket.join_multicast_v4(Ipv4Addr::LOCALHOST, Ipv4Addr::UNSPECIFIED),
            socket.leave_multicast_v4(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::UNSPECIFIED),
            v6.join_multicast_v6(Ipv6Addr::LOCALHOST, 0),
            v6.leave_multicast_v6(Ipv6Addr::LOCALHOST, 0),
        ] {
            let err = err.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(err.to_string().contains("not a multicast address"), "{err}");
        }
    });
}

#[test]
fn a_broadcast_send_needs_so_broadcast() {
    run(|| async {
        // Bound to 127.0.0.1, a broadcast goes out on the loopback device
        // only (and needs no route).
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let target: SocketAddr = (Ipv4Addr::BROADCAST, 9).into();
        let (res, _) = socket.send_to(b"x".as_slice(), target).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::PermissionDenied);
        socket.set_broadcast(true).unwrap();
        let (res, _) = socket.send_to(b"x".as_slice(), target).await;
        // Allowed now; whether a network takes it depends on the host.
        if let Err(err) = res {
            assert_ne!(err.kind(), ErrorKind::PermissionDenied, "{err}");
        }
    });
}

#[test]
fn a_joined_multicast_group_receives_its_datagrams_and_leaving_twice_is_an_error() {
    run(|| async {
        // Everything on the loopback device: the receiver joins there, and
        // a sender bound to 127.0.0.1 sends its multicast there.
        let group = Ipv4Addr::new(239, 255, 77, 19);
        let receiver = UdpSocket::bind((group, 0)).await.unwrap();
        let port = receiver.local_addr().unwrap().port();
        if let Err(err) = receiver.join_multicast_v4(group, Ipv4Addr::LOCALHOST) {
            // A host whose loopback cannot join: the options still work.
            println!("skipped the multicast delivery: join_multicast_v4: {err}");
            receiver.set_multicast_loop_v4(false).unwrap();
            assert!(!receiver.multicast_loop_v4().unwrap());
            return;
        }
        let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        sender
            .send_to(b"to the group".as_slice(), (group, port).into())
            .await
            .0
            .unwrap();
        let (res, buf) = timeout(
            Duration::from_secs(5),
            receiver.recv_from(Vec::with_capacity(64)),
        )
        .await
        .expect("the multicast datagram arrives");
        let (n, from) = res.unwrap();
        assert_eq!(&buf[..n], b"to the group");
        assert_eq!(from, sender.local_addr().unwrap());
        receiver
            .leave_multicast_v4(group, Ipv4Addr::LOCALHOST)
            .unwrap();
        let err = receiver
            .leave_multicast_v4(group, Ipv4Addr::LOCALHOST)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrNotAvailable, "{err}");

        // IPv6: join and leave on the loopback device (by its index).
        // SAFETY: `if_nametoindex` reads the NUL-terminated name, a
        // `'static` C string literal.
        let lo = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
        assert_ne!(lo, 0, "no loopback device");
        let v6 = UdpSocket::bind("[::1]:0").await.unwrap();
        let group6: Ipv6Addr = "ff01::77".parse().unwrap();
        v6.join_multicast_v6(group6, lo).unwrap();
        v6.leave_multicast_v6(group6, lo).unwrap();
        assert!(v6.leave_multicast_v6(group6, lo).is_err());
    });
}

#[test]
fn lookup_host_resolves_names_on_the_blocking_pool_and_literals_inline() {
    watchdog(Duration::from_secs(60), || {
        let rt = common::runtime(1);
        let literal = rt
            .block_on(rt.spawn(async {
                let a = lookup_host("127.0.0.1:80").await.unwrap();
                let b = lookup_host((Ipv6Addr::LOCALHOST, 443)).await.unwrap();
                (a, b)
            }))
            .unwrap();
        assert_eq!(literal.0, ["127.0.0.1:80".parse::<SocketAddr>().unwrap()]);
        assert_eq!(literal.1, ["[::1]:443".parse::<SocketAddr>().unwrap()]);
        assert_eq!(
            rt.metrics().blocking_threads_peak,
            0,
            "a literal went to the blocking pool"
        );
        let (named, no_port, udp) = rt
            .block_on(rt.spawn(async {
                let named = lookup_host(("localhost", 8080)).await;
                let no_port = lookup_host("localhost").await;
                let udp = UdpSocket::bind("localhost:0").await.map(drop);
                (named, no_port, udp)
            }))
            .unwrap();
        let named = named.unwrap();
        assert!(!named.is_empty());
        assert!(
            named
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 8080),
            "{named:?}"
        );
        assert_eq!(no_port.unwrap_err().kind(), ErrorKind::InvalidInput);
        udp.expect("UdpSocket::bind(\"localhost:0\")");
        assert!(
            rt.metrics().blocking_threads_peak >= 1,
            "the name lookup did not run on the blocking pool"
        );
    });
}

#[test]
fn a_listener_rebinds_a_port_in_time_wait_because_bind_sets_reuseaddr() {
    run(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        // The server closes first: its end of the connection (on `addr`)
        // goes to TIME_WAIT.
        drop(server);
        let (res, _) = client.read_to_end(Vec::new()).await;
        assert_eq!(res.unwrap(), 0);
        drop(client);
        drop(listener);
        ringwork::time::sleep(Duration::from_millis(50)).await;

        // Without SO_REUSEADDR the port is still taken...
        let plain = TcpSocket::new_v4().unwrap();
        assert!(!plain.reuseaddr().unwrap());
        let err = plain.bind(addr).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
        // ...and `TcpListener::bind` takes it again.
        let again = TcpListener::bind(addr).await.unwrap();
        assert_eq!(again.local_addr().unwrap(), addr);
    });
}
