//! The reading conveniences over owned buffers: `read_to_end`,
//! `read_to_string`, `BufReader` (lines, records, cancel safety, the line
//! limit) and `io::copy`. Every promise their docs make is checked here, on
//! whichever driver `RINGWORK_DRIVER` picks (CI runs both).

mod common;

use common::{pattern, run};
use futures_core::Stream;
use ringwork::fs::File;
use ringwork::io::{copy, BufReader};
use ringwork::net::{TcpListener, TcpStream, UnixStream};
use ringwork::time::timeout;
use std::io::ErrorKind;
use std::net::Shutdown;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

/// A connected TCP pair on loopback: (client, server side).
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

/// Writes `bytes` in `chunk`-sized pieces, with a short pause between
/// them, then closes the writing side.
async fn trickle(stream: UnixStream, bytes: &'static [u8], chunk: usize) {
    for piece in bytes.chunks(chunk) {
        stream.write_all(piece.to_vec()).await.0.unwrap();
        ringwork::time::sleep(Duration::from_millis(1)).await;
    }
    stream.shutdown(Shutdown::Write).unwrap();
}

const SHORT: Duration = Duration::from_millis(50);

#[test]
fn read_to_end_appends_everything_until_the_peer_shuts_down() {
    run(|| async {
        let (client, server) = tcp_pair().await;
        let sent = pattern(1 << 20);
        let to_send = sent.clone();
        let writer = ringwork::spawn(async move {
            client.write_all(to_send).await.0.unwrap();
            client.shutdown(Shutdown::Write).unwrap();
            client
        });
        let (res, got) = server.read_to_end(b"prefix:".to_vec()).await;
        assert_eq!(res.unwrap(), sent.len());
        assert_eq!(&got[..7], b"prefix:");
        assert!(got[7..] == sent[..], "bytes differ");
        // At end of stream it appends nothing.
        let (res, got) = server.read_to_end(got).await;
        assert_eq!(res.unwrap(), 0);
        assert_eq!(got.len(), 7 + sent.len());
        drop(writer.await.unwrap());
    });
}

#[test]
fn read_to_end_works_on_a_read_half_a_unix_stream_and_a_file() {
    run(|| async {
        // A read half.
        let (client, server) = tcp_pair().await;
        let (read_half, _write_half) = server.into_split();
        client.write_all(b"half".as_slice()).await.0.unwrap();
        drop(client);
        let (res, got) = read_half.read_to_end(Vec::new()).await;
        assert_eq!((res.unwrap(), &got[..]), (4, &b"half"[..]));

        // A Unix stream.
        let (a, b) = UnixStream::pair().unwrap();
        let writer = ringwork::spawn(trickle(a, b"unix stream bytes", 3));
        let (res, got) = b.read_to_end(Vec::new()).await;
        assert_eq!((res.unwrap(), &got[..]), (17, &b"unix stream bytes"[..]));
        writer.await.unwrap();

        // A file, from its position.
        let dir = common::TempDir::new("read_to_end");
        let path = dir.join("f");
        let contents = pattern(100_000);
        std::fs::write(&path, &contents).unwrap();
        let file = File::open(&path).await.unwrap();
        let (res, head) = file.read(Vec::with_capacity(10)).await;
        assert_eq!(res.unwrap(), 10);
        let (res, rest) = file.read_to_end(head).await;
        assert_eq!(res.unwrap(), contents.len() - 10);
        assert!(rest == contents, "file bytes differ");
        let (res, text) = File::open(&path)
            .await
            .unwrap()
            .read_to_string(String::new())
            .await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidData);
        assert!(text.is_empty());
    });
}

