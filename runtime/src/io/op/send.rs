//! `send` on a connected socket from an owned buffer (`IORING_OP_SEND`;
//! `send(2)` on readiness).
//!
//! Not cancel safe in the sense reads are: a dropped send may have sent a
//! prefix of the buffer, and nothing reports how much. Callers that must
//! know keep the future until it returns the count.

use super::{run, short_send, sqe_len, transfer_len, EpollPath, OpCode, SharedFd};
use crate::buf::IoBuf;
use crate::buf::{FixedBuf, Slice};
use crate::sys::syscall;
use ringwork_epoll::Direction;
use ringwork_uring::io_uring::{opcode, squeue};
use ringwork_uring::Driver;
use std::any::Any;
use std::io;

struct Send<B> {
    fd: SharedFd,
    buf: B,
    /// The socket supports zero-copy sends (TCP, UDP; not Unix sockets,
    /// which answer `EOPNOTSUPP`).
    zero_copy_ok: bool,
    /// io_uring: send with `IORING_OP_SEND_ZC` (allowed, and the buffer is
    /// at least the ring's zero-copy threshold).
    zero_copy: bool,
    /// With `zero_copy`: the buffer is a registered buffer of the ring's
    /// pool, at this index (`IORING_RECVSEND_FIXED_BUF`: the kernel takes
    /// the pages pinned at registration instead of pinning them per send).
    fixed_index: Option<u16>,
}

/// `IORING_SEND_ZC_REPORT_USAGE`: the notification says whether the kernel
/// copied after all (counted in the ring's stats).
pub(super) const SEND_ZC_REPORT_USAGE: u16 = 1 << 3;

impl<B: IoBuf> Send<B> {
    fn send(&self, flags: libc::c_int) -> io::Result<u32> {
        let len = transfer_len(short_send(&self.fd, self.buf.bytes_init()));
        syscall!(send(
            self.fd.raw(),
            self.buf.stable_ptr().cast(),
            len,
            flags
        ))
        .map(|n| n as u32)
    }
}

// SAFETY: the SQE points into the buffer's stable storage (`bytes_init`
// initialized bytes, `IoBuf`), owned by the operation, which holds the
// socket open.
unsafe impl<B: IoBuf> OpCode for Send<B> {
    type Output = (io::Result<usize>, B);

    fn sqe(&mut self) -> squeue::Entry {
        let len = sqe_len(short_send(&self.fd, self.buf.bytes_init()));
        if self.zero_copy {
            // Two CQEs: the result (with `F_MORE`), then the notification
            // that the kernel let go of the buffer, which the slot keeps
            // until then (the future takes the result from the first, see
            // `UringOp`).
            return opcode::SendZc::new(self.fd.types_fd(), self.buf.stable_ptr(), len)
                .flags(libc::MSG_NOSIGNAL)
                .zc_flags(SEND_ZC_REPORT_USAGE)
                .buf_index(self.fixed_index)
                .build();
        }
        opcode::Send::new(self.fd.types_fd(), self.buf.stable_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
    }

    /// A non-blocking `send(2)` first. A stream socket with room in its send
    /// buffer (the common case) takes the bytes at once, which saves the SQE,
    /// its CQE and a second wake-up and poll of the task per message
    /// (measured on tcp_echo; see docs/architecture.md). Only when the buffer
    /// is full does the send go through the ring.
    ///
    /// A buffer at or above the ring's zero-copy threshold
    /// (`Features::send_zc_threshold`) skips that (a `send(2)` copies) and
    /// goes through the ring as `SEND_ZC`; a registered buffer of the
    /// ring's pool (a `FixedBuf`, or a slice of one) is named by its index.
    fn try_before_submit(&mut self, driver: &Driver) -> Option<io::Result<u32>> {
        let features = driver.features();
        if let Some(threshold) = features.send_zc_threshold.filter(|_| self.zero_copy_ok) {
            if self.buf.bytes_init() >= threshold as usize {
                self.zero_copy = true;
                self.fixed_index = registered_index(&self.buf)
                    .filter(|(pool, _)| features.fixed_buffers == Some(*pool))
                    .map(|(_, index)| index);
                if self.fixed_index.is_some() {
                    driver.stats().fixed_buffer_op();
                }
                return None;
            }
        }
        match self.send(libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) {
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                None
            }
            other => Some(other),
        }
    }

    const FIXED_FILE: bool = true;

    fn epoll_path(&self) -> EpollPath {
        EpollPath::Ready(Direction::Write)
    }

    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        self.send(libc::MSG_NOSIGNAL)
    }

    fn complete(self, result: io::Result<u32>) -> Self::Output {
        (result.map(|n| n as usize), self.buf)
    }
}

/// The pool id and index of `buf` if it is a registered buffer: a
/// `FixedBuf`, a `Slice` of one, or a slice of that (what `write_all` makes
/// of a caller's slice). A slice's bytes lie inside the buffer, as
/// `IORING_RECVSEND_FIXED_BUF` requires.
fn registered_index<B: IoBuf>(buf: &B) -> Option<(u64, u16)> {
    let any: &dyn Any = buf;
    let fixed = if let Some(fixed) = any.downcast_ref::<FixedBuf>() {
        fixed
    } else if let Some(slice) = any.downcast_ref::<Slice<FixedBuf>>() {
        slice.get_ref()
    } else {
        any.downcast_ref::<Slice<Slice<FixedBuf>>>()?
            .get_ref()
            .get_ref()
    };
    Some((fixed.pool_id(), fixed.index()))
}

/// Sends up to `buf.bytes_init()` bytes (at most
/// [`MAX_TRANSFER`](super::MAX_TRANSFER) in one call); returns how many were
/// sent. A peer that vanished gives `BrokenPipe`/`ConnectionReset` (never
/// `SIGPIPE`). `zero_copy_ok`: the socket's family supports zero-copy sends
/// (on a ring with `Builder::uring_send_zc`, large sends use them; a socket
/// that refuses one, `EOPNOTSUPP`, gets the plain send instead).
pub(crate) async fn send<B: IoBuf>(
    fd: &SharedFd,
    buf: B,
    zero_copy_ok: bool,
) -> (io::Result<usize>, B) {
    let (result, buf) = run(Send {
        fd: fd.clone(),
        buf,
        zero_copy_ok,
        zero_copy: false,
        fixed_index: None,
    })
    .await;
    match result {
        Err(err) if zero_copy_ok && err.raw_os_error() == Some(libc::EOPNOTSUPP) => {
            run(Send {
                fd: fd.clone(),
                buf,
                zero_copy_ok: false,
                zero_copy: false,
                fixed_index: None,
            })
            .await
        }
        other => (other, buf),
    }
}

/// Sends all of `buf`'s initialized bytes. A peer that vanished gives
/// `BrokenPipe` or `ConnectionReset` (never `SIGPIPE`).
pub(crate) async fn send_all<B: IoBuf>(
    fd: &SharedFd,
    buf: B,
    zero_copy_ok: bool,
) -> (io::Result<()>, B) {
    let total = buf.bytes_init();
    let mut written = 0;
    let mut buf = buf;
    while written < total {
        let (res, slice) = send(fd, buf.slice(written..total), zero_copy_ok).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => return (Err(write_zero()), buf),
            Ok(n) => written += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return (Err(err), buf),
        }
    }
    (Ok(()), buf)
}

/// A write that took no bytes: "all" cannot be done.
pub(crate) fn write_zero() -> io::Error {
    io::Error::new(io::ErrorKind::WriteZero, "write wrote zero bytes")
}
