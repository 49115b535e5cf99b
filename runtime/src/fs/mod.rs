//! Files and directories through io_uring: [`File`] with positioned reads
//! and writes of owned buffers, [`OpenOptions`], [`Metadata`], and
//! whole-file helpers ([`read`], [`write()`]) and directory-entry operations
//! ([`remove_file`], [`rename`], [`create_dir`], [`metadata`], ...).
//!
//! As everywhere in ringwork, buffers are passed by value and come back
//! with the result, because the kernel may still be writing into a buffer
//! after the future that asked for it was dropped:
//!
//! ```
//! # let rt = ringwork::Runtime::new().unwrap();
//! # rt.block_on(async {
//! use ringwork::fs::{self, File};
//!
//! let path = std::env::temp_dir().join(format!("ringwork-doc-fs-{}", std::process::id()));
//! let file = File::options()
//!     .read(true)
//!     .write(true)
//!     .create(true)
//!     .truncate(true)
//!     .open(&path)
//!     .await?;
//! file.write_all_at(b"hello, world".as_slice(), 0).await.0?;
//! file.sync_all().await?;
//!
//! let (res, buf) = file.read_exact_at(Vec::with_capacity(5), 7).await;
//! res?;
//! assert_eq!(buf, b"world");
//! assert_eq!(file.metadata().await?.len(), 12);
//!
//! assert_eq!(fs::read(&path).await?, b"hello, world");
//! fs::remove_file(&path).await?;
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```
//!
//! Paths are relative to the process's current directory. A path with an
//! interior NUL byte is an `InvalidInput` error; kernel errors keep their
//! OS error code (a missing file is `NotFound`).

mod file;
mod metadata;
mod open_options;

pub use file::File;
pub use metadata::Metadata;
pub use open_options::OpenOptions;

use crate::buf::IoBuf;
use crate::io::op;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The path as the kernel wants it; an interior NUL is `InvalidInput`.
pub(crate) fn path_to_cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("path contains a NUL byte: {path:?}"),
        )
    })
}

/// Reads the whole file at `path`.
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let file = File::open(path).await?;
    let hint = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    // One byte more than the size, so that the read which finds the end
    // needs no reallocation.
    let hint = usize::try_from(hint).unwrap_or(0).saturating_add(1);
    let mut buf = Vec::with_capacity(hint.max(64));
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity().max(8 * 1024));
        }
        let filled = buf.len();
        let (res, slice) = file.read_at(buf.slice(filled..), filled as u64).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => return Ok(buf),
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

/// Reads the whole file at `path` as UTF-8; invalid UTF-8 is
/// `InvalidData`.
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let bytes = read(path).await?;
    String::from_utf8(bytes).map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))
}

/// Creates (or truncates) the file at `path` and writes all of
/// `contents`' initialized bytes to it. The buffer is dropped afterwards;
/// use [`File::write_all_at`] to get it back.
pub async fn write(path: impl AsRef<Path>, contents: impl IoBuf) -> io::Result<()> {
    let file = File::create(path).await?;
    file.write_all_at(contents, 0).await.0
}

/// Removes a file (or symbolic link, or other non-directory).
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    op::unlink::unlink(path_to_cstring(path.as_ref())?, false).await
}

/// Removes an empty directory.
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    op::unlink::unlink(path_to_cstring(path.as_ref())?, true).await
}

/// Renames `from` to `to`, replacing `to` if it exists (both must be on the
/// same file system, as for `rename(2)`).
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let from = path_to_cstring(from.as_ref())?;
    let to = path_to_cstring(to.as_ref())?;
    op::rename::rename(from, to).await
}

/// Creates a directory (mode `0o777`, less the umask). Its parent must
/// exist; an existing entry is `AlreadyExists`.
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    op::mkdir::mkdir(path_to_cstring(path.as_ref())?, 0o777).await
}

/// Metadata of `path`, following symbolic links.
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let stx = op::statx::statx_path(path_to_cstring(path.as_ref())?, true).await?;
    Ok(Metadata::from_statx(&stx))
}

/// Metadata of `path` itself: a symbolic link is not followed.
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let stx = op::statx::statx_path(path_to_cstring(path.as_ref())?, false).await?;
    Ok(Metadata::from_statx(&stx))
}
