//! `fsync`: flushes a file to its storage (`IORING_OP_FSYNC`, optionally
//! with `IORING_FSYNC_DATASYNC`).

use super::{run, EpollPath, OpCode, SharedFd};
use crate::sys::syscall;
use ringwork_uring::io_uring::{opcode, squeue, types};
use std::io;

struct Fsync {
    fd: SharedFd,
    data_only: bool,
}

// SAFETY: the SQE points to no memory; the operation holds the descriptor
// open.
unsafe impl OpCode for Fsync {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        let flags = if self.data_only {
            types::FsyncFlags::DATASYNC
        } else {
            types::FsyncFlags::empty()
        };
        opcode::Fsync::new(self.fd.types_fd()).flags(flags).build()
    }

    fn epoll_path(&self) -> EpollPath {
        EpollPath::Blocking
    }

    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        if self.data_only {
            syscall!(fdatasync(self.fd.raw())).map(|_| 0)
        } else {
            syscall!(fsync(self.fd.raw())).map(|_| 0)
        }
    }

    fn complete(self, result: io::Result<u32>) -> Self::Output {
        result.map(drop)
    }
}

/// Flushes the file's data and metadata, or, with `data_only`, its data and
/// only the metadata needed to read it back (`fdatasync`).
pub(crate) async fn fsync(fd: &SharedFd, data_only: bool) -> io::Result<()> {
    run(Fsync {
        fd: fd.clone(),
        data_only,
    })
    .await
}
