//! UDP: [`UdpSocket`].

use super::ToSocketAddrs;
use crate::buf::{IoBuf, IoBufMut};
use crate::io::op::{self, SharedFd};
use crate::sys::addr::RawAddr;
use crate::sys::socket;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// A UDP socket. Datagrams go out with [`send_to`](UdpSocket::send_to)
/// (`IORING_OP_SENDMSG`) and come in with
/// [`recv_from`](UdpSocket::recv_from) (`IORING_OP_RECVMSG`); after
/// [`connect`](UdpSocket::connect), [`send`](UdpSocket::send) and
/// [`recv`](UdpSocket::recv) talk to that one peer.
///
/// ```
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// use ringwork::net::UdpSocket;
///
/// let a = UdpSocket::bind("127.0.0.1:0").await?;
/// let b = UdpSocket::bind("127.0.0.1:0").await?;
/// a.send_to(b"ping".as_slice(), b.local_addr()?).await.0?;
/// let (res, buf) = b.recv_from(Vec::with_capacity(64)).await;
/// let (n, from) = res?;
/// assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
///
/// Methods take `&self`, so one task may receive while another sends.
pub struct UdpSocket {
    fd: SharedFd,
}

impl UdpSocket {
    /// Binds to the first address that works. Host names are resolved with
    /// the system's blocking resolver: pass IP literals where that matters.
    pub async fn bind(addrs: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let mut last = None;
        for addr in super::addr::resolve(&addrs).await? {
            match UdpSocket::bind_addr(addr) {
                Ok(socket) => return Ok(socket),
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(no_addresses))
    }

    fn bind_addr(addr: SocketAddr) -> io::Result<UdpSocket> {
        let fd = socket::new_socket(domain_of(&addr), libc::SOCK_DGRAM)?;
        socket::bind(fd.as_raw_fd(), &RawAddr::from_socket_addr(&addr))?;
        Ok(UdpSocket {
            fd: SharedFd::new(fd),
        })
    }

    /// Wraps a socket made by the standard library (it is switched to
    /// non-blocking mode).
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        let fd = OwnedFd::from(socket);
        socket::set_nonblocking(fd.as_raw_fd())?;
        Ok(UdpSocket {
            fd: SharedFd::new(fd),
        })
    }

    /// Sets the default peer (the first resolved address that works): then
    /// [`send`](UdpSocket::send) goes there and only its datagrams are
    /// received.
    pub async fn connect(&self, addrs: impl ToSocketAddrs) -> io::Result<()> {
        let mut last = None;
        for addr in super::addr::resolve(&addrs).await? {
            match op::connect::connect(&self.fd, RawAddr::from_socket_addr(&addr)).await {
                Ok(()) => return Ok(()),
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(no_addresses))
    }

    /// Sends `buf`'s initialized bytes as one datagram to `target`; returns
    /// how many were sent. A dropped `send_to` may or may not have sent the
    /// datagram.
    pub async fn send_to<B: IoBuf>(&self, buf: B, target: SocketAddr) -> (io::Result<usize>, B) {
        op::sendmsg::send_to(&self.fd, buf, RawAddr::from_socket_addr(&target)).await
    }

    /// Receives one datagram into the start of `buf` (up to
    /// `buf.bytes_total()` bytes; the rest of a longer datagram is lost);
    /// returns its length and sender. A zero-capacity buffer is
    /// `InvalidInput`.
    ///
    /// Cancel safe: a datagram the kernel delivers for a dropped
    /// `recv_from` is kept, with its sender, and returned by the next
    /// receive on the socket.
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> (io::Result<(usize, SocketAddr)>, B) {
        let (res, buf) = op::recvmsg::recv_from(&self.fd, buf).await;
        let res = res.and_then(|(n, addr)| Ok((n, addr.as_socket_addr()?)));
        (res, buf)
    }

    /// Sends `buf`'s initialized bytes as one datagram to the connected
    /// peer (`NotConnected` without [`connect`](UdpSocket::connect)). A
    /// dropped `send` may or may not have sent the datagram.
    pub async fn send<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        op::send::send(&self.fd, buf, true).await
    }

    /// Receives one datagram from the connected peer into the start of
    /// `buf`; returns its length. A zero-capacity buffer is `InvalidInput`.
    ///
    /// Cancel safe, as [`recv_from`](UdpSocket::recv_from).
    pub async fn recv<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        let (res, buf) = op::recvmsg::recv_from(&self.fd, buf).await;
        (res.map(|(n, _)| n), buf)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        socket::local_addr(self.fd.raw())?.as_socket_addr()
    }

    /// The connected peer's address (`NotConnected` if there is none).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        socket::peer_addr(self.fd.raw())?.as_socket_addr()
    }

    /// Sets `SO_BROADCAST` (allows sending to broadcast addresses).
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        socket::set_int_option(
            self.fd.raw(),
            libc::SOL_SOCKET,
            libc::SO_BROADCAST,
            i32::from(on),
        )
    }
}

fn domain_of(addr: &SocketAddr) -> libc::c_int {
    match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    }
}

fn no_addresses() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "no addresses to connect or bind to",
    )
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("fd", &self.fd.raw())
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}
