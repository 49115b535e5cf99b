//! `statx`: a file's metadata, by open descriptor or by path
//! (`IORING_OP_STATX`).

use super::{run, EpollPath, OpCode, SharedFd};
use crate::sys::syscall;
use ringwork_uring::io_uring::{opcode, squeue, types};
use std::ffi::CString;
use std::io;
use std::mem;

struct Statx {
    /// The directory (or, with `AT_EMPTY_PATH`, the file itself) the path is
    /// relative to; `None` for the current directory.
    dir: Option<SharedFd>,
    path: CString,
    flags: libc::c_int,
    statx: libc::statx,
}

/// What is asked for: the basic `stat` fields and the birth time.
const MASK: u32 = libc::STATX_BASIC_STATS | libc::STATX_BTIME;

impl Statx {
    fn dirfd(&self) -> libc::c_int {
        self.dir.as_ref().map_or(libc::AT_FDCWD, SharedFd::raw)
    }
}

// SAFETY: the SQE points to the path's heap bytes and to the statx buffer,
// both owned by the operation (which never moves once submitted); the
// operation holds the directory descriptor open (`AT_FDCWD` is not a
// descriptor).
unsafe impl OpCode for Statx {
    type Output = io::Result<libc::statx>;

    fn sqe(&mut self) -> squeue::Entry {
        let buf: *mut libc::statx = &mut self.statx;
        opcode::Statx::new(
            types::Fd(self.dirfd()),
            self.path.as_ptr(),
            buf.cast::<types::statx>(),
        )
        .flags(self.flags | libc::AT_STATX_SYNC_AS_STAT)
        .mask(MASK)
        .build()
    }

    fn epoll_path(&self) -> EpollPath {
        EpollPath::Blocking
    }

    fn fd(&self) -> Option<&SharedFd> {
        self.dir.as_ref()
    }

    fn attempt(&mut self) -> io::Result<u32> {
        let (dirfd, path, flags) = (self.dirfd(), self.path.as_ptr(), self.flags);
        syscall!(statx(dirfd, path, flags, MASK, &mut self.statx)).map(|_| 0)
    }

    fn complete(self, result: io::Result<u32>) -> Self::Output {
        result.map(|_| self.statx)
    }
}

/// Metadata of the open file `fd` (`AT_EMPTY_PATH`).
pub(crate) async fn statx_fd(fd: &SharedFd) -> io::Result<libc::statx> {
    statx(Some(fd.clone()), CString::default(), libc::AT_EMPTY_PATH).await
}

/// Metadata of `path` (relative to the current directory); symbolic links
/// are followed unless `follow` is false.
pub(crate) async fn statx_path(path: CString, follow: bool) -> io::Result<libc::statx> {
    let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    statx(None, path, flags).await
}

async fn statx(
    dir: Option<SharedFd>,
    path: CString,
    flags: libc::c_int,
) -> io::Result<libc::statx> {
    run(Statx {
        dir,
        path,
        flags,
        // SAFETY: `statx` is plain integers; all-zero bytes are valid.
        statx: unsafe { mem::zeroed() },
    })
    .await
}