#[test]
fn read_to_string_appends_utf8_and_gives_the_string_back_unchanged_on_bad_bytes() {
    run(|| async {
        let (a, b) = UnixStream::pair().unwrap();
        a.write_all("héllo wörld".as_bytes().to_vec())
            .await
            .0
            .unwrap();
        drop(a);
        let (res, text) = b.read_to_string("say: ".to_owned()).await;
        assert_eq!(res.unwrap(), "héllo wörld".len());
        assert_eq!(text, "say: héllo wörld");

        let (a, b) = UnixStream::pair().unwrap();
        a.write_all(vec![b'o', b'k', 0xff, 0xfe]).await.0.unwrap();
        drop(a);
        let (res, text) = b.read_to_string("kept".to_owned()).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidData);
        assert_eq!(text, "kept");

        // A multi-byte character split across two reads is still valid.
        let (a, b) = UnixStream::pair().unwrap();
        let writer = ringwork::spawn(trickle(a, "ééé".as_bytes(), 1));
        let (res, text) = b.read_to_string(String::new()).await;
        assert_eq!((res.unwrap(), text.as_str()), (6, "ééé"));
        writer.await.unwrap();
    });
}

#[test]
fn read_line_and_next_line_split_lines_across_one_byte_reads() {
    run(|| async {
        let (a, b) = UnixStream::pair().unwrap();
        let writer = ringwork::spawn(trickle(a, b"first\nsecond\r\n\nlast", 1));
        let mut reader = BufReader::with_capacity(3, b);
        let mut line = String::from(">");
        assert_eq!(reader.read_line(&mut line).await.unwrap(), 6);
        assert_eq!(line, ">first\n");
        assert_eq!(reader.next_line().await.unwrap().as_deref(), Some("second"));
        assert_eq!(reader.next_line().await.unwrap().as_deref(), Some(""));
        // The last line has no newline.
        let mut line = String::new();
        assert_eq!(reader.read_line(&mut line).await.unwrap(), 4);
        assert_eq!(line, "last");
        assert_eq!(reader.read_line(&mut line).await.unwrap(), 0);
        assert_eq!(reader.next_line().await.unwrap(), None);
        writer.await.unwrap();
    });
}

#[test]
fn read_until_returns_records_through_the_delimiter_and_the_rest_at_the_end() {
    run(|| async {
        let (a, b) = UnixStream::pair().unwrap();
        a.write_all(b"a;bb;;ccc".as_slice()).await.0.unwrap();
        drop(a);
        let mut reader = BufReader::new(b);
        let mut out = Vec::new();
        for (n, expect) in [
            (2, &b"a;"[..]),
            (3, b"a;bb;"),
            (1, b"a;bb;;"),
            (3, b"a;bb;;ccc"),
        ] {
            assert_eq!(reader.read_until(b';', &mut out).await.unwrap(), n);
            assert_eq!(out, expect);
        }
        assert_eq!(reader.read_until(b';', &mut out).await.unwrap(), 0);
    });
}

#[test]
fn lines_is_a_stream_that_ends_at_end_of_stream() {
    run(|| async {
        let (a, b) = UnixStream::pair().unwrap();
        let writer = ringwork::spawn(trickle(a, b"one\ntwo\r\nthree", 2));
        let mut lines = BufReader::new(b).lines();
        let mut got = Vec::new();
        while let Some(line) = next(&mut lines).await {
            got.push(line.unwrap());
        }
        assert_eq!(got, ["one", "two", "three"]);
        // Ended: it stays ended and gives the reader back.
        assert!(next(&mut lines).await.is_none());
        assert!(lines.into_inner().is_some());
        writer.await.unwrap();
    });
}

/// The next item of a stream.
async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

