//! `unlink`: removes a file or an empty directory (`IORING_OP_UNLINKAT`).

use super::submit;
use crate::sys::syscall;
use ringwork_uring::io_uring::{opcode, types};
use ringwork_uring::Orphan;
use std::ffi::CString;
use std::io;

struct Resources {
    path: CString,
}

/// Removes `path` (relative to the current directory): a non-directory, or
/// with `dir` an empty directory (`AT_REMOVEDIR`).
pub(crate) async fn unlink(path: CString, dir: bool) -> io::Result<()> {
    if super::on_epoll() {
        return super::blocking(move || {
            if dir {
                syscall!(rmdir(path.as_ptr())).map(drop)
            } else {
                syscall!(unlink(path.as_ptr())).map(drop)
            }
        })
        .await;
    }
    let resources = Resources { path };
    let flags = if dir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: the SQE points to the path's heap bytes, owned by the
    // resources; `AT_FDCWD` is not a descriptor.
    let op = unsafe {
        submit(resources, Orphan::Drop, |r| {
            opcode::UnlinkAt::new(types::Fd(libc::AT_FDCWD), r.path.as_ptr())
                .flags(flags)
                .build()
        })
    };
    op.await.0.map(drop)
}
