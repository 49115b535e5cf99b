//! Buffers at the edges: 3 and 5 GiB (more than one kernel transfer, which
//! Linux caps at 2 GiB − 4 KiB) and zero capacity, on both drivers.

mod common;

use common::{for_each_driver, watchdog};
use ringwork::fs::File;
use ringwork::net::{TcpListener, UdpSocket, UnixDatagram, UnixStream};
use std::io::{Read, Write};
use std::time::Duration;

const GIB: usize = 1 << 30;

#[test]
fn reads_into_3_and_5_gib_buffers_return_what_arrived() {
    watchdog(Duration::from_secs(120), || {
        for_each_driver(2, |rt| {
            rt.block_on(async {
                for capacity in [3 * GIB, 5 * GIB] {
                    // Untouched capacity: the allocation stays virtual.
                    let (a, b) = UnixStream::pair().unwrap();
                    b.write_all(b"hello".as_slice()).await.0.unwrap();
                    let (res, buf) = a.read(Vec::with_capacity(capacity)).await;
                    assert_eq!(res.unwrap(), 5, "stream read, {capacity} bytes of room");
                    assert_eq!(buf, b"hello");

                    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                    let mut peer =
                        std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
                    let (stream, _) = listener.accept().await.unwrap();
                    peer.write_all(b"hello").unwrap();
                    let (res, _) = stream.read(Vec::with_capacity(capacity)).await;
                    assert_eq!(res.unwrap(), 5, "TCP read, {capacity} bytes of room");

                    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                    std::net::UdpSocket::bind("127.0.0.1:0")
                        .unwrap()
                        .send_to(b"hello", socket.local_addr().unwrap())
                        .unwrap();
                    let (res, _) = socket.recv_from(Vec::with_capacity(capacity)).await;
                    assert_eq!(res.unwrap().0, 5, "datagram, {capacity} bytes of room");

                    let (reader, mut writer) = common::pipe();
                    let pipe = File::from_std(reader);
                    writer.write_all(b"hello").unwrap();
                    let (res, _) = pipe.read(Vec::with_capacity(capacity)).await;
                    assert_eq!(res.unwrap(), 5, "pipe read, {capacity} bytes of room");

                    let dir = common::TempDir::new("huge-read");
                    std::fs::write(dir.join("f"), b"hello").unwrap();
                    let file = File::open(dir.join("f")).await.unwrap();
                    let (res, _) = file.read_at(Vec::with_capacity(capacity), 0).await;
                    assert_eq!(res.unwrap(), 5, "file read_at, {capacity} bytes of room");
                }
            })
        })
    });
}

#[test]
fn write_all_of_a_3_gib_buffer_delivers_every_byte() {
    watchdog(Duration::from_secs(300), || {
        for_each_driver(2, |rt| {
            let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
            let reader = std::thread::spawn(move || {
                let mut theirs = theirs;
                let mut buf = vec![0u8; 1 << 20];
                let zeros = vec![0u8; 1 << 20];
                let mut total = 0usize;
                loop {
                    let n = theirs.read(&mut buf).unwrap();
                    if n == 0 {
                        return total;
                    }
                    // A slice comparison (memcmp): fast in debug builds too.
                    assert!(buf[..n] == zeros[..n], "only zeros were sent");
                    total += n;
                }
            });
            rt.block_on(async move {
                let ours = UnixStream::from_std(ours).unwrap();
                // Zeroed by the allocator, so the pages stay virtual until
                // read (they map the zero page).
                let (res, buf) = ours.write_all(vec![0u8; 3 * GIB]).await;
                res.unwrap();
                assert_eq!(buf.len(), 3 * GIB);
            });
            assert_eq!(reader.join().unwrap(), 3 * GIB);
        })
    });
}

#[test]
fn writes_of_a_5_gib_buffer_to_dev_null_write_it_all() {
    watchdog(Duration::from_secs(120), || {
        for_each_driver(2, |rt| {
            rt.block_on(async {
                let null = File::options().write(true).open("/dev/null").await.unwrap();
                let (res, buf) = null.write_at(vec![0u8; 5 * GIB], 0).await;
                let n = res.unwrap();
                assert!(n > 0 && n < 5 * GIB, "one write is capped, got {n}");
                let (res, buf) = null.write_all_at(buf, 0).await;
                res.unwrap();
                let (res, _) = null.write_all(buf).await;
                res.unwrap();
            })
        })
    });
}

fn assert_zero_capacity_error(what: &str, res: std::io::Result<impl std::fmt::Debug>) {
    let err = res.expect_err(what);
    assert_eq!(
        err.kind(),
        std::io::ErrorKind::InvalidInput,
        "{what}: {err}"
    );
    assert!(
        err.to_string().contains("zero capacity"),
        "{what}: the message names the cause: {err}"
    );
}

#[test]
fn a_read_into_a_zero_capacity_buffer_is_invalid_input_not_end_of_stream() {
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            rt.block_on(async {
                let (a, b) = UnixStream::pair().unwrap();
                b.write_all(b"x".as_slice()).await.0.unwrap();
                assert_zero_capacity_error("unix stream", a.read(Vec::new()).await.0);

                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let _peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
                let (stream, _) = listener.accept().await.unwrap();
                assert_zero_capacity_error("tcp", stream.read(Vec::new()).await.0);

                let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                assert_zero_capacity_error("udp recv_from", socket.recv_from(Vec::new()).await.0);
                assert_zero_capacity_error("udp recv", socket.recv(Vec::new()).await.0);

                let (d, _e) = UnixDatagram::pair().unwrap();
                assert_zero_capacity_error("unix datagram", d.recv(Vec::new()).await.0);

                let dir = common::TempDir::new("zero-cap");
                std::fs::write(dir.join("f"), b"data").unwrap();
                let file = File::open(dir.join("f")).await.unwrap();
                assert_zero_capacity_error("file read_at", file.read_at(Vec::new(), 0).await.0);
                assert_zero_capacity_error("file read", file.read(Vec::new()).await.0);

                // The byte is still there for a read with room.
                let (res, buf) = a.read(Vec::with_capacity(8)).await;
                assert_eq!(&buf[..res.unwrap()], b"x");
            })
        })
    });
}
