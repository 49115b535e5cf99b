//! [`Compat`]: ringwork streams and files behind the poll-based I/O traits
//! of the ecosystem — `futures-io`'s `AsyncRead`, `AsyncBufRead` and
//! `AsyncWrite` (feature `futures-io`), tokio's (feature `tokio-io`; only
//! the traits, no tokio runtime), and hyper 1.x's `rt::Read`/`rt::Write`
//! (feature `hyper`, with `hyper_rt::{HyperExecutor, HyperTimer}`: hyper's
//! client and server run on ringwork with no glue).
//!
//! ringwork's own I/O hands buffers to the kernel by value; a poll-based
//! trait lends a `&mut [u8]` for one poll only. So the wrapper owns the
//! buffers the kernel fills and drains between polls:
//!
//! - reads fill an internal buffer (`READ_BUFFER` bytes, or the caller's
//!   size if larger) and copy out of it — one copy per read (`AsyncBufRead`
//!   hands out the internal buffer itself, no copy);
//! - a write copies the caller's bytes into an internal buffer, starts
//!   writing all of them and reports them written (one write in flight at a
//!   time: the next `poll_write` first waits for the previous one; reads
//!   move it on too). An error of a write in flight is returned by the next
//!   `poll_write`, `poll_flush` or `poll_close`. `poll_flush` waits for the
//!   write in flight; `poll_close` flushes, then shuts a socket's writing
//!   side down. Dropping the wrapper cancels a write in flight: flush or
//!   close before dropping it, as with any buffered writer.
//!
//! The wrapper is what a poll-based library (hyper, tungstenite, an
//! `AsyncRead` codec) takes; ringwork's own streams stay free of any state
//! for it.

use super::fd::SharedFd;

