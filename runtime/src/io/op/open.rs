//! `open`: opens a file relative to the current directory
//! (`IORING_OP_OPENAT`), always close-on-exec.

use super::{run, EpollPath, OpCode, SharedFd};
use crate::sys::syscall;
use ringwork_uring::io_uring::{opcode, squeue, types};
use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

struct Open {
    path: CString,
    flags: libc::c_int,
    mode: libc::mode_t,
}

/// A successful result: the new descriptor, now ours.
fn owned(fd: u32) -> OwnedFd {
    // SAFETY: a successful open returns a new descriptor nobody else owns.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

// SAFETY: the SQE points to the path's heap bytes, owned by the operation;
// `AT_FDCWD` names the current directory, not a descriptor that could be
// closed under the operation.
unsafe impl OpCode for Open {
    type Output = io::Result<OwnedFd>;

    /// Always from the kernel's worker pool (`IOSQE_ASYNC`), as `open(2)`
    /// runs on the blocking pool under epoll: the inline attempt io_uring
    /// makes first adds `O_NONBLOCK`, which changes what opening a FIFO
    /// means (the write end fails with `ENXIO` instead of waiting for a
    /// reader; the read end does not wait for a writer). Regular files
    /// opened with `O_CREAT`/`O_TRUNC` go there anyway.
    fn sqe(&mut self) -> squeue::Entry {
        opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .flags(self.flags | libc::O_CLOEXEC)
            .mode(self.mode)
            .build()
            .flags(squeue::Flags::ASYNC)
    }

    fn epoll_path(&self) -> EpollPath {
        EpollPath::Blocking
    }

    fn fd(&self) -> Option<&SharedFd> {
        None
    }

    fn attempt(&mut self) -> io::Result<u32> {
        let mode = libc::c_uint::from(self.mode);
        syscall!(open(self.path.as_ptr(), self.flags | libc::O_CLOEXEC, mode)).map(|fd| fd as u32)
    }

    fn complete(self, result: io::Result<u32>) -> Self::Output {
        result.map(owned)
    }

    /// Nobody will use the file: close it, so no descriptor leaks.
    fn orphaned(self, result: io::Result<u32>) {
        drop(result.map(owned));
    }
}

/// Opens `path` with `flags` (`O_CLOEXEC` is always added) and `mode` (for
/// files it creates). If the future is dropped after the kernel opened the
/// file, the new descriptor is closed, so none leaks.
pub(crate) async fn open(
    path: CString,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    run(Open { path, flags, mode }).await
}
