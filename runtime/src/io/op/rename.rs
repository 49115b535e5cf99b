//! `rename`: moves a file or directory (`IORING_OP_RENAMEAT`).

use super::{run, EpollPath, OpCode, SharedFd};
use crate::sys::syscall;
use ringwork_uring::io_uring::{opcode, squeue, types};
use std::ffi::CString;
use std::io;

struct Rename {
    from: CString,
    to: CString,
}

// SAFETY: the SQE points to the two paths' heap bytes, owned by the
// operation; `AT_FDCWD` is not a descriptor.
unsafe impl OpCode for Rename {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        let cwd = types::Fd(libc::AT_FDCWD);
        opcode::RenameAt::new(cwd, self.from.as_ptr(), cwd, self.to.as_ptr()).build()
    }

    fn epoll_path(&self) -> EpollPath {
        EpollPath::Blocking
    }

    fn fd(&self) -> Option<&SharedFd> {
        None
    }

    fn attempt(&mut self) -> io::Result<u32> {
        syscall!(rename(self.from.as_ptr(), self.to.as_ptr())).map(|_| 0)
    }

    fn complete(self, result: io::Result<u32>) -> Self::Output {
        result.map(drop)
    }
}

/// Renames `from` to `to` (relative to the current directory), replacing
/// `to` if it exists.
pub(crate) async fn rename(from: CString, to: CString) -> io::Result<()> {
    run(Rename { from, to }).await
}
