//! `connect` a socket to an address (`IORING_OP_CONNECT`; on epoll a
//! non-blocking `connect(2)`, then `SO_ERROR` once writable).

use super::{run, EpollPath, OpCode, SharedFd};
use crate::sys::addr::RawAddr;
use crate::sys::socket;
use crate::sys::syscall;
use ringwork_epoll::Direction;
use ringwork_uring::io_uring::{opcode, squeue};
use std::io;

struct Connect {
    fd: SharedFd,
    addr: RawAddr,
    /// epoll: `connect(2)` was called and said `EINPROGRESS`.
    in_progress: bool,
}

// SAFETY: the SQE points to the address inside the operation, which holds
// the socket open.
unsafe impl OpCode for Connect {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        let (addr, len) = self.addr.as_ptr();
        opcode::Connect::new(self.fd.types_fd(), addr, len).build()
    }

    const FIXED_FILE: bool = true;

    fn epoll_path(&self) -> EpollPath {
        EpollPath::Ready(Direction::Write)
    }

    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        let raw = self.fd.raw();
        if !self.in_progress {
            let (ptr, len) = self.addr.as_ptr();
            return match syscall!(connect(raw, ptr, len)) {
                Ok(_) => Ok(0),
                Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {
                    self.in_progress = true;
                    Err(io::ErrorKind::WouldBlock.into())
                }
                Err(err) => Err(err),
            };
        }
        // In progress: writable means decided; SO_ERROR says how.
        if let Some(err) = socket::take_error(raw)? {
            return Err(err);
        }
        match socket::peer_addr(raw) {
            Ok(_) => Ok(0),
            Err(err) if err.raw_os_error() == Some(libc::ENOTCONN) => {
                Err(io::ErrorKind::WouldBlock.into())
            }
            Err(err) => Err(err),
        }
    }

    fn complete(self, result: io::Result<u32>) -> Self::Output {
        result.map(drop)
    }
}

/// Connects `fd` to `addr`.
pub(crate) async fn connect(fd: &SharedFd, addr: RawAddr) -> io::Result<()> {
    run(Connect {
        fd: fd.clone(),
        addr,
        in_progress: false,
    })
    .await
}
