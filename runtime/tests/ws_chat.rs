//! The `ws_chat` example (tokio-tungstenite over `Compat`, feature
//! `tokio-io`) on both drivers, loopback only: 20 clients each hear every
//! other client's messages once and in order, then a leave; a client that
//! does not read is told what it missed and holds nobody up; binary and
//! oversized messages; malformed handshakes answered 400 or closed while the
//! server keeps serving; a stop closes every client with 1001; the
//! example's client, and its built binaries on each driver.
#![cfg(feature = "tokio-io")]

mod common;
#[path = "../examples/ws_chat.rs"]
mod ws_chat;

use common::{for_each_driver, read_until_closed, watchdog};
use futures_util::{SinkExt, StreamExt};
use ringwork::io::compat::Compat;
use ringwork::net::{TcpListener, TcpSocket};
use ringwork::sync::{watch, Semaphore};
use ringwork::time::timeout;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use ws_chat::Config;

/// How long a test waits for any one message.
const WAIT: Duration = Duration::from_secs(20);

/// Starts the example's server on an ephemeral port; the sender stops it.
fn start(
    rt: &ringwork::Runtime,
    config: Config,
) -> (SocketAddr, watch::Sender<bool>, ringwork::JoinHandle<()>) {
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = watch::channel(false);
    let server = rt.spawn(ws_chat::serve(listener, config, stopped));
    (addr, stop, server)
}

/// Stops the server and waits for it.
fn stop(rt: &ringwork::Runtime, stop: watch::Sender<bool>, server: ringwork::JoinHandle<()>) {
    stop.send(true).unwrap();
    rt.block_on(server).unwrap();
}

type WebSocket = tokio_tungstenite::WebSocketStream<Compat<ringwork::net::TcpStream>>;

/// The client's own address: the prefix the server gives its lines.
fn name(ws: &WebSocket) -> SocketAddr {
    ws.get_ref().get_ref().local_addr().unwrap()
}

/// The next message that is not a ping or pong, within [`WAIT`]; `None`
/// when the stream ended.
async fn next_message<S>(ws: &mut S) -> Option<Message>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let message = timeout(WAIT, ws.next()).await.expect("no message in time");
        match message {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(message)) => return Some(message),
            Some(Err(err)) => panic!("receiving: {err}"),
            None => return None,
        }
    }
}

/// The next text line.
async fn next_line<S>(ws: &mut S) -> String
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    match next_message(ws).await {
        Some(Message::Text(text)) => text.as_str().to_owned(),
        other => panic!("expected a text line, got {other:?}"),
    }
}

/// Closes `ws` and reads until the server has closed too.
async fn close(mut ws: WebSocket) {
    ws.close(None).await.unwrap();
    while let Some(Ok(_)) = timeout(WAIT, ws.next()).await.unwrap() {}
}

#[test]
fn every_client_hears_every_other_clients_messages_once_in_order_then_a_leave() {
    const CLIENTS: usize = 20;
    const MESSAGES: usize = 25;
    watchdog(Duration::from_secs(120), || {
        for_each_driver(2, |rt| {
            // A backlog above everything sent: no client can lag here.
            let config = Config {
                backlog: 2 * CLIENTS * MESSAGES,
                ..Config::default()
            };
            let (addr, stop_tx, server) = start(rt, config);
            rt.block_on(rt.spawn(async move {
                let addr = addr.to_string();
                let mut clients = Vec::new();
                for _ in 0..CLIENTS {
                    clients.push(ws_chat::connect(&addr).await.unwrap());
                }
                // Every handshake completed: every client is subscribed.
                let names: Arc<Vec<SocketAddr>> = Arc::new(clients.iter().map(name).collect());
                let mut tasks = Vec::new();
                for (me, ws) in clients.into_iter().enumerate() {
                    let names = names.clone();
                    tasks.push(ringwork::spawn(async move {
                        let (mut sink, mut stream) = ws.split();
                        let send = async {
                            for j in 0..MESSAGES {
                                sink.send(Message::text(format!("{me} {j}"))).await.unwrap();
                            }
                        };
                        let receive = async {
                            let mut got = Vec::new();
                            while got.len() < (CLIENTS - 1) * MESSAGES {
                                got.push(next_line(&mut stream).await);
                            }
                            got
                        };
                        let ((), got) = ringwork::join!(send, receive);
                        for (other, sender) in names.iter().enumerate() {
                            let from: Vec<&str> = got
                                .iter()
                                .filter_map(|line| line.strip_prefix(&format!("{sender}: ")))
                                .collect();
                            let expected: Vec<String> = if other == me {
                                Vec::new() // nobody hears themselves
                            } else {
                                (0..MESSAGES).map(|j| format!("{other} {j}")).collect()
                            };
                            assert_eq!(from, expected, "client {me}: the lines of client {other}");
                        }
                        sink.reunite(stream).unwrap()
                    }));
                }
                let mut clients = Vec::new();
                for task in tasks {
                    clients.push(task.await.unwrap());
                }
                // Client 0 leaves: each other client's next line says so.
                let mut rest = clients.split_off(1);
                close(clients.pop().unwrap()).await;
                let left = ws_chat::leave_line(names[0]);
                for ws in &mut rest {
                    assert_eq!(next_line(ws).await, left);
                }
                for ws in rest {
                    close(ws).await;
                }
            }))
            .unwrap();
            stop(rt, stop_tx, server);
        })
    });
}

