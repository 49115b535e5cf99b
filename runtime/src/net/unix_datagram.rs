//! [`UnixDatagram`]: Unix domain datagram sockets.

use super::UnixSocketAddr;
use crate::buf::{IoBuf, IoBufMut};
use crate::io::op::{self, SharedFd};
use crate::sys::addr::RawAddr;
use crate::sys::socket;
use std::fmt;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// A Unix domain datagram socket: message boundaries are kept, delivery is
/// reliable and ordered (it is local).
///
/// ```
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// use ringwork::net::UnixDatagram;
///
/// let (a, b) = UnixDatagram::pair()?;
/// a.send(b"ping".as_slice()).await.0?;
/// let (res, buf) = b.recv(Vec::with_capacity(64)).await;
/// assert_eq!(&buf[..res?], b"ping");
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
///
/// Methods take `&self`, so one task may receive while another sends.
pub struct UnixDatagram {
    fd: SharedFd,
}

impl UnixDatagram {
    /// A socket bound to `path` (a new socket file; an existing file there
    /// is `AddrInUse`). Paths longer than `sun_path` allows (107 bytes),
    /// empty, or with a NUL byte are `InvalidInput`.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        let addr = RawAddr::from_unix_path(path.as_ref())?;
        let socket = UnixDatagram::unbound()?;
        socket::bind(socket.fd.raw(), &addr)?;
        Ok(socket)
    }

    /// A socket bound to no address (it can send; replies need an address,
    /// or a [`pair`](UnixDatagram::pair)).
    pub fn unbound() -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            fd: SharedFd::new(socket::new_socket(libc::AF_UNIX, libc::SOCK_DGRAM)?),
        })
    }

    /// A pair of connected, unnamed sockets (`socketpair(2)`).
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let mut fds: [libc::c_int; 2] = [-1, -1];
        // SAFETY: `socketpair` writes two descriptors into the two-element
        // array it is given, which lives across the call.
        let res = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
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
            UnixDatagram {
                fd: SharedFd::new(a),
            },
            UnixDatagram {
                fd: SharedFd::new(b),
            },
        ))
    }

    /// Wraps a socket made by the standard library (it is switched to
    /// non-blocking mode).
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        let fd = OwnedFd::from(socket);
        socket::set_nonblocking(fd.as_raw_fd())?;
        Ok(UnixDatagram {
            fd: SharedFd::new(fd),
        })
    }

    /// Sets the default peer: [`send`](UnixDatagram::send) goes there and
    /// only its datagrams are received.
    pub async fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let addr = RawAddr::from_unix_path(path.as_ref())?;
        op::connect::connect(&self.fd, addr).await
    }

    /// Sends `buf`'s initialized bytes as one datagram to the socket bound
    /// at `path`; returns how many were sent. A dropped `send_to` may or
    /// may not have sent the datagram.
    pub async fn send_to<B: IoBuf>(
        &self,
        buf: B,
        path: impl AsRef<Path>,
    ) -> (io::Result<usize>, B) {
        match RawAddr::from_unix_path(path.as_ref()) {
            Ok(addr) => op::sendmsg::send_to(&self.fd, buf, addr, false).await,
            Err(err) => (Err(err), buf),
        }
    }

    /// Receives one datagram into the start of `buf` (up to
    /// `buf.bytes_total()` bytes; the rest of a longer datagram is lost);
    /// returns its length and sender. A zero-capacity buffer is
    /// `InvalidInput`.
    ///
    /// Cancel safe: a datagram the kernel delivers for a dropped
    /// `recv_from` is kept, with its sender, and returned by the next
    /// receive on the socket.
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> (io::Result<(usize, UnixSocketAddr)>, B) {
        let (res, buf) = op::recvmsg::recv_from(&self.fd, buf).await;
        let res = res.and_then(|(n, addr)| Ok((n, UnixSocketAddr::from_raw(&addr)?)));
        (res, buf)
    }

    /// Sends `buf`'s initialized bytes as one datagram to the connected
    /// peer (`NotConnected` without a peer). A dropped `send` may or may
    /// not have sent the datagram.
    pub async fn send<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        op::send::send(&self.fd, buf, false).await
    }

    /// Receives one datagram from the connected peer into the start of
    /// `buf`; returns its length. A zero-capacity buffer is `InvalidInput`.
    ///
    /// Cancel safe, as [`recv_from`](UnixDatagram::recv_from).
    pub async fn recv<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        let (res, buf) = op::recvmsg::recv_from(&self.fd, buf).await;
        (res.map(|(n, _)| n), buf)
    }

    /// Shuts down the read, write, or both directions.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        socket::shutdown(&self.fd, how)
    }

    /// The local address (unnamed unless bound).
    pub fn local_addr(&self) -> io::Result<UnixSocketAddr> {
        UnixSocketAddr::from_raw(&socket::local_addr(self.fd.raw())?)
    }

    /// The connected peer's address (`NotConnected` if there is none).
    pub fn peer_addr(&self) -> io::Result<UnixSocketAddr> {
        UnixSocketAddr::from_raw(&socket::peer_addr(self.fd.raw())?)
    }
}

impl AsRawFd for UnixDatagram {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixDatagram")
            .field("fd", &self.fd.raw())
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}