#[test]
fn a_dropped_read_line_loses_no_bytes_and_appends_nothing() {
    run(|| async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut reader = BufReader::with_capacity(4, b);
        let mut line = String::new();
        // Dropped while the buffer is empty (the read owns the buffer).
        assert!(timeout(SHORT, reader.read_line(&mut line)).await.is_err());
        a.write_all(b"part".as_slice()).await.0.unwrap();
        // Dropped with "part" read (buffered) and waiting for more.
        assert!(timeout(SHORT, reader.read_line(&mut line)).await.is_err());
        assert_eq!(line, "", "a dropped read_line appended nothing");
        assert_eq!(reader.buffer(), b"part", "the bytes stay in the reader");
        // And once more, with the spare buffer's read dropped.
        assert!(timeout(SHORT, reader.read_line(&mut line)).await.is_err());
        a.write_all(b"ial line\nnext\n".as_slice()).await.0.unwrap();
        assert_eq!(reader.read_line(&mut line).await.unwrap(), 13);
        assert_eq!(line, "partial line\n");
        assert_eq!(reader.next_line().await.unwrap().as_deref(), Some("next"));
    });
}

#[test]
fn dropped_fill_buf_read_until_next_line_and_read_lose_no_bytes() {
    run(|| async {
        let (a, b) = tcp_pair().await;
        let mut reader = BufReader::with_capacity(8, b);
        assert!(timeout(SHORT, reader.fill_buf()).await.is_err());
        a.write_all(b"abc".as_slice()).await.0.unwrap();
        assert_eq!(reader.fill_buf().await.unwrap(), b"abc");
        let mut out = Vec::new();
        assert!(timeout(SHORT, reader.read_until(b'!', &mut out))
            .await
            .is_err());
        assert!(out.is_empty());
        assert!(timeout(SHORT, reader.next_line()).await.is_err());
        a.write_all(b"def!gh\n".as_slice()).await.0.unwrap();
        assert_eq!(reader.read_until(b'!', &mut out).await.unwrap(), 7);
        assert_eq!(out, b"abcdef!");
        assert_eq!(reader.next_line().await.unwrap().as_deref(), Some("gh"));
        // `read` with nothing buffered, dropped: the bytes come next.
        assert!(timeout(SHORT, reader.read(Vec::with_capacity(2)))
            .await
            .is_err());
        a.write_all(b"xyz".as_slice()).await.0.unwrap();
        let (res, got) = reader.read(Vec::with_capacity(2)).await;
        assert_eq!((res.unwrap(), &got[..]), (2, &b"xy"[..]));
        let (res, got) = reader.read(Vec::with_capacity(64)).await;
        assert_eq!((res.unwrap(), &got[..]), (1, &b"z"[..]));
    });
}

#[test]
fn the_lines_stream_polled_then_left_loses_no_bytes() {
    run(|| async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut lines = BufReader::new(b).lines();
        // Polled to `Pending` and abandoned by a timeout, twice.
        assert!(timeout(SHORT, next(&mut lines)).await.is_err());
        a.write_all(b"hal".as_slice()).await.0.unwrap();
        assert!(timeout(SHORT, next(&mut lines)).await.is_err());
        // While a line is being read the reader is inside the stream.
        a.write_all(b"f\nwhole\n".as_slice()).await.0.unwrap();
        assert_eq!(next(&mut lines).await.unwrap().unwrap(), "half");
        assert_eq!(next(&mut lines).await.unwrap().unwrap(), "whole");
        // Between items the reader can be taken back, buffer and all.
        a.write_all(b"rest".as_slice()).await.0.unwrap();
        drop(a);
        let mut reader = lines.into_inner().expect("idle between items");
        let (res, rest) = reader.read_to_end(Vec::new()).await;
        assert_eq!((res.unwrap(), &rest[..]), (4, &b"rest"[..]));
    });
}

