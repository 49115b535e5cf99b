//! `send_to`: sends one datagram to an address (`IORING_OP_SENDMSG`, or
//! `IORING_OP_SENDMSG_ZC` at or above the ring's zero-copy threshold;
//! `sendmsg(2)` on readiness).

use super::{run, transfer_len, EpollPath, OpCode, SharedFd};
use crate::buf::IoBuf;
use crate::sys::addr::RawAddr;
use crate::sys::syscall;
use ringwork_epoll::Direction;
use ringwork_uring::io_uring::{opcode, squeue};
use ringwork_uring::Driver;
use std::io;
use std::mem;

/// A message header and its one `iovec`. Both are all-zero (null pointers)
/// until an SQE is built; then they point into the operation's own
/// resources, which never move until the final completion.
pub(crate) struct Msg {
    pub(crate) hdr: libc::msghdr,
    pub(crate) iov: libc::iovec,
}

impl Msg {
    pub(crate) fn new() -> Msg {
        Msg {
            // SAFETY: `msghdr` is integers and pointers; all-zero bytes are a
            // valid (empty) header.
            hdr: unsafe { mem::zeroed() },
            iov: libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            },
        }
    }
}

// SAFETY: the raw pointers in a `Msg` are null, or point into the operation
// that owns the `Msg` (set when its SQE is built, after the operation
// reached its final address). Nothing dereferences them in Rust; only the
// kernel does, while the operation is in flight. Moving the value to
// another thread moves no access to the pointees with it.
unsafe impl Send for Msg {}

struct SendTo<B> {
    fd: SharedFd,
    buf: B,
    addr: RawAddr,
    msg: Msg,
    /// The socket supports zero-copy sends (UDP; not Unix datagram
    /// sockets, which answer `EOPNOTSUPP`).
    zero_copy_ok: bool,
    /// io_uring: send with `IORING_OP_SENDMSG_ZC` (allowed, and the
    /// datagram is at least the ring's zero-copy threshold).
    zero_copy: bool,
}

impl<B: IoBuf> SendTo<B> {
    /// Points the header at the iovec, the address and the buffer.
    fn prepare(&mut self) {
        self.msg.iov.iov_base = self.buf.stable_ptr().cast_mut().cast();
        self.msg.iov.iov_len = transfer_len(self.buf.bytes_init());
        let (name, name_len) = self.addr.as_ptr();
        self.msg.hdr.msg_name = name.cast_mut().cast();
        self.msg.hdr.msg_namelen = name_len;
        self.msg.hdr.msg_iov = &mut self.msg.iov;
        self.msg.hdr.msg_iovlen = 1;
    }
}

// SAFETY: the SQE points to the message header, which points to the iovec,
// the address and the buffer's stable storage — all owned by the operation,
// which does not move after `sqe` (the pointers are taken there). The
// operation holds the socket open.
unsafe impl<B: IoBuf> OpCode for SendTo<B> {
    type Output = (io::Result<usize>, B);

    fn sqe(&mut self) -> squeue::Entry {
        self.prepare();
        if self.zero_copy {
            // Two CQEs, as for `SEND_ZC` (see `send.rs`): the result, then
            // the notification that releases the buffer, which the slot
            // keeps until then.
            return opcode::SendMsgZc::new(self.fd.types_fd(), &self.msg.hdr)
                .flags(libc::MSG_NOSIGNAL as u32)
                .ioprio(super::send::SEND_ZC_REPORT_USAGE)
                .build();
        }
        opcode::SendMsg::new(self.fd.types_fd(), &self.msg.hdr)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
    }

    /// A datagram at or above the ring's zero-copy threshold
    /// (`Features::send_zc_threshold`) goes as `SENDMSG_ZC`, where the
    /// kernel has it (6.1+; the threshold's own check is for `SEND_ZC`).
    fn try_before_submit(&mut self, driver: &Driver) -> Option<io::Result<u32>> {
        let features = driver.features();
        if let Some(threshold) = features.send_zc_threshold.filter(|_| self.zero_copy_ok) {
            self.zero_copy = self.buf.bytes_init() >= threshold as usize
                && features.supports(opcode::SendMsgZc::CODE);
        }
        None
    }

    const FIXED_FILE: bool = true;

    fn epoll_path(&self) -> EpollPath {
        EpollPath::Ready(Direction::Write)
    }

    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        self.prepare();
        syscall!(sendmsg(self.fd.raw(), &self.msg.hdr, libc::MSG_NOSIGNAL)).map(|n| n as u32)
    }

    fn complete(self, result: io::Result<u32>) -> Self::Output {
        (result.map(|n| n as usize), self.buf)
    }
}

/// Sends `buf.bytes_init()` bytes as one datagram to `addr`; returns how
/// many were sent. `zero_copy_ok`: the socket's family supports zero-copy
/// sends (on a ring with `Builder::uring_send_zc`, large datagrams use
/// them; a socket that refuses one, `EOPNOTSUPP`, gets the plain send).
pub(crate) async fn send_to<B: IoBuf>(
    fd: &SharedFd,
    buf: B,
    addr: RawAddr,
    zero_copy_ok: bool,
) -> (io::Result<usize>, B) {
    let op = |buf, addr, zero_copy_ok| SendTo {
        fd: fd.clone(),
        buf,
        addr,
        msg: Msg::new(),
        zero_copy_ok,
        zero_copy: false,
    };
    let (result, buf) = run(op(buf, addr, zero_copy_ok)).await;
    match result {
        Err(err) if zero_copy_ok && err.raw_os_error() == Some(libc::EOPNOTSUPP) => {
            run(op(buf, addr, false)).await
        }
        other => (other, buf),
    }
}