#[test]
fn a_client_that_does_not_read_is_told_what_it_missed_and_holds_nobody_up() {
    const MESSAGES: usize = 400;
    const SIZE: usize = 16 * 1024;
    const WINDOW: usize = 8;
    watchdog(Duration::from_secs(120), || {
        for_each_driver(2, |rt| {
            let config = Config {
                backlog: 16,
                ..Config::default()
            };
            let (addr, stop_tx, server) = start(rt, config);
            rt.block_on(rt.spawn(async move {
                // A small receive buffer, so that the server's sends to it
                // block soon. (Not smaller: with zero-copy sends on, a
                // 4 KiB window made the slow client's own catching up take
                // ~29 s, each send waiting for the ACK that frees it.)
                let socket = TcpSocket::new_v4().unwrap();
                socket.set_recv_buffer_size(64 * 1024).unwrap();
                let stream = socket.connect(addr).await.unwrap();
                let (mut slow, _) =
                    tokio_tungstenite::client_async(format!("ws://{addr}/"), Compat::new(stream))
                        .await
                        .unwrap();
                let addr = addr.to_string();
                let mut fast = ws_chat::connect(&addr).await.unwrap();
                let mut sender = ws_chat::connect(&addr).await.unwrap();
                let prefix = format!("{}: ", name(&sender));
                // The sender keeps at most WINDOW lines ahead of the fast
                // reader (under the backlog: it never lags).
                let window = Semaphore::new(WINDOW);
                let send = async {
                    for i in 0..MESSAGES {
                        window.acquire().await.unwrap().forget();
                        let text = format!("{i:05} {}", "x".repeat(SIZE - 6));
                        sender.send(Message::text(text)).await.unwrap();
                    }
                };
                let receive_fast = async {
                    for i in 0..MESSAGES {
                        let line = next_line(&mut fast).await;
                        let text = line.strip_prefix(&prefix).expect("a line of the sender");
                        assert_eq!(&text[..5], format!("{i:05}"), "the fast reader's line {i}");
                        assert_eq!(text.len(), SIZE);
                        window.add_permits(1);
                    }
                };
                // All of it while the slow client read nothing.
                ringwork::join!(send, receive_fast);

                // Now the slow client reads: lines in order, each gap
                // announced with its exact size.
                let mut next = 0;
                let mut notices = 0;
                while next < MESSAGES {
                    let line = next_line(&mut slow).await;
                    if let Some(text) = line.strip_prefix(&prefix) {
                        assert_eq!(&text[..5], format!("{next:05}"), "the slow reader's line");
                        next += 1;
                    } else {
                        let missed = line
                            .strip_prefix("* missed ")
                            .and_then(|rest| rest.strip_suffix(" lines"))
                            .and_then(|n| n.parse::<usize>().ok())
                            .unwrap_or_else(|| panic!("unexpected line {line:?}"));
                        assert_eq!(line, ws_chat::missed_line(missed as u64));
                        assert!(missed > 0);
                        notices += 1;
                        next += missed;
                    }
                }
                assert_eq!(next, MESSAGES, "lines read plus lines missed");
                assert!(notices > 0, "the slow client never lagged");
                close(sender).await;
                close(fast).await;
                slow.close(None).await.unwrap();
                while let Some(Ok(_)) = timeout(WAIT, slow.next()).await.unwrap() {}
            }))
            .unwrap();
            stop(rt, stop_tx, server);
        })
    });
}

