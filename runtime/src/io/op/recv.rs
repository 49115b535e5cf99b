//! `recv` on a connected socket into an owned buffer.

use super::{submit, SharedFd};
use crate::buf::IoBufMut;
use crate::sys::syscall;
use ringwork_epoll::Direction;
use ringwork_uring::io_uring::opcode;
use ringwork_uring::Orphan;
use std::io;

struct Resources<B> {
    fd: SharedFd,
    buf: B,
}

/// Receives up to `buf.bytes_total()` bytes; `Ok(0)` is end-of-stream.
pub(crate) async fn recv<B: IoBufMut>(fd: &SharedFd, buf: B) -> (io::Result<usize>, B) {
    if super::on_epoll() {
        epoll(fd, buf).await
    } else {
        uring(fd, buf).await
    }
}

async fn epoll<B: IoBufMut>(fd: &SharedFd, mut buf: B) -> (io::Result<usize>, B) {
    let result = fd
        .ready(Direction::Read, |raw| {
            syscall!(recv(raw, buf.stable_mut_ptr().cast(), buf.bytes_total(), 0))
                .map(|n| n as usize)
        })
        .await;
    if let Ok(n) = result {
        // SAFETY: `recv` wrote `n` bytes at the buffer's start.
        unsafe { buf.set_init(n) };
    }
    (result, buf)
}

async fn uring<B: IoBufMut>(fd: &SharedFd, buf: B) -> (io::Result<usize>, B) {
    let resources = Resources {
        fd: fd.clone(),
        buf,
    };
    // SAFETY: the SQE points into the buffer's stable storage, which the
    // resources own; the resources hold the descriptor open.
    let op = unsafe {
        submit(resources, Orphan::Drop, |r| {
            let len = u32::try_from(r.buf.bytes_total()).unwrap_or(u32::MAX);
            opcode::Recv::new(r.fd.types_fd(), r.buf.stable_mut_ptr(), len).build()
        })
    };
    let (result, Resources { mut buf, .. }) = op.await;
    match result {
        Ok(n) => {
            // SAFETY: the kernel wrote `n` bytes at the buffer's start.
            unsafe { buf.set_init(n as usize) };
            (Ok(n as usize), buf)
        }
        Err(err) => (Err(err), buf),
    }
}

/// Receives until the whole capacity of `buf` (`bytes_total()`) is filled,
/// or fails with `UnexpectedEof` if the peer closes first.
pub(crate) async fn recv_exact<B: IoBufMut>(fd: &SharedFd, buf: B) -> (io::Result<()>, B) {
    let total = buf.bytes_total();
    let mut filled = 0;
    let mut buf = buf;
    while filled < total {
        let (res, slice) = recv(fd, buf.slice(filled..total)).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => {
                let eof = io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "peer closed before the buffer was filled",
                );
                return (Err(eof), buf);
            }
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return (Err(err), buf),
        }
    }
    (Ok(()), buf)
}
