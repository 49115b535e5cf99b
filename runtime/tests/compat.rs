//! `io::compat::Compat`: ringwork streams and files behind the `futures-io`
//! traits, on both drivers. (Feature `futures-io`; `ci/test.sh` runs it.)
#![cfg(feature = "futures-io")]

mod common;

use common::{for_each_driver, pattern, watchdog, TempDir};
use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};
use ringwork::io::compat::Compat;
use ringwork::net::{TcpListener, TcpStream};
use std::future::poll_fn;
use std::io::{Read, Write};
use std::pin::Pin;
use std::time::Duration;

async fn read<T: AsyncRead + Unpin>(io: &mut T, buf: &mut [u8]) -> std::io::Result<usize> {
    poll_fn(|cx| Pin::new(&mut *io).poll_read(cx, buf)).await
}

async fn write_all<T: AsyncWrite + Unpin>(io: &mut T, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *io).poll_write(cx, data)).await?;
        assert!(n > 0 && n <= data.len());
        data = &data[n..];
    }
    Ok(())
}

async fn close<T: AsyncWrite + Unpin>(io: &mut T) -> std::io::Result<()> {
    poll_fn(|cx| Pin::new(&mut *io).poll_close(cx)).await
}

/// Connected ringwork stream and std peer.
async fn pair() -> (TcpStream, std::net::TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (stream, _) = listener.accept().await.unwrap();
    (stream, peer)
}

#[test]
fn poll_read_with_small_buffers_gets_every_byte_in_order() {
    const LEN: usize = 1 << 20;
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            rt.block_on(rt.spawn(async {
                let (stream, mut peer) = pair().await;
                let sent = pattern(LEN);
                let writer = std::thread::spawn(move || {
                    for chunk in sent.chunks(7919) {
                        peer.write_all(chunk).unwrap();
                    }
                    sent
                });
                let mut io = Compat::new(stream);
                let mut got = Vec::with_capacity(LEN);
                let mut buf = [0u8; 100];
                loop {
                    let n = read(&mut io, &mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                let sent = writer.join().unwrap();
                assert_eq!(got.len(), sent.len());
                assert!(got == sent, "the bytes differ");
            }))
            .unwrap();
        })
    });
}

#[test]
fn buffered_reads_split_lines_without_losing_bytes() {
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            rt.block_on(rt.spawn(async {
                let (stream, mut peer) = pair().await;
                let lines: Vec<String> = (0..2000).map(|i| format!("line {i}")).collect();
                let text = lines.join("\n") + "\n";
                let writer = std::thread::spawn(move || peer.write_all(text.as_bytes()).unwrap());
                let mut io = Compat::new(stream);
                let mut got = Vec::new();
                let mut current = Vec::new();
                loop {
                    let available: Vec<u8> =
                        poll_fn(|cx| Pin::new(&mut io).poll_fill_buf(cx).map_ok(|b| b.to_vec()))
                            .await
                            .unwrap();
                    if available.is_empty() {
                        break;
                    }
                    // Consume up to and including the first newline only.
                    let take = available
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(available.len(), |i| i + 1);
                    current.extend_from_slice(&available[..take]);
                    Pin::new(&mut io).consume(take);
                    if current.last() == Some(&b'\n') {
                        current.pop();
                        got.push(String::from_utf8(std::mem::take(&mut current)).unwrap());
                    }
                }
                writer.join().unwrap();
                assert_eq!(got, lines);
            }))
            .unwrap();
        })
    });
}

#[test]
fn poll_write_then_close_delivers_every_byte_then_eof() {
    const LEN: usize = 1 << 20;
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            rt.block_on(rt.spawn(async {
                let (stream, mut peer) = pair().await;
                let reader = std::thread::spawn(move || {
                    let mut got = Vec::new();
                    peer.read_to_end(&mut got).unwrap();
                    got
                });
                let sent = pattern(LEN);
                let mut io = Compat::new(stream);
                for chunk in sent.chunks(5000) {
                    write_all(&mut io, chunk).await.unwrap();
                }
                close(&mut io).await.unwrap();
                let got = reader.join().unwrap();
                assert_eq!(got.len(), LEN);
                assert!(got == sent, "the bytes differ");
            }))
            .unwrap();
        })
    });
}

