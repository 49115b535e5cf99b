//! `recv_from`: receives one datagram and its sender's address
//! (`IORING_OP_RECVMSG`; `recvmsg(2)` on readiness).
//!
//! Cancel safe on both drivers: a datagram a dropped receive got is kept,
//! with its sender, in the socket's stash and returned by the next one.

use super::sendmsg::Msg;
use super::{run, transfer_len, zero_capacity, EpollPath, OpCode, SharedFd};
use crate::buf::{capacity_mut, IoBufMut};
use crate::io::op::recv::received;
use crate::io::stash::{self, Stashed};
use crate::sys::addr::RawAddr;
use crate::sys::syscall;
use ringwork_epoll::Direction;
use ringwork_uring::io_uring::{opcode, squeue};
use std::io;

struct RecvFrom<B> {
    fd: SharedFd,
    buf: B,
    addr: RawAddr,
    msg: Msg,
}

impl<B: IoBufMut> RecvFrom<B> {
    /// Points the header at the iovec, the address storage and the buffer
    /// (called where the operation stays: in its slot, or on this stack for
    /// the epoll syscall).
    fn prepare(&mut self) {
        self.msg.iov.iov_base = self.buf.stable_mut_ptr().cast();
        self.msg.iov.iov_len = transfer_len(self.buf.bytes_total());
        let (name, _) = self.addr.as_out_ptrs();
        self.msg.hdr.msg_name = name.cast();
        self.msg.hdr.msg_namelen = RawAddr::CAPACITY;
        self.msg.hdr.msg_iov = &mut self.msg.iov;
        self.msg.hdr.msg_iovlen = 1;
    }
}

// SAFETY: the SQE points to the message header, which points to the iovec,
// the address storage and the buffer's stable storage — all owned by the
// operation, which the driver does not move after `sqe` (the pointers are
// taken there). The operation holds the socket open.
unsafe impl<B: IoBufMut> OpCode for RecvFrom<B> {
    type Output = (io::Result<(usize, RawAddr)>, B);

    fn sqe(&mut self) -> squeue::Entry {
        self.prepare();
        opcode::RecvMsg::new(self.fd.types_fd(), &mut self.msg.hdr).build()
    }

    const FIXED_FILE: bool = true;

    fn epoll_path(&self) -> EpollPath {
        EpollPath::Ready(Direction::Read)
    }

    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        self.prepare();
        syscall!(recvmsg(self.fd.raw(), &mut self.msg.hdr, 0)).map(|n| n as u32)
    }

    fn complete(mut self, result: io::Result<u32>) -> Self::Output {
        match result {
            Ok(n) => {
                // SAFETY: the kernel wrote `n` bytes at the buffer's start.
                unsafe { self.buf.set_init(n as usize) };
                self.addr.set_len(self.msg.hdr.msg_namelen);
                (Ok((n as usize, self.addr)), self.buf)
            }
            Err(err) => (Err(err), self.buf),
        }
    }

    fn stash_owner(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn orphaned(mut self, result: io::Result<u32>) {
        let delivered = match result {
            Ok(n) => {
                self.addr.set_len(self.msg.hdr.msg_namelen);
                Some(Stashed::Datagram {
                    // SAFETY: the kernel wrote `n` bytes at the buffer's start.
                    data: unsafe { received(&self.buf, n as usize) },
                    from: self.addr,
                })
            }
            Err(err) => stash::is_news(&err).then_some(Stashed::Error(err)),
        };
        self.fd.stash().resolve(delivered);
    }
}

/// Receives one datagram into `buf` (up to `buf.bytes_total()` bytes; the
/// rest of a longer datagram is discarded, as with `recvfrom(2)`); returns
/// the byte count and the sender's address. A zero-capacity buffer is
/// `InvalidInput`. Also the `recv` of datagram sockets (which drops the
/// address), so that every stashed datagram keeps its sender.
pub(crate) async fn recv_from<B: IoBufMut>(
    fd: &SharedFd,
    mut buf: B,
) -> (io::Result<(usize, RawAddr)>, B) {
    if buf.bytes_total() == 0 {
        return (Err(zero_capacity()), buf);
    }
    let stashed = fd
        .take_stashed(|items| stash::take_datagram(items, capacity_mut(&mut buf)))
        .await;
    match stashed {
        Some(Ok((n, from))) => {
            // SAFETY: the stash copied `n` bytes to the buffer's start.
            unsafe { buf.set_init(n) };
            (Ok((n, from)), buf)
        }
        Some(Err(err)) => (Err(err), buf),
        None => {
            run(RecvFrom {
                fd: fd.clone(),
                buf,
                addr: RawAddr::empty(),
                msg: Msg::new(),
            })
            .await
        }
    }
}
