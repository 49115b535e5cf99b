//! `send` on a connected socket from an owned buffer.

use super::{submit, SharedFd};
use crate::buf::IoBuf;
use crate::sys::syscall;
use ringwork_epoll::Direction;
use ringwork_uring::io_uring::opcode;
use ringwork_uring::Orphan;
use std::io;

struct Resources<B> {
    fd: SharedFd,
    buf: B,
}

/// Sends up to `buf.bytes_init()` bytes; returns how many were sent. A peer
/// that vanished gives `BrokenPipe`/`ConnectionReset` (never `SIGPIPE`).
pub(crate) async fn send<B: IoBuf>(fd: &SharedFd, buf: B) -> (io::Result<usize>, B) {
    if super::on_epoll() {
        epoll(fd, buf).await
    } else {
        uring(fd, buf).await
    }
}

async fn epoll<B: IoBuf>(fd: &SharedFd, buf: B) -> (io::Result<usize>, B) {
    let result = fd
        .ready(Direction::Write, |raw| {
            syscall!(send(
                raw,
                buf.stable_ptr().cast(),
                buf.bytes_init(),
                libc::MSG_NOSIGNAL
            ))
            .map(|n| n as usize)
        })
        .await;
    (result, buf)
}

async fn uring<B: IoBuf>(fd: &SharedFd, buf: B) -> (io::Result<usize>, B) {
    // Fast path: a non-blocking `send(2)` first. A stream socket with room in
    // its send buffer (the common case) takes the bytes at once, which saves
    // the SQE, its CQE and a second wake-up and poll of the task per message
    // (measured on tcp_echo; see docs/architecture.md). Only when the buffer
    // is full does the send go through the ring.
    match syscall!(send(
        fd.raw(),
        buf.stable_ptr().cast(),
        buf.bytes_init(),
        libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT
    )) {
        Ok(n) => return (Ok(n as usize), buf),
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
        Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
        Err(err) => return (Err(err), buf),
    }
    let resources = Resources {
        fd: fd.clone(),
        buf,
    };
    // SAFETY: the SQE points into the buffer's stable storage, which the
    // resources own; the resources hold the descriptor open.
    let op = unsafe {
        submit(resources, Orphan::Drop, |r| {
            let len = u32::try_from(r.buf.bytes_init()).unwrap_or(u32::MAX);
            opcode::Send::new(r.fd.types_fd(), r.buf.stable_ptr(), len)
                .flags(libc::MSG_NOSIGNAL)
                .build()
        })
    };
    let (result, Resources { buf, .. }) = op.await;
    (result.map(|n| n as usize), buf)
}

/// Sends all of `buf`'s initialized bytes. A peer that vanished gives
/// `BrokenPipe` or `ConnectionReset` (never `SIGPIPE`).
pub(crate) async fn send_all<B: IoBuf>(fd: &SharedFd, buf: B) -> (io::Result<()>, B) {
    let total = buf.bytes_init();
    let mut written = 0;
    let mut buf = buf;
    while written < total {
        let (res, slice) = send(fd, buf.slice(written..total)).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => {
                let zero = io::Error::new(io::ErrorKind::WriteZero, "send wrote zero bytes");
                return (Err(zero), buf);
            }
            Ok(n) => written += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return (Err(err), buf),
        }
    }
    (Ok(()), buf)
}
