//! `read_at`: reads from a file at an offset into an owned buffer
//! (`IORING_OP_READ`).

use super::{submit, SharedFd};
use crate::buf::IoBufMut;
use crate::sys::syscall;
use ringwork_uring::io_uring::opcode;
use ringwork_uring::Orphan;
use std::io;

struct Resources<B> {
    fd: SharedFd,
    buf: B,
}

/// Reads up to `buf.bytes_total()` bytes at `offset` (the file position is
/// neither used nor moved); `Ok(0)` is end-of-file. Offsets above
/// `i64::MAX` are `InvalidInput` (io_uring reads `-1` as "the file
/// position").
pub(crate) async fn read_at<B: IoBufMut>(
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
            let len = u32::try_from(r.buf.bytes_total()).unwrap_or(u32::MAX);
            opcode::Read::new(r.fd.types_fd(), r.buf.stable_mut_ptr(), len)
                .offset(offset)
                .build()
        })
    };
    let (result, Resources { mut buf, .. }) = op.await;
    match result {
        Ok(n) => {
            // SAFETY: the kernel wrote `n` bytes at the buffer's start.
            unsafe { buf.set_init(n as usize) };
            (Ok(n as usize), buf)
        }
        Err(err) => (Err(err), buf),
    }
}

/// The epoll driver's path: `pread(2)` on the blocking pool.
async fn epoll<B: IoBufMut>(fd: &SharedFd, buf: B, offset: u64) -> (io::Result<usize>, B) {
    let fd = fd.clone();
    super::blocking_with(buf, move |buf| {
        let n = syscall!(pread(
            fd.raw(),
            buf.stable_mut_ptr().cast(),
            buf.bytes_total(),
            offset as libc::off_t
        ))? as usize;
        // SAFETY: `pread` wrote `n` bytes at the buffer's start.
        unsafe { buf.set_init(n) };
        Ok(n)
    })
    .await
}

/// Positioned I/O takes offsets the kernel accepts as `loff_t`.
pub(crate) fn check_offset(offset: u64) -> io::Result<()> {
    if offset > i64::MAX as u64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "file offset larger than i64::MAX",
        ));
    }
    Ok(())
}
