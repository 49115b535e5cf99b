//! `send_to`: sends one datagram to an address (`IORING_OP_SENDMSG`).

use super::{submit, SharedFd};
use crate::buf::IoBuf;
use crate::net::addr::RawAddr;
use crate::sys::syscall;
use ringwork_epoll::Direction;
use ringwork_uring::io_uring::opcode;
use ringwork_uring::Orphan;
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

// SAFETY: the raw pointers in a `Msg` are null, or point into the resources
// of the operation that owns the `Msg` (set when its SQE is built, after the
// resources reached their final address). Nothing dereferences them in Rust;
// only the kernel does, while the operation is in flight. Moving the value to
// another thread moves no access to the pointees with it.
unsafe impl Send for Msg {}

struct Resources<B> {
    fd: SharedFd,
    buf: B,
    addr: RawAddr,
    msg: Msg,
}

/// Sends `buf.bytes_init()` bytes as one datagram to `addr`; returns how
/// many were sent.
pub(crate) async fn send_to<B: IoBuf>(
    fd: &SharedFd,
    buf: B,
    addr: RawAddr,
) -> (io::Result<usize>, B) {
    if super::on_epoll() {
        return epoll(fd, buf, addr).await;
    }
    let resources = Resources {
        fd: fd.clone(),
        buf,
        addr,
        msg: Msg::new(),
    };
    // SAFETY: the SQE points to the message header, which points to the
    // iovec, the address and the buffer's stable storage — all owned by the
    // resources, which do not move once submitted (the pointers are taken
    // here, at that final address). The resources hold the socket open.
    let op = unsafe {
        submit(resources, Orphan::Drop, |r| {
            r.msg.iov.iov_base = r.buf.stable_ptr().cast_mut().cast();
            r.msg.iov.iov_len = r.buf.bytes_init();
            let (name, name_len) = r.addr.as_ptr();
            r.msg.hdr.msg_name = name.cast_mut().cast();
            r.msg.hdr.msg_namelen = name_len;
            r.msg.hdr.msg_iov = &mut r.msg.iov;
            r.msg.hdr.msg_iovlen = 1;
            opcode::SendMsg::new(r.fd.types_fd(), &r.msg.hdr)
                .flags(libc::MSG_NOSIGNAL as u32)
                .build()
        })
    };
    let (result, Resources { buf, .. }) = op.await;
    (result.map(|n| n as usize), buf)
}

/// The epoll driver's path: `sendmsg(2)` retried on readiness.
async fn epoll<B: IoBuf>(fd: &SharedFd, buf: B, addr: RawAddr) -> (io::Result<usize>, B) {
    let result = fd
        .ready(Direction::Write, |raw| {
            let mut iov = libc::iovec {
                iov_base: buf.stable_ptr().cast_mut().cast(),
                iov_len: buf.bytes_init(),
            };
            let (name, name_len) = addr.as_ptr();
            let mut msg = Msg::new();
            msg.hdr.msg_name = name.cast_mut().cast();
            msg.hdr.msg_namelen = name_len;
            msg.hdr.msg_iov = &mut iov;
            msg.hdr.msg_iovlen = 1;
            syscall!(sendmsg(raw, &msg.hdr, libc::MSG_NOSIGNAL)).map(|n| n as usize)
        })
        .await;
    (result, buf)
}
