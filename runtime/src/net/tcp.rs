//! TCP: [`TcpListener`] and [`TcpStream`].

use super::options::tcp_options;
use super::ToSocketAddrs;
use crate::buf::{IoBuf, IoBufMut, RecvBuf};
use crate::io::op::recv_multi::Receiver;
use crate::io::op::{self, SharedFd};
use crate::sys::addr::RawAddr;
use crate::sys::socket;
use socket2::SockRef;
use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;

/// Tries `f` on each resolved address; returns the first success or the
/// last error. A host name is looked up on the blocking pool (see
/// [`super::lookup_host`]); IP literals need no lookup.
async fn each_addr<T, F, Fut>(addrs: impl ToSocketAddrs, mut f: F) -> io::Result<T>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = io::Result<T>>,
{
    let mut last = None;
    for addr in super::addr::resolve(&addrs).await? {
        match f(addr).await {
            Ok(value) => return Ok(value),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "no addresses to connect or bind to",
        )
    }))
}

fn domain_of(addr: &SocketAddr) -> libc::c_int {
    match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    }
}

/// A TCP socket listening for connections.
///
/// ```
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// use ringwork::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0").await?;
/// let addr = listener.local_addr()?;
/// let server = ringwork::spawn(async move {
///     let (stream, _) = listener.accept().await?;
///     let (n, buf) = stream.read(vec![0u8; 64]).await;
///     let n = n?;
///     let (res, _) = stream.write_all(buf[..n].to_vec()).await; // echo
///     res
/// });
/// let client = TcpStream::connect(addr).await?;
/// client.write_all(b"ping".as_slice()).await.0?;
/// let (res, reply) = client.read_exact(Vec::with_capacity(4)).await;
/// res?;
/// assert_eq!(reply, b"ping");
/// server.await??;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub struct TcpListener {
    fd: SharedFd,
    /// The multishot accept, where the ring has one (io_uring).
    acceptor: crate::io::op::accept::Acceptor,
}

impl TcpListener {
    /// Binds to the first address that works, with `SO_REUSEADDR` and a
    /// listen backlog of 1024.
    pub async fn bind(addrs: impl ToSocketAddrs) -> io::Result<TcpListener> {
        each_addr(addrs, |addr| async move { TcpListener::bind_addr(addr) }).await
    }

    fn bind_addr(addr: SocketAddr) -> io::Result<TcpListener> {
        let socket = match addr {
            SocketAddr::V4(_) => super::TcpSocket::new_v4()?,
            SocketAddr::V6(_) => super::TcpSocket::new_v6()?,
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(socket::LISTEN_BACKLOG as u32)
    }

    /// A listener on a socket already listening (from [`super::TcpSocket`]).
    pub(super) fn from_listening(fd: OwnedFd) -> TcpListener {
        TcpListener {
            fd: SharedFd::new(fd),
            acceptor: Default::default(),
        }
    }

    /// Wraps a listener made by the standard library (it is switched to
    /// non-blocking mode).
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        let fd = OwnedFd::from(listener);
        socket::set_nonblocking(fd.as_raw_fd())?;
        Ok(TcpListener {
            fd: SharedFd::new(fd),
            acceptor: Default::default(),
        })
    }

