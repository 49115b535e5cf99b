//! `read` from a file into an owned buffer, at an offset (`pread` style) or
//! at the file position (`read` style) (`IORING_OP_READ`; on epoll
//! `pread(2)`/`read(2)` on the blocking pool for what epoll cannot watch,
//! `read(2)` on readiness for pipes, FIFOs and terminals).
//!
//! Sequential reads are cancel safe like socket receives: what a dropped
//! read got is kept in the file's stash for the next sequential read.
//! Positional reads have nothing to lose (the next read names its offset).

use super::poll::{poll, Interest};
use super::{run, short, sqe_len, transfer_len, zero_capacity, EpollPath, OpCode, SharedFd};
use crate::buf::{capacity_mut, IoBufMut};
use crate::io::fd::FileKind;
use crate::io::op::recv::received;
use crate::io::stash::{self, Stashed};
use crate::sys::syscall;
use ringwork_epoll::Direction;
use ringwork_uring::io_uring::{opcode, squeue};
use std::io;

struct Read<B> {
    fd: SharedFd,
    buf: B,
    /// `None`: at the file position, which the read moves.
    offset: Option<u64>,
}

// SAFETY: the SQE points into the buffer's stable storage (valid for
// `bytes_total` bytes of writes), owned by the operation, which holds the
// file open.
unsafe impl<B: IoBufMut> OpCode for Read<B> {
    type Output = (io::Result<usize>, B);

    fn sqe(&mut self) -> squeue::Entry {
        let len = sqe_len(short(self.buf.bytes_total()));
        // `u64::MAX` (-1): the file position (IORING_FEAT_RW_CUR_POS).
        opcode::Read::new(self.fd.types_fd(), self.buf.stable_mut_ptr(), len)
            .offset(self.offset.unwrap_or(u64::MAX))
            .build()
    }

    fn epoll_path(&self) -> EpollPath {
        match (self.offset, self.fd.file_kind()) {
            (None, FileKind::Pollable) => EpollPath::Ready(Direction::Read),
            _ => EpollPath::Blocking,
        }
    }

    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        let (raw, ptr, len) = (
            self.fd.raw(),
            self.buf.stable_mut_ptr().cast(),
            transfer_len(short(self.buf.bytes_total())),
        );
        match self.offset {
            Some(offset) => syscall!(pread(raw, ptr, len, offset as libc::off_t)),
            None => syscall!(read(raw, ptr, len)),
        }
        .map(|n| n as u32)
    }

    fn complete(mut self, result: io::Result<u32>) -> Self::Output {
        match result {
            Ok(n) => {
                // SAFETY: the kernel wrote `n` bytes at the buffer's start.
                unsafe { self.buf.set_init(n as usize) };
                (Ok(n as usize), self.buf)
            }
            Err(err) => (Err(err), self.buf),
        }
    }

    fn stash_owner(&self) -> Option<&SharedFd> {
        // Only reads at the file position consumed something the next read
        // would otherwise miss.
        self.offset.is_none().then_some(&self.fd)
    }

    fn orphaned(self, result: io::Result<u32>) {
        if self.offset.is_some() {
            return;
        }
        let delivered = match result {
            Ok(0) => None,
            Ok(n) => Some(Stashed::Bytes {
                // SAFETY: the kernel wrote `n` bytes at the buffer's start.
                data: unsafe { received(&self.buf, n as usize) },
                pos: 0,
            }),
            Err(err) => stash::is_news(&err).then_some(Stashed::Error(err)),
        };
        self.fd.stash().resolve(delivered);
    }
}

/// Reads up to `buf.bytes_total()` bytes at `offset` (the file position is
/// neither used nor moved); `Ok(0)` is end-of-file. Offsets above
/// `i64::MAX` are `InvalidInput` (io_uring reads `-1` as "the file
/// position"); a file that cannot seek (a pipe) is `ESPIPE`, as `pread(2)`
/// says; a zero-capacity buffer is `InvalidInput`.
pub(crate) async fn read_at<B: IoBufMut>(
    fd: &SharedFd,
    buf: B,
    offset: u64,
) -> (io::Result<usize>, B) {
    if let Err(err) = check_positional(fd, offset) {
        return (Err(err), buf);
    }
    if buf.bytes_total() == 0 {
        return (Err(zero_capacity()), buf);
    }
    run(Read {
        fd: fd.clone(),
        buf,
        offset: Some(offset),
    })
    .await
}

/// Reads up to `buf.bytes_total()` bytes at the file position and moves it;
/// `Ok(0)` is end-of-file (or a pipe's writers all closed). A zero-capacity
/// buffer is `InvalidInput`.
pub(crate) async fn read<B: IoBufMut>(fd: &SharedFd, mut buf: B) -> (io::Result<usize>, B) {
    if buf.bytes_total() == 0 {
        return (Err(zero_capacity()), buf);
    }
    let stashed = fd
        .take_stashed(|items| stash::take_bytes(items, capacity_mut(&mut buf)))
        .await;
    match stashed {
        Some(Ok(n)) => {
            // SAFETY: the stash copied `n` bytes to the buffer's start.
            unsafe { buf.set_init(n) };
            return (Ok(n), buf);
        }
        Some(Err(err)) => return (Err(err), buf),
        None => {}
    }
    loop {
        let (result, back) = run(Read {
            fd: fd.clone(),
            buf,
            offset: None,
        })
        .await;
        buf = back;
        match result {
            // io_uring hands `EAGAIN` back for a descriptor in non-blocking
            // mode (a pipe set so by its creator): wait until readable.
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                if let Err(err) = poll(fd, Interest::Read).await {
                    return (Err(err), buf);
                }
            }
            other => return (other, buf),
        }
    }
}

/// Positional I/O takes offsets the kernel accepts as `loff_t`, on files
/// that can seek.
pub(crate) fn check_positional(fd: &SharedFd, offset: u64) -> io::Result<()> {
    if offset > i64::MAX as u64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "file offset larger than i64::MAX",
        ));
    }
    if !fd.is_seekable() {
        return Err(io::Error::from_raw_os_error(libc::ESPIPE));
    }
    Ok(())
}
