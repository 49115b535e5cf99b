//! `open`: opens a file relative to the current directory
//! (`IORING_OP_OPENAT`), always close-on-exec.

use super::submit;
use crate::sys::syscall;
use ringwork_uring::io_uring::{opcode, types};
use ringwork_uring::Orphan;
use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

struct Resources {
    path: CString,
}

/// Opens `path` with `flags` (`O_CLOEXEC` is always added) and `mode` (for
/// files it creates). If the future is dropped after the kernel opened the
/// file, the new descriptor is closed (`Orphan::CloseFd`), so none leaks.
pub(crate) async fn open(
    path: CString,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    if super::on_epoll() {
        return epoll(path, flags, mode).await;
    }
    let resources = Resources { path };
    // SAFETY: the SQE points to the path's heap bytes, owned by the
    // resources; `AT_FDCWD` names the current directory, not a descriptor
    // that could be closed under the operation.
    let op = unsafe {
        submit(resources, Orphan::CloseFd, |r| {
            opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), r.path.as_ptr())
                .flags(flags | libc::O_CLOEXEC)
                .mode(mode)
                .build()
        })
    };
    let fd = op.await.0?;
    // SAFETY: a successful openat returns a new descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The epoll driver's path: `open(2)` on the blocking pool. (If the future
/// is dropped meanwhile, the job's `OwnedFd` is dropped with its result.)
async fn epoll(path: CString, flags: libc::c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
    super::blocking(move || {
        let fd = syscall!(open(
            path.as_ptr(),
            flags | libc::O_CLOEXEC,
            libc::c_uint::from(mode)
        ))?;
        // SAFETY: `open` returned a new descriptor that we own.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    })
    .await
}
