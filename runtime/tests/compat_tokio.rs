//! `io::compat::Compat` behind tokio's I/O traits (feature `tokio-io`), on
//! both drivers, driven by tokio's extension traits — no tokio runtime.
#![cfg(feature = "tokio-io")]

mod common;

use common::{for_each_driver, watchdog};
use ringwork::io::compat::Compat;
use ringwork::net::{TcpListener, UnixStream};
use std::io::{Read, Write};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

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
