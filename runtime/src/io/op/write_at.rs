//! `write_at`: writes an owned buffer to a file at an offset
//! (`IORING_OP_WRITE`).

use super::read_at::check_offset;
use super::{submit, SharedFd};
use crate::buf::IoBuf;
use crate::sys::syscall;
use ringwork_uring::io_uring::opcode;
use ringwork_uring::Orphan;
use std::io;

struct Resources<B> {
    fd: SharedFd,
    buf: B,
}

/// Writes up to `buf.bytes_init()` bytes at `offset` (the file position is
/// neither used nor moved; a file opened in append mode appends whatever
/// the offset); returns how many were written. Offsets above `i64::MAX`
/// are `InvalidInput`.
pub(crate) async fn write_at<B: IoBuf>(
    fd: &SharedFd,
    buf: B,
    offset: u64,
) -> (io::Result<usize>, B) {
    if let Err(err) = check_offset(offset) {
        return (Err(err), buf);
    }
    if super::on_epoll() {
        return epoll(fd, buf, offset).await;
    }
    let resources = Resources {
        fd: fd.clone(),
        buf,
    };
    // SAFETY: the SQE points into the buffer's stable storage, which the
    // resources own; the resources hold the descriptor open.
    let op = unsafe {
        submit(resources, Orphan::Drop, |r| {
            let len = u32::try_from(r.buf.bytes_init()).unwrap_or(u32::MAX);
            opcode::Write::new(r.fd.types_fd(), r.buf.stable_ptr(), len)
                .offset(offset)
                .build()
        })
    };
    let (result, Resources { buf, .. }) = op.await;
    (result.map(|n| n as usize), buf)
}

/// The epoll driver's path: `pwrite(2)` on the blocking pool.
async fn epoll<B: IoBuf>(fd: &SharedFd, buf: B, offset: u64) -> (io::Result<usize>, B) {
    let fd = fd.clone();
    super::blocking_with(buf, move |buf| {
        syscall!(pwrite(
            fd.raw(),
            buf.stable_ptr().cast(),
            buf.bytes_init(),
            offset as libc::off_t
        ))
        .map(|n| n as usize)
    })
    .await
}