use super::op;
use super::op::recv_multi::Receiver;
use crate::buf::RecvBuf;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Size of the internal read buffer (a larger caller buffer is filled whole,
/// up to [`MAX_READ_BUFFER`]).
const READ_BUFFER: usize = 16 * 1024;
/// The largest internal read buffer: a huge caller buffer (a
/// `read_to_end`'s) must not leave one that size behind.
const MAX_READ_BUFFER: usize = 1 << 20;

type OpFuture = Pin<Box<dyn Future<Output = (io::Result<usize>, Vec<u8>)> + Send>>;

/// A read in flight: into the wrapper's `Vec`, or (a socket on a ring with
/// provided buffers) a buffer the kernel filled, handed over without a
/// copy; the spare `Vec` comes back either way.
type ReadFuture =
    Pin<Box<dyn Future<Output = (io::Result<usize>, Vec<u8>, Option<RecvBuf>)> + Send>>;

/// What can go behind a [`Compat`]: ringwork's streams, their halves and
/// files.
pub trait CompatIo: sealed::Sealed {}

pub(crate) mod sealed {
    /// How the wrapper reaches the descriptor (not public API).
    pub trait Sealed {
        #[doc(hidden)]
        fn compat_target(&self) -> super::Target;
    }
}

/// The descriptor behind a [`CompatIo`], and whether it is a socket
/// (recv/send, shutdown on close) or a file (read/write at the file
/// position). Opaque.
#[doc(hidden)]
#[derive(Debug)]
pub struct Target {
    fd: SharedFd,
    /// A socket's multishot receive (`None`: a file).
    receiver: Option<Arc<Receiver>>,
    /// The socket supports zero-copy sends (TCP).
    zero_copy_ok: bool,
    /// `poll_close` shuts the socket's writing side down (not for a read
    /// half, whose write half may still be writing).
    shutdown_on_close: bool,
}

impl Target {
    pub(crate) fn new(
        fd: SharedFd,
        receiver: Option<Arc<Receiver>>,
        zero_copy_ok: bool,
        shutdown_on_close: bool,
    ) -> Target {
        Target {
            fd,
            receiver,
            zero_copy_ok,
            shutdown_on_close,
        }
    }
}

/// A ringwork stream or file with the `futures-io` traits (see the
/// [module documentation](self)).
///
/// ```
/// # #[cfg(feature = "futures-io")]
/// # ringwork::Runtime::new().unwrap().block_on(async {
/// use futures_io::AsyncWrite;
/// use ringwork::io::compat::Compat;
/// use ringwork::net::UnixStream;
/// use std::future::poll_fn;
/// use std::pin::Pin;
///
/// let (a, b) = UnixStream::pair()?;
/// let mut a = Compat::new(a);
/// let sent = poll_fn(|cx| Pin::new(&mut a).poll_write(cx, b"hi")).await?;
/// assert_eq!(sent, 2);
/// let (res, buf) = b.read(Vec::with_capacity(2)).await;
/// assert_eq!(&buf[..res?], b"hi");
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub struct Compat<T> {
    inner: T,
    target: Target,
    read: ReadState,
    write: WriteState,
}

enum ReadState {
    /// Nothing buffered (the spare buffer, for the next read).
    Idle(Vec<u8>),
    /// Bytes read and not yet consumed: `buf[pos..]`.
    Filled { buf: Vec<u8>, pos: usize },
    /// Bytes in a provided buffer, not yet consumed (the spare `Vec` kept
    /// for reads that need one).
    Pooled { data: RecvBuf, spare: Vec<u8> },
    /// A read in flight.
    Reading(ReadFuture),
    /// End of stream seen (a later read tries again).
    Eof(Vec<u8>),
}

enum WriteState {
    Idle(Vec<u8>),
    /// A write in flight.
    Writing(OpFuture),
    /// A write failed after it was reported done: the next write, flush
    /// or close returns the error.
    Failed(io::Error, Vec<u8>),
}

impl<T: CompatIo> Compat<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Compat<T> {
        Compat {
            target: inner.compat_target(),
            inner,
            read: ReadState::Idle(Vec::new()),
            write: WriteState::Idle(Vec::new()),
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream. Bytes read into the wrapper's buffer and not
    /// consumed are dropped with it, and so is a write in flight (its
    /// operation is cancelled): flush (or close) first.
    pub fn into_inner(self) -> T {
        self.inner
    }

    fn start_read(&self, mut buf: Vec<u8>, want: usize) -> ReadFuture {
        let fd = self.target.fd.clone();
        let receiver = self.target.receiver.clone();
        // A socket on a ring with provided buffers: take the kernel's
        // buffer itself (one copy fewer; `fill_buf` copies none).
        let pooled = receiver.is_some()
            && crate::io::driver::with_uring(|d| d.buf_ring().is_some()).unwrap_or(false);
        if pooled {
            return Box::pin(async move {
                let receiver = receiver.expect("checked above");
                match op::recv::recv_buf(&fd, &receiver).await {
                    Ok(data) => (Ok(data.len()), buf, Some(data)),
                    Err(err) => (Err(err), buf, None),
                }
            });
        }
        buf.clear();
        buf.reserve(want.clamp(READ_BUFFER, MAX_READ_BUFFER));
        Box::pin(async move {
            let (result, buf) = if let Some(receiver) = receiver {
                op::recv::recv(&fd, &receiver, buf).await
            } else {
                op::read::read(&fd, buf).await
            };
            (result, buf, None)
        })
    }

    /// Moves a write in flight on (a reported write must progress even
    /// while its writer only reads, waiting for the peer's answer to it).
    fn drive_write(&mut self, cx: &mut Context<'_>) {
        if let WriteState::Writing(writing) = &mut self.write {
            if let Poll::Ready((result, buf)) = writing.as_mut().poll(cx) {
                self.write = match result {
                    Ok(_) => WriteState::Idle(buf),
                    Err(err) => WriteState::Failed(err, buf),
                };
            }
        }
    }

    /// Fills the internal buffer if it is empty; the unconsumed bytes.
    fn poll_fill(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<io::Result<&[u8]>> {
        self.drive_write(cx);
        loop {
            match std::mem::replace(&mut self.read, ReadState::Idle(Vec::new())) {
                ReadState::Filled { buf, pos } if pos < buf.len() => {
                    self.read = ReadState::Filled { buf, pos };
                    break;
                }
                ReadState::Pooled { data, spare } if !data.is_empty() => {
                    self.read = ReadState::Pooled { data, spare };
                    break;
                }
                ReadState::Filled { buf, .. }
                | ReadState::Pooled { spare: buf, .. }
                | ReadState::Idle(buf)
                | ReadState::Eof(buf) => {
                    self.read = ReadState::Reading(self.start_read(buf, want));
                }
                ReadState::Reading(mut reading) => match reading.as_mut().poll(cx) {
                    Poll::Pending => {
                        self.read = ReadState::Reading(reading);
                        return Poll::Pending;
                    }
                    Poll::Ready((Err(err), buf, _)) => {
                        self.read = ReadState::Idle(buf);
                        return Poll::Ready(Err(err));
                    }
                    Poll::Ready((Ok(0), buf, _)) => {
                        self.read = ReadState::Eof(buf);
                        return Poll::Ready(Ok(&[]));
                    }
                    Poll::Ready((Ok(_), spare, Some(data))) => {
                        self.read = ReadState::Pooled { data, spare };
                        break;
                    }
                    Poll::Ready((Ok(_), buf, None)) => {
                        self.read = ReadState::Filled { buf, pos: 0 };
                        break;
                    }
                },
            }
        }
        match &self.read {
            ReadState::Filled { buf, pos } => Poll::Ready(Ok(&buf[*pos..])),
            ReadState::Pooled { data, .. } => Poll::Ready(Ok(data)),
            _ => unreachable!("filled above"),
        }
    }

    fn consume_read(&mut self, amount: usize) {
        match &mut self.read {
            ReadState::Filled { buf, pos } => *pos = (*pos + amount).min(buf.len()),
            ReadState::Pooled { data, .. } => data.advance(amount),
            _ => {}
        }
    }

    /// A poll-trait read into a caller's buffer of `room` bytes: up to that
    /// many of the buffered bytes go to `put`, which copies them out.
    /// Returns how many.
    fn poll_copy_out(
        &mut self,
        cx: &mut Context<'_>,
        room: usize,
        put: impl FnOnce(&[u8]),
    ) -> Poll<io::Result<usize>> {
        if room == 0 {
            return Poll::Ready(Ok(0));
        }
        let available = std::task::ready!(self.poll_fill(cx, room))?;
        let n = available.len().min(room);
        put(&available[..n]);
        self.consume_read(n);
        Poll::Ready(Ok(n))
    }

    /// Waits for the write in flight, if any; its error, if it failed.
    fn poll_flush_inner(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let WriteState::Writing(writing) = &mut self.write {
            let (result, buf) = std::task::ready!(writing.as_mut().poll(cx));
            self.write = WriteState::Idle(buf);
            result?;
        }
        if let WriteState::Failed(..) = self.write {
            let WriteState::Failed(err, buf) =
                std::mem::replace(&mut self.write, WriteState::Idle(Vec::new()))
            else {
                unreachable!("checked above");
            };
            self.write = WriteState::Idle(buf);
            return Poll::Ready(Err(err));
        }
        Poll::Ready(Ok(()))
    }

    /// Accepts `data` into the write buffer (after the previous write
    /// finished) and starts writing all of it.
    fn poll_write_inner(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_flush_inner(cx))?;
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let WriteState::Idle(mut buf) =
            std::mem::replace(&mut self.write, WriteState::Idle(Vec::new()))
        else {
            unreachable!("flushed above");
        };
        let n = data.len().min(op::MAX_TRANSFER);
        buf.clear();
        buf.extend_from_slice(&data[..n]);
        let fd = self.target.fd.clone();
        let socket = self.target.receiver.is_some();
        let zero_copy_ok = self.target.zero_copy_ok;
        self.write = WriteState::Writing(Box::pin(async move {
            let (result, buf) = if socket {
                op::send::send_all(&fd, buf, zero_copy_ok).await
            } else {
                write_all(&fd, buf).await
            };
            (result.map(|()| n), buf)
        }));
        // Started: polled once now so that it is submitted at once (a
        // failure is reported by the next write, flush or close).
        self.drive_write(cx);
        Poll::Ready(Ok(n))
    }
}

impl<T: CompatIo> Compat<T> {
    /// Flushes, then shuts a socket's writing side down.
    fn poll_close_inner(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_flush_inner(cx))?;
        if self.target.shutdown_on_close {
            match crate::sys::socket::shutdown(&self.target.fd, std::net::Shutdown::Write) {
                // Already shut down, or the peer is gone: closed enough.
                Err(err) if err.kind() == io::ErrorKind::NotConnected => {}
                other => other?,
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// Writes all of `buf` at the file position.
async fn write_all(fd: &SharedFd, mut buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
    use crate::buf::IoBuf;
    let mut done = 0;
    while done < buf.len() {
        let len = buf.len();
        let (result, rest) = op::write::write(fd, buf.slice(done..len)).await;
        buf = rest.into_inner();
        match result {
            Ok(0) => return (Err(op::send::write_zero()), buf),
            Ok(n) => done += n,
            Err(err) => return (Err(err), buf),
        }
    }
    (Ok(()), buf)
}

impl<T> fmt::Debug for Compat<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compat")
            .field("reading", &matches!(self.read, ReadState::Reading(_)))
            .field("writing", &matches!(self.write, WriteState::Writing(_)))
            .field(
                "write_failed",
                &matches!(self.write, WriteState::Failed(..)),
            )
            .finish_non_exhaustive()
    }
}

// Only `Box`es and plain values inside: `Compat<T>` is `Unpin` if `T` is.
impl<T: Unpin> Unpin for Compat<T> {}

#[cfg(feature = "futures-io")]
mod futures_io_impls {
    use super::{Compat, CompatIo};
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    impl<T: CompatIo + Unpin> futures_io::AsyncRead for Compat<T> {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            out: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            let room = out.len();
            self.get_mut()
                .poll_copy_out(cx, room, |bytes| out[..bytes.len()].copy_from_slice(bytes))
        }
    }

    impl<T: CompatIo + Unpin> futures_io::AsyncBufRead for Compat<T> {
        fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
            self.get_mut().poll_fill(cx, 0)
        }

        fn consume(self: Pin<&mut Self>, amount: usize) {
            self.get_mut().consume_read(amount);
        }
    }

    impl<T: CompatIo + Unpin> futures_io::AsyncWrite for Compat<T> {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().poll_write_inner(cx, data)
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_flush_inner(cx)
        }

        fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_close_inner(cx)
        }
    }
}

