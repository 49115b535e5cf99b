//! The I/O driver as operations see it: which kind a runtime uses
//! ([`DriverKind`]), and this thread's driver, found in the per-thread
//! context (`context.rs`). Each worker thread, and each thread inside
//! `block_on`, owns one — an io_uring `Driver`, or an epoll `Reactor` where
//! io_uring is unavailable; `driver/io.rs` sets them up. An operation runs on
//! the driver of the thread that first polls it; its completion (or
//! readiness) wakes the task wherever it runs by then.

use crate::context::{self, IoAccess, ThreadDriver};
use ringwork_uring::Driver;
use std::io;

/// Which I/O driver a runtime uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DriverKind {
    /// io_uring when this kernel and sandbox allow it, else epoll (with the
    /// reason kept in `Handle::driver_fallback_reason`).
    #[default]
    Auto,
    /// io_uring, or an error from `build()` naming why it cannot be used.
    Uring,
    /// epoll readiness with non-blocking syscalls; regular files go to the
    /// blocking pool.
    Epoll,
}

impl DriverKind {
    /// Reads `RINGWORK_DRIVER` (`auto`, `uring` or `epoll`); `None` if unset.
    pub(crate) fn from_env() -> io::Result<Option<DriverKind>> {
        let Some(value) = std::env::var_os("RINGWORK_DRIVER") else {
            return Ok(None);
        };
        match value.to_string_lossy().trim() {
            "auto" | "" => Ok(Some(DriverKind::Auto)),
            "uring" | "io_uring" => Ok(Some(DriverKind::Uring)),
            "epoll" => Ok(Some(DriverKind::Epoll)),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("RINGWORK_DRIVER must be auto, uring or epoll, got {other:?}"),
            )),
        }
    }
}

/// A handle to register descriptors with this thread's epoll reactor.
pub(crate) fn epoll_handle() -> Option<ringwork_epoll::Handle> {
    context::with_io(|io| match io {
        IoAccess::Driver(ThreadDriver::Epoll(reactor)) => Some(reactor.handle()),
        _ => None,
    })
}

pub(crate) fn no_driver() -> io::Error {
    io::Error::other(
        "no ringwork I/O driver on this thread: poll I/O futures from a ringwork task or inside \
         `Runtime::block_on` of a runtime built with I/O enabled",
    )
}

/// Runs `f` with this thread's io_uring driver, if it has one.
pub(crate) fn with_uring<T>(f: impl FnOnce(&mut Driver) -> T) -> Option<T> {
    context::with_io(|io| match io {
        IoAccess::Driver(ThreadDriver::Uring(driver)) => Some(f(driver)),
        _ => None,
    })
}
