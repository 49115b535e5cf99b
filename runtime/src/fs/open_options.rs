//! [`OpenOptions`]: how to open a file.

use super::{path_to_cstring, File};
use crate::io::op;
use std::io;
use std::path::Path;

/// Options for opening a file: the access mode (read / write / append),
/// whether to create or truncate it, and the mode of a created file.
///
/// ```
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// use ringwork::fs::OpenOptions;
///
/// let path = std::env::temp_dir().join(format!("ringwork-doc-open-{}", std::process::id()));
/// let file = OpenOptions::new()
///     .write(true)
///     .create_new(true)
///     .mode(0o600)
///     .open(&path)
///     .await?;
/// # drop(file);
/// # ringwork::fs::remove_file(&path).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
///
/// Files are always opened close-on-exec.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    mode: u32,
    custom_flags: i32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions::new()
    }
}

impl OpenOptions {
    /// No access and no creation (set at least one of read, write or
    /// append); mode `0o666` (less the umask) for created files.
    pub fn new() -> OpenOptions {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            mode: 0o666,
            custom_flags: 0,
        }
    }

    /// Open for reading.
    pub fn read(&mut self, read: bool) -> &mut OpenOptions {
        self.read = read;
        self
    }

    /// Open for writing.
    pub fn write(&mut self, write: bool) -> &mut OpenOptions {
        self.write = write;
        self
    }

    /// Open for appending (implies writing): every write goes to the end of
    /// the file, whatever offset [`File::write_at`] is given.
    pub fn append(&mut self, append: bool) -> &mut OpenOptions {
        self.append = append;
        self
    }

    /// Truncate an existing file to length 0 (needs write access).
    pub fn truncate(&mut self, truncate: bool) -> &mut OpenOptions {
        self.truncate = truncate;
        self
    }

    /// Create the file if it does not exist (needs write or append access).
    pub fn create(&mut self, create: bool) -> &mut OpenOptions {
        self.create = create;
        self
    }

    /// Create the file, failing with `AlreadyExists` if anything exists at
    /// the path (`O_CREAT | O_EXCL`; symbolic links are not followed). When
    /// set, `create` and `truncate` are ignored.
    pub fn create_new(&mut self, create_new: bool) -> &mut OpenOptions {
        self.create_new = create_new;
        self
    }

    /// Permission bits of a created file (less the umask); default `0o666`.
    pub fn mode(&mut self, mode: u32) -> &mut OpenOptions {
        self.mode = mode;
        self
    }

    /// Extra `open(2)` flags (`O_NOFOLLOW`, `O_DIRECT`, ...); the access
    /// mode bits are ignored, `O_CLOEXEC` is always added.
    pub fn custom_flags(&mut self, flags: i32) -> &mut OpenOptions {
        self.custom_flags = flags;
        self
    }

    /// Opens `path` with these options. Invalid combinations (no access
    /// mode; create or truncate without write access; append with truncate)
    /// and paths with a NUL byte are `InvalidInput`.
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let flags = self.flags()?;
        let path = path_to_cstring(path.as_ref())?;
        let fd = op::open::open(path, flags, self.mode).await?;
        Ok(File::from_owned(fd))
    }

    fn flags(&self) -> io::Result<libc::c_int> {
        let access = match (self.read, self.write, self.append) {
            (false, false, false) => {
                return Err(invalid(
                    "open a file for reading, writing or appending (none was set)",
                ))
            }
            (true, false, false) => libc::O_RDONLY,
            (false, true, false) => libc::O_WRONLY,
            (true, true, false) => libc::O_RDWR,
            (false, _, true) => libc::O_WRONLY | libc::O_APPEND,
            (true, _, true) => libc::O_RDWR | libc::O_APPEND,
        };
        let writable = self.write || self.append;
        if !writable && (self.truncate || self.create || self.create_new) {
            return Err(invalid("create and truncate need write or append access"));
        }
        if self.append && self.truncate && !self.create_new {
            return Err(invalid("append and truncate together"));
        }
        let creation = if self.create_new {
            libc::O_CREAT | libc::O_EXCL
        } else {
            let create = if self.create { libc::O_CREAT } else { 0 };
            let truncate = if self.truncate { libc::O_TRUNC } else { 0 };
            create | truncate
        };
        let custom = self.custom_flags & !libc::O_ACCMODE;
        Ok(access | creation | custom)
    }
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.to_owned())
}
