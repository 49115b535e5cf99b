//! `fsync`: flushes a file to its storage (`IORING_OP_FSYNC`, optionally
//! with `IORING_FSYNC_DATASYNC`).

use super::{submit, SharedFd};
use crate::sys::syscall;
use ringwork_uring::io_uring::{opcode, types};
use ringwork_uring::Orphan;
use std::io;

struct Resources {
    fd: SharedFd,
}

/// Flushes the file's data and metadata, or, with `data_only`, its data and
/// only the metadata needed to read it back (`fdatasync`).
pub(crate) async fn fsync(fd: &SharedFd, data_only: bool) -> io::Result<()> {
    if super::on_epoll() {
        let fd = fd.clone();
        return super::blocking(move || {
            if data_only {
                syscall!(fdatasync(fd.raw())).map(drop)
            } else {
                syscall!(fsync(fd.raw())).map(drop)
            }
        })
        .await;
    }
    let resources = Resources { fd: fd.clone() };
    let flags = if data_only {
        types::FsyncFlags::DATASYNC
    } else {
        types::FsyncFlags::empty()
    };
    // SAFETY: the SQE points to no memory; the resources hold the
    // descriptor open.
    let op = unsafe {
        submit(resources, Orphan::Drop, |r| {
            opcode::Fsync::new(r.fd.types_fd()).flags(flags).build()
        })
    };
    op.await.0.map(drop)
}
