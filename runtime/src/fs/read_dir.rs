//! [`read_dir`]: a directory's entries, read in batches on the blocking
//! pool (neither io_uring nor epoll has a `getdents`).

use super::{blocking, FileType, Metadata};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// Entries read per trip to the blocking pool.
const BATCH: usize = 32;

/// Opens the directory at `path` for listing its entries (`.` and `..` are
/// left out, the order is the file system's). asyncio has no counterpart;
/// this is `os.scandir` without blocking the loop.
///
/// The directory is read in batches of 32 entries on the blocking pool, one
/// thread hop per batch (the first batch comes with the open), and each
/// entry's type comes from the listing itself: listing a directory costs
/// no `stat` per entry.
///
/// ```
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// use ringwork::fs;
///
/// let dir = std::env::temp_dir().join(format!("ringwork-doc-read-dir-{}", std::process::id()));
/// fs::create_dir_all(dir.join("sub")).await?;
/// fs::write(dir.join("a.txt"), b"a".as_slice()).await?;
///
/// let mut names = Vec::new();
/// let mut entries = fs::read_dir(&dir).await?;
/// while let Some(entry) = entries.next_entry().await? {
///     let kind = if entry.file_type().await?.is_dir() { "dir" } else { "file" };
///     names.push(format!("{} {kind}", entry.file_name().to_string_lossy()));
/// }
/// names.sort();
/// assert_eq!(names, ["a.txt file", "sub dir"]);
/// fs::remove_dir_all(&dir).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
///
/// [`ReadDir`] is also a [`futures_core::Stream`] of `io::Result<DirEntry>`.
/// A missing directory is `NotFound`; a path that is not a directory is
/// `NotADirectory`.
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    let path = path.as_ref().to_owned();
    let batch = blocking(move || {
        let dir = std::fs::read_dir(&path)?;
        Ok(read_batch(dir))
    })
    .await?;
    let mut read_dir = ReadDir {
        ready: VecDeque::new(),
        state: State::Idle(None),
    };
    read_dir.take(batch);
    Ok(read_dir)
}

/// The entries of a directory, from [`read_dir`]: await
/// [`next_entry`](ReadDir::next_entry), or use it as a
/// [`futures_core::Stream`].
pub struct ReadDir {
    /// Entries read and not handed out yet, in the listing's order.
    ready: VecDeque<io::Result<DirEntry>>,
    state: State,
}

enum State {
    /// Between batches: the open listing, or `None` once it ended (the
    /// directory's descriptor is then closed).
    Idle(Option<std::fs::ReadDir>),
    /// A batch is being read on the blocking pool.
    Reading(Pin<Box<dyn Future<Output = io::Result<Batch>> + Send>>),
}

/// What one trip to the blocking pool read.
struct Batch {
    entries: VecDeque<io::Result<DirEntry>>,
    /// The listing, if it may have more.
    rest: Option<std::fs::ReadDir>,
}

/// Reads up to [`BATCH`] entries (or up to and including the first error,
/// after which `std` ends the listing).
fn read_batch(mut dir: std::fs::ReadDir) -> Batch {
    let mut entries = VecDeque::with_capacity(BATCH);
    while entries.len() < BATCH {
        match dir.next() {
            Some(Ok(entry)) => entries.push_back(Ok(DirEntry::from_std(&entry))),
            Some(Err(err)) => {
                entries.push_back(Err(err));
                return Batch {
                    entries,
                    rest: None,
                };
            }
            None => {
                return Batch {
                    entries,
                    rest: None,
                }
            }
        }
    }
    Batch {
        entries,
        rest: Some(dir),
    }
}

impl ReadDir {
    /// The next entry; `Ok(None)` once every entry was handed out.
    ///
    /// Cancel safe: a batch being read when the future is dropped is kept
    /// for the next call, so no entry is lost.
    pub async fn next_entry(&mut self) -> io::Result<Option<DirEntry>> {
        poll_fn(|cx| self.poll_next_entry(cx)).await
    }

    /// Polls for the next entry: `Ready(Ok(None))` at the end.
    pub fn poll_next_entry(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<DirEntry>>> {
        loop {
            if let Some(entry) = self.ready.pop_front() {
                return Poll::Ready(entry.map(Some));
            }
            match &mut self.state {
                State::Idle(None) => return Poll::Ready(Ok(None)),
                State::Idle(dir) => {
                    let dir = dir.take().expect("matched above");
                    self.state = State::Reading(Box::pin(blocking(move || Ok(read_batch(dir)))));
                }
                State::Reading(job) => {
                    let batch = ready!(job.as_mut().poll(cx));
                    self.state = State::Idle(None);
                    match batch {
                        Ok(batch) => self.take(batch),
                        // The pool could not run the job (the runtime is
                        // shutting down): the listing is gone with it.
                        Err(err) => return Poll::Ready(Err(err)),
                    }
                }
            }
        }
    }

    fn take(&mut self, batch: Batch) {
        self.ready.extend(batch.entries);
        self.state = State::Idle(batch.rest);
    }
}

impl futures_core::Stream for ReadDir {
    type Item = io::Result<DirEntry>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // `ReadDir` is `Unpin` (its fields are boxed or owned).
        self.get_mut().poll_next_entry(cx).map(Result::transpose)
    }
}

impl fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Idle(Some(_)) => "idle",
            State::Idle(None) => "ended",
            State::Reading(_) => "reading",
        };
        f.debug_struct("ReadDir")
            .field("ready", &self.ready.len())
            .field("state", &state)
            .finish()
    }
}

/// One entry of a directory listing ([`read_dir`]). It holds no descriptor:
/// the directory may be gone by the time it is looked at.
#[derive(Clone)]
pub struct DirEntry {
    path: PathBuf,
    ino: u64,
    /// `None` if the listing did not say and `lstat` failed.
    file_type: Option<FileType>,
}

impl DirEntry {
    /// Runs on the blocking pool: `std`'s `file_type` may `lstat` where the
    /// file system does not report types in listings.
    fn from_std(entry: &std::fs::DirEntry) -> DirEntry {
        use std::os::unix::fs::DirEntryExt;
        DirEntry {
            path: entry.path(),
            ino: entry.ino(),
            file_type: entry.file_type().ok().map(FileType::from_std),
        }
    }

    /// The path: the directory given to [`read_dir`] joined with the
    /// entry's name.
    pub fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// The entry's name within its directory.
    pub fn file_name(&self) -> OsString {
        self.path
            .file_name()
            .map(ToOwned::to_owned)
            .unwrap_or_default()
    }

    /// The inode number the listing gave.
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// The entry's type, as the listing gave it (a symbolic link is a
    /// symlink, not what it points to): no I/O. Only if the listing could
    /// not say is it asked for again (`statx`, not following links), which
    /// fails with `NotFound` if the entry is gone.
    pub async fn file_type(&self) -> io::Result<FileType> {
        match self.file_type {
            Some(file_type) => Ok(file_type),
            None => Ok(self.metadata().await?.file_type()),
        }
    }

    /// The entry's metadata (`statx` through the driver, not following a
    /// symbolic link, as [`symlink_metadata`](super::symlink_metadata)).
    /// `NotFound` if the entry was removed since it was listed.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        super::symlink_metadata(&self.path).await
    }
}

impl fmt::Debug for DirEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DirEntry").field(&self.path).finish()
    }
}
