//! 10,000 loopback connections open at once, each echoing a message of its
//! own, on both drivers: all echo exactly, the descriptors go back to the
//! baseline when they close, and memory stays bounded (RELIABILITY.md).
//!
//! The hard `RLIMIT_NOFILE` here is 20,000 and the sandbox has no
//! `CAP_SYS_RESOURCE` to raise it, so the two ends live in two processes:
//! the server in the test, the clients in a child (this test binary again,
//! running the ignored `client_process` entry point).

mod common;

use common::{fd_list, for_each_driver, open_fds, settle, watchdog};
use ringwork::net::{TcpListener, TcpStream};
use ringwork::sync::{Barrier, Semaphore};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 10_000;
/// Connects in flight at once: the listener's backlog (1024) must not
/// overflow, or the kernel drops SYNs and connects wait for a retransmit.
const CONNECTING: usize = 256;
/// Descriptors each process needs: one end of every connection, plus the
/// runtime's and the test harness's.
const FDS_NEEDED: libc::rlim_t = (CONNECTIONS + 1024) as libc::rlim_t;
/// Where the child finds the server, and which driver it uses.
const ADDR_ENV: &str = "RINGWORK_10K_ADDR";
const DRIVER_ENV: &str = "RINGWORK_10K_DRIVER";

/// Raises the soft `RLIMIT_NOFILE` to what one process needs; `Err` says
/// why it could not.
fn raise_fd_limit() -> Result<(), String> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a live rlimit the call fills in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(format!("getrlimit: {}", std::io::Error::last_os_error()));
    }
    if limit.rlim_cur >= FDS_NEEDED {
        return Ok(());
    }
    let raised = libc::rlimit {
        rlim_cur: FDS_NEEDED,
        rlim_max: limit.rlim_max.max(FDS_NEEDED),
    };
    // SAFETY: `raised` is a live rlimit the call reads.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(format!(
            "setrlimit(RLIMIT_NOFILE, {FDS_NEEDED}) with hard limit {}: {}",
            limit.rlim_max,
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}
/// Resident set size, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

async fn echo(stream: TcpStream) {
    let mut buf = Vec::with_capacity(64);
    loop {
        buf.clear();
        let (res, returned) = stream.read(buf).await;
        buf = returned;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let (res, returned) = stream.write_all(buf).await;
        buf = returned;
        if res.is_err() {
            return;
        }
    }
}

#[test]
fn ten_thousand_connections_echo_at_once_and_close_cleanly() {
    raise_fd_limit().expect("the server's descriptors");
    watchdog(Duration::from_secs(240), || {
        for_each_driver(2, |rt| {
            // What a `block_on` thread and the blocking pool create once and
            // keep (the waiting thread's own driver: an epoll instance or a
            // ring, and its eventfd) is not a connection's.
            rt.block_on(async {
                ringwork::task::spawn_blocking(|| ()).await.unwrap();
                ringwork::time::sleep(Duration::from_millis(1)).await;
            });
            let fds_before = open_fds();
            let rss_before = rss_kib();
            let started = Instant::now();
            let driver = format!("{:?}", rt.handle().driver_kind().unwrap());
            let peak_fds = rt.block_on(async {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let server = ringwork::spawn(async move {
                    let mut echoes = Vec::with_capacity(CONNECTIONS);
                    for _ in 0..CONNECTIONS {
                        let (stream, _) = listener.accept().await.unwrap();
                        echoes.push(ringwork::spawn(echo(stream)));
                    }
                    for echo in echoes {
                        echo.await.unwrap();
                    }
                });
                let mut child = Command::new(std::env::current_exe().unwrap())
                    .args(["--ignored", "--exact", "client_process", "--nocapture"])
                    .env(ADDR_ENV, addr.to_string())
                    .env(DRIVER_ENV, &driver)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                let mut stdin = child.stdin.take().unwrap();
                let stdout = child.stdout.take().unwrap();
                // The child says `open` once every connection has echoed.
                // Its output is read on the blocking pool, to its end (the
                // test harness in the child writes more after it).
                let (said_tx, said_rx) = ringwork::sync::oneshot::channel();
                let output = ringwork::task::spawn_blocking(move || {
                    let mut said_tx = Some(said_tx);
                    for line in BufReader::new(stdout).lines() {
                        let line = line.unwrap();
                        if line == "open" || line == "failed" {
                            if let Some(tx) = said_tx.take() {
                                let _ = tx.send(line);
                            }
                        }
                    }
                });
                let said = said_rx.await.ok();
                assert_eq!(
                    said.as_deref(),
                    Some("open"),
                    "the client process said {said:?}"
                );
                let peak_fds = open_fds();
                // Tell it to close everything and exit.
                stdin.write_all(b"close\n").unwrap();
                drop(stdin);
                let status = ringwork::task::spawn_blocking(move || child.wait().unwrap())
                    .await
                    .unwrap();
                assert!(status.success(), "the client process failed: {status}");
                output.await.unwrap();
                server.await.unwrap();
                peak_fds
            });
            let rss_after = rss_kib();
            println!(
                "{driver}: {CONNECTIONS} connections in {:?}; server descriptors {fds_before} \
                 -> peak {peak_fds} -> {} at once; RSS {} -> {} MiB",
                started.elapsed(),
                open_fds(),
                rss_before / 1024,
                rss_after / 1024
            );
            assert!(
                peak_fds >= fds_before + CONNECTIONS,
                "not every connection was open at once: peak {peak_fds}"
            );
            // The listener and every socket are closed again (a socket
            // whose last operation's completion is still being reaped closes
            // a moment later: wait for that, boundedly).
            let after = settle(fds_before, Duration::from_secs(2), open_fds);
            assert_eq!(after, fds_before, "descriptors leaked: {}", fd_list());
            // Bounded: 10k tasks, sockets and small buffers; a leak of even
            // a 16 KiB buffer per connection would pass 150 MiB.
            assert!(
                rss_after.saturating_sub(rss_before) < 128 * 1024,
                "RSS grew by {} MiB",
                (rss_after - rss_before) / 1024
            );
        })
    });
}

