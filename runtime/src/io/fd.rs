//! [`SharedFd`]: a descriptor shared by its owner (a socket or file object)
//! and every operation in flight on it, with what the drivers keep per
//! descriptor: the epoll registration, the stash of deliveries nobody took
//! (`stash.rs`), and, for files, whether it can seek.

use super::driver;
use super::stash::Stash;
use ringwork_epoll::Registration;
use ringwork_uring::{Driver, FixedFile};
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Arc, OnceLock};

/// A file descriptor shared by its owner and every operation in flight on
/// it: it is closed when the last of them lets go, so an operation never
/// outlives its descriptor, and a descriptor number is never reused while
/// the kernel may still act on the old one.
///
/// On the epoll driver a socket is also registered with the reactor of the
/// thread that first waits on it; the registration is dropped (removed from
/// epoll) before the descriptor is closed.
#[derive(Clone, Debug)]
pub(crate) struct SharedFd(Arc<FdInner>);

#[derive(Debug)]
struct FdInner {
    /// Declared before `fd`: dropped (`EPOLL_CTL_DEL`) before it is closed.
    registration: parking_lot::Mutex<Option<Arc<Registration>>>,
    /// io_uring: the slot of the ring's fixed-file table this descriptor is
    /// registered in (`Builder::uring_fixed_files`), set by the first socket
    /// operation on a ring with room in its table. Dropping it asks that
    /// ring's owner to clear the slot.
    fixed: OnceLock<FixedFile>,
    /// Declared before `fd`: stashed connections close before the listener.
    stash: Stash,
    /// Files only: how the epoll driver reads it (decided on first use).
    file_kind: OnceLock<FileKind>,
    fd: OwnedFd,
}

/// How a file is read and written sequentially on the epoll driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// It can seek (regular files, block devices, `/dev/null`): blocking
    /// pool, since epoll cannot watch it.
    Seekable,
    /// A pipe, FIFO, terminal or socket that epoll watches: non-blocking
    /// syscalls retried on readiness.
    Pollable,
    /// Neither seekable nor accepted by epoll: blocking pool.
    Unpollable,
}

impl SharedFd {
    pub(crate) fn new(fd: OwnedFd) -> SharedFd {
        SharedFd(Arc::new(FdInner {
            registration: parking_lot::Mutex::new(None),
            fixed: OnceLock::new(),
            stash: Stash::default(),
            file_kind: OnceLock::new(),
            fd,
        }))
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.0.fd.as_raw_fd()
    }

    pub(crate) fn types_fd(&self) -> ringwork_uring::io_uring::types::Fd {
        ringwork_uring::io_uring::types::Fd(self.raw())
    }

    /// The slot naming this descriptor in `driver`'s fixed-file table, for
    /// an operation about to be submitted there: registered now if it is
    /// registered nowhere yet and the table has room; `None` (submit by
    /// descriptor) if it is registered in another ring's table (counted as
    /// a fallback) or the table is full. See `ringwork_uring`'s `files.rs`.
    pub(crate) fn fixed_slot(&self, driver: &mut Driver) -> Option<u32> {
        let stats = driver.stats();
        let file = match self.0.fixed.get() {
            Some(file) => file,
            None => {
                let file = driver.register_file(self.raw())?;
                // Another thread may have registered it meanwhile on its
                // own ring: the first registration stays, this one's slot
                // is given back.
                let _ = self.0.fixed.set(file);
                self.0.fixed.get().expect("set above or by another thread")
            }
        };
        match driver.fixed_slot(file) {
            Some(slot) => {
                stats.fixed_file_op();
                Some(slot)
            }
            None => {
                stats.fixed_file_fallback();
                None
            }
        }
    }

    /// Deliveries of dropped operations, for the next one.
    pub(crate) fn stash(&self) -> &Stash {
        &self.0.stash
    }

    /// Waits until no dropped operation on this descriptor is still in the
    /// kernel, then takes from the stash with `take` (`None`: nothing
    /// stashed; go to the kernel). See `stash.rs`.
    pub(crate) async fn take_stashed<T>(
        &self,
        mut take: impl FnMut(&mut std::collections::VecDeque<super::stash::Stashed>) -> Option<T>,
    ) -> Option<T> {
        poll_fn(|cx| self.0.stash.poll_take(cx, &mut take)).await
    }

    /// Whether the descriptor can seek (`lseek` does not fail with
    /// `ESPIPE`). Decided once.
    pub(crate) fn is_seekable(&self) -> bool {
        self.file_kind() == FileKind::Seekable
    }

    /// How this file is read and written on the epoll driver (decided on
    /// first use, on an epoll thread).
    pub(crate) fn file_kind(&self) -> FileKind {
        *self.0.file_kind.get_or_init(|| {
            // SAFETY: `lseek` with offset 0 from `SEEK_CUR` only reports the
            // position; the descriptor is open (owned by `self`).
            if unsafe { libc::lseek(self.raw(), 0, libc::SEEK_CUR) } != -1
                || io::Error::last_os_error().raw_os_error() != Some(libc::ESPIPE)
            {
                return FileKind::Seekable;
            }
            // Only an epoll thread asks for the other kinds; register here
            // and switch to non-blocking mode, which readiness needs.
            if driver::epoll_handle().is_some()
                && self.registration().is_ok()
                && crate::sys::socket::set_nonblocking(self.raw()).is_ok()
            {
                FileKind::Pollable
            } else {
                FileKind::Unpollable
            }
        })
    }

    /// The epoll registration, made on this thread's reactor the first time
    /// (or again, if the reactor it was made on has shut down).
    pub(crate) fn registration(&self) -> io::Result<Arc<Registration>> {
        let mut slot = self.0.registration.lock();
        if let Some(reg) = slot.as_ref() {
            if !reg.is_orphaned() {
                return Ok(reg.clone());
            }
        }
        let handle = driver::epoll_handle().ok_or_else(driver::no_driver)?;
        // Drop the orphaned registration before registering anew.
        *slot = None;
        let reg = Arc::new(handle.register(self.raw())?);
        *slot = Some(reg.clone());
        Ok(reg)
    }
}

impl AsRawFd for SharedFd {
    fn as_raw_fd(&self) -> RawFd {
        self.raw()
    }
}

impl AsFd for SharedFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.fd.as_fd()
    }
}
