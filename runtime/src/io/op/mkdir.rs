//! `mkdir`: creates a directory (`IORING_OP_MKDIRAT`).

use super::{run, EpollPath, OpCode, SharedFd};
use crate::sys::syscall;
use ringwork_uring::io_uring::{opcode, squeue, types};
use std::ffi::CString;
use std::io;

struct MkDir {
    path: CString,
    mode: libc::mode_t,
}

// SAFETY: the SQE points to the path's heap bytes, owned by the operation;
// `AT_FDCWD` is not a descriptor.
unsafe impl OpCode for MkDir {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::MkDirAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .mode(self.mode)
            .build()
    }

    fn epoll_path(&self) -> EpollPath {
        EpollPath::Blocking
    }

    fn fd(&self) -> Option<&SharedFd> {
        None
    }

    fn attempt(&mut self) -> io::Result<u32> {
        syscall!(mkdir(self.path.as_ptr(), self.mode)).map(|_| 0)
    }

    fn complete(self, result: io::Result<u32>) -> Self::Output {
        result.map(drop)
    }
}

/// Creates the directory `path` (relative to the current directory) with
/// `mode` (less the umask).
pub(crate) async fn mkdir(path: CString, mode: libc::mode_t) -> io::Result<()> {
    run(MkDir { path, mode }).await
}
