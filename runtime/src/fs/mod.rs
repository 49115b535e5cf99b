//! Files and directories through io_uring: [`File`] with positioned reads
//! and writes of owned buffers (and a cursor: `read`, `write`, `seek`),
//! [`OpenOptions`], [`Metadata`], whole-file helpers ([`read`], [`write()`],
//! [`copy`]), directory-entry operations ([`remove_file`], [`rename`],
//! [`create_dir_all`], [`symlink`], [`metadata`], ...) and directory
//! listings ([`read_dir`]).
//!
//! Nothing here blocks a worker. Where io_uring has an operation (open,
//! read, write, `statx`, `mkdirat`, `unlinkat`, `renameat`, `symlinkat`,
//! `linkat`, `fsync`) it is used, and the epoll driver runs the same
//! syscall on the blocking pool; the rest ([`read_dir`], [`copy`],
//! [`canonicalize`], [`read_link`], [`set_permissions`],
//! [`remove_dir_all`], [`File::seek`]) always runs on the blocking pool.
//! Dropping the future of one of those after its first poll does not stop
//! the call: it finishes on the pool, unobserved.
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
mod read_dir;

pub use file::File;
pub use metadata::{FileType, Metadata};
pub use open_options::OpenOptions;
pub use read_dir::{read_dir, DirEntry, ReadDir};

use crate::buf::IoBuf;
use crate::io::op;
use crate::io::op::link::LinkKind;
use std::ffi::CString;
use std::fs::Permissions;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The path as the kernel wants it; an interior NUL is `InvalidInput`.
pub(crate) fn path_to_cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("path contains a NUL byte: {path:?}"),
        )
    })
}

/// Runs `f`, a file-system call with no io_uring operation, on the
/// runtime's blocking pool. Outside a runtime: the "no driver" error every
/// other operation gives there.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let Some(runtime) = crate::context::runtime() else {
        return Err(crate::io::driver::no_driver());
    };
    let (tx, rx) = crate::sync::oneshot::channel();
    runtime
        .spawn_blocking_job(Box::new(move || {
            let _ = tx.send(f());
        }))
        .await?;
    rx.await
        .unwrap_or_else(|_| Err(io::Error::other("the file-system call panicked")))
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

/// Creates the directory `path` and every missing parent (mode `0o777`,
/// less the umask), like `mkdir -p` or Python's
/// `os.makedirs(path, exist_ok=True)`. A directory that already exists
/// (or is created meanwhile by someone else) is fine; any other entry in
/// the way is `AlreadyExists` (or `NotADirectory` for a parent); an empty
/// path does nothing. Each `mkdir` goes through the driver (`mkdirat` on
/// io_uring).
///
/// ```
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// use ringwork::fs;
///
/// let root = std::env::temp_dir().join(format!("ringwork-doc-mkdirs-{}", std::process::id()));
/// fs::create_dir_all(root.join("a/b/c")).await?;
/// fs::create_dir_all(root.join("a/b")).await?; // exists: fine
/// assert!(fs::metadata(root.join("a/b/c")).await?.is_dir());
/// fs::remove_dir_all(&root).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    if path.as_os_str().is_empty() {
        return Ok(());
    }
    // Up: the directories that are missing, deepest first, until one is
    // created or found.
    let mut missing = Vec::new();
    let mut at = path;
    loop {
        match create_dir(at).await {
            Ok(()) => break,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                missing.push(at);
                match at.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => at = parent,
                    // The top of a relative path is missing and yet its
                    // parent (the current directory) exists: give the
                    // kernel's answer.
                    _ => return Err(err),
                }
            }
            Err(err) => {
                if is_dir(at).await {
                    break;
                }
                return Err(err);
            }
        }
    }
    // Down: create what was missing, parents first.
    for dir in missing.into_iter().rev() {
        if let Err(err) = create_dir(dir).await {
            if !is_dir(dir).await {
                return Err(err);
            }
        }
    }
    Ok(())
}

/// Whether `path` names a directory (following links); `false` on errors.
async fn is_dir(path: &Path) -> bool {
    metadata(path).await.is_ok_and(|m| m.is_dir())
}

/// Removes the directory `path` with everything in it (symbolic links are
/// removed, never followed), like `rm -r` or Python's `shutil.rmtree`. Runs
/// `std::fs::remove_dir_all` on the blocking pool. A missing `path` is
/// `NotFound`; a `path` that is not a directory is `NotADirectory`.
///
/// ```
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// use ringwork::fs;
///
/// let root = std::env::temp_dir().join(format!("ringwork-doc-rmtree-{}", std::process::id()));
/// fs::create_dir_all(root.join("x/y")).await?;
/// fs::write(root.join("x/y/file"), b"data".as_slice()).await?;
/// fs::remove_dir_all(&root).await?;
/// assert!(!fs::try_exists(&root).await?);
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    blocking(move || std::fs::remove_dir_all(path)).await
}

