//! `io::compat::Compat` behind tokio's I/O traits (feature `tokio-io`), on
//! both drivers, driven by tokio's extension traits and tokio-util's
//! `Framed` codecs — no tokio runtime.
#![cfg(feature = "tokio-io")]

mod common;

use bytes::Bytes;
use common::{for_each_driver, watchdog};
use futures_util::{SinkExt, StreamExt};
use ringwork::io::compat::Compat;
use ringwork::net::{TcpListener, TcpStream, UnixStream};
use std::io::{Read, Write};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{Framed, FramedRead, FramedWrite, LengthDelimitedCodec};

#[test]
fn tokio_extension_traits_read_write_and_split_lines_over_ringwork_streams() {
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            rt.block_on(rt.spawn(async {
                // read_to_end and lines over a TCP connection.
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let mut peer =
                    std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
                let (stream, _) = listener.accept().await.unwrap();
                let lines: Vec<String> = (0..1000).map(|i| format!("line {i}")).collect();
                let text = lines.join("\n") + "\n";
                let writer = std::thread::spawn(move || peer.write_all(text.as_bytes()).unwrap());
                let mut got = Vec::new();
                let mut reader = Compat::new(stream).lines();
                while let Some(line) = reader.next_line().await.unwrap() {
                    got.push(line);
                }
                writer.join().unwrap();
                assert_eq!(got, lines);

                // write_all and shutdown to EOF, read_to_end back.
                let (a, b) = UnixStream::pair().unwrap();
                let data: Vec<u8> = (0..500_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
                let mut a = Compat::new(a);
                let mut b = Compat::new(b);
                let expected = data.clone();
                let sender = ringwork::spawn(async move {
                    a.write_all(&data).await.unwrap();
                    a.shutdown().await.unwrap();
                });
                let mut back = Vec::new();
                b.read_to_end(&mut back).await.unwrap();
                sender.await.unwrap();
                assert!(back == expected, "the bytes differ");
            }))
            .unwrap();
        })
    });
}

#[test]
fn a_std_peer_sees_what_a_compat_stream_wrote_then_eof() {
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            rt.block_on(rt.spawn(async {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let mut peer =
                    std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
                let (stream, _) = listener.accept().await.unwrap();
                let reader = std::thread::spawn(move || {
                    let mut got = Vec::new();
                    peer.read_to_end(&mut got).unwrap();
                    got
                });
                let mut io = Compat::new(stream);
                for i in 0..100u8 {
                    io.write_all(&[i; 1000]).await.unwrap();
                }
                io.flush().await.unwrap();
                io.shutdown().await.unwrap();
                let got = reader.join().unwrap();
                assert_eq!(got.len(), 100_000);
                assert!(got
                    .chunks(1000)
                    .enumerate()
                    .all(|(i, c)| c.iter().all(|&b| b == i as u8)));
            }))
            .unwrap();
        })
    });
}

/// Frame `i` of the `Framed` test: 0 to 4 KiB, every 1000th 200 KiB (a
/// frame spanning many reads; small ones share a read), its bytes derived
/// from `i`.
fn frame(i: usize) -> Vec<u8> {
    let len = if i % 1000 == 999 {
        200 * 1024
    } else {
        (i * 7919) % 4097
    };
    (0..len).map(|j| (i * 31 + j * 7) as u8).collect()
}

#[test]
fn a_framed_echo_over_compat_returns_ten_thousand_frames_intact_and_in_order() {
    const FRAMES: usize = 10_000;
    watchdog(Duration::from_secs(120), || {
        for_each_driver(2, |rt| {
            rt.block_on(rt.spawn(async {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                // The echo: one `Framed` over the whole stream, until EOF.
                let echo = ringwork::spawn(async move {
                    let (stream, _) = listener.accept().await.unwrap();
                    let mut framed = Framed::new(Compat::new(stream), LengthDelimitedCodec::new());
                    let mut echoed = 0;
                    while let Some(frame) = framed.next().await {
                        framed.send(frame.unwrap().freeze()).await.unwrap();
                        echoed += 1;
                    }
                    SinkExt::<Bytes>::close(&mut framed).await.unwrap();
                    echoed
                });
                // The client: a `FramedWrite` and a `FramedRead` over the
                // stream's owned halves, writing and reading at once.
                let (read, write) = TcpStream::connect(addr).await.unwrap().into_split();
                let mut writer = FramedWrite::new(Compat::new(write), LengthDelimitedCodec::new());
                let mut reader = FramedRead::new(Compat::new(read), LengthDelimitedCodec::new());
                let send = async {
                    for i in 0..FRAMES {
                        writer.send(Bytes::from(frame(i))).await.unwrap();
                    }
                    // Flushes, then shuts the write half down: the echo's EOF.
                    SinkExt::<Bytes>::close(&mut writer).await.unwrap();
                };
                let receive = async {
                    for i in 0..FRAMES {
                        let got = reader
                            .next()
                            .await
                            .expect("a frame per frame sent")
                            .unwrap();
                        let expected = frame(i);
                        assert!(
                            got[..] == expected[..],
                            "frame {i} differs: {} bytes, {} expected",
                            got.len(),
                            expected.len()
                        );
                    }
                    assert!(reader.next().await.is_none(), "EOF after the last frame");
                };
                ringwork::join!(send, receive);
                assert_eq!(echo.await.unwrap(), FRAMES);
            }))
            .unwrap();
        })
    });
}
