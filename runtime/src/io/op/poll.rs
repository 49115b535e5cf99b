//! `poll`: waits until a descriptor is readable or writable
//! (`IORING_OP_POLL_ADD`; readiness on epoll). For descriptors io_uring
//! does not wait on by itself: a pipe in non-blocking mode makes `READ`
//! and `WRITE` complete with `EAGAIN`.

use super::{run, EpollPath, OpCode, SharedFd};
use crate::sys::syscall;
use ringwork_epoll::Direction;
use ringwork_uring::io_uring::{opcode, squeue};
use std::io;

/// What to wait for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interest {
    Read,
    Write,
}

struct Poll {
    fd: SharedFd,
    interest: Interest,
}

// SAFETY: the SQE points to no memory; the operation holds the descriptor
// open.
unsafe impl OpCode for Poll {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        let events = match self.interest {
            Interest::Read => libc::POLLIN,
            Interest::Write => libc::POLLOUT,
        };
        opcode::PollAdd::new(self.fd.types_fd(), events as u32).build()
    }

    const FIXED_FILE: bool = true;

    fn epoll_path(&self) -> EpollPath {
        EpollPath::Ready(match self.interest {
            Interest::Read => Direction::Read,
            Interest::Write => Direction::Write,
        })
    }

    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        // Readiness was reported, but the driver's record of it may be
        // stale: a syscall of the caller's own (a non-blocking `recv` that
        // got `EAGAIN`, say) does not clear it. Ask the kernel, without
        // waiting; `WouldBlock` makes the driver forget the event and wait
        // for the next one, instead of reporting readiness that is gone
        // (which made a caller that polls, tries and polls again spin).
        let events = match self.interest {
            Interest::Read => libc::POLLIN,
            Interest::Write => libc::POLLOUT,
        };
        let mut pollfd = libc::pollfd {
            fd: self.fd.raw(),
            events,
            revents: 0,
        };
        match syscall!(poll(&mut pollfd, 1, 0))? {
            0 => Err(io::ErrorKind::WouldBlock.into()),
            // Ready, or an error or hang-up that the caller's next syscall
            // reports.
            _ => Ok(0),
        }
    }

    fn complete(self, result: io::Result<u32>) -> Self::Output {
        result.map(drop)
    }
}

/// Waits until `fd` is ready for `interest` (or has an error or hang-up,
/// which the next syscall reports).
pub(crate) async fn poll(fd: &SharedFd, interest: Interest) -> io::Result<()> {
    run(Poll {
        fd: fd.clone(),
        interest,
    })
    .await
}