    /// Waits for a connection.
    ///
    /// Cancel safe: a connection the kernel accepts for a dropped `accept`
    /// is kept with the listener and returned by the next `accept` (it is
    /// closed only if the listener is dropped first).
    ///
    /// On io_uring, called from a worker, it uses the listener's multishot
    /// accept where the kernel has it (`Builder::uring_multishot_accept`,
    /// on by default): one armed `ACCEPT` posts every connection, and each
    /// call takes the oldest. Concurrent calls on one listener take turns;
    /// each connection goes to one of them.
    ///
    /// When descriptors run out (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`) the
    /// error is returned after a 10 ms pause, so that an accept loop that
    /// retries at once does not spin while the process is out of
    /// descriptors; it accepts again as soon as some are freed.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (fd, addr) = super::accept(&self.fd, &self.acceptor).await?;
        Ok((
            TcpStream::from_fd(SharedFd::new(fd)),
            addr.as_socket_addr()?,
        ))
    }

    /// The connections as a [`futures_core::Stream`] of what
    /// [`accept`](TcpListener::accept) returns (see [`super::Incoming`]).
    pub fn incoming(&self) -> super::Incoming<'_, (TcpStream, SocketAddr)> {
        super::Incoming::new(move || Box::pin(self.accept()))
    }

    /// The address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        socket::local_addr(self.fd.raw())?.as_socket_addr()
    }

    /// Sets the time-to-live (IPv4) or unicast hop limit (IPv6) of the
    /// listening socket's packets, which accepted connections inherit (see
    /// [`TcpStream::set_ttl`]).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        super::options::set_ttl(&SockRef::from(&self.fd), ttl)
    }

    /// The time-to-live (IPv4) or unicast hop limit (IPv6).
    pub fn ttl(&self) -> io::Result<u32> {
        super::options::ttl(&SockRef::from(&self.fd))
    }

    /// Whether an IPv6 listener takes IPv6 connections only
    /// (`IPV6_V6ONLY`; an error on an IPv4 listener). Set it before
    /// binding, with [`super::TcpSocket::set_only_v6`].
    pub fn only_v6(&self) -> io::Result<bool> {
        SockRef::from(&self.fd).only_v6()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("fd", &self.fd.raw())
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

/// A TCP connection. Methods take `&self`, so one task may read while
/// another writes (see also [`into_split`](TcpStream::into_split)).
///
/// Buffers are passed by value and returned with the result: the kernel owns
/// them while an operation runs, even if its future is dropped.
pub struct TcpStream {
    fd: SharedFd,
    /// The multishot receive, shared with every handle of the socket.
    rx: Arc<Receiver>,
}

impl TcpStream {
    pub(super) fn from_connected(fd: SharedFd) -> TcpStream {
        TcpStream::from_fd(fd)
    }

    fn from_fd(fd: SharedFd) -> TcpStream {
        TcpStream {
            fd,
            rx: Arc::default(),
        }
    }

    /// The multishot receive, for the compat layer.
    #[cfg_attr(not(feature = "futures-io"), allow(dead_code))]
    pub(crate) fn receiver(&self) -> &Arc<Receiver> {
        &self.rx
    }

    /// The descriptor, for the compat layer.
    #[cfg_attr(not(feature = "futures-io"), allow(dead_code))]
    pub(crate) fn shared_fd(&self) -> &SharedFd {
        &self.fd
    }
    /// Connects to the first address that accepts.
    pub async fn connect(addrs: impl ToSocketAddrs) -> io::Result<TcpStream> {
        each_addr(addrs, |addr| async move {
            let fd = SharedFd::new(socket::new_socket(domain_of(&addr), libc::SOCK_STREAM)?);
            op::connect::connect(&fd, RawAddr::from_socket_addr(&addr)).await?;
            Ok(TcpStream::from_fd(fd))
        })
        .await
    }

    /// Wraps a connection made by the standard library (it is switched to
    /// non-blocking mode).
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        let fd = OwnedFd::from(stream);
        socket::set_nonblocking(fd.as_raw_fd())?;
        Ok(TcpStream::from_fd(SharedFd::new(fd)))
    }

    /// Reads up to `buf.bytes_total()` bytes into the start of `buf` (all
    /// of a `Vec`'s capacity, or a [`slice`](crate::buf::IoBuf::slice) of
    /// it) and returns how many, `n`. The first `n` bytes of `buf` are
    /// overwritten; a `Vec` shorter than `n` grows to length `n`, and a
    /// longer one keeps its length (so read into `Vec::with_capacity(..)`,
    /// or use `buf[..n]`). To append to a `Vec` instead, read into
    /// `buf.slice(buf.len()..)`. `Ok(0)` means the peer closed its side; a
    /// zero-capacity buffer is `InvalidInput`. One call moves at most
    /// 2 GiB − 64 KiB.
    ///
    /// Cancel safe: if the future is dropped (a `timeout` or `select!`),
    /// nothing the kernel delivered is lost — bytes that arrive for it after
    /// the drop are kept with the socket and returned, in order, by the next
    /// read.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        op::recv::recv(&self.fd, &self.rx, buf).await
    }

    /// Fills the whole capacity of `buf` (`bytes_total()`), or fails with
    /// `UnexpectedEof` if the peer closes first.
    ///
    /// Not cancel safe: a dropped `read_exact` loses the bytes it had
    /// already read into `buf` (the buffer goes with the future); bytes its
    /// last read gets after the drop are kept for the next read.
    pub async fn read_exact<B: IoBufMut>(&self, buf: B) -> (io::Result<()>, B) {
        op::recv::recv_exact(&self.fd, &self.rx, buf).await
    }

    /// Appends everything up to end of stream (the peer's shutdown or close)
    /// to `buf`; returns how many bytes were appended: asyncio's
    /// `read(-1)`. Memory grows with what the peer sends; bound it with a
    /// `timeout` or a protocol of your own where that matters. On an error
    /// the bytes read so far are in `buf`.
    ///
    /// Not cancel safe: a dropped `read_to_end` loses the bytes it had read
    /// into `buf` (the buffer goes with the future); bytes its last read
    /// gets after the drop are kept for the next read.
    pub async fn read_to_end(&self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        crate::io::read_to_end(self, buf).await
    }

    /// Appends everything up to end of stream to `string`; returns how
    /// many bytes were appended. Bytes that are not valid UTF-8 are
    /// `InvalidData`; on any error `string` comes back as it was given (the
    /// bytes read are dropped). Not cancel safe, as
    /// [`read_to_end`](TcpStream::read_to_end).
    pub async fn read_to_string(&self, string: String) -> (io::Result<usize>, String) {
        crate::io::read_to_string(self, string).await
    }

    /// Receives the next bytes in a buffer the runtime chooses, without a
    /// copy where it can: with provided buffers on io_uring
    /// (`Builder::uring_buf_ring`), one of the worker ring's buffers, filled
    /// by the kernel and given back to the ring when the [`RecvBuf`] is
    /// dropped (on any thread); elsewhere a 16 KiB heap buffer. Either way
    /// no buffer is held while it waits: the kernel picks a ring buffer
    /// when data arrives, and the heap buffer is allocated once the socket
    /// is readable, so an idle connection waiting here pins no read
    /// buffer (unlike `read(Vec)`, whose buffer the pending read owns).
    /// An empty `RecvBuf` means the peer closed its side. The buffer is an
    /// [`IoBuf`]: send it on as it is.
    ///
    /// Cancel safe, like [`read`](TcpStream::read); `read` and `recv_buf` may be
    /// mixed and see the bytes in order.
    pub async fn recv_buf(&self) -> io::Result<RecvBuf> {
        op::recv::recv_buf(&self.fd, &self.rx).await
    }

    /// Writes some of `buf`'s initialized bytes (at most 2 GiB − 64 KiB);
    /// returns how many.
    ///
    /// A dropped `write` may have sent a prefix of the buffer; only the
    /// returned count says how much, so await it to the end where that
    /// matters.
    pub async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        op::send::send(&self.fd, buf, true).await
    }

    /// Writes all of `buf`'s initialized bytes. A peer that vanished gives
    /// `BrokenPipe` or `ConnectionReset`.
    ///
    /// A dropped `write_all` may have sent any prefix of the buffer.
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> (io::Result<()>, B) {
        op::send::send_all(&self.fd, buf, true).await
    }

    /// Shuts down the read, write, or both halves.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        socket::shutdown(&self.fd, how)
    }

    fn sock(&self) -> SockRef<'_> {
        SockRef::from(&self.fd)
    }

    tcp_options!();

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        socket::peer_addr(self.fd.raw())?.as_socket_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        socket::local_addr(self.fd.raw())?.as_socket_addr()
    }

    /// Splits into a read half and a write half, each usable from its own
    /// task. The socket closes when both halves (and every operation in
    /// flight) are gone.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        (
            OwnedReadHalf {
                stream: TcpStream {
                    fd: self.fd.clone(),
                    rx: self.rx.clone(),
                },
            },
            OwnedWriteHalf { stream: self },
        )
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("fd", &self.fd.raw())
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}