/// Copies the contents and permission bits of the file `from` to `to`,
/// creating or truncating `to`; returns the number of bytes copied. Like
/// Python's `shutil.copy`, but `to` must name the file, not a directory to
/// copy into (that is `IsADirectory`). Runs `std::fs::copy` on the blocking
/// pool, which lets the kernel copy (`copy_file_range`) where it can. A
/// missing `from` is `NotFound`; a `from` that is not a regular file (or a
/// link to one) is `InvalidInput`.
///
/// ```
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// use ringwork::fs;
///
/// let dir = std::env::temp_dir().join(format!("ringwork-doc-copy-{}", std::process::id()));
/// fs::create_dir_all(&dir).await?;
/// fs::write(dir.join("from"), b"twelve bytes".as_slice()).await?;
/// assert_eq!(fs::copy(dir.join("from"), dir.join("to")).await?, 12);
/// assert_eq!(fs::read(dir.join("to")).await?, b"twelve bytes");
/// fs::remove_dir_all(&dir).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    let (from, to) = (from.as_ref().to_owned(), to.as_ref().to_owned());
    blocking(move || std::fs::copy(from, to)).await
}

/// Creates a symbolic link at `link` whose content is `original`
/// (`symlinkat` on io_uring). `original` need not exist, and a relative
/// `original` is resolved from the link's directory when the link is
/// followed, as `symlink(2)` says. An existing `link` is `AlreadyExists`.
///
/// ```
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// use ringwork::fs;
///
/// let dir = std::env::temp_dir().join(format!("ringwork-doc-symlink-{}", std::process::id()));
/// fs::create_dir_all(&dir).await?;
/// fs::write(dir.join("target"), b"hi".as_slice()).await?;
/// fs::symlink("target", dir.join("link")).await?;
/// assert_eq!(fs::read_link(dir.join("link")).await?, std::path::Path::new("target"));
/// assert_eq!(fs::read(dir.join("link")).await?, b"hi");
/// assert!(fs::symlink_metadata(dir.join("link")).await?.is_symlink());
/// fs::remove_dir_all(&dir).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn symlink(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    let original = path_to_cstring(original.as_ref())?;
    let link = path_to_cstring(link.as_ref())?;
    op::link::link(original, link, LinkKind::Symbolic).await
}

/// Creates `link` as another name for the file `original` (a hard link;
/// `linkat` on io_uring). Both must be on the same file system; a symbolic
/// link `original` is linked itself, not followed. A missing `original` is
/// `NotFound`; an existing `link` is `AlreadyExists`.
///
/// ```
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// use ringwork::fs;
///
/// let dir = std::env::temp_dir().join(format!("ringwork-doc-link-{}", std::process::id()));
/// fs::create_dir_all(&dir).await?;
/// fs::write(dir.join("a"), b"shared".as_slice()).await?;
/// fs::hard_link(dir.join("a"), dir.join("b")).await?;
/// assert_eq!(fs::metadata(dir.join("b")).await?.nlink(), 2);
/// fs::remove_dir_all(&dir).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn hard_link(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    let original = path_to_cstring(original.as_ref())?;
    let link = path_to_cstring(link.as_ref())?;
    op::link::link(original, link, LinkKind::Hard).await
}

/// What the symbolic link at `path` contains (`readlink`, on the blocking
/// pool). A `path` that is not a symbolic link is `InvalidInput`
/// (`EINVAL`); a missing one is `NotFound`. See [`symlink`] for an example.
pub async fn read_link(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    let path = path.as_ref().to_owned();
    blocking(move || std::fs::read_link(path)).await
}

/// The absolute path `path` names, with every symbolic link, `.` and `..`
/// resolved (`realpath`, on the blocking pool); Python's
/// `os.path.realpath(p, strict=True)`. Every component must exist: a
/// missing one is `NotFound`.
///
/// ```
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// use ringwork::fs;
///
/// let dir = std::env::temp_dir().join(format!("ringwork-doc-canon-{}", std::process::id()));
/// fs::create_dir_all(dir.join("a/b")).await?;
/// let real = fs::canonicalize(dir.join("a/b/../b/.")).await?;
/// assert!(real.is_absolute() && real.ends_with("a/b"));
/// fs::remove_dir_all(&dir).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn canonicalize(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    let path = path.as_ref().to_owned();
    blocking(move || std::fs::canonicalize(path)).await
}

/// Sets the permission bits of `path` (following symbolic links; `chmod`,
/// on the blocking pool). A missing `path` is `NotFound`.
///
/// ```
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// use ringwork::fs;
/// use std::os::unix::fs::PermissionsExt;
///
/// let path = std::env::temp_dir().join(format!("ringwork-doc-chmod-{}", std::process::id()));
/// fs::write(&path, b"#!/bin/sh\n".as_slice()).await?;
/// fs::set_permissions(&path, std::fs::Permissions::from_mode(0o750)).await?;
/// assert_eq!(fs::metadata(&path).await?.permissions().mode(), 0o750);
/// fs::remove_file(&path).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn set_permissions(path: impl AsRef<Path>, permissions: Permissions) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    blocking(move || std::fs::set_permissions(path, permissions)).await
}

/// Whether `path` names something, following symbolic links (`statx`
/// through the driver): `Ok(false)` if it does not exist (a dangling link
/// included), an error if that cannot be told (permission denied on a
/// parent, a parent that is a file: `NotADirectory`, ...).
///
/// ```
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// use ringwork::fs;
///
/// assert!(fs::try_exists(std::env::temp_dir()).await?);
/// assert!(!fs::try_exists("/no/such/ringwork/path").await?);
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn try_exists(path: impl AsRef<Path>) -> io::Result<bool> {
    match metadata(path).await {
        Ok(_) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(err),
    }
}
