//! UDP: [`UdpSocket`].

use super::ToSocketAddrs;
use crate::buf::{IoBuf, IoBufMut};
use crate::io::op::{self, SharedFd};
use crate::sys::addr::RawAddr;
use crate::sys::socket;
use socket2::SockRef;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
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
    /// Binds to the first address that works. A host name is looked up on
    /// the blocking pool (see [`lookup_host`](super::lookup_host)).
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
        op::sendmsg::send_to(&self.fd, buf, RawAddr::from_socket_addr(&target), true).await
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

    fn sock(&self) -> SockRef<'_> {
        SockRef::from(&self.fd)
    }

    /// Sets `SO_BROADCAST` (allows sending to broadcast addresses such as
    /// `255.255.255.255`; without it such a send is `PermissionDenied`).
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.sock().set_broadcast(on)
    }

    /// Whether `SO_BROADCAST` is set.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.sock().broadcast()
    }

    /// Sets the time-to-live (IPv4, `IP_TTL`, 1..=255) or unicast hop
    /// limit (IPv6) of outgoing datagrams; another value is an error from
    /// the kernel.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        super::options::set_ttl(&self.sock(), ttl)
    }

    /// The time-to-live (IPv4) or unicast hop limit (IPv6).
    pub fn ttl(&self) -> io::Result<u32> {
        super::options::ttl(&self.sock())
    }

    /// Joins the IPv4 multicast group `multiaddr` on the interface with
    /// address `interface` (`Ipv4Addr::UNSPECIFIED`: the one the routing
    /// table picks). Datagrams sent to the group and to this socket's port
    /// are then received. A `multiaddr` that is not multicast is
    /// `InvalidInput`; an interface that cannot join is the kernel's error.
    pub fn join_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        check_multicast(multiaddr.is_multicast(), &multiaddr)?;
        self.sock().join_multicast_v4(&multiaddr, &interface)
    }

    /// Leaves an IPv4 multicast group joined with
    /// [`join_multicast_v4`](UdpSocket::join_multicast_v4) (a group not
    /// joined is `AddrNotAvailable`).
    pub fn leave_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        check_multicast(multiaddr.is_multicast(), &multiaddr)?;
        self.sock().leave_multicast_v4(&multiaddr, &interface)
    }

    /// Joins the IPv6 multicast group `multiaddr` on the interface with
    /// index `interface` (0: the one the routing table picks). A
    /// `multiaddr` that is not multicast is `InvalidInput`.
    pub fn join_multicast_v6(&self, multiaddr: Ipv6Addr, interface: u32) -> io::Result<()> {
        check_multicast(multiaddr.is_multicast(), &multiaddr)?;
        self.sock().join_multicast_v6(&multiaddr, interface)
    }

    /// Leaves an IPv6 multicast group joined with
    /// [`join_multicast_v6`](UdpSocket::join_multicast_v6).
    pub fn leave_multicast_v6(&self, multiaddr: Ipv6Addr, interface: u32) -> io::Result<()> {
        check_multicast(multiaddr.is_multicast(), &multiaddr)?;
        self.sock().leave_multicast_v6(&multiaddr, interface)
    }

    /// Sets `IP_MULTICAST_LOOP`: whether this host's own IPv4 multicast
    /// datagrams are delivered back to its sockets in the group (on by
    /// default).
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.sock().set_multicast_loop_v4(on)
    }

    /// Whether `IP_MULTICAST_LOOP` is set.
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        self.sock().multicast_loop_v4()
    }

    /// Sets `IP_MULTICAST_TTL`, the time-to-live of outgoing IPv4
    /// multicast datagrams (1 by default: this network only; at most 255).
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        if ttl > 255 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("multicast TTL {ttl} is larger than 255"),
            ));
        }
        self.sock().set_multicast_ttl_v4(ttl)
    }

    /// The `IP_MULTICAST_TTL` setting.
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        self.sock().multicast_ttl_v4()
    }

    /// Sets `IPV6_MULTICAST_LOOP` (as
    /// [`set_multicast_loop_v4`](UdpSocket::set_multicast_loop_v4), for
    /// IPv6).
    pub fn set_multicast_loop_v6(&self, on: bool) -> io::Result<()> {
        self.sock().set_multicast_loop_v6(on)
    }

    /// Whether `IPV6_MULTICAST_LOOP` is set.
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        self.sock().multicast_loop_v6()
    }
}

fn domain_of(addr: &SocketAddr) -> libc::c_int {
    match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    }
}

fn check_multicast(is_multicast: bool, addr: &dyn fmt::Display) -> io::Result<()> {
    if is_multicast {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{addr} is not a multicast address"),
        ))
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