#[test]
fn a_line_over_the_limit_is_invalid_data_and_stays_in_the_reader() {
    run(|| async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut reader = BufReader::with_capacity(4, b);
        reader.set_line_limit(10);
        assert_eq!(reader.line_limit(), 10);
        let writer = ringwork::spawn(async move {
            a.write_all(b"exactly 9\nthis line is far too long\nok\n".as_slice())
                .await
                .0
                .unwrap();
            a
        });
        // Ten bytes with the newline: at the limit, accepted.
        assert_eq!(
            reader.next_line().await.unwrap().as_deref(),
            Some("exactly 9")
        );
        let err = reader.next_line().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData);
        assert!(err.to_string().contains("limit of 10 bytes"), "{err}");
        assert!(
            reader.buffer().len() >= 10,
            "the long line's bytes are kept"
        );
        assert!(reader.buffer().starts_with(b"this line "));
        // The same from read_until and read_line.
        let mut out = Vec::new();
        let err = reader.read_until(b'\n', &mut out).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData);
        assert!(out.is_empty());
        // Skip it by hand: consume is clamped to what is buffered.
        reader.consume(usize::MAX);
        assert!(reader.buffer().is_empty());
        let mut skipped = Vec::new();
        reader.set_line_limit(1 << 20);
        reader.read_until(b'\n', &mut skipped).await.unwrap();
        assert_eq!(reader.next_line().await.unwrap().as_deref(), Some("ok"));
        // A limit of zero is taken as one.
        reader.set_line_limit(0);
        assert_eq!(reader.line_limit(), 1);
        drop(writer.await.unwrap());
    });
}

#[test]
fn the_lines_stream_ends_after_its_first_error_and_gives_the_reader_back() {
    run(|| async {
        let (a, b) = UnixStream::pair().unwrap();
        a.write_all(b"fine\nway too long for the limit\nafter\n".as_slice())
            .await
            .0
            .unwrap();
        drop(a);
        let mut reader = BufReader::new(b);
        reader.set_line_limit(8);
        let mut lines = reader.lines();
        assert_eq!(next(&mut lines).await.unwrap().unwrap(), "fine");
        let err = next(&mut lines).await.unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData);
        assert!(next(&mut lines).await.is_none());
        let mut reader = lines.into_inner().unwrap();
        assert!(reader.buffer().starts_with(b"way too "));
        reader.set_line_limit(100);
        assert_eq!(
            reader.next_line().await.unwrap().as_deref(),
            Some("way too long for the limit")
        );
    });
}

#[test]
fn a_line_that_is_not_utf8_is_consumed_and_leaves_the_string_unchanged() {
    run(|| async {
        let (a, b) = UnixStream::pair().unwrap();
        a.write_all(b"bad \xff\xfe line\ngood\n".to_vec())
            .await
            .0
            .unwrap();
        drop(a);
        let mut reader = BufReader::new(b);
        let mut line = String::from("before");
        let err = reader.read_line(&mut line).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData);
        assert_eq!(line, "before");
        assert_eq!(reader.next_line().await.unwrap().as_deref(), Some("good"));
    });
}

#[test]
fn buf_reader_read_serves_buffered_bytes_first_and_rejects_a_zero_capacity_buffer() {
    run(|| async {
        let (a, b) = UnixStream::pair().unwrap();
        a.write_all(b"head\nbody bytes".as_slice()).await.0.unwrap();
        let mut reader = BufReader::with_capacity(0, b);
        // Capacity zero is taken as one byte per read: still works.
        assert_eq!(reader.next_line().await.unwrap().as_deref(), Some("head"));
        assert!(reader.buffer().is_empty(), "each read asked for one byte");
        let mut reader = BufReader::new(reader.into_inner());
        assert_eq!(reader.fill_buf().await.unwrap(), b"body bytes");
        reader.consume(5);
        let (res, buf) = reader.read(Vec::<u8>::new()).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
        assert!(buf.is_empty());
        // Buffered bytes come first, even into a large buffer.
        let (res, got) = reader.read(Vec::with_capacity(1 << 16)).await;
        assert_eq!((res.unwrap(), &got[..]), (5, &b"bytes"[..]));
        // With nothing buffered, a large buffer is read into directly.
        a.write_all(pattern(20_000)).await.0.unwrap();
        drop(a);
        let (res, got) = reader.read(Vec::with_capacity(1 << 16)).await;
        let n = res.unwrap();
        assert!(n > 0 && got[..] == pattern(20_000)[..n]);
    });
}

