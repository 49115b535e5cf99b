//! Several tasks waiting on one socket at once are all served: each gets a
//! delivery as deliveries come, on both drivers (the epoll driver once kept
//! one waker per direction, so the second waiter slept forever).

mod common;

use common::{for_each_driver, watchdog};
use ringwork::net::{TcpListener, UdpSocket};
use ringwork::time::timeout;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

const APART: Duration = Duration::from_millis(200);
const DEADLINE: Duration = Duration::from_secs(2);

#[test]
fn two_tasks_receiving_on_one_udp_socket_each_get_a_datagram() {
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            let socket = Arc::new(rt.block_on(UdpSocket::bind("127.0.0.1:0")).unwrap());
            let addr = socket.local_addr().unwrap();
            let receivers: Vec<_> = (0..2)
                .map(|_| {
                    let socket = socket.clone();
                    rt.spawn(async move {
                        let (res, buf) =
                            timeout(APART * 2 + DEADLINE, socket.recv_from(vec![0u8; 8]))
                                .await
                                .expect("woken within the deadline");
                        let (n, _) = res.unwrap();
                        buf[..n].to_vec()
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(50)); // both wait
            let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            peer.send_to(b"one", addr).unwrap();
            std::thread::sleep(APART);
            peer.send_to(b"two", addr).unwrap();
            let mut got: Vec<Vec<u8>> = receivers
                .into_iter()
                .map(|r| common::block_on_plain(r).unwrap())
                .collect();
            got.sort();
            assert_eq!(got, vec![b"one".to_vec(), b"two".to_vec()]);
        })
    });
}

#[test]
fn two_tasks_reading_one_tcp_stream_each_get_bytes() {
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
            let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let stream = Arc::new(rt.block_on(listener.accept()).unwrap().0);
            let readers: Vec<_> = (0..2)
                .map(|_| {
                    let stream = stream.clone();
                    rt.spawn(async move {
                        let (res, buf) = timeout(APART * 2 + DEADLINE, stream.read(vec![0u8; 8]))
                            .await
                            .expect("woken within the deadline");
                        buf[..res.unwrap()].to_vec()
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(50)); // both wait
            peer.write_all(b"one").unwrap();
            std::thread::sleep(APART);
            peer.write_all(b"two").unwrap();
            let mut got: Vec<Vec<u8>> = readers
                .into_iter()
                .map(|r| common::block_on_plain(r).unwrap())
                .collect();
            got.sort();
            assert_eq!(got, vec![b"one".to_vec(), b"two".to_vec()]);
        })
    });
}

#[test]
fn two_tasks_accepting_on_one_listener_each_get_a_connection() {
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            let listener = Arc::new(rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap());
            let addr = listener.local_addr().unwrap();
            let acceptors: Vec<_> = (0..2)
                .map(|_| {
                    let listener = listener.clone();
                    rt.spawn(async move {
                        let (_, peer) = timeout(APART * 2 + DEADLINE, listener.accept())
                            .await
                            .expect("woken within the deadline")
                            .unwrap();
                        peer
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(50)); // both wait
            let first = std::net::TcpStream::connect(addr).unwrap();
            std::thread::sleep(APART);
            let second = std::net::TcpStream::connect(addr).unwrap();
            let mut got: Vec<_> = acceptors
                .into_iter()
                .map(|a| common::block_on_plain(a).unwrap())
                .collect();
            got.sort();
            let mut expected = vec![first.local_addr().unwrap(), second.local_addr().unwrap()];
            expected.sort();
            assert_eq!(got, expected);
        })
    });
}
