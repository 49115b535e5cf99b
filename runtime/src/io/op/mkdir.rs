//! `mkdir`: creates a directory (`IORING_OP_MKDIRAT`).

use super::submit;
use crate::sys::syscall;
use ringwork_uring::io_uring::{opcode, types};
use ringwork_uring::Orphan;
use std::ffi::CString;
use std::io;

struct Resources {
    path: CString,
}

/// Creates the directory `path` (relative to the current directory) with
/// `mode` (less the umask).
pub(crate) async fn mkdir(path: CString, mode: libc::mode_t) -> io::Result<()> {
    if super::on_epoll() {
        return super::blocking(move || syscall!(mkdir(path.as_ptr(), mode)).map(drop)).await;
    }
    let resources = Resources { path };
    // SAFETY: the SQE points to the path's heap bytes, owned by the
    // resources; `AT_FDCWD` is not a descriptor.
    let op = unsafe {
        submit(resources, Orphan::Drop, |r| {
            opcode::MkDirAt::new(types::Fd(libc::AT_FDCWD), r.path.as_ptr())
                .mode(mode)
                .build()
        })
    };
    op.await.0.map(drop)
}