#[test]
fn buf_reader_read_to_end_and_copy_to_include_the_buffered_bytes() {
    run(|| async {
        let (a, b) = UnixStream::pair().unwrap();
        a.write_all(b"line\nand the rest".as_slice())
            .await
            .0
            .unwrap();
        drop(a);
        let mut reader = BufReader::new(b);
        assert_eq!(reader.next_line().await.unwrap().as_deref(), Some("line"));
        let (res, rest) = reader.read_to_end(b">".to_vec()).await;
        assert_eq!((res.unwrap(), &rest[..]), (12, &b">and the rest"[..]));

        let (a, b) = UnixStream::pair().unwrap();
        let (c, d) = UnixStream::pair().unwrap();
        let big = pattern(300_000);
        let to_send = big.clone();
        let writer = ringwork::spawn(async move {
            a.write_all(b"header\n".as_slice()).await.0.unwrap();
            a.write_all(to_send).await.0.unwrap();
        });
        let mut reader = BufReader::new(b);
        assert_eq!(reader.next_line().await.unwrap().as_deref(), Some("header"));
        let buffered = reader.buffer().len();
        let sink = ringwork::spawn(async move { d.read_to_end(Vec::new()).await });
        let copied = reader.copy_to(&c).await.unwrap();
        drop(c);
        writer.await.unwrap();
        assert_eq!(copied, big.len() as u64);
        let (res, got) = sink.await.unwrap();
        res.unwrap();
        assert!(got == big, "copied bytes differ ({buffered} were buffered)");
    });
}

#[test]
fn copy_moves_every_byte_and_can_echo_on_one_stream() {
    run(|| async {
        // An echo: reader and writer are the same stream.
        let (client, server) = tcp_pair().await;
        let echo = ringwork::spawn(async move {
            let n = copy(&server, &server).await.unwrap();
            server.shutdown(Shutdown::Write).unwrap();
            n
        });
        let sent = pattern(3 << 20);
        let (read_half, write_half) = client.into_split();
        let to_send = sent.clone();
        let writer = ringwork::spawn(async move {
            write_half.write_all(to_send).await.0.unwrap();
            write_half.shutdown().unwrap();
            write_half
        });
        let (res, echoed) = read_half.read_to_end(Vec::new()).await;
        res.unwrap();
        assert!(echoed == sent, "echoed bytes differ");
        assert_eq!(echo.await.unwrap(), sent.len() as u64);
        drop(writer.await.unwrap());

        // From a file to a socket, through `Arc`s.
        let dir = common::TempDir::new("copy");
        let path = dir.join("f");
        let contents = pattern(200_000);
        std::fs::write(&path, &contents).unwrap();
        let file = std::sync::Arc::new(File::open(&path).await.unwrap());
        let (a, b) = UnixStream::pair().unwrap();
        let a = std::sync::Arc::new(a);
        let sink = ringwork::spawn(async move { b.read_to_end(Vec::new()).await });
        assert_eq!(copy(&file, &a).await.unwrap(), contents.len() as u64);
        drop(a);
        let (res, got) = sink.await.unwrap();
        res.unwrap();
        assert!(got == contents, "file bytes differ");
    });
}

#[test]
fn copy_to_a_vanished_peer_is_an_error_not_a_hang() {
    run(|| async {
        let (a, b) = UnixStream::pair().unwrap();
        let (c, d) = UnixStream::pair().unwrap();
        drop(d);
        let writer = ringwork::spawn(async move {
            // Enough to need a write after the peer is gone.
            let _ = a.write_all(pattern(1 << 20)).await;
        });
        let err = copy(&b, &c).await.unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
            ),
            "{err}"
        );
        drop(b);
        writer.await.unwrap();
    });
}

