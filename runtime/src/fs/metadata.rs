//! [`Metadata`]: what `statx` says about a file.

use std::fmt;
use std::fs::Permissions;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

/// Metadata about a file, from `statx(2)` (see [`File::metadata`] and
/// [`metadata`](super::metadata)).
///
/// [`File::metadata`]: super::File::metadata
#[derive(Clone, PartialEq, Eq)]
pub struct Metadata {
    len: u64,
    mode: u32,
    ino: u64,
    nlink: u32,
    uid: u32,
    gid: u32,
    accessed: Option<SystemTime>,
    modified: Option<SystemTime>,
    created: Option<SystemTime>,
}

impl Metadata {
    pub(crate) fn from_statx(stx: &libc::statx) -> Metadata {
        let time = |bit: u32, ts: &libc::statx_timestamp| {
            (stx.stx_mask & bit != 0).then(|| system_time(ts.tv_sec, ts.tv_nsec))
        };
        Metadata {
            len: stx.stx_size,
            mode: u32::from(stx.stx_mode),
            ino: stx.stx_ino,
            nlink: stx.stx_nlink,
            uid: stx.stx_uid,
            gid: stx.stx_gid,
            accessed: time(libc::STATX_ATIME, &stx.stx_atime),
            modified: time(libc::STATX_MTIME, &stx.stx_mtime),
            created: time(libc::STATX_BTIME, &stx.stx_btime),
        }
    }

    /// Size in bytes.
    #[allow(clippy::len_without_is_empty)] // as `std::fs::Metadata::len`
    pub fn len(&self) -> u64 {
        self.len
    }

    /// The file's type (the `S_IFMT` bits of its mode).
    pub fn file_type(&self) -> FileType {
        FileType::from_mode(self.mode)
    }

    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.file_type_bits() == libc::S_IFREG
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type_bits() == libc::S_IFDIR
    }

    /// Whether this is a symbolic link (only possible from
    /// [`symlink_metadata`](super::symlink_metadata)).
    pub fn is_symlink(&self) -> bool {
        self.file_type_bits() == libc::S_IFLNK
    }

    /// The permission bits (`mode & 0o7777`) as the standard library's
    /// [`Permissions`].
    pub fn permissions(&self) -> Permissions {
        Permissions::from_mode(self.mode & 0o7777)
    }

    /// The whole `st_mode`: file type and permission bits.
    pub fn mode(&self) -> u32 {
        self.mode
    }

    /// Inode number.
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// Number of hard links.
    pub fn nlink(&self) -> u32 {
        self.nlink
    }

    /// Owner's user id.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// Owner's group id.
    pub fn gid(&self) -> u32 {
        self.gid
    }

    /// Last modification time; `Unsupported` if the file system did not
    /// report it.
    pub fn modified(&self) -> io::Result<SystemTime> {
        self.modified
            .ok_or_else(|| unsupported("modification time"))
    }

    /// Last access time; `Unsupported` if the file system did not report it.
    pub fn accessed(&self) -> io::Result<SystemTime> {
        self.accessed.ok_or_else(|| unsupported("access time"))
    }

    /// Creation (birth) time; `Unsupported` if the file system does not
    /// record it.
    pub fn created(&self) -> io::Result<SystemTime> {
        self.created.ok_or_else(|| unsupported("creation time"))
    }

    fn file_type_bits(&self) -> u32 {
        self.mode & libc::S_IFMT
    }
}

/// What kind of file something is: a regular file, a directory, a
/// symbolic link, ... (the `S_IFMT` bits of its mode). From
/// [`Metadata::file_type`] and [`DirEntry::file_type`](super::DirEntry::file_type).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileType {
    /// `mode & S_IFMT`.
    bits: u32,
}

impl FileType {
    pub(crate) fn from_mode(mode: u32) -> FileType {
        FileType {
            bits: mode & libc::S_IFMT,
        }
    }

    /// The standard library's view of the same type.
    pub(crate) fn from_std(file_type: std::fs::FileType) -> FileType {
        use std::os::unix::fs::FileTypeExt;
        let bits = if file_type.is_file() {
            libc::S_IFREG
        } else if file_type.is_dir() {
            libc::S_IFDIR
        } else if file_type.is_symlink() {
            libc::S_IFLNK
        } else if file_type.is_fifo() {
            libc::S_IFIFO
        } else if file_type.is_socket() {
            libc::S_IFSOCK
        } else if file_type.is_block_device() {
            libc::S_IFBLK
        } else if file_type.is_char_device() {
            libc::S_IFCHR
        } else {
            0
        };
        FileType { bits }
    }

    /// A regular file.
    pub fn is_file(&self) -> bool {
        self.bits == libc::S_IFREG
    }

    /// A directory.
    pub fn is_dir(&self) -> bool {
        self.bits == libc::S_IFDIR
    }

    /// A symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.bits == libc::S_IFLNK
    }

    /// A FIFO (named pipe).
    pub fn is_fifo(&self) -> bool {
        self.bits == libc::S_IFIFO
    }

    /// A Unix domain socket.
    pub fn is_socket(&self) -> bool {
        self.bits == libc::S_IFSOCK
    }

    /// A block device.
    pub fn is_block_device(&self) -> bool {
        self.bits == libc::S_IFBLK
    }

    /// A character device.
    pub fn is_char_device(&self) -> bool {
        self.bits == libc::S_IFCHR
    }
}

impl fmt::Debug for FileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.bits {
            libc::S_IFREG => "file",
            libc::S_IFDIR => "directory",
            libc::S_IFLNK => "symlink",
            libc::S_IFIFO => "fifo",
            libc::S_IFSOCK => "socket",
            libc::S_IFBLK => "block device",
            libc::S_IFCHR => "char device",
            _ => "unknown",
        };
        f.debug_tuple("FileType").field(&name).finish()
    }
}

fn unsupported(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("the file system did not report the {what}"),
    )
}

/// A `statx` timestamp as `SystemTime` (seconds may be negative: before
/// 1970).
fn system_time(sec: i64, nsec: u32) -> SystemTime {
    let nanos = Duration::from_nanos(u64::from(nsec));
    let base = if sec >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(sec.unsigned_abs()))
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(sec.unsigned_abs()))
    };
    base.and_then(|t| t.checked_add(nanos))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metadata")
            .field("len", &self.len)
            .field("mode", &format_args!("{:#o}", self.mode))
            .field("ino", &self.ino)
            .field("nlink", &self.nlink)
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("modified", &self.modified)
            .finish_non_exhaustive()
    }
}