#[test]
fn binary_messages_are_not_relayed_and_an_oversized_one_closes_with_1009() {
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            let (addr, stop_tx, server) = start(rt, Config::default());
            rt.block_on(rt.spawn(async move {
                let addr = addr.to_string();
                let mut a = ws_chat::connect(&addr).await.unwrap();
                let mut b = ws_chat::connect(&addr).await.unwrap();
                let a_name = name(&a);
                a.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
                a.send(Message::text("after binary")).await.unwrap();
                assert_eq!(
                    next_line(&mut b).await,
                    ws_chat::chat_line(a_name, "after binary")
                );
                // One byte over the limit.
                let max = Config::default().max_message;
                a.send(Message::text("y".repeat(max + 1))).await.unwrap();
                match next_message(&mut a).await {
                    Some(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::Size),
                    other => panic!("expected a close with 1009, got {other:?}"),
                }
                assert_eq!(next_line(&mut b).await, ws_chat::leave_line(a_name));
                // A message of exactly the limit is relayed.
                let mut c = ws_chat::connect(&addr).await.unwrap();
                let c_name = name(&c);
                let text = "z".repeat(max);
                c.send(Message::text(text.clone())).await.unwrap();
                assert_eq!(next_line(&mut b).await, ws_chat::chat_line(c_name, &text));
                close(c).await;
                close(b).await;
            }))
            .unwrap();
            stop(rt, stop_tx, server);
        })
    });
}

/// The limits the example's documentation states are its defaults (the
/// tests above and below exercise each with smaller values where waiting
/// would be slow).
#[test]
fn the_documented_limits_are_the_servers_defaults() {
    let config = Config::default();
    assert_eq!(config.backlog, 256);
    assert_eq!(config.max_message, 64 * 1024);
    assert_eq!(config.handshake_timeout, Duration::from_secs(10));
    assert_eq!(ws_chat::CLOSE_TIMEOUT, Duration::from_secs(2));
}

fn raw_connect(addr: SocketAddr) -> std::net::TcpStream {
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream
}

#[test]
fn malformed_handshakes_get_400_or_a_close_and_the_server_keeps_serving() {
    watchdog(Duration::from_secs(90), || {
        for_each_driver(2, |rt| {
            let config = Config {
                handshake_timeout: Duration::from_millis(500),
                ..Config::default()
            };
            let (addr, stop_tx, server) = start(rt, config);
            let hostile: [(&str, &[u8]); 3] = [
                (
                    "a plain GET",
                    b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                ),
                ("garbage", b"\x00\xff\xfe\x16\x03\x01 not http\r\n\r\n"),
                (
                    "an upgrade without a key",
                    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
                      Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
                ),
            ];
            for (what, request) in hostile {
                let mut client = raw_connect(addr);
                client.write_all(request).unwrap();
                let answer = read_until_closed(&mut client);
                assert!(
                    answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
                    "{what}: got {answer:?}"
                );
                assert!(
                    answer.contains("this is a WebSocket chat server"),
                    "{answer:?}"
                );
            }
            // Half a request, then nothing: dropped after the handshake
            // timeout, without an answer.
            let mut stalled = raw_connect(addr);
            stalled.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
            let started = Instant::now();
            assert_eq!(read_until_closed(&mut stalled), "");
            let waited = started.elapsed();
            assert!(
                waited >= Duration::from_millis(250) && waited < Duration::from_secs(10),
                "the stalled handshake was dropped after {waited:?}"
            );
            // A connection closed before a byte, and one reset mid-request.
            drop(raw_connect(addr));
            let reset = raw_connect(addr);
            (&reset).write_all(b"GET / HTTP/1.1\r\n").unwrap();
            socket2::SockRef::from(&reset)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            drop(reset);

            assert!(!server.is_finished(), "the server stopped");
            let report = rt
                .block_on(rt.spawn(async move { ws_chat::client(&addr.to_string(), 50).await }))
                .unwrap()
                .unwrap();
            assert_eq!(report.messages, 50);
            stop(rt, stop_tx, server);
        })
    });
}

