//! The `http_hello` example against hostile clients, on both drivers:
//! pipelined requests, a request sent one byte at a time, a client that
//! stalls mid-header (slowloris), a malformed request, 500 concurrent
//! keep-alive connections, a 1 MiB header — each answered or closed,
//! never hung — and a graceful stop that lets an open connection finish.
#![cfg(feature = "hyper")]

mod common;
#[path = "../examples/http_client.rs"]
mod http_client;
#[path = "../examples/http_hello.rs"]
mod http_hello;

use common::{for_each_driver, read_until_closed, watchdog};
use ringwork::net::TcpListener;
use ringwork::sync::watch;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Starts the example's server on an ephemeral port; the sender stops it.
fn start(rt: &ringwork::Runtime) -> (SocketAddr, watch::Sender<bool>, ringwork::JoinHandle<()>) {
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = watch::channel(false);
    let server = rt.spawn(http_hello::serve(listener, stopped));
    (addr, stop, server)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream
}

/// Reads until `count` responses' bodies (`hello ...`) have arrived, or EOF.
fn read_responses(stream: &mut TcpStream, count: usize) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while String::from_utf8_lossy(&got).matches("hello /").count() < count {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => panic!("reading responses: {err}"),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn http_hello_answers_pipelined_and_byte_by_byte_requests_and_many_connections() {
    watchdog(Duration::from_secs(120), || {
        for_each_driver(2, |rt| {
            let (addr, stop, server) = start(rt);

            // Three requests in one write: three responses, in order.
            let mut client = connect(addr);
            client
                .write_all(
                    b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n\
                      GET /c HTTP/1.1\r\nHost: x\r\n\r\n",
                )
                .unwrap();
            let got = read_responses(&mut client, 3);
            let (a, b, c) = (
                got.find("hello /a").expect("/a answered"),
                got.find("hello /b").expect("/b answered"),
                got.find("hello /c").expect("/c answered"),
            );
            assert!(a < b && b < c, "pipelined responses out of order: {got}");

            // One byte at a time.
            let mut client = connect(addr);
            client.set_nodelay(true).unwrap();
            for byte in b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n" {
                client.write_all(&[*byte]).unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
            assert!(read_responses(&mut client, 1).contains("hello /slow"));

            // 500 keep-alive connections open at once, two requests each.
            let mut clients: Vec<TcpStream> = (0..500).map(|_| connect(addr)).collect();
            for round in 0..2 {
                for (i, client) in clients.iter_mut().enumerate() {
                    write!(client, "GET /c{i}r{round} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
                }
                for (i, client) in clients.iter_mut().enumerate() {
                    let got = read_responses(client, 1);
                    assert!(
                        got.contains(&format!("hello /c{i}r{round}")),
                        "connection {i}: {got}"
                    );
                }
            }
            drop(clients);

            let _ = stop.send(true);
            rt.block_on(server).unwrap();
        })
    });
}

#[test]
fn http_hello_closes_on_hostile_requests_instead_of_hanging() {
    watchdog(Duration::from_secs(120), || {
        for_each_driver(2, |rt| {
            let (addr, stop, server) = start(rt);

            // Malformed: a 4xx or a close, never a hang.
            let mut client = connect(addr);
            client.write_all(b"THIS IS NOT HTTP\r\n\r\n").unwrap();
            let got = read_until_closed(&mut client);
            assert!(got.is_empty() || got.starts_with("HTTP/1.1 4"), "{got:?}");

            // A 1 MiB header: refused (431 or a close), not buffered forever.
            let mut client = connect(addr);
            let mut request = b"GET /big HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
            request.resize(request.len() + (1 << 20), b'a');
            request.extend_from_slice(b"\r\n\r\n");
            // The server may close before it has read everything.
            let _ = client.write_all(&request);
            let got = read_until_closed(&mut client);
            assert!(!got.contains("hello /big"), "a 1 MiB header was served");
            assert!(
                got.is_empty() || got.starts_with("HTTP/1.1 4"),
                "{:?}",
                &got[..got.len().min(80)]
            );

            // Slowloris: half a header, then silence: closed after the
            // header timeout.
            let mut client = connect(addr);
            client
                .write_all(b"GET /loris HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            let started = Instant::now();
            let got = read_until_closed(&mut client);
            let waited = started.elapsed();
            assert!(!got.contains("hello /loris"));
            assert!(
                waited >= http_hello::HEADER_TIMEOUT - Duration::from_millis(500)
                    && waited < http_hello::HEADER_TIMEOUT + Duration::from_secs(5),
                "a stalled header was closed after {waited:?}"
            );

            let _ = stop.send(true);
            rt.block_on(server).unwrap();
        })
    });
}

#[test]
fn stopping_http_hello_lets_an_open_connection_finish_its_request() {
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            let (addr, stop, server) = start(rt);
            let mut client = connect(addr);
            // A request in progress when the stop comes.
            client
                .write_all(b"GET /last HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            std::thread::sleep(Duration::from_millis(50));
            let _ = stop.send(true);
            std::thread::sleep(Duration::from_millis(50));
            client.write_all(b"\r\n").unwrap();
            let got = read_until_closed(&mut client);
            assert!(
                got.contains("hello /last"),
                "the request in progress was cut: {got:?}"
            );
            rt.block_on(server).unwrap();
            // No longer accepting.
            assert!(
                TcpStream::connect(addr).is_err(),
                "the listener still accepts"
            );
        })
    });
}

/// The example's binary, as `cargo test` builds it (examples are compiled
/// with the tests): starts, serves, and exits cleanly on Ctrl-C (SIGINT).
#[test]
fn the_http_hello_binary_serves_and_exits_on_ctrl_c() {
    use std::io::BufRead;
    let exe = std::env::current_exe().unwrap();
    let binary = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("examples").join("http_hello"))
        .unwrap();
    assert!(
        binary.exists(),
        "{} was not built: `cargo test` builds the examples unless a `--test` filter is \
         given; else run `cargo build -p ringwork --all-features --examples` first",
        binary.display()
    );
    watchdog(Duration::from_secs(60), move || {
        let mut child = std::process::Command::new(&binary)
            .args(["--addr", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let addr: SocketAddr = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .parse()
            .unwrap();
        let mut client = connect(addr);
        client
            .write_all(b"GET /smoke HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        assert!(read_until_closed(&mut client).contains("hello /smoke"));
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
        let status = child.wait().unwrap();
        assert!(
            status.success(),
            "http_hello exited with {status} on Ctrl-C"
        );
    });
}

/// The `http_client` example fetches from the `http_hello` example: ten
/// requests on one keep-alive connection, on both drivers.
#[test]
fn the_http_client_example_fetches_from_http_hello_over_keep_alive() {
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            let (addr, stop, server) = start(rt);
            let responses = rt
                .block_on(rt.spawn(async move {
                    http_client::fetch(&addr.to_string(), "/client", 10).await
                }))
                .unwrap()
                .unwrap();
            assert_eq!(responses.len(), 10);
            for (status, body) in responses {
                assert_eq!(status, 200);
                assert_eq!(body, "hello /client".as_bytes());
            }
            let _ = stop.send(true);
            rt.block_on(server).unwrap();
        })
    });
}
