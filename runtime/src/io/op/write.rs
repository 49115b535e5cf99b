//! `write` an owned buffer to a file, at an offset (`pwrite` style) or at
//! the file position (`write` style) (`IORING_OP_WRITE`; on epoll
//! `pwrite(2)`/`write(2)` on the blocking pool, or `write(2)` on readiness
//! for pipes, FIFOs and terminals).
//!
//! A dropped write may have written a prefix of the buffer (and, at the file
//! position, moved it): use the returned count.

use super::poll::{poll, Interest};
use super::read::check_positional;
use super::{run, short, sqe_len, transfer_len, EpollPath, OpCode, SharedFd};
use crate::buf::IoBuf;
use crate::io::fd::FileKind;
use crate::sys::syscall;
use ringwork_epoll::Direction;
use ringwork_uring::io_uring::{opcode, squeue};
use std::io;

struct Write<B> {
    fd: SharedFd,
    buf: B,
    /// `None`: at the file position (or the end, in append mode).
    offset: Option<u64>,
}

// SAFETY: the SQE points into the buffer's stable storage (`bytes_init`
// initialized bytes), owned by the operation, which holds the file open.
unsafe impl<B: IoBuf> OpCode for Write<B> {
    type Output = (io::Result<usize>, B);

    fn sqe(&mut self) -> squeue::Entry {
        let len = sqe_len(short(self.buf.bytes_init()));
        opcode::Write::new(self.fd.types_fd(), self.buf.stable_ptr(), len)
            .offset(self.offset.unwrap_or(u64::MAX))
            .build()
    }

    fn epoll_path(&self) -> EpollPath {
        match (self.offset, self.fd.file_kind()) {
            (None, FileKind::Pollable) => EpollPath::Ready(Direction::Write),
            _ => EpollPath::Blocking,
        }
    }

    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        let (raw, ptr, len) = (
            self.fd.raw(),
            self.buf.stable_ptr().cast(),
            transfer_len(short(self.buf.bytes_init())),
        );
        match self.offset {
            Some(offset) => syscall!(pwrite(raw, ptr, len, offset as libc::off_t)),
            None => syscall!(write(raw, ptr, len)),
        }
        .map(|n| n as u32)
    }

    fn complete(self, result: io::Result<u32>) -> Self::Output {
        (result.map(|n| n as usize), self.buf)
    }
}

/// Writes up to `buf.bytes_init()` bytes at `offset` (the file position is
/// neither used nor moved; a file opened in append mode appends whatever
/// the offset); returns how many were written. Offsets above `i64::MAX`
/// are `InvalidInput`; a file that cannot seek is `ESPIPE`.
pub(crate) async fn write_at<B: IoBuf>(
    fd: &SharedFd,
    buf: B,
    offset: u64,
) -> (io::Result<usize>, B) {
    if let Err(err) = check_positional(fd, offset) {
        return (Err(err), buf);
    }
    run(Write {
        fd: fd.clone(),
        buf,
        offset: Some(offset),
    })
    .await
}

/// Writes up to `buf.bytes_init()` bytes at the file position and moves it.
pub(crate) async fn write<B: IoBuf>(fd: &SharedFd, mut buf: B) -> (io::Result<usize>, B) {
    loop {
        let (result, back) = run(Write {
            fd: fd.clone(),
            buf,
            offset: None,
        })
        .await;
        buf = back;
        match result {
            // io_uring hands `EAGAIN` back for a descriptor in non-blocking
            // mode: wait until writable.
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                if let Err(err) = poll(fd, Interest::Write).await {
                    return (Err(err), buf);
                }
            }
            other => return (other, buf),
        }
    }
}
