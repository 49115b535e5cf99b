//! `rename`: moves a file or directory (`IORING_OP_RENAMEAT`).

use super::submit;
use crate::sys::syscall;
use ringwork_uring::io_uring::{opcode, types};
use ringwork_uring::Orphan;
use std::ffi::CString;
use std::io;

struct Resources {
    from: CString,
    to: CString,
}

/// Renames `from` to `to` (both relative to the current directory),
/// replacing `to` if it exists (as `rename(2)`).
pub(crate) async fn rename(from: CString, to: CString) -> io::Result<()> {
    if super::on_epoll() {
        return super::blocking(move || syscall!(rename(from.as_ptr(), to.as_ptr())).map(drop))
            .await;
    }
    let resources = Resources { from, to };
    // SAFETY: the SQE points to the two paths' heap bytes, owned by the
    // resources; `AT_FDCWD` is not a descriptor.
    let op = unsafe {
        submit(resources, Orphan::Drop, |r| {
            opcode::RenameAt::new(
                types::Fd(libc::AT_FDCWD),
                r.from.as_ptr(),
                types::Fd(libc::AT_FDCWD),
                r.to.as_ptr(),
            )
            .build()
        })
    };
    op.await.0.map(drop)
}
