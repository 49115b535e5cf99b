//! [`File`]: an open file, read and written at explicit offsets.

use super::{Metadata, OpenOptions};
use crate::buf::{IoBuf, IoBufMut};
use crate::io::op::{self, SharedFd};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

/// An open file. Reads and writes name their offset (`pread`/`pwrite`
/// style: there is no shared file position), so one `File` can serve many
/// concurrent operations from `&self`.
///
/// Buffers are passed by value and returned with the result: the kernel
/// owns them while an operation runs, even if its future is dropped. The
/// descriptor is closed when the `File` and every operation in flight on it
/// are gone.
pub struct File {
    fd: SharedFd,
}

impl File {
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

    /// Reads up to `buf.bytes_total()` bytes at `offset` into the start of
    /// `buf`; returns how many (`Ok(0)`: end of file). A read may be short
    /// even before the end; see [`read_exact_at`](File::read_exact_at).
    pub async fn read_at<B: IoBufMut>(&self, buf: B, offset: u64) -> (io::Result<usize>, B) {
        op::read_at::read_at(&self.fd, buf, offset).await
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
            let (res, slice) = op::read_at::read_at(&self.fd, buf.slice(filled..total), at).await;
            buf = slice.into_inner();
            match res {
                Ok(0) => {
                    return (
                        Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the file ended before the buffer was filled",
                        )),
                        buf,
                    )
                }
                Ok(n) => filled += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return (Err(err), buf),
            }
        }
        (Ok(()), buf)
    }

    /// Writes some of `buf`'s initialized bytes at `offset`; returns how
    /// many. (In append mode the bytes go to the end of the file.)
    pub async fn write_at<B: IoBuf>(&self, buf: B, offset: u64) -> (io::Result<usize>, B) {
        op::write_at::write_at(&self.fd, buf, offset).await
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
            let (res, slice) =
                op::write_at::write_at(&self.fd, buf.slice(written..total), at).await;
            buf = slice.into_inner();
            match res {
                Ok(0) => {
                    return (
                        Err(io::Error::new(
                            io::ErrorKind::WriteZero,
                            "write wrote zero bytes",
                        )),
                        buf,
                    )
                }
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
