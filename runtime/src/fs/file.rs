//! [`File`]: an open file, read and written at explicit offsets or at its
//! file position.

use super::{Metadata, OpenOptions};
use crate::buf::{FixedBuf, IoBuf, IoBufMut};
use crate::io::op::{self, SharedFd};
use crate::io::stash::Stashed;
use std::fmt;
use std::io::{self, SeekFrom};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

/// An open file: a regular file, or a pipe, FIFO or terminal.
///
/// Two ways to read and write, as in `std`:
/// - at an explicit offset (`read_at`, `write_at`, ...: `pread`/`pwrite`
///   style), which neither uses nor moves the file position, so one `File`
///   can serve many concurrent operations from `&self`; files that cannot
///   seek (pipes) answer these with `ESPIPE`, as `pread(2)` does;
/// - at the file position (`read`, `write`, `read_exact`, `write_all`),
///   which each call moves, like `std::fs::File`'s `Read`/`Write`, and
///   which [`seek`](File::seek) sets; this is the way to use pipes, FIFOs
///   and terminals. Concurrent position-based calls on one `File` run in an
///   unspecified order.
///
/// Both drivers give the same results for regular files, pipes and FIFOs:
/// io_uring reads a file position with offset `-1`; epoll runs regular files
/// on the blocking pool and waits for readiness on pipes, FIFOs and
/// terminals (switching their descriptor to non-blocking mode).
///
/// Buffers are passed by value and returned with the result: the kernel
/// owns them while an operation runs, even if its future is dropped. The
/// descriptor is closed when the `File` and every operation in flight on it
/// are gone.
pub struct File {
    fd: SharedFd,
}

impl File {
    /// The descriptor, for the compat layer.
    #[cfg_attr(not(feature = "futures-io"), allow(dead_code))]
    pub(crate) fn shared_fd(&self) -> &SharedFd {
        &self.fd
    }
    /// Opens an existing file for reading.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Opens a file for writing only, creating it (mode `0o666` less the
    /// umask) or truncating it. To read it back through the same `File`,
    /// open it with [`OpenOptions`] (`read(true).write(true)...`).
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    /// Options to open a file with; see [`OpenOptions`].
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    pub(crate) fn from_owned(fd: OwnedFd) -> File {
        File {
            fd: SharedFd::new(fd),
        }
    }

    /// Wraps a file opened by the standard library.
    pub fn from_std(file: std::fs::File) -> File {
        File::from_owned(OwnedFd::from(file))
    }

