//! [`TcpSocket`]: a TCP socket configured before it listens or connects.

use super::options::tcp_options;
use super::{TcpListener, TcpStream};
use crate::io::op::{self, SharedFd};
use crate::sys::addr::RawAddr;
use socket2::{Domain, SockRef, Socket, Type};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// A TCP socket not yet listening or connected: set options that must come
/// first (`SO_REUSEADDR`, `SO_REUSEPORT`, `IPV6_V6ONLY`, buffer sizes), bind
/// it if it should have a given local address, then
/// [`listen`](TcpSocket::listen) or [`connect`](TcpSocket::connect).
///
/// ```
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// use ringwork::net::TcpSocket;
///
/// let socket = TcpSocket::new_v4()?;
/// socket.set_reuseaddr(true)?;
/// socket.bind("127.0.0.1:0".parse().unwrap())?;
/// let listener = socket.listen(128)?;
///
/// let client = TcpSocket::new_v4()?;
/// client.set_nodelay(true)?;
/// let stream = client.connect(listener.local_addr()?).await?;
/// assert!(stream.nodelay()?);
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
///
/// Options set here stay with the listener or stream it becomes (and with
/// the connections a listener accepts, for those the kernel copies:
/// buffer sizes, keepalive, linger, `TCP_NODELAY`).
pub struct TcpSocket {
    inner: Socket,
}

impl TcpSocket {
    /// A new IPv4 TCP socket (non-blocking, close-on-exec).
    pub fn new_v4() -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::IPV4)
    }

    /// A new IPv6 TCP socket (non-blocking, close-on-exec). Whether it also
    /// takes IPv4 connections is the system's default
    /// (`net.ipv6.bindv6only`) unless set with
    /// [`set_only_v6`](TcpSocket::set_only_v6).
    pub fn new_v6() -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::IPV6)
    }

    fn new(domain: Domain) -> io::Result<TcpSocket> {
        let inner = Socket::new(domain, Type::STREAM.nonblocking().cloexec(), None)?;
        Ok(TcpSocket { inner })
    }

    fn sock(&self) -> SockRef<'_> {
        SockRef::from(&self.inner)
    }

    /// Sets `SO_REUSEADDR`: bind to a port with connections still in
    /// `TIME_WAIT` (a restarted server). [`TcpListener::bind`] sets it.
    pub fn set_reuseaddr(&self, reuse: bool) -> io::Result<()> {
        self.inner.set_reuse_address(reuse)
    }

    /// Whether `SO_REUSEADDR` is set.
    pub fn reuseaddr(&self) -> io::Result<bool> {
        self.inner.reuse_address()
    }

    /// Sets `SO_REUSEPORT`: several sockets of this user, each with it set,
    /// may bind the same address and port; the kernel spreads incoming
    /// connections over their listeners.
    pub fn set_reuseport(&self, reuse: bool) -> io::Result<()> {
        self.inner.set_reuse_port(reuse)
    }

    /// Whether `SO_REUSEPORT` is set.
    pub fn reuseport(&self) -> io::Result<bool> {
        self.inner.reuse_port()
    }

    /// Sets `IPV6_V6ONLY` on an IPv6 socket (before `bind`): `true` takes
    /// IPv6 only; `false` also takes IPv4 peers as IPv4-mapped addresses.
    /// On an IPv4 socket it is an error from the kernel.
    pub fn set_only_v6(&self, only_v6: bool) -> io::Result<()> {
        self.inner.set_only_v6(only_v6)
    }

    /// Whether `IPV6_V6ONLY` is set (an error on an IPv4 socket).
    pub fn only_v6(&self) -> io::Result<bool> {
        self.inner.only_v6()
    }

    tcp_options!();

    /// Binds to `addr` (port 0: one the kernel picks). An address of the
    /// other family than the socket's is `InvalidInput`.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        self.check_family(&addr)?;
        self.inner.bind(&addr.into())
    }

    /// The local address (after `bind`, or `0.0.0.0:0` / `[::]:0` before).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP socket address"))
    }

    /// Listens with room for `backlog` connections not yet accepted (the
    /// kernel caps it at `net.core.somaxconn`; values above `i32::MAX` are
    /// taken as `i32::MAX`). Without `bind` first, the kernel picks a port.
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        self.inner
            .listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
        Ok(TcpListener::from_listening(OwnedFd::from(self.inner)))
    }

    /// Connects to `addr`, from the bound address if there is one. An
    /// address of the other family than the socket's is `InvalidInput`.
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        self.check_family(&addr)?;
        let fd = SharedFd::new(OwnedFd::from(self.inner));
        op::connect::connect(&fd, RawAddr::from_socket_addr(&addr)).await?;
        Ok(TcpStream::from_connected(fd))
    }

    fn check_family(&self, addr: &SocketAddr) -> io::Result<()> {
        let v6 = self.inner.domain()? == Domain::IPV6;
        if v6 != addr.is_ipv6() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{addr} is not an {} address, as the socket is",
                    if v6 { "IPv6" } else { "IPv4" }
                ),
            ));
        }
        Ok(())
    }
}

impl AsRawFd for TcpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl fmt::Debug for TcpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpSocket")
            .field("fd", &self.inner.as_raw_fd())
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}
