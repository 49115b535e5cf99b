//! Every I/O operation, one file each: the SQE it submits on io_uring and
//! the resources that SQE points into (kept alive by the op slot until the
//! kernel's final completion). The epoll path of each operation will live in
//! the same file (the epoll driver is a later piece of work).
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
use ringwork_uring::{Op, Orphan};
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A file descriptor shared by its owner (a socket or file object) and every
/// operation in flight on it: it is closed when the last of them lets go, so
/// an operation never outlives its descriptor, and a descriptor number is
/// never reused while the kernel may still act on the old one.
#[derive(Clone, Debug)]
pub(crate) struct SharedFd(Arc<OwnedFd>);

impl SharedFd {
    pub(crate) fn new(fd: OwnedFd) -> SharedFd {
        SharedFd(Arc::new(fd))
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    pub(crate) fn types_fd(&self) -> ringwork_uring::io_uring::types::Fd {
        ringwork_uring::io_uring::types::Fd(self.raw())
    }
}

impl AsRawFd for SharedFd {
    fn as_raw_fd(&self) -> RawFd {
        self.raw()
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