#[cfg(feature = "tokio-io")]
mod tokio_io_impls {
    use super::{Compat, CompatIo};
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio::io::ReadBuf;

    impl<T: CompatIo + Unpin> tokio::io::AsyncRead for Compat<T> {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            out: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let room = out.remaining();
            self.get_mut()
                .poll_copy_out(cx, room, |bytes| out.put_slice(bytes))
                .map_ok(drop)
        }
    }

    impl<T: CompatIo + Unpin> tokio::io::AsyncBufRead for Compat<T> {
        fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
            self.get_mut().poll_fill(cx, 0)
        }

        fn consume(self: Pin<&mut Self>, amount: usize) {
            self.get_mut().consume_read(amount);
        }
    }

    impl<T: CompatIo + Unpin> tokio::io::AsyncWrite for Compat<T> {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().poll_write_inner(cx, data)
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_flush_inner(cx)
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_close_inner(cx)
        }
    }
}

#[cfg(feature = "hyper")]
mod hyper_impls {
    use super::{Compat, CompatIo};
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    impl<T: CompatIo + Unpin> hyper::rt::Read for Compat<T> {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            mut out: hyper::rt::ReadBufCursor<'_>,
        ) -> Poll<io::Result<()>> {
            let room = out.remaining();
            self.get_mut()
                .poll_copy_out(cx, room, |bytes| out.put_slice(bytes))
                .map_ok(drop)
        }
    }

    impl<T: CompatIo + Unpin> hyper::rt::Write for Compat<T> {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().poll_write_inner(cx, data)
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_flush_inner(cx)
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_close_inner(cx)
        }
    }
}

/// Puts types behind [`Compat`]: invoked next to each type (net, fs), so
/// that this module, below them, names none of them.
macro_rules! compat_io {
    ($($ty:ty => $kind:ident, $shutdown:expr);* $(;)?) => {$(
        impl $crate::io::compat::CompatIo for $ty {}
        impl $crate::io::compat::sealed::Sealed for $ty {
            fn compat_target(&self) -> $crate::io::compat::Target {
                $crate::io::compat::Target::new(
                    self.shared_fd().clone(),
                    $crate::io::compat::compat_io!(@receiver self $kind),
                    $crate::io::compat::compat_io!(@zero_copy $kind),
                    $shutdown,
                )
            }
        }
    )*};
    (@receiver $self:ident file) => { None };
    (@receiver $self:ident $socket:ident) => { Some($self.receiver().clone()) };
    (@zero_copy tcp) => { true };
    (@zero_copy $other:ident) => { false };
}
pub(crate) use compat_io;
