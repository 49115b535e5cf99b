//! Unix domain stream sockets: [`UnixListener`], [`UnixStream`] and their
//! addresses, [`UnixSocketAddr`].

use crate::buf::{IoBuf, IoBufMut, RecvBuf};
use crate::io::op::recv_multi::Receiver;
use crate::io::op::{self, SharedFd};
use crate::sys::addr::RawAddr;
use crate::sys::socket;
use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The address of a Unix domain socket: a path in the file system, an
/// abstract name (Linux), or unnamed (a socket that never bound, such as
/// most connecting clients and both ends of [`UnixStream::pair`]).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UnixSocketAddr {
    kind: AddrKind,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum AddrKind {
    Unnamed,
    Pathname(PathBuf),
    Abstract(Vec<u8>),
}

impl UnixSocketAddr {
    pub(super) fn from_raw(raw: &RawAddr) -> io::Result<UnixSocketAddr> {
        let bytes = raw.unix_path_bytes()?;
        let kind = match bytes.split_first() {
            None => AddrKind::Unnamed,
            Some((0, name)) => AddrKind::Abstract(name.to_vec()),
            Some(_) => {
                // A pathname ends at its first NUL (the kernel may count
                // the terminator in the length, or not).
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                AddrKind::Pathname(PathBuf::from(OsStr::from_bytes(&bytes[..end])))
            }
        };
        Ok(UnixSocketAddr { kind })
    }

    /// Whether the socket has no address.
    pub fn is_unnamed(&self) -> bool {
        self.kind == AddrKind::Unnamed
    }

    /// The file-system path, if the address is one.
    pub fn as_pathname(&self) -> Option<&Path> {
        match &self.kind {
            AddrKind::Pathname(path) => Some(path),
            _ => None,
        }
    }

    /// The name in Linux's abstract namespace (without the leading NUL), if
    /// the address is one.
    pub fn as_abstract_name(&self) -> Option<&[u8]> {
        match &self.kind {
            AddrKind::Abstract(name) => Some(name),
            _ => None,
        }
    }
}

impl fmt::Debug for UnixSocketAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            AddrKind::Unnamed => f.write_str("(unnamed)"),
            AddrKind::Pathname(path) => write!(f, "{path:?} (pathname)"),
            AddrKind::Abstract(name) => {
                write!(f, "{:?} (abstract)", String::from_utf8_lossy(name))
            }
        }
    }
}

/// A Unix domain socket listening for connections at a path.
///
/// ```
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// use ringwork::net::{UnixListener, UnixStream};
///
/// let path = std::env::temp_dir().join(format!("ringwork-doc-{}.sock", std::process::id()));
/// let listener = UnixListener::bind(&path)?;
/// let server = ringwork::spawn(async move {
///     let (stream, _) = listener.accept().await?;
///     let (res, buf) = stream.read_exact(Vec::with_capacity(4)).await;
///     res?;
///     stream.write_all(buf).await.0 // echo
/// });
/// let client = UnixStream::connect(&path).await?;
/// client.write_all(b"ping".as_slice()).await.0?;
/// let (res, reply) = client.read_exact(Vec::with_capacity(4)).await;
/// res?;
/// assert_eq!(reply, b"ping");
/// server.await??;
/// std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
///
/// Dropping the listener closes it but does not remove the socket file.
pub struct UnixListener {
    fd: SharedFd,
    /// The multishot accept, where the ring has one (io_uring).
    acceptor: crate::io::op::accept::Acceptor,
}

impl UnixListener {
    /// Creates a socket file at `path` and listens on it (backlog 1024). An
    /// existing file at `path` is `AddrInUse`; a path longer than
    /// `sun_path` allows (107 bytes), empty, or with a NUL byte is
    /// `InvalidInput`.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let addr = RawAddr::from_unix_path(path.as_ref())?;
        let fd = socket::new_socket(libc::AF_UNIX, libc::SOCK_STREAM)?;
        socket::bind(fd.as_raw_fd(), &addr)?;
        socket::listen(fd.as_raw_fd(), socket::LISTEN_BACKLOG)?;
        Ok(UnixListener {
            fd: SharedFd::new(fd),
            acceptor: Default::default(),
        })
    }

    /// Wraps a listener made by the standard library (it is switched to
    /// non-blocking mode).
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        let fd = OwnedFd::from(listener);
        socket::set_nonblocking(fd.as_raw_fd())?;
        Ok(UnixListener {
            fd: SharedFd::new(fd),
            acceptor: Default::default(),
        })
    }

    /// Waits for a connection; returns it and the peer's address (usually
    /// unnamed).
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
    pub async fn accept(&self) -> io::Result<(UnixStream, UnixSocketAddr)> {
        let (fd, addr) = super::accept(&self.fd, &self.acceptor).await?;
        let stream = UnixStream::from_fd(SharedFd::new(fd));
        Ok((stream, UnixSocketAddr::from_raw(&addr)?))
    }

    /// The connections as a [`futures_core::Stream`] of what
    /// [`accept`](UnixListener::accept) returns (see [`super::Incoming`]).
    pub fn incoming(&self) -> super::Incoming<'_, (UnixStream, UnixSocketAddr)> {
        super::Incoming::new(move || Box::pin(self.accept()))
    }

    /// The address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<UnixSocketAddr> {
        UnixSocketAddr::from_raw(&socket::local_addr(self.fd.raw())?)
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("fd", &self.fd.raw())
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