#[test]
fn stopping_the_server_closes_every_client_with_1001_and_returns() {
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            let (addr, stop_tx, server) = start(rt, Config::default());
            let clients = rt
                .block_on(rt.spawn(async move {
                    let mut clients = Vec::new();
                    for _ in 0..3 {
                        clients.push(ws_chat::connect(&addr.to_string()).await.unwrap());
                    }
                    clients
                }))
                .unwrap();
            stop_tx.send(true).unwrap();
            rt.block_on(rt.spawn(async move {
                for mut ws in clients {
                    // Leaves of the others may come first.
                    loop {
                        match next_message(&mut ws).await {
                            Some(Message::Text(line)) => assert!(line.ends_with(" left"), "{line}"),
                            Some(Message::Close(Some(frame))) => {
                                assert_eq!(frame.code, CloseCode::Away);
                                break;
                            }
                            other => panic!("expected a close with 1001, got {other:?}"),
                        }
                    }
                    // The close answered, the server closes the stream.
                    while let Some(Ok(_)) = timeout(WAIT, ws.next()).await.unwrap() {}
                }
            }))
            .unwrap();
            let started = Instant::now();
            rt.block_on(server).unwrap();
            assert!(started.elapsed() < Duration::from_secs(5));
        })
    });
}

#[test]
fn the_ws_chat_client_checks_what_its_server_relays() {
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            let (addr, stop_tx, server) = start(rt, Config::default());
            let report = rt
                .block_on(rt.spawn(async move { ws_chat::client(&addr.to_string(), 1000).await }))
                .unwrap()
                .unwrap();
            assert_eq!(report.messages, 1000);
            let sender: SocketAddr = report.sender.parse().unwrap();
            assert!(sender.ip().is_loopback());
            stop(rt, stop_tx, server);
        })
    });
}

/// The drivers this machine offers, by their `RINGWORK_DRIVER` names.
fn drivers() -> Vec<&'static str> {
    let uring = ringwork::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .driver(ringwork::io::DriverKind::Uring)
        .build();
    match uring {
        Ok(_) => vec!["uring", "epoll"],
        Err(err) => {
            println!("skipped on io_uring: {err}");
            vec!["epoll"]
        }
    }
}

/// The built binaries (`cargo test` builds the examples) on each driver:
/// the client's exit status says every message was relayed once and in
/// order; Ctrl-C closes a connected client with 1001 and the server exits
/// cleanly; a bad argument is a usage error, not a panic.
#[test]
fn the_ws_chat_binaries_chat_and_the_server_exits_on_ctrl_c() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let binary = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("examples").join("ws_chat"))
        .unwrap();
    assert!(
        binary.exists(),
        "{} was not built: `cargo test` builds the examples unless a `--test` filter is \
         given; else run `cargo build -p ringwork --all-features --examples` first",
        binary.display()
    );
    watchdog(Duration::from_secs(120), move || {
        for driver in drivers() {
            let mut server = Command::new(&binary)
                .args(["--addr", "127.0.0.1:0"])
                .env("RINGWORK_DRIVER", driver)
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut lines = std::io::BufReader::new(server.stdout.take().unwrap()).lines();
            let first = lines.next().unwrap().unwrap();
            let addr = first
                .strip_prefix("listening on ")
                .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
                .to_owned();
            let output = Command::new(&binary)
                .args(["client", "--addr", &addr, "--messages", "300"])
                .env("RINGWORK_DRIVER", driver)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "{driver}: the ws_chat client failed ({}): {stdout} {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(
                stdout.contains("300 messages relayed from 127.0.0.1:"),
                "{stdout}"
            );

            let rt = common::runtime(1);
            let mut ws = rt.block_on(ws_chat::connect(&addr)).unwrap();
            // SAFETY: kill(2) on our own child.
            assert_eq!(unsafe { libc::kill(server.id() as i32, libc::SIGINT) }, 0);
            rt.block_on(async {
                match next_message(&mut ws).await {
                    Some(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::Away),
                    other => panic!("{driver}: expected a close with 1001, got {other:?}"),
                }
            });
            let status = server.wait().unwrap();
            assert!(
                status.success(),
                "{driver}: ws_chat exited with {status} on Ctrl-C"
            );
        }
        let usage = Command::new(&binary).arg("--bogus").output().unwrap();
        assert_eq!(usage.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&usage.stderr);
        assert!(stderr.contains("usage: ws_chat"), "{stderr}");
        let missing = Command::new(&binary)
            .args(["client", "--messages"])
            .output()
            .unwrap();
        assert_eq!(missing.status.code(), Some(2));
    });
}
