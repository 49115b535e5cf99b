//! `ringwork::net::{UnixListener, UnixStream}`: stream sockets at a path and
//! socket pairs.

mod common;

use common::TempDir;

use common::watchdog;
use ringwork::net::{UnixListener, UnixStream};
use ringwork::runtime::Builder;
use ringwork::Runtime;
use std::io;
use std::net::Shutdown;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

fn rt() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime builds")
}

#[test]
fn listener_and_streams_echo_over_a_path() {
    watchdog(LIMIT, || {
        const CLIENTS: usize = 8;
        const ROUNDS: usize = 50;
        let dir = TempDir::new("echo");
        let path = dir.join("echo.sock");
        let rt = rt();
        let listener = UnixListener::bind(&path).expect("bind");
        assert_eq!(
            listener.local_addr().expect("local_addr").as_pathname(),
            Some(path.as_path())
        );
        let server = rt.spawn(async move {
            let mut conns = Vec::new();
            for _ in 0..CLIENTS {
                let (stream, peer) = listener.accept().await?;
                assert!(peer.is_unnamed(), "clients did not bind: {peer:?}");
                conns.push(ringwork::spawn(async move {
                    let mut buf = Vec::with_capacity(4096);
                    loop {
                        buf.clear();
                        let (res, b) = stream.read(buf).await;
                        if res? == 0 {
                            return io::Result::Ok(());
                        }
                        let (res, b) = stream.write_all(b).await;
                        res?;
                        buf = b;
                    }
                }));
            }
            for conn in conns {
                conn.await.expect("connection task")?;
            }
            io::Result::Ok(())
        });

        rt.block_on(async {
            let clients: Vec<_> = (0..CLIENTS)
                .map(|c| {
                    let path = path.clone();
                    ringwork::spawn(async move {
                        let stream = UnixStream::connect(&path).await?;
                        assert_eq!(
                            stream.peer_addr()?.as_pathname(),
                            Some(path.as_path()),
                            "peer is the listener's path"
                        );
                        assert!(stream.local_addr()?.is_unnamed());
                        for r in 0..ROUNDS {
                            let msg = format!("client {c} round {r} {}", "y".repeat(r * 37));
                            stream.write_all(msg.clone().into_bytes()).await.0?;
                            let (res, reply) =
                                stream.read_exact(Vec::with_capacity(msg.len())).await;
                            res?;
                            assert_eq!(reply, msg.as_bytes());
                        }
                        stream.shutdown(Shutdown::Write)?;
                        let (res, _) = stream.read(Vec::with_capacity(1)).await;
                        assert_eq!(res?, 0, "server closes after our shutdown");
                        io::Result::Ok(())
                    })
                })
                .collect();
            for client in clients {
                client.await.expect("client task").expect("client");
            }
            server.await.expect("server task").expect("server");
        });
    });
}

#[test]
fn pair_round_trips_both_ways_and_shutdown_gives_end_of_stream() {
    watchdog(LIMIT, || {
        rt().block_on(async {
            let (a, b) = UnixStream::pair()?;
            assert!(a.local_addr()?.is_unnamed() && a.peer_addr()?.is_unnamed());
            let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
            let expected = big.clone();
            // More than the socket buffer: the writer must wait for the reader.
            let writer = ringwork::spawn(async move {
                a.write_all(big).await.0?;
                let (res, reply) = a.read_exact(Vec::with_capacity(4)).await;
                res?;
                assert_eq!(reply, b"done");
                a.shutdown(Shutdown::Write)?;
                io::Result::Ok(a)
            });
            let (res, got) = b.read_exact(Vec::with_capacity(expected.len())).await;
            res?;
            assert!(got == expected, "bytes arrive intact and in order");
            b.write_all(b"done".as_slice()).await.0?;
            let _a = writer.await.expect("writer task")?;
            let (res, _) = b.read(Vec::with_capacity(8)).await;
            assert_eq!(res?, 0, "end of stream after the peer's shutdown");
            io::Result::Ok(())
        })
        .expect("pair round trip");
    });
}

#[test]
fn read_exact_when_the_peer_closes_early_is_unexpected_eof() {
    watchdog(LIMIT, || {
        rt().block_on(async {
            let (a, b) = UnixStream::pair()?;
            a.write_all(b"abc".as_slice()).await.0?;
            drop(a);
            let (res, buf) = b.read_exact(Vec::with_capacity(10)).await;
            assert_eq!(res.expect_err("short").kind(), io::ErrorKind::UnexpectedEof);
            assert_eq!(buf, b"abc");
            io::Result::Ok(())
        })
        .expect("eof");
    });
}

#[test]
fn a_path_too_long_for_sockaddr_un_is_invalid_input() {
    watchdog(LIMIT, || {
        let dir = TempDir::new("long");
        // 107 bytes fit (with the terminating NUL, 108 = sun_path's size).
        let fits = dir.path_of_len(107);
        let too_long = dir.path_of_len(108);
        assert_eq!(fits.as_os_str().as_bytes().len(), 107);
        rt().block_on(async {
            let listener = UnixListener::bind(&fits).expect("107-byte path binds");
            assert_eq!(listener.local_addr()?.as_pathname(), Some(fits.as_path()));
            let server = ringwork::spawn(async move { listener.accept().await.map(drop) });
            UnixStream::connect(&fits)
                .await
                .expect("107-byte path connects");
            server.await.expect("accept task")?;

            let err = UnixListener::bind(&too_long).expect_err("108 bytes");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            let err = UnixStream::connect(&too_long).await.expect_err("108 bytes");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            let err = UnixStream::connect(dir.path_of_len(4000))
                .await
                .expect_err("4000 bytes");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            let err = UnixListener::bind("with\0nul").expect_err("NUL");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(!too_long.exists());
            io::Result::Ok(())
        })
        .expect("long paths");
    });
}

#[test]
fn connecting_to_a_path_with_no_socket_is_not_found() {
    watchdog(LIMIT, || {
        let dir = TempDir::new("missing");
        rt().block_on(async {
            let err = UnixStream::connect(dir.join("nobody.sock"))
                .await
                .expect_err("no socket there");
            assert_eq!(err.kind(), io::ErrorKind::NotFound);
        });
    });
}

#[test]
fn binding_over_an_existing_file_is_addr_in_use() {
    watchdog(LIMIT, || {
        let dir = TempDir::new("inuse");
        let path = dir.join("taken.sock");
        rt().block_on(async {
            let _first = UnixListener::bind(&path).expect("first bind");
            let err = UnixListener::bind(&path).expect_err("second bind");
            assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        });
    });
}
