//! `unlink`: removes a file or an empty directory (`IORING_OP_UNLINKAT`).

use super::{run, EpollPath, OpCode, SharedFd};
use crate::sys::syscall;
use ringwork_uring::io_uring::{opcode, squeue, types};
use std::ffi::CString;
use std::io;

struct Unlink {
    path: CString,
    dir: bool,
}

// SAFETY: the SQE points to the path's heap bytes, owned by the operation;
// `AT_FDCWD` is not a descriptor.
unsafe impl OpCode for Unlink {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        let flags = if self.dir { libc::AT_REMOVEDIR } else { 0 };
        opcode::UnlinkAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .flags(flags)
            .build()
    }

    fn epoll_path(&self) -> EpollPath {
        EpollPath::Blocking
    }

    fn fd(&self) -> Option<&SharedFd> {
        None
    }

    fn attempt(&mut self) -> io::Result<u32> {
        if self.dir {
            syscall!(rmdir(self.path.as_ptr())).map(|_| 0)
        } else {
            syscall!(unlink(self.path.as_ptr())).map(|_| 0)
        }
    }

    fn complete(self, result: io::Result<u32>) -> Self::Output {
        result.map(drop)
    }
}

/// Removes the file (or, with `dir`, the empty directory) `path`.
pub(crate) async fn unlink(path: CString, dir: bool) -> io::Result<()> {
    run(Unlink { path, dir }).await
}
