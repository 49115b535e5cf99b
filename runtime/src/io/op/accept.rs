//! `accept` a connection: a new non-blocking, close-on-exec socket
//! (`IORING_OP_ACCEPT`; `accept4(2)` on readiness).
//!
//! Cancel safe on both drivers: a connection a dropped accept got is kept
//! in the listener's stash and handed to the next accept (closed only if
//! the listener is dropped first).

use super::{run, EpollPath, OpCode, SharedFd};
use crate::io::stash::{self, Stashed};
use crate::sys::addr::RawAddr;
use crate::sys::syscall;
use ringwork_epoll::Direction;
use ringwork_uring::io_uring::{opcode, squeue};
use ringwork_uring::Features;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

const FLAGS: libc::c_int = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;

struct Accept {
    fd: SharedFd,
    addr: RawAddr,
}

impl Accept {
    /// A successful result: the new descriptor, now ours.
    fn take(&mut self, fd: u32) -> (OwnedFd, RawAddr) {
        // SAFETY: a successful accept returns a new descriptor nobody else
        // owns.
        (unsafe { OwnedFd::from_raw_fd(fd as i32) }, self.addr)
    }
}

// SAFETY: the SQE points to the address storage and its length, both inside
// the operation, which holds the listener open.
unsafe impl OpCode for Accept {
    type Output = io::Result<(OwnedFd, RawAddr)>;

    fn sqe(&mut self) -> squeue::Entry {
        let (addr, len) = self.addr.as_out_ptrs();
        opcode::Accept::new(self.fd.types_fd(), addr, len)
            .flags(FLAGS)
            .build()
    }

    /// A non-blocking `accept4(2)` first: when connections are queued (a
    /// burst), an accept loop drains the queue with one syscall each, as on
    /// epoll, instead of one ring round trip per connection. With one
    /// `ACCEPT` in flight at a time, a burst of 10,000 loopback connects
    /// overflowed the 1024-entry queue while the ring trickled them out:
    /// the kernel dropped SYNs (`ListenOverflows`), and clients waited out
    /// 1 s and 3 s SYN retransmits (2–3 s for the burst vs 0.25 s on epoll).
    /// Only an empty queue (`EAGAIN`) costs the extra syscall.
    fn try_before_submit(&mut self, _: &Features) -> Option<io::Result<u32>> {
        match self.attempt() {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => None,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => None,
            other => Some(other),
        }
    }

    fn epoll_path(&self) -> EpollPath {
        EpollPath::Ready(Direction::Read)
    }

    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        let (ptr, len) = self.addr.as_out_ptrs();
        syscall!(accept4(self.fd.raw(), ptr, len, FLAGS)).map(|fd| fd as u32)
    }

    fn complete(mut self, result: io::Result<u32>) -> Self::Output {
        Ok(self.take(result?))
    }

    fn stash_owner(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn orphaned(mut self, result: io::Result<u32>) {
        // Errors of an accept concern that attempt only (a connection
        // aborted before it was accepted, descriptors exhausted): not news.
        let delivered = result.ok().map(|fd| {
            let (fd, peer) = self.take(fd);
            Stashed::Connection { fd, peer }
        });
        self.fd.stash().resolve(delivered);
    }
}

/// Accepts one connection; returns the new socket and the peer's address.
/// A connection accepted for a dropped accept comes first.
pub(crate) async fn accept(fd: &SharedFd) -> io::Result<(OwnedFd, RawAddr)> {
    if let Some(accepted) = fd.take_stashed(stash::take_connection).await {
        return Ok(accepted);
    }
    run(Accept {
        fd: fd.clone(),
        addr: RawAddr::empty(),
    })
    .await
}
