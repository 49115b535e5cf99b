//! What the servers of `serve` do on a connection of the `bulk` and
//! `idle_conns` workloads, and how they describe it. (The client side of
//! each workload is in `bulk.rs` and `idle_conns.rs`; this module is the
//! server's, so that `server.rs` does not import the clients.)

use super::loadgen::EchoStream;
use super::ECHO_BUFFER;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::ops::ControlFlow;

/// Bytes of the client's hello: its connection number.
pub(crate) const HELLO: usize = 8;

/// What precedes, in a server's description, how its idle read is pending.
pub const PENDING_PREFIX: &str = "idle read: ";

/// Whether `err` is the client going away.
pub(crate) fn gone(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

/// The connection number in the client's hello.
pub(crate) fn hello_id(hello: &[u8]) -> io::Result<u64> {
    hello
        .get(..HELLO)
        .and_then(|bytes| bytes.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| io::Error::other("the client's hello is short"))
}

/// The stream a bulk connection sends, from the client's hello, and its
/// first message.
fn bulk_stream(hello: &[u8], size: usize) -> io::Result<(EchoStream, Vec<u8>)> {
    let mut source = EchoStream::new(hello_id(hello)?, size);
    let mut message = vec![0u8; size];
    source.next_message(&mut message);
    Ok((source, message))
}

/// After one message's send: `Continue` with the next message in
/// `message`, or `Break` with how the connection ended (the client going
/// away is a normal end).
fn bulk_sent(
    source: &mut EchoStream,
    message: &mut [u8],
    sent: io::Result<()>,
) -> ControlFlow<io::Result<()>> {
    match sent {
        Ok(()) => {
            source.next_header(message);
            ControlFlow::Continue(())
        }
        Err(err) if gone(&err) => ControlFlow::Break(Ok(())),
        Err(err) => ControlFlow::Break(Err(err)),
    }
}

/// `bulk`, ringwork's sender: owned buffers, one `write_all` per message.
pub async fn bulk_ringwork(stream: ringwork::net::TcpStream, size: usize) -> io::Result<()> {
    let (res, hello) = stream.read_exact(Vec::with_capacity(HELLO)).await;
    res?;
    let (mut source, mut message) = bulk_stream(&hello, size)?;
    loop {
        let (res, returned) = stream.write_all(message).await;
        message = returned;
        if let ControlFlow::Break(end) = bulk_sent(&mut source, &mut message, res) {
            return end;
        }
    }
}

/// `bulk`, tokio's sender.
pub async fn bulk_tokio(mut stream: tokio::net::TcpStream, size: usize) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut hello = [0u8; HELLO];
    stream.read_exact(&mut hello).await?;
    let (mut source, mut message) = bulk_stream(&hello, size)?;
    loop {
        let res = stream.write_all(&message).await;
        if let ControlFlow::Break(end) = bulk_sent(&mut source, &mut message, res) {
            return end;
        }
    }
}

/// `bulk`, the thread-per-connection sender.
pub fn bulk_std(mut stream: TcpStream, size: usize) -> io::Result<()> {
    let mut hello = [0u8; HELLO];
    stream.read_exact(&mut hello)?;
    let (mut source, mut message) = bulk_stream(&hello, size)?;
    loop {
        let res = stream.write_all(&message);
        if let ControlFlow::Break(end) = bulk_sent(&mut source, &mut message, res) {
            return end;
        }
    }
}

/// `bulk`, monoio's sender: owned buffers, one `write_all` per message.
pub async fn bulk_monoio(mut stream: monoio::net::TcpStream, size: usize) -> io::Result<()> {
    use monoio::io::{AsyncReadRentExt, AsyncWriteRentExt};
    let (res, hello) = stream.read_exact(Vec::with_capacity(HELLO)).await;
    res?;
    let (mut source, mut message) = bulk_stream(&hello, size)?;
    loop {
        let (res, returned) = stream.write_all(message).await;
        message = returned;
        if let ControlFlow::Break(end) = bulk_sent(&mut source, &mut message, res.map(drop)) {
            return end;
        }
    }
}

/// How a ringwork server with `handle` waits (the text after
/// [`PENDING_PREFIX`]); `server.rs: serve_ringwork` decides the same way.
pub fn ringwork_pending_read(handle: &ringwork::Handle) -> String {
    let pooled = handle.uring_features().is_some_and(|f| f.buf_ring);
    let uring = handle.driver_kind() == Some(ringwork::io::DriverKind::Uring);
    match (pooled, uring) {
        (true, _) => "recv_buf(): a multishot RECV armed on the worker ring's provided-buffer \
                      ring; no buffer held while idle (the kernel takes a ring buffer when \
                      data arrives)"
            .to_owned(),
        (false, true) => format!(
            "recv_buf(): POLL_ADD with no buffer held; a {} KiB heap buffer is allocated \
             once the socket is readable",
            ECHO_BUFFER / 1024
        ),
        (false, false) => format!(
            "recv_buf(): epoll readiness with no buffer held; a {} KiB heap buffer is \
             allocated once the socket is readable",
            ECHO_BUFFER / 1024
        ),
    }
}

/// How a tokio server waits, as a description suffix (empty unless `idle`).
pub fn tokio_pending_read(idle: bool) -> String {
    if idle {
        format!(
            "; {PENDING_PREFIX}readable().await, then try_read into a {} KiB Vec allocated only \
             then; no buffer held while idle",
            ECHO_BUFFER / 1024
        )
    } else {
        String::new()
    }
}

/// tokio's idle echo: wait for readiness holding nothing, then read into a
/// buffer that lives only until its bytes are echoed.
pub async fn idle_tokio(mut stream: tokio::net::TcpStream) -> io::Result<()> {
    use tokio::io::AsyncWriteExt;
    loop {
        stream.readable().await?;
        let mut buf = vec![0u8; ECHO_BUFFER];
        let n = match stream.try_read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
            Err(err) => return Err(err),
        };
        stream.write_all(&buf[..n]).await?;
    }
}
