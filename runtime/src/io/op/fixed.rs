//! Positional reads and writes with a registered buffer
//! (`IORING_OP_READ_FIXED` / `WRITE_FIXED`): the buffer is named by its
//! index in the pool registered with every ring of the runtime, so the
//! kernel skips pinning its pages for each operation. A ring without the
//! pool (a `block_on` thread's, when registration was not possible there)
//! uses plain `READ`/`WRITE` on the same memory; epoll uses
//! `pread(2)`/`pwrite(2)` on the blocking pool.

use super::read::check_positional;
use super::{run, sqe_len, transfer_len, EpollPath, OpCode, SharedFd};
use crate::buf::FixedBuf;
use crate::sys::syscall;
use ringwork_uring::io_uring::{opcode, squeue};
use ringwork_uring::Driver;
use std::io;

struct Fixed {
    fd: SharedFd,
    buf: FixedBuf,
    offset: u64,
    write: bool,
    /// The submitting ring registered the buffer's pool.
    registered: bool,
}

impl Fixed {
    fn len(&self) -> usize {
        transfer_len(if self.write {
            self.buf.len()
        } else {
            self.buf.capacity()
        })
    }
}

// SAFETY: the SQE points into the buffer (the pool's memory, owned through
// the `FixedBuf` the operation holds), valid for `capacity()` bytes of
// writes or `len()` initialized bytes of reads; with `registered` the index
// names that same buffer in the ring's registration (the pool registered
// with this ring, as `Features::fixed_buffers` says). The operation holds
// the file open.
unsafe impl OpCode for Fixed {
    type Output = (io::Result<usize>, FixedBuf);

    fn try_before_submit(&mut self, driver: &Driver) -> Option<io::Result<u32>> {
        self.registered = driver.features().fixed_buffers == Some(self.buf.pool_id());
        if self.registered {
            driver.stats().fixed_buffer_op();
        }
        None
    }

    fn sqe(&mut self) -> squeue::Entry {
        let (fd, len, index) = (self.fd.types_fd(), sqe_len(self.len()), self.buf.index());
        match (self.write, self.registered) {
            (false, true) => opcode::ReadFixed::new(fd, self.buf.as_mut_ptr(), len, index)
                .offset(self.offset)
                .build(),
            (false, false) => opcode::Read::new(fd, self.buf.as_mut_ptr(), len)
                .offset(self.offset)
                .build(),
            (true, true) => opcode::WriteFixed::new(fd, self.buf.as_ptr(), len, index)
                .offset(self.offset)
                .build(),
            (true, false) => opcode::Write::new(fd, self.buf.as_ptr(), len)
                .offset(self.offset)
                .build(),
        }
    }

    fn epoll_path(&self) -> EpollPath {
        EpollPath::Blocking
    }

    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        let (raw, len, offset) = (self.fd.raw(), self.len(), self.offset as libc::off_t);
        if self.write {
            syscall!(pwrite(raw, self.buf.as_ptr().cast(), len, offset))
        } else {
            syscall!(pread(raw, self.buf.as_mut_ptr().cast(), len, offset))
        }
        .map(|n| n as u32)
    }

    fn complete(mut self, result: io::Result<u32>) -> Self::Output {
        match result {
            Ok(n) => {
                if !self.write {
                    // SAFETY: the kernel wrote `n` bytes at the buffer's
                    // start.
                    unsafe { self.buf.set_len(n as usize) };
                }
                (Ok(n as usize), self.buf)
            }
            Err(err) => (Err(err), self.buf),
        }
    }
}

/// Reads up to `buf.capacity()` bytes at `offset` into `buf` (its length
/// becomes the count read), or with `write` writes up to `buf.len()` bytes
/// from it at `offset`.
pub(crate) async fn fixed_at(
    fd: &SharedFd,
    buf: FixedBuf,
    offset: u64,
    write: bool,
) -> (io::Result<usize>, FixedBuf) {
    if let Err(err) = check_positional(fd, offset) {
        return (Err(err), buf);
    }
    run(Fixed {
        fd: fd.clone(),
        buf,
        offset,
        write,
        registered: false,
    })
    .await
}