    /// Reads up to `buf.bytes_total()` bytes at the file position into the
    /// start of `buf`, and moves the position past them; returns how many
    /// (`Ok(0)`: end of file, or a pipe whose writers are all gone). A
    /// zero-capacity buffer is `InvalidInput`. One call transfers at most
    /// 2 GiB − 64 KiB (the kernel's cap, rounded for any page size).
    ///
    /// Cancel safe: if the future is dropped after the kernel read, the
    /// bytes are kept with the `File` and returned, in order, by the next
    /// `read` (or `read_exact`); nothing the kernel delivered is lost.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        op::read::read(&self.fd, buf).await
    }

    /// Fills the whole capacity of `buf` from the file position, or fails
    /// with `UnexpectedEof` if the file ends first (the bytes read so far
    /// are in `buf`).
    ///
    /// Not cancel safe: a dropped `read_exact` loses the bytes it had read
    /// into `buf` (the buffer goes with the future); what its last read got
    /// after the drop is kept for the next read.
    pub async fn read_exact<B: IoBufMut>(&self, buf: B) -> (io::Result<()>, B) {
        let total = buf.bytes_total();
        let mut filled = 0;
        let mut buf = buf;
        while filled < total {
            let (res, slice) = op::read::read(&self.fd, buf.slice(filled..total)).await;
            buf = slice.into_inner();
            match res {
                Ok(0) => return (Err(file_ended()), buf),
                Ok(n) => filled += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return (Err(err), buf),
            }
        }
        (Ok(()), buf)
    }

    /// Appends everything from the file position to the end of the file
    /// (or of the pipe: all writers gone) to `buf`, moving the position;
    /// returns how many bytes were appended. On an error the bytes read so
    /// far are in `buf`.
    ///
    /// Not cancel safe: a dropped `read_to_end` loses the bytes it had read
    /// into `buf`; what its last read got after the drop is kept for the
    /// next read.
    pub async fn read_to_end(&self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        crate::io::read_to_end(self, buf).await
    }

    /// Appends everything from the file position to the end to `string`;
    /// returns how many bytes were appended. Bytes that are not valid UTF-8
    /// are `InvalidData`; on any error `string` comes back as it was given.
    /// Not cancel safe, as [`read_to_end`](File::read_to_end).
    pub async fn read_to_string(&self, string: String) -> (io::Result<usize>, String) {
        crate::io::read_to_string(self, string).await
    }

    /// Writes some of `buf`'s initialized bytes at the file position (in
    /// append mode: at the end) and moves the position; returns how many.
    ///
    /// A dropped `write` may have written a prefix of the buffer and moved
    /// the position; only the returned count says how much.
    pub async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        op::write::write(&self.fd, buf).await
    }

    /// Writes all of `buf`'s initialized bytes at the file position.
    ///
    /// A dropped `write_all` may have written any prefix of the buffer.
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> (io::Result<()>, B) {
        let total = buf.bytes_init();
        let mut written = 0;
        let mut buf = buf;
        while written < total {
            let (res, slice) = op::write::write(&self.fd, buf.slice(written..total)).await;
            buf = slice.into_inner();
            match res {
                Ok(0) => return (Err(op::send::write_zero()), buf),
                Ok(n) => written += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return (Err(err), buf),
            }
        }
        (Ok(()), buf)
    }

    /// Moves the file position (used by [`read`](File::read),
    /// [`write`](File::write) and their loops) and returns the new one,
    /// counted from the start of the file, like `std`'s `Seek::seek`.
    /// Seeking past the end is allowed (a write there leaves a hole of
    /// zeros); a position before the start is `InvalidInput`, and so is a
    /// `SeekFrom::Start` beyond `i64::MAX`. A pipe, FIFO or terminal cannot
    /// seek: `ESPIPE` (`io::ErrorKind::NotSeekable`), and nothing waiting
    /// to be read from it is lost.
    ///
    /// Runs `lseek` on the blocking pool (io_uring has no such operation;
    /// on some file systems `SeekFrom::End` asks the server). Bytes that a
    /// dropped [`read`](File::read) had read ahead and kept for the next
    /// read are given up: the position is where those bytes started, and
    /// `SeekFrom::Current` counts from there.
    ///
    /// ```
    /// # let rt = ringwork::Runtime::new().unwrap();
    /// # rt.block_on(async {
    /// use ringwork::fs::File;
    /// use std::io::SeekFrom;
    ///
    /// let path = std::env::temp_dir().join(format!("ringwork-doc-seek-{}", std::process::id()));
    /// let file = File::options().read(true).write(true).create(true).truncate(true)
    ///     .open(&path).await?;
    /// file.write_all(b"hello, world".as_slice()).await.0?;
    /// assert_eq!(file.stream_position().await?, 12);
    /// assert_eq!(file.seek(SeekFrom::Start(7)).await?, 7);
    /// let (res, buf) = file.read(Vec::with_capacity(5)).await;
    /// assert_eq!(&buf[..res?], b"world");
    /// assert_eq!(file.seek(SeekFrom::Current(-5)).await?, 7);
    /// file.write_all(b"there".as_slice()).await.0?;
    /// assert_eq!(ringwork::fs::read(&path).await?, b"hello, there");
    /// ringwork::fs::remove_file(&path).await?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn seek(&self, pos: SeekFrom) -> io::Result<u64> {
        let (offset, whence) = match pos {
            SeekFrom::Start(n) => (
                i64::try_from(n).map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "seek to a position larger than i64::MAX",
                    )
                })?,
                libc::SEEK_SET,
            ),
            SeekFrom::End(n) => (n, libc::SEEK_END),
            SeekFrom::Current(n) => (n, libc::SEEK_CUR),
        };
        // Checked first: a pipe's read-ahead bytes must stay for its reads.
        if !self.fd.is_seekable() {
            return Err(io::Error::from_raw_os_error(libc::ESPIPE));
        }
        // Read-ahead kept from dropped reads (after any such read still in
        // flight has finished): the kernel's position is that many bytes
        // past the caller's.
        let read_ahead = self
            .fd
            .take_stashed(|items| {
                let bytes = items
                    .drain(..)
                    .map(|item| match item {
                        Stashed::Bytes { data, pos } => (data.len() - pos) as i64,
                        _ => 0,
                    })
                    .sum::<i64>();
                Some(bytes)
            })
            .await
            .unwrap_or(0);
        let fd = self.fd.clone();
        super::blocking(move || {
            if read_ahead > 0 {
                // Back to the caller's position first, so that a failing
                // seek below leaves the position where the caller saw it.
                lseek(&fd, -read_ahead, libc::SEEK_CUR)?;
            }
            lseek(&fd, offset, whence)
        })
        .await
    }

    /// The file position (from the start), as [`seek`](File::seek) with
    /// `SeekFrom::Current(0)` gives it; `ESPIPE` for a pipe.
    pub async fn stream_position(&self) -> io::Result<u64> {
        self.seek(SeekFrom::Current(0)).await
    }

    /// Reads up to `buf.bytes_total()` bytes at `offset` into the start of
    /// `buf`; returns how many (`Ok(0)`: end of file). A read may be short
    /// even before the end; see [`read_exact_at`](File::read_exact_at). A
    /// zero-capacity buffer is `InvalidInput`; a file that cannot seek is
    /// `ESPIPE`.
    ///
    /// Cancel safe: a positional read consumes nothing (repeat it).
    pub async fn read_at<B: IoBufMut>(&self, buf: B, offset: u64) -> (io::Result<usize>, B) {
        op::read::read_at(&self.fd, buf, offset).await
    }

    /// Fills the whole capacity of `buf` (`bytes_total()`) from `offset`, or
    /// fails with `UnexpectedEof` if the file ends first (the bytes read so
    /// far are in `buf`).
    pub async fn read_exact_at<B: IoBufMut>(&self, buf: B, offset: u64) -> (io::Result<()>, B) {
        let total = buf.bytes_total();
        let mut filled = 0;
        let mut buf = buf;
        while filled < total {
            let Some(at) = offset.checked_add(filled as u64) else {
                return (Err(offset_overflow()), buf);
            };
            let (res, slice) = op::read::read_at(&self.fd, buf.slice(filled..total), at).await;
            buf = slice.into_inner();
            match res {
                Ok(0) => return (Err(file_ended()), buf),
                Ok(n) => filled += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return (Err(err), buf),
            }
        }
        (Ok(()), buf)
    }

    /// Writes some of `buf`'s initialized bytes at `offset`; returns how
    /// many. (In append mode the bytes go to the end of the file.) A file
    /// that cannot seek is `ESPIPE`.
    pub async fn write_at<B: IoBuf>(&self, buf: B, offset: u64) -> (io::Result<usize>, B) {
        op::write::write_at(&self.fd, buf, offset).await
    }

    /// Reads up to `buf.capacity()` bytes at `offset` into a registered
    /// buffer (`Builder::uring_fixed_buffers`, taken from
    /// `Handle::fixed_buffers()`); its length becomes the count read
    /// (`Ok(0)`: end of file). On io_uring this is `READ_FIXED`: the kernel
    /// does not pin the buffer's pages for the read, they were pinned at
    /// registration. Elsewhere (epoll, or a ring the pool is not registered
    /// with) it is a plain positional read. Same errors as
    /// [`read_at`](File::read_at); cancel safe the same way.
    pub async fn read_fixed_at(&self, buf: FixedBuf, offset: u64) -> (io::Result<usize>, FixedBuf) {
        op::fixed::fixed_at(&self.fd, buf, offset, false).await
    }

    /// Writes up to `buf.len()` bytes of a registered buffer at `offset`
    /// (`WRITE_FIXED` on io_uring; see
    /// [`read_fixed_at`](File::read_fixed_at)); returns how many.
    pub async fn write_fixed_at(
        &self,
        buf: FixedBuf,
        offset: u64,
    ) -> (io::Result<usize>, FixedBuf) {
        op::fixed::fixed_at(&self.fd, buf, offset, true).await
    }

    /// Writes all of `buf`'s initialized bytes, starting at `offset`.
    pub async fn write_all_at<B: IoBuf>(&self, buf: B, offset: u64) -> (io::Result<()>, B) {
        let total = buf.bytes_init();
        let mut written = 0;
        let mut buf = buf;
        while written < total {
            let Some(at) = offset.checked_add(written as u64) else {
                return (Err(offset_overflow()), buf);
            };
            let (res, slice) = op::write::write_at(&self.fd, buf.slice(written..total), at).await;
            buf = slice.into_inner();
            match res {
                Ok(0) => return (Err(op::send::write_zero()), buf),
                Ok(n) => written += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return (Err(err), buf),
            }
        }
        (Ok(()), buf)
    }

    /// Flushes the file's data and metadata to storage (`fsync`).
    pub async fn sync_all(&self) -> io::Result<()> {
        op::fsync::fsync(&self.fd, false).await
    }

    /// Flushes the file's data, and only the metadata needed to read it
    /// back, to storage (`fdatasync`).
    pub async fn sync_data(&self) -> io::Result<()> {
        op::fsync::fsync(&self.fd, true).await
    }

    /// The file's metadata (`statx` on the descriptor).
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let stx = op::statx::statx_fd(&self.fd).await?;
        Ok(Metadata::from_statx(&stx))
    }

    /// Truncates or extends (with zeros) the file to `size` bytes. The file
    /// must be open for writing. Uses `IORING_OP_FTRUNCATE` where the kernel
    /// has it (Linux 6.9+), else the `ftruncate` syscall on this thread.
    pub async fn set_len(&self, size: u64) -> io::Result<()> {
        op::ftruncate::ftruncate(&self.fd, size).await
    }
}

/// `lseek(2)`; the new position.
fn lseek(fd: &SharedFd, offset: i64, whence: libc::c_int) -> io::Result<u64> {
    // SAFETY: `lseek` takes a descriptor (kept open by `fd`) and integers;
    // it touches no memory of ours.
    let pos = unsafe { libc::lseek(fd.raw(), offset, whence) };
    if pos == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(pos as u64)
}

fn file_ended() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the file ended before the buffer was filled",
    )
}

fn offset_overflow() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "file offset overflows u64")
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File").field("fd", &self.fd.raw()).finish()
    }
}

#[cfg(any(feature = "futures-io", feature = "tokio-io", feature = "hyper"))]
crate::io::compat::compat_io! {
    File => file, false;
}
