//! `send_to`: sends one datagram to an address (`IORING_OP_SENDMSG`;
//! `sendmsg(2)` on readiness).

use super::{run, transfer_len, EpollPath, OpCode, SharedFd};
use crate::buf::IoBuf;
use crate::sys::addr::RawAddr;
use crate::sys::syscall;
use ringwork_epoll::Direction;
use ringwork_uring::io_uring::{opcode, squeue};
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
        opcode::SendMsg::new(self.fd.types_fd(), &self.msg.hdr)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
    }

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
/// many were sent.
pub(crate) async fn send_to<B: IoBuf>(
    fd: &SharedFd,
    buf: B,
    addr: RawAddr,
) -> (io::Result<usize>, B) {
    run(SendTo {
        fd: fd.clone(),
        buf,
        addr,
        msg: Msg::new(),
    })
    .await
}
