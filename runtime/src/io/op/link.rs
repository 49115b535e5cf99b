//! `link`: makes a new name for a file, symbolic (`IORING_OP_SYMLINKAT`) or
//! hard (`IORING_OP_LINKAT`).

use super::{run, EpollPath, OpCode, SharedFd};
use crate::sys::syscall;
use ringwork_uring::io_uring::{opcode, squeue, types};
use std::ffi::CString;
use std::io;

/// Which kind of link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinkKind {
    /// `link` is a symbolic link whose content is `original` (which need
    /// not exist).
    Symbolic,
    /// `link` is another name for the inode `original` names (a symbolic
    /// link there is not followed, as `link(2)` on Linux).
    Hard,
}

struct Link {
    original: CString,
    link: CString,
    kind: LinkKind,
}

// SAFETY: the SQE points to the two paths' heap bytes, owned by the
// operation; `AT_FDCWD` is not a descriptor.
unsafe impl OpCode for Link {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        let cwd = types::Fd(libc::AT_FDCWD);
        match self.kind {
            LinkKind::Symbolic => {
                opcode::SymlinkAt::new(cwd, self.original.as_ptr(), self.link.as_ptr()).build()
            }
            LinkKind::Hard => {
                opcode::LinkAt::new(cwd, self.original.as_ptr(), cwd, self.link.as_ptr()).build()
            }
        }
    }

    fn epoll_path(&self) -> EpollPath {
        EpollPath::Blocking
    }

    fn fd(&self) -> Option<&SharedFd> {
        None
    }

    fn attempt(&mut self) -> io::Result<u32> {
        match self.kind {
            LinkKind::Symbolic => syscall!(symlink(self.original.as_ptr(), self.link.as_ptr())),
            LinkKind::Hard => syscall!(link(self.original.as_ptr(), self.link.as_ptr())),
        }
        .map(|_| 0)
    }

    fn complete(self, result: io::Result<u32>) -> Self::Output {
        result.map(drop)
    }
}

/// Creates `link` (relative to the current directory) pointing at
/// `original`; an existing `link` is `AlreadyExists`.
pub(crate) async fn link(original: CString, link: CString, kind: LinkKind) -> io::Result<()> {
    run(Link {
        original,
        link,
        kind,
    })
    .await
}