/// A Unix domain stream connection. Methods take `&self`, so one task may
/// read while another writes.
///
/// Buffers are passed by value and returned with the result: the kernel owns
/// them while an operation runs, even if its future is dropped.
pub struct UnixStream {
    fd: SharedFd,
    /// The multishot receive, shared with every handle of the socket.
    rx: Arc<Receiver>,
}

impl UnixStream {
    fn from_fd(fd: SharedFd) -> UnixStream {
        UnixStream {
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
    /// Connects to the socket listening at `path`. A path longer than
    /// `sun_path` allows (107 bytes), empty, or with a NUL byte is
    /// `InvalidInput`; no listener there is `NotFound` or
    /// `ConnectionRefused`.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let addr = RawAddr::from_unix_path(path.as_ref())?;
        let fd = SharedFd::new(socket::new_socket(libc::AF_UNIX, libc::SOCK_STREAM)?);
        op::connect::connect(&fd, addr).await?;
        Ok(UnixStream::from_fd(fd))
    }

    /// A pair of connected, unnamed sockets (`socketpair(2)`).
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let mut fds: [libc::c_int; 2] = [-1, -1];
        // SAFETY: `socketpair` writes two descriptors into the two-element
        // array it is given, which lives across the call.
        let res = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
                fds.as_mut_ptr(),
            )
        };
        if res == -1 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `socketpair` succeeded: `fds[0]` is a new descriptor we own.
        let a = unsafe { OwnedFd::from_raw_fd(fds[0]) };
        // SAFETY: as above, for `fds[1]`.
        let b = unsafe { OwnedFd::from_raw_fd(fds[1]) };
        Ok((
            UnixStream::from_fd(SharedFd::new(a)),
            UnixStream::from_fd(SharedFd::new(b)),
        ))
    }

    /// Wraps a connection made by the standard library (it is switched to
    /// non-blocking mode).
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        let fd = OwnedFd::from(stream);
        socket::set_nonblocking(fd.as_raw_fd())?;
        Ok(UnixStream::from_fd(SharedFd::new(fd)))
    }

    /// Reads up to `buf.bytes_total()` bytes into the start of `buf`.
    /// `Ok(0)` means the peer closed its side; a zero-capacity buffer is
    /// `InvalidInput`. One call moves at most 2 GiB − 64 KiB.
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

    /// See [`crate::net::TcpStream::read_to_end`].
    pub async fn read_to_end(&self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        crate::io::read_to_end(self, buf).await
    }

    /// See [`crate::net::TcpStream::read_to_string`].
    pub async fn read_to_string(&self, string: String) -> (io::Result<usize>, String) {
        crate::io::read_to_string(self, string).await
    }

    /// Receives the next bytes in a buffer the runtime chooses, without a
    /// copy where it can: with provided buffers on io_uring
    /// (`Builder::uring_buf_ring`), one of the worker ring's buffers, filled
    /// by the kernel and given back to the ring when the [`RecvBuf`] is
    /// dropped (on any thread); elsewhere a 16 KiB heap buffer. Either way
    /// no buffer is held while it waits (see
    /// [`TcpStream::recv_buf`](crate::net::TcpStream::recv_buf)).
    /// An empty `RecvBuf` means the peer closed its side. The buffer is an
    /// [`IoBuf`]: send it on as it is.
    ///
    /// Cancel safe, like [`read`](UnixStream::read); `read` and `recv_buf` may be
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
        op::send::send(&self.fd, buf, false).await
    }

    /// Writes all of `buf`'s initialized bytes. A peer that vanished gives
    /// `BrokenPipe` or `ConnectionReset` (never `SIGPIPE`).
    ///
    /// A dropped `write_all` may have sent any prefix of the buffer.
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> (io::Result<()>, B) {
        op::send::send_all(&self.fd, buf, false).await
    }

    /// Shuts down the read, write, or both halves.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        socket::shutdown(&self.fd, how)
    }

    /// The local address (usually unnamed for a connecting client).
    pub fn local_addr(&self) -> io::Result<UnixSocketAddr> {
        UnixSocketAddr::from_raw(&socket::local_addr(self.fd.raw())?)
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<UnixSocketAddr> {
        UnixSocketAddr::from_raw(&socket::peer_addr(self.fd.raw())?)
    }
}

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("fd", &self.fd.raw())
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}

#[cfg(any(feature = "futures-io", feature = "tokio-io", feature = "hyper"))]
crate::io::compat::compat_io! {
    UnixStream => unix, true;
}