/// The reading half of a [`TcpStream`], from [`TcpStream::into_split`].
#[derive(Debug)]
pub struct OwnedReadHalf {
    stream: TcpStream,
}

impl OwnedReadHalf {
    /// The multishot receive, for the compat layer.
    #[cfg_attr(not(feature = "futures-io"), allow(dead_code))]
    pub(crate) fn receiver(&self) -> &Arc<Receiver> {
        &self.stream.rx
    }

    /// The descriptor, for the compat layer.
    #[cfg_attr(not(feature = "futures-io"), allow(dead_code))]
    pub(crate) fn shared_fd(&self) -> &SharedFd {
        &self.stream.fd
    }
    /// See [`TcpStream::read`].
    pub async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        self.stream.read(buf).await
    }

    /// See [`TcpStream::read_exact`].
    pub async fn read_exact<B: IoBufMut>(&self, buf: B) -> (io::Result<()>, B) {
        self.stream.read_exact(buf).await
    }

    /// See [`TcpStream::read_to_end`].
    pub async fn read_to_end(&self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        crate::io::read_to_end(self, buf).await
    }

    /// See [`TcpStream::read_to_string`].
    pub async fn read_to_string(&self, string: String) -> (io::Result<usize>, String) {
        crate::io::read_to_string(self, string).await
    }

    /// See [`TcpStream::recv_buf`].
    pub async fn recv_buf(&self) -> io::Result<RecvBuf> {
        self.stream.recv_buf().await
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }
}

/// The writing half of a [`TcpStream`]. Dropping it does not shut the
/// connection down; call [`shutdown`](OwnedWriteHalf::shutdown) for that.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    stream: TcpStream,
}

impl OwnedWriteHalf {
    /// The multishot receive, for the compat layer.
    #[cfg_attr(not(feature = "futures-io"), allow(dead_code))]
    pub(crate) fn receiver(&self) -> &Arc<Receiver> {
        &self.stream.rx
    }

    /// The descriptor, for the compat layer.
    #[cfg_attr(not(feature = "futures-io"), allow(dead_code))]
    pub(crate) fn shared_fd(&self) -> &SharedFd {
        &self.stream.fd
    }
    /// See [`TcpStream::write`].
    pub async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        self.stream.write(buf).await
    }

    /// See [`TcpStream::write_all`].
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> (io::Result<()>, B) {
        self.stream.write_all(buf).await
    }

    /// Shuts down the write direction (the peer reads end-of-stream).
    pub fn shutdown(&self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Write)
    }
}

#[cfg(any(feature = "futures-io", feature = "tokio-io", feature = "hyper"))]
crate::io::compat::compat_io! {
    TcpStream => tcp, true;
    OwnedReadHalf => tcp, false;
    OwnedWriteHalf => tcp, true;
}
