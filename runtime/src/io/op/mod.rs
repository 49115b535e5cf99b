//! Every I/O operation, one file each: the SQE it submits on io_uring and
//! the resources that SQE points into (kept alive by the op slot until the
//! kernel's final completion), and its epoll path: the non-blocking syscall
//! retried on readiness (sockets), or the blocking pool (regular files).
//! Callers see the same results, errors and owned-buffer signatures on both.
//!
//! Callers get owned buffers back with the result: `(io::Result<T>, B)`.

pub(crate) mod accept;
pub(crate) mod connect;
pub(crate) mod fsync;
pub(crate) mod ftruncate;
pub(crate) mod mkdir;
pub(crate) mod open;
pub(crate) mod read_at;
pub(crate) mod recv;
pub(crate) mod recvmsg;
pub(crate) mod rename;
pub(crate) mod send;
pub(crate) mod sendmsg;
pub(crate) mod statx;
pub(crate) mod unlink;
pub(crate) mod write_at;

use crate::coop;
use crate::io::driver;
use crate::io::DriverKind;
use ringwork_epoll::{Direction, Registration};
use ringwork_uring::{Op, Orphan};
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A file descriptor shared by its owner (a socket or file object) and every
/// operation in flight on it: it is closed when the last of them lets go, so
/// an operation never outlives its descriptor, and a descriptor number is
/// never reused while the kernel may still act on the old one.
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
    fd: OwnedFd,
}

impl SharedFd {
    pub(crate) fn new(fd: OwnedFd) -> SharedFd {
        SharedFd(Arc::new(FdInner {
            registration: parking_lot::Mutex::new(None),
            fd,
        }))
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.0.fd.as_raw_fd()
    }

    pub(crate) fn types_fd(&self) -> ringwork_uring::io_uring::types::Fd {
        ringwork_uring::io_uring::types::Fd(self.raw())
    }

    /// The epoll registration, made on this thread's reactor the first time
    /// (or again, if the reactor it was made on has shut down).
    fn registration(&self) -> io::Result<Arc<Registration>> {
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

    /// Runs the non-blocking syscall `attempt` until it does not return
    /// `WouldBlock`, waiting for readiness in `direction` in between (the
    /// epoll path of a socket operation). Spends one unit of the cooperative
    /// budget per readiness wait.
    pub(crate) async fn ready<T>(
        &self,
        direction: Direction,
        mut attempt: impl FnMut(RawFd) -> io::Result<T>,
    ) -> io::Result<T> {
        let registration = self.registration()?;
        loop {
            let event = poll_fn(|cx| {
                let progress = std::task::ready!(coop::poll_proceed(cx));
                let ready = registration.poll_ready(direction, cx);
                if ready.is_ready() {
                    progress.made_progress();
                }
                ready
            })
            .await;
            match attempt(self.raw()) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => registration.clear(event),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }
}

impl AsRawFd for SharedFd {
    fn as_raw_fd(&self) -> RawFd {
        self.raw()
    }
}

/// Whether this thread's driver is epoll (then operations take their epoll
/// path; otherwise the io_uring path, which reports a missing driver).
pub(crate) fn on_epoll() -> bool {
    driver::current_kind() == Some(DriverKind::Epoll)
}

/// Runs `f` on the blocking pool (the epoll path of file operations: epoll
/// cannot watch regular files).
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let handle =
        crate::runtime::Handle::try_current().map_err(|err| io::Error::other(err.to_string()))?;
    match handle.spawn_blocking(f).await {
        Ok(result) => result,
        Err(err) => Err(job_error(&handle, err)),
    }
}

/// Runs `f` with `buf` on the blocking pool and gives the buffer back.
///
/// The buffer waits in a slot shared with the job. The job takes it out
/// while it runs and puts it back when `f` returns or unwinds, so a dropped
/// future never frees memory a running syscall writes into. Once the job's
/// handle resolves the job is over, so the buffer is in the slot whatever
/// happened: `f` ran, panicked, or the job was cancelled without running (no
/// thread could be started to run it, or the runtime shut down); the error
/// then names the cause.
pub(crate) async fn blocking_with<B, T>(
    buf: B,
    f: impl FnOnce(&mut B) -> io::Result<T> + Send + 'static,
) -> (io::Result<T>, B)
where
    B: Send + 'static,
    T: Send + 'static,
{
    let handle = match crate::runtime::Handle::try_current() {
        Ok(handle) => handle,
        Err(err) => return (Err(io::Error::other(err.to_string())), buf),
    };
    let slot = Arc::new(parking_lot::Mutex::new(Some(buf)));
    let job_slot = slot.clone();
    let job = handle.spawn_blocking(move || {
        let mut loan = Loan {
            buf: job_slot.lock().take(),
            slot: &job_slot,
        };
        let buf = loan.buf.as_mut().expect("the job takes the buffer once");
        f(buf)
    });
    let result = match job.await {
        Ok(result) => result,
        Err(err) => Err(job_error(&handle, err)),
    };
    let buf = slot
        .lock()
        .take()
        .expect("the buffer is back in its slot once the job is over");
    (result, buf)
}

/// A buffer taken out of its slot by a running job; put back on drop, when
/// the job's closure returns or unwinds.
struct Loan<'a, B> {
    buf: Option<B>,
    slot: &'a parking_lot::Mutex<Option<B>>,
}

impl<B> Drop for Loan<'_, B> {
    fn drop(&mut self) {
        *self.slot.lock() = self.buf.take();
    }
}

/// Why a blocking job gave no result: its panic, or the cause of its
/// cancellation (the callers above never cancel their jobs).
fn job_error(handle: &crate::runtime::Handle, err: crate::task::JoinError) -> io::Error {
    if err.is_cancelled() {
        handle.shared.blocking.cancel_reason()
    } else {
        io::Error::other(err.to_string())
    }
}

/// A submitted operation as a future of `(result, resources)`, counted
/// against the cooperative budget.
pub(crate) enum OpFuture<R: Send + 'static> {
    Submitted(Op<R>),
    Failed(Option<(io::Error, R)>),
}

/// Submits an operation on this thread's driver.
///
/// # Safety
/// As [`ringwork_uring::Driver::submit`]: the SQE points only into
/// `resources` (or memory outliving the operation), and `resources` keeps
/// every descriptor the SQE names open (hold a [`SharedFd`] clone).
pub(crate) unsafe fn submit<R, F>(resources: R, orphan: Orphan, build: F) -> OpFuture<R>
where
    R: Send + 'static,
    F: FnOnce(&mut R) -> ringwork_uring::io_uring::squeue::Entry,
{
    // SAFETY: forwarded precondition.
    match unsafe { crate::io::driver::submit(resources, orphan, build) } {
        Ok(op) => OpFuture::Submitted(op),
        Err(failed) => OpFuture::Failed(Some(failed)),
    }
}

impl<R: Send + 'static> Future for OpFuture<R> {
    type Output = (io::Result<u32>, R);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            OpFuture::Submitted(op) => {
                let progress = std::task::ready!(coop::poll_proceed(cx));
                let (completion, resources) = std::task::ready!(op.poll_complete(cx));
                progress.made_progress();
                Poll::Ready((completion.into_result(), resources))
            }
            OpFuture::Failed(failed) => {
                let (err, resources) = failed.take().expect("OpFuture polled after completion");
                Poll::Ready((Err(err), resources))
            }
        }
    }
}

// Every variant holds only `Unpin` data (`Op` is a handle of `Arc`s).
impl<R: Send + 'static> Unpin for OpFuture<R> {}
