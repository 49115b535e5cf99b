//! `recv` on a connected stream socket into an owned buffer
//! (`IORING_OP_RECV`; `recv(2)` on readiness). (Datagram sockets receive
//! with `recvmsg.rs`, so a stashed datagram always has its sender.)
//!
//! Cancel safe on both drivers: what a dropped receive got from the kernel
//! is kept in the socket's stash and returned, in order, by the next one.

use super::recv_multi::{Next, Receiver};
use super::{run, short, sqe_len, transfer_len, zero_capacity, EpollPath, OpCode, SharedFd};
use crate::buf::{capacity_mut, IoBufMut, RecvBuf};
use crate::io::stash::{self, Stashed};
use crate::sys::syscall;
use ringwork_epoll::Direction;
use ringwork_uring::io_uring::{opcode, squeue};
use std::io;

struct Recv<B> {
    fd: SharedFd,
    buf: B,
}

// SAFETY: the SQE points into the buffer's stable storage (valid for
// `bytes_total` bytes of writes, `IoBufMut`), owned by the operation; the
// operation holds the socket open.
unsafe impl<B: IoBufMut> OpCode for Recv<B> {
    type Output = (io::Result<usize>, B);

    fn sqe(&mut self) -> squeue::Entry {
        let len = sqe_len(short(self.buf.bytes_total()));
        opcode::Recv::new(self.fd.types_fd(), self.buf.stable_mut_ptr(), len).build()
    }

    const FIXED_FILE: bool = true;

    fn epoll_path(&self) -> EpollPath {
        EpollPath::Ready(Direction::Read)
    }

    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        let len = transfer_len(short(self.buf.bytes_total()));
        syscall!(recv(
            self.fd.raw(),
            self.buf.stable_mut_ptr().cast(),
            len,
            0
        ))
        .map(|n| n as u32)
    }

    fn complete(mut self, result: io::Result<u32>) -> Self::Output {
        match result {
            Ok(n) => {
                // SAFETY: the kernel wrote `n` bytes at the buffer's start.
                unsafe { self.buf.set_init(n as usize) };
                (Ok(n as usize), self.buf)
            }
            Err(err) => (Err(err), self.buf),
        }
    }

    fn stash_owner(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn orphaned(self, result: io::Result<u32>) {
        let delivered = match result {
            // End of stream: the next receive sees it from the kernel again.
            Ok(0) => None,
            Ok(n) => Some(Stashed::Bytes {
                // SAFETY: the kernel wrote `n <= bytes_total` bytes at the
                // start of the buffer, which the operation still owns.
                data: unsafe { received(&self.buf, n as usize) },
                pos: 0,
            }),
            Err(err) => stash::is_news(&err).then_some(Stashed::Error(err)),
        };
        self.fd.stash().resolve(delivered);
    }
}

/// A copy of the `n` bytes the kernel wrote at the start of `buf`.
///
/// # Safety
/// The first `n` bytes of `buf`'s storage (`n <= bytes_total()`) were
/// written.
pub(crate) unsafe fn received<B: IoBufMut>(buf: &B, n: usize) -> Vec<u8> {
    debug_assert!(n <= buf.bytes_total());
    // SAFETY: the caller says these bytes were written; `stable_ptr` is the
    // same storage as `stable_mut_ptr`, valid for `bytes_total` bytes.
    unsafe { std::slice::from_raw_parts(buf.stable_ptr(), n) }.to_vec()
}

/// Receives up to `buf.bytes_total()` bytes (at most
/// [`MAX_TRANSFER`](super::MAX_TRANSFER) in one call); `Ok(0)` is
/// end-of-stream. A zero-capacity buffer is `InvalidInput` (its `Ok(0)`
/// would read as end-of-stream). Bytes come from, in order: the stash of
/// dropped receives, the socket's multishot receive (`recv_multi.rs`, a
/// copy out of the provided buffer), a plain receive into `buf`.
pub(crate) async fn recv<B: IoBufMut>(
    fd: &SharedFd,
    rx: &Receiver,
    mut buf: B,
) -> (io::Result<usize>, B) {
    if buf.bytes_total() == 0 {
        return (Err(zero_capacity()), buf);
    }
    let stashed = fd
        .take_stashed(|items| stash::take_bytes(items, capacity_mut(&mut buf)))
        .await;
    let from_ring = match stashed {
        Some(result) => result,
        None => {
            let copied = rx
                .next(fd, |mut data| {
                    let n = stash::copy(capacity_mut(&mut buf), &data);
                    data.advance(n);
                    (n, Some(data))
                })
                .await;
            match copied {
                Ok(n) => Ok(n),
                Err(Next::Error(err)) => Err(err),
                Err(Next::Data(_)) => unreachable!("data is handed to the closure"),
                Err(Next::Plain) => {
                    return run(Recv {
                        fd: fd.clone(),
                        buf,
                    })
                    .await
                }
            }
        }
    };
    match from_ring {
        Ok(n) => {
            // SAFETY: `n` bytes were copied to the buffer's start.
            unsafe { buf.set_init(n) };
            (Ok(n), buf)
        }
        Err(err) => (Err(err), buf),
    }
}