#[test]
fn a_line_arriving_a_byte_at_a_time_is_polled_to_completion() {
    // `lines()` builds one future per line; check that a stream polled
    // through many `Pending`s hands out each line once.
    run(|| async {
        let (a, b) = UnixStream::pair().unwrap();
        let text: &'static [u8] = b"alpha\nbeta\ngamma\n";
        let writer = ringwork::spawn(trickle(a, text, 1));
        let mut lines = BufReader::with_capacity(1, b).lines();
        let mut pendings = 0;
        let mut got = Vec::new();
        std::future::poll_fn(|cx| loop {
            match Pin::new(&mut lines).poll_next(cx) {
                Poll::Pending => {
                    pendings += 1;
                    return Poll::Pending;
                }
                Poll::Ready(Some(line)) => got.push(line.unwrap()),
                Poll::Ready(None) => return Poll::Ready(()),
            }
        })
        .await;
        assert_eq!(got, ["alpha", "beta", "gamma"]);
        assert!(pendings > 0);
        writer.await.unwrap();
    });
}

#[test]
fn readers_and_their_futures_are_send() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<BufReader<TcpStream>>();
    send_sync::<BufReader<ringwork::net::OwnedReadHalf>>();
    send_sync::<BufReader<std::sync::Arc<File>>>();
    send_sync::<ringwork::net::TcpSocket>();
    let (a, b) = UnixStream::pair().unwrap();
    let mut reader = BufReader::new(&a);
    let mut line = String::new();
    send(&reader.read_line(&mut line));
    send(&reader.next_line());
    send(&reader.fill_buf());
    send(&reader.read(Vec::new()));
    send(&reader.read_to_end(Vec::new()));
    send(&reader.copy_to(&b));
    send(&BufReader::new(b).lines());
    send(&copy(&a, &a));
    send(&a.read_to_end(Vec::new()));
    send(&a.read_to_string(String::new()));
}

#[test]
fn a_buf_reader_reads_the_lines_of_a_file_and_into_inner_drops_only_the_buffered_bytes() {
    run(|| async {
        let dir = common::TempDir::new("buf_reader_file");
        let path = dir.join("lines");
        let text: String = (0..2000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, &text).unwrap();
        let mut lines = BufReader::with_capacity(100, File::open(&path).await.unwrap()).lines();
        let mut count = 0;
        while let Some(line) = next(&mut lines).await {
            assert_eq!(line.unwrap(), format!("line {count}"));
            count += 1;
        }
        assert_eq!(count, 2000);

        // `into_inner` keeps the file position after the buffered bytes.
        let mut reader = BufReader::with_capacity(10, File::open(&path).await.unwrap());
        assert_eq!(reader.fill_buf().await.unwrap(), b"line 0\nlin");
        let file = reader.into_inner();
        let (res, rest) = file.read_to_end(Vec::new()).await;
        res.unwrap();
        assert_eq!(rest, text.as_bytes()[10..]);
    });
}

#[test]
fn read_overwrites_the_start_of_a_vec_and_grows_only_a_shorter_one() {
    use ringwork::prelude::*;
    run(|| async {
        let (a, b) = tcp_pair().await;
        a.write_all(b"abc".as_slice()).await.0.unwrap();
        // Longer than the count: the first bytes change, the length stays.
        let (res, buf) = b.read(vec![b'.'; 8]).await;
        assert_eq!(res.unwrap(), 3);
        assert_eq!(buf, b"abc.....");
        // Shorter: the length becomes the count.
        a.write_all(b"defg".as_slice()).await.0.unwrap();
        let mut short = Vec::with_capacity(8);
        short.push(b'x');
        let (res, buf) = b.read(short).await;
        assert_eq!(res.unwrap(), 4);
        assert_eq!(buf, b"defg");
        a.write_all(b"efg".as_slice()).await.0.unwrap();
        let mut buf = Vec::with_capacity(16);
        buf.extend_from_slice(b"kept:");
        // A view past the length appends.
        let len = buf.len();
        let (res, view) = b.read(buf.slice(len..)).await;
        assert_eq!(res.unwrap(), 3);
        assert_eq!(view.into_inner(), b"kept:efg");
    });
}
