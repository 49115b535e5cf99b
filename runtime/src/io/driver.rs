//! The thread-local I/O driver: each worker thread, and each thread inside
//! `block_on`, owns one io_uring [`Driver`]. An operation is submitted on
//! the driver of the thread that first polls it; its completion wakes the
//! task wherever it runs by then.
//!
//! [`UringPark`] plugs the driver into the scheduler's `Park` seam: the
//! worker parks inside `io_uring_enter`, and other threads wake it through
//! the driver's eventfd `Unparker`.

use crate::scheduler::park::{Park, Unpark};
use ringwork_uring::{Driver, Op, Orphan, UnstartedDriver};
use std::cell::RefCell;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

crate::loom::thread_local! {
    static CURRENT: RefCell<Option<Driver>> = RefCell::new(None);
}

/// Which I/O driver a runtime uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DriverKind {
    /// io_uring when this kernel and sandbox allow it. (The epoll fallback
    /// is not implemented yet: without io_uring, `build()` reports why.)
    #[default]
    Auto,
    /// io_uring, or an error from `build()` naming why it cannot be used.
    Uring,
}

impl DriverKind {
    /// Reads `RINGWORK_DRIVER` (`auto` or `uring`); `None` if unset.
    pub(crate) fn from_env() -> io::Result<Option<DriverKind>> {
        let Some(value) = std::env::var_os("RINGWORK_DRIVER") else {
            return Ok(None);
        };
        match value.to_string_lossy().trim() {
            "auto" | "" => Ok(Some(DriverKind::Auto)),
            "uring" | "io_uring" => Ok(Some(DriverKind::Uring)),
            "epoll" => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "RINGWORK_DRIVER=epoll: the epoll driver is not implemented yet",
            )),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("RINGWORK_DRIVER must be auto, uring or epoll, got {other:?}"),
            )),
        }
    }
}

/// Submits an operation on this thread's driver.
///
/// # Safety
/// As [`Driver::submit`]: every pointer in the SQE `build` returns points
/// into `resources` (or memory that outlives the operation), and the
/// resources keep every file descriptor in it open.
pub(crate) unsafe fn submit<R, F>(
    resources: R,
    orphan: Orphan,
    build: F,
) -> Result<Op<R>, (io::Error, R)>
where
    R: Send + 'static,
    F: FnOnce(&mut R) -> ringwork_uring::io_uring::squeue::Entry,
{
    let attempt = CURRENT.try_with(|current| match current.try_borrow_mut() {
        Ok(mut driver) => match driver.as_mut() {
            // SAFETY: forwarded precondition.
            Some(driver) => Some(unsafe { driver.submit(resources, orphan, build) }),
            None => Some(Err((no_driver(), resources))),
        },
        // Re-entered from inside the driver (a waker submitting I/O): not
        // supported; the resources are returned with the error.
        Err(_) => Some(Err((
            io::Error::other("I/O submitted from inside the I/O driver"),
            resources,
        ))),
    });
    match attempt {
        Ok(Some(result)) => result,
        // The thread is exiting: its thread-locals are gone.
        _ => unreachable!("submit called while the thread's locals are being destroyed"),
    }
}

fn no_driver() -> io::Error {
    io::Error::other(
        "no ringwork I/O driver on this thread: poll I/O futures from a ringwork task or inside \
         `Runtime::block_on` of a runtime built with I/O enabled",
    )
}

/// Runs `f` with this thread's driver, if any.
pub(crate) fn with_current<T>(f: impl FnOnce(&mut Driver) -> T) -> Option<T> {
    CURRENT
        .try_with(|current| current.try_borrow_mut().ok()?.as_mut().map(f))
        .ok()
        .flatten()
}

/// Installs `driver` as this thread's driver until the guard drops; the
/// driver is then shut down (cancel in-flight operations, wait for their
/// completions).
pub(crate) struct DriverGuard {
    _not_send: std::marker::PhantomData<*const ()>,
}

pub(crate) fn install(driver: Driver) -> DriverGuard {
    CURRENT.with(|current| {
        let prev = current.borrow_mut().replace(driver);
        debug_assert!(prev.is_none(), "a thread has one driver at a time");
    });
    DriverGuard {
        _not_send: std::marker::PhantomData,
    }
}

impl Drop for DriverGuard {
    fn drop(&mut self) {
        let driver = CURRENT
            .try_with(|current| current.borrow_mut().take())
            .ok()
            .flatten();
        drop(driver);
    }
}

/// A worker's `Park`: the worker sleeps inside its io_uring.
pub(crate) struct UringPark {
    unstarted: Option<UnstartedDriver>,
    guard: Option<DriverGuard>,
    unparker: Arc<UringUnparker>,
    /// Set if the ring could not be started on the worker thread; the
    /// worker then sleeps in short naps instead (no I/O possible).
    start_error: Option<io::Error>,
}

// SAFETY: before `enter`, a `UringPark` holds only the `Send` unstarted
// driver and unparker; `enter` and everything after run on the one worker
// thread that owns it (the guard never leaves that thread).
unsafe impl Send for UringPark {}

impl UringPark {
    pub(crate) fn new(driver: UnstartedDriver) -> UringPark {
        UringPark {
            unparker: Arc::new(UringUnparker(driver.unparker())),
            unstarted: Some(driver),
            guard: None,
            start_error: None,
        }
    }
}

impl Park for UringPark {
    fn enter(&mut self) {
        if let Some(unstarted) = self.unstarted.take() {
            match unstarted.start() {
                Ok(driver) => self.guard = Some(install(driver)),
                Err(err) => self.start_error = Some(err),
            }
        }
    }

    fn exit(&mut self) {
        // Dropping the guard shuts the driver down on this thread.
        self.guard = None;
    }

    fn flush(&mut self) {
        with_current(|driver| {
            let _ = driver.flush();
        });
    }

    fn park(&mut self, timeout: Option<Duration>) {
        let parked = with_current(|driver| driver.park(timeout));
        match parked {
            Some(Ok(())) => {}
            // An enter error other than the ones the driver retries (which
            // would be a kernel bug): do not spin, do not die.
            Some(Err(_)) | None => std::thread::sleep(
                timeout
                    .unwrap_or(Duration::from_millis(1))
                    .min(Duration::from_millis(1)),
            ),
        }
    }

    fn unparker(&self) -> Arc<dyn Unpark> {
        self.unparker.clone()
    }
}

impl fmt::Debug for UringPark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UringPark")
            .field("started", &self.guard.is_some())
            .field("start_error", &self.start_error)
            .finish()
    }
}

struct UringUnparker(ringwork_uring::Unparker);

impl Unpark for UringUnparker {
    fn unpark(&self) {
        self.0.unpark();
    }
}