/// The client side, run by the test above in a child process: connects
/// every connection, checks one echo on each, prints `open`, then closes
/// them all when its standard input says `close`. Not a test by itself.
#[test]
#[ignore = "entry point of the client child process"]
fn client_process() {
    let (Ok(addr), Ok(driver)) = (std::env::var(ADDR_ENV), std::env::var(DRIVER_ENV)) else {
        panic!("run by ten_thousand_connections_echo_at_once_and_close_cleanly only");
    };
    raise_fd_limit().expect("the client's descriptors");
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    let kind = match driver.as_str() {
        "Uring" => ringwork::io::DriverKind::Uring,
        _ => ringwork::io::DriverKind::Epoll,
    };
    let rt = ringwork::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .driver(kind)
        .build()
        .unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            let connecting = Arc::new(Semaphore::new(CONNECTING));
            let all_open = Arc::new(Barrier::new(CONNECTIONS + 1));
            let close = Arc::new(ringwork::sync::Notify::new());
            let clients: Vec<_> = (0..CONNECTIONS)
                .map(|i| {
                    let connecting = connecting.clone();
                    let all_open = all_open.clone();
                    let close = close.clone();
                    ringwork::spawn(async move {
                        let permit = connecting.acquire().await.unwrap();
                        let stream = TcpStream::connect(addr).await.unwrap();
                        drop(permit);
                        let message = format!("connection {i:05}").into_bytes();
                        let (res, message) = stream.write_all(message).await;
                        res.unwrap();
                        let mut got = Vec::new();
                        while got.len() < message.len() {
                            let (res, buf) = stream.read(Vec::with_capacity(64)).await;
                            let n = res.unwrap();
                            assert!(n > 0, "connection {i}: closed before its echo");
                            got.extend_from_slice(&buf[..n]);
                        }
                        assert_eq!(got, message, "connection {i}: another echo");
                        let closing = close.notified();
                        all_open.wait().await;
                        closing.await;
                        // Dropped here: the server's echo task sees EOF.
                    })
                })
                .collect();
            all_open.wait().await;
            println!("open");
            let line = ringwork::task::spawn_blocking(|| {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line).map(|_| line)
            })
            .await
            .unwrap()
            .unwrap();
            assert_eq!(line.trim(), "close");
            close.notify_waiters();
            for client in clients {
                client.await.unwrap();
            }
        })
    }));
    if result.is_err() {
        println!("failed");
        std::process::exit(1);
    }
}