/// The default size of a heap [`RecvBuf`] (where no provided buffer serves
/// a `recv_buf`).
const HEAP_RECV_BUF: usize = 16 * 1024;

/// Receives the next bytes of the stream in a buffer the runtime chooses:
/// a provided buffer of the ring when the multishot receive serves it (no
/// copy), else a heap buffer of [`HEAP_RECV_BUF`] bytes allocated once
/// bytes are there ([`recv_heap_when_readable`]). Empty: end of stream.
/// Same order and cancel safety as [`recv`].
pub(crate) async fn recv_buf(fd: &SharedFd, rx: &Receiver) -> io::Result<RecvBuf> {
    let mut stashed_into = Vec::<u8>::with_capacity(0);
    let stashed = fd
        .take_stashed(|items| {
            let len = stash::front_len(items)?.clamp(1, HEAP_RECV_BUF);
            stashed_into.reserve_exact(len);
            stash::take_bytes(items, stashed_into.spare_capacity_mut())
        })
        .await;
    match stashed {
        Some(Ok(n)) => {
            // SAFETY: the stash copied `n` bytes to the vector's start.
            unsafe { stashed_into.set_len(n) };
            return Ok(RecvBuf::heap(stashed_into));
        }
        Some(Err(err)) => return Err(err),
        None => {}
    }
    match rx.next(fd, |data| (data, None)).await {
        Ok(data) => Ok(data),
        Err(Next::Error(err)) => Err(err),
        Err(Next::Data(_)) => unreachable!("data is handed to the closure"),
        Err(Next::Plain) => recv_heap_when_readable(fd).await.map(RecvBuf::heap),
    }
}

/// A heap buffer of [`HEAP_RECV_BUF`] bytes with what the socket has, taken
/// when it has something: while the stream is idle, no buffer is held (a
/// pending `RECV` or a waiting `read(Vec)` holds its whole buffer; an idle
/// connection that waits here holds none, as a readiness-based server's
/// does). One non-blocking `recv(2)`, and while it would block, a wait for
/// readability (`POLL_ADD` on io_uring, readiness on epoll) without a
/// buffer. Cancel safe: the wait takes no bytes, and the `recv(2)` is not
/// an await point.
async fn recv_heap_when_readable(fd: &SharedFd) -> io::Result<Vec<u8>> {
    loop {
        let mut buf = Vec::<u8>::with_capacity(HEAP_RECV_BUF);
        let received = syscall!(recv(
            fd.raw(),
            buf.as_mut_ptr().cast(),
            HEAP_RECV_BUF,
            libc::MSG_DONTWAIT
        ));
        match received {
            Ok(n) => {
                // SAFETY: `recv` wrote `n <= HEAP_RECV_BUF` bytes (the
                // capacity) at the vector's start.
                unsafe { buf.set_len(n as usize) };
                return Ok(buf);
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                drop(buf);
                super::poll::poll(fd, super::poll::Interest::Read).await?;
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

/// Receives until the whole capacity of `buf` (`bytes_total()`) is filled,
/// or fails with `UnexpectedEof` if the peer closes first.
pub(crate) async fn recv_exact<B: IoBufMut>(
    fd: &SharedFd,
    rx: &Receiver,
    buf: B,
) -> (io::Result<()>, B) {
    let total = buf.bytes_total();
    let mut filled = 0;
    let mut buf = buf;
    while filled < total {
        let (res, slice) = recv(fd, rx, buf.slice(filled..total)).await;
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
