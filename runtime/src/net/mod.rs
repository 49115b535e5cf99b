//! Networking: TCP, UDP and Unix sockets, all on the same operations.
//!
//! Every call that waits goes through the I/O driver of the thread that
//! polls it (an io_uring SQE); set-up calls that never block (socket, bind,
//! listen, options) are plain syscalls.

mod options;
mod tcp;
mod tcp_socket;
mod udp;
mod unix;
mod unix_datagram;

mod addr;

pub use addr::{lookup_host, ToSocketAddrs};
pub use tcp::{OwnedReadHalf, OwnedWriteHalf, TcpListener, TcpStream};
pub use tcp_socket::TcpSocket;
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixSocketAddr, UnixStream};
pub use unix_datagram::UnixDatagram;

use crate::io::op::{self, SharedFd};
use crate::sys::addr::RawAddr;
use std::fmt;
use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A listener's accept: the connection, or, when the process is out of
/// descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`), the
/// error after a 10 ms pause, so that an accept loop that retries at once
/// does not spin while nothing can be accepted.
async fn accept(fd: &SharedFd, acceptor: &op::accept::Acceptor) -> io::Result<(OwnedFd, RawAddr)> {
    match op::accept::accept(fd, acceptor).await {
        Err(err)
            if matches!(
                err.raw_os_error(),
                Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
            ) =>
        {
            crate::time::sleep(std::time::Duration::from_millis(10)).await;
            Err(err)
        }
        other => other,
    }
}

/// A listener's connections as a [`futures_core::Stream`], from
/// [`TcpListener::incoming`] or [`UnixListener::incoming`]: each item is what
/// the next `accept` returns. It never ends (errors are items; an accept
/// loop decides whether one is fatal).
///
/// Cancel safe, as `accept` is: dropping the stream (or not polling it
/// again) loses no connection the kernel accepted; the next `accept` or
/// stream gets it.
pub struct Incoming<'a, T> {
    accept: Box<dyn Fn() -> AcceptFuture<'a, T> + Send + Sync + 'a>,
    /// The accept in progress.
    pending: Option<AcceptFuture<'a, T>>,
}

type AcceptFuture<'a, T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send + 'a>>;

impl<'a, T> Incoming<'a, T> {
    fn new(accept: impl Fn() -> AcceptFuture<'a, T> + Send + Sync + 'a) -> Incoming<'a, T> {
        Incoming {
            accept: Box::new(accept),
            pending: None,
        }
    }
}

impl<T> futures_core::Stream for Incoming<'_, T> {
    type Item = io::Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Only `Box`es inside: `Incoming` is `Unpin`.
        let this = self.get_mut();
        let pending = this.pending.get_or_insert_with(|| (this.accept)());
        let accepted = std::task::ready!(pending.as_mut().poll(cx));
        this.pending = None;
        Poll::Ready(Some(accepted))
    }
}

impl<T> fmt::Debug for Incoming<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("accepting", &self.pending.is_some())
            .finish()
    }
}
