//! `recv_from`: receives one datagram and its sender's address
//! (`IORING_OP_RECVMSG`).

use super::sendmsg::Msg;
use super::{submit, SharedFd};
use crate::buf::IoBufMut;
use crate::net::addr::RawAddr;
use crate::sys::syscall;
use ringwork_epoll::Direction;
use ringwork_uring::io_uring::opcode;
use ringwork_uring::Orphan;
use std::io;

struct Resources<B> {
    fd: SharedFd,
    buf: B,
    addr: RawAddr,
    msg: Msg,
}

/// Receives one datagram into `buf` (up to `buf.bytes_total()` bytes; the
/// rest of a longer datagram is discarded, as with `recvfrom(2)`); returns
/// the byte count and the sender's address.
pub(crate) async fn recv_from<B: IoBufMut>(
    fd: &SharedFd,
    buf: B,
) -> (io::Result<(usize, RawAddr)>, B) {
    if super::on_epoll() {
        return epoll(fd, buf).await;
    }
    let resources = Resources {
        fd: fd.clone(),
        buf,
        addr: RawAddr::empty(),
        msg: Msg::new(),
    };
    // SAFETY: the SQE points to the message header, which points to the
    // iovec, the address storage and the buffer's stable storage — all owned
    // by the resources, which do not move once submitted (the pointers are
    // taken here, at that final address). The resources hold the socket
    // open.
    let op = unsafe {
        submit(resources, Orphan::Drop, |r| {
            r.msg.iov.iov_base = r.buf.stable_mut_ptr().cast();
            r.msg.iov.iov_len = r.buf.bytes_total();
            let (name, _) = r.addr.as_out_ptrs();
            r.msg.hdr.msg_name = name.cast();
            r.msg.hdr.msg_namelen = RawAddr::CAPACITY;
            r.msg.hdr.msg_iov = &mut r.msg.iov;
            r.msg.hdr.msg_iovlen = 1;
            opcode::RecvMsg::new(r.fd.types_fd(), &mut r.msg.hdr).build()
        })
    };
    let (
        result,
        Resources {
            mut buf,
            mut addr,
            msg,
            ..
        },
    ) = op.await;
    match result {
        Ok(n) => {
            // SAFETY: the kernel wrote `n` bytes at the buffer's start.
            unsafe { buf.set_init(n as usize) };
            addr.set_len(msg.hdr.msg_namelen);
            (Ok((n as usize, addr)), buf)
        }
        Err(err) => (Err(err), buf),
    }
}

/// The epoll driver's path: `recvmsg(2)` retried on readiness.
async fn epoll<B: IoBufMut>(fd: &SharedFd, mut buf: B) -> (io::Result<(usize, RawAddr)>, B) {
    let mut addr = RawAddr::empty();
    let result = fd
        .ready(Direction::Read, |raw| {
            let mut iov = libc::iovec {
                iov_base: buf.stable_mut_ptr().cast(),
                iov_len: buf.bytes_total(),
            };
            let (name, _) = addr.as_out_ptrs();
            let mut msg = Msg::new();
            msg.hdr.msg_name = name.cast();
            msg.hdr.msg_namelen = RawAddr::CAPACITY;
            msg.hdr.msg_iov = &mut iov;
            msg.hdr.msg_iovlen = 1;
            let n = syscall!(recvmsg(raw, &mut msg.hdr, 0))?;
            addr.set_len(msg.hdr.msg_namelen);
            Ok(n as usize)
        })
        .await;
    match result {
        Ok(n) => {
            // SAFETY: `recvmsg` wrote `n` bytes at the buffer's start.
            unsafe { buf.set_init(n) };
            (Ok((n, addr)), buf)
        }
        Err(err) => (Err(err), buf),
    }
}