#[test]
fn owned_halves_echo_through_compat_concurrently() {
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            rt.block_on(rt.spawn(async {
                let (stream, peer) = pair().await;
                let (read_half, write_half) = stream.into_split();
                let echo = ringwork::spawn(async move {
                    let (mut reader, mut writer) =
                        (Compat::new(read_half), Compat::new(write_half));
                    let mut buf = [0u8; 4096];
                    loop {
                        let n = read(&mut reader, &mut buf).await.unwrap();
                        if n == 0 {
                            close(&mut writer).await.unwrap();
                            return;
                        }
                        write_all(&mut writer, &buf[..n]).await.unwrap();
                    }
                });
                let sent = pattern(300_000);
                let expected = sent.clone();
                let mut peer_reader = peer.try_clone().unwrap();
                let reader = std::thread::spawn(move || {
                    let mut got = Vec::new();
                    peer_reader.read_to_end(&mut got).unwrap();
                    got
                });
                let mut peer = peer;
                peer.write_all(&sent).unwrap();
                peer.shutdown(std::net::Shutdown::Write).unwrap();
                echo.await.unwrap();
                assert!(reader.join().unwrap() == expected, "the echo differs");
            }))
            .unwrap();
        })
    });
}

#[test]
fn a_file_written_and_read_through_compat_round_trips() {
    let dir = TempDir::new("compat");
    let path = dir.join("data");
    watchdog(Duration::from_secs(60), move || {
        for_each_driver(2, |rt| {
            let path = path.clone();
            rt.block_on(rt.spawn(async move {
                let data = pattern(200_000);
                let mut file = Compat::new(ringwork::fs::File::create(&path).await.unwrap());
                for chunk in data.chunks(3000) {
                    write_all(&mut file, chunk).await.unwrap();
                }
                close(&mut file).await.unwrap();
                let mut file = Compat::new(ringwork::fs::File::open(&path).await.unwrap());
                let mut got = Vec::new();
                let mut buf = [0u8; 777];
                loop {
                    let n = read(&mut file, &mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                assert!(got == data, "the file's bytes differ");
            }))
            .unwrap();
        })
    });
}

/// A write reported done must progress while its writer only reads: 4 MiB
/// written in one `poll_write` (more than the socket buffers hold), then
/// only reads, against a peer that echoes — no flush in between.
#[test]
fn a_reported_write_progresses_while_the_writer_only_reads() {
    const LEN: usize = 4 << 20;
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            rt.block_on(rt.spawn(async {
                let (stream, peer) = pair().await;
                // A std echo: reads and writes back until EOF.
                let echo = std::thread::spawn(move || {
                    let mut peer = peer;
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = peer.read(&mut buf).unwrap();
                        if n == 0 {
                            return;
                        }
                        peer.write_all(&buf[..n]).unwrap();
                    }
                });
                let sent = pattern(LEN);
                let mut io = Compat::new(stream);
                let n = poll_fn(|cx| Pin::new(&mut io).poll_write(cx, &sent))
                    .await
                    .unwrap();
                assert_eq!(n, LEN, "one write takes the whole buffer");
                let mut got = Vec::with_capacity(LEN);
                let mut buf = vec![0u8; 64 * 1024];
                while got.len() < LEN {
                    let n = read(&mut io, &mut buf).await.unwrap();
                    assert!(n > 0, "the echo ended early");
                    got.extend_from_slice(&buf[..n]);
                }
                assert!(got == sent, "the echo differs");
                close(&mut io).await.unwrap();
                echo.join().unwrap();
            }))
            .unwrap();
        })
    });
}
