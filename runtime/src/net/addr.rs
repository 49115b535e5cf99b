//! [`ToSocketAddrs`]: the addresses `bind` and `connect` take, resolved
//! without blocking a worker.
//!
//! Addresses and literal IPs are used as they are; a host name
//! (`"example.com:80"`, `("localhost", 8080)`) is looked up with the
//! system resolver (`getaddrinfo`, which may take seconds) on the runtime's
//! blocking pool, so the worker goes on running other tasks meanwhile.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Something that names one or more socket addresses: a `SocketAddr`, an
/// `(IpAddr, u16)`, a `"host:port"` string, a `(&str, u16)` pair, a slice
/// of addresses. Like `std::net::ToSocketAddrs`, but a host name is looked
/// up on the blocking pool instead of on the calling thread.
pub trait ToSocketAddrs: sealed::Sealed {}

mod sealed {
    /// How the addresses are found (not part of the public API).
    pub trait Sealed {
        #[doc(hidden)]
        fn plan(&self) -> super::Plan;
    }
}

/// The addresses now, or a name to look up.
#[doc(hidden)]
#[derive(Debug)]
pub enum Plan {
    Ready(Vec<SocketAddr>),
    /// `"host:port"`, for the system resolver.
    Lookup(String),
}

/// The addresses `addrs` names; a host name is looked up on the blocking
/// pool (outside a runtime, on this thread).
pub(crate) async fn resolve(addrs: &impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    match sealed::Sealed::plan(addrs) {
        Plan::Ready(addrs) => Ok(addrs),
        Plan::Lookup(name) => {
            let lookup = move || -> io::Result<Vec<SocketAddr>> {
                Ok(std::net::ToSocketAddrs::to_socket_addrs(&name)?.collect())
            };
            match crate::context::runtime() {
                Some(runtime) => {
                    let (tx, rx) = crate::sync::oneshot::channel();
                    runtime
                        .spawn_blocking_job(Box::new(move || {
                            let _ = tx.send(lookup());
                        }))
                        .await?;
                    rx.await
                        .unwrap_or_else(|_| Err(io::Error::other("the name lookup was dropped")))
                }
                None => lookup(),
            }
        }
    }
}

/// Resolves `host` to its socket addresses, as `bind` and `connect` do:
/// a `"name:port"` (or `(name, port)`) is looked up with the system
/// resolver (`getaddrinfo`) on the runtime's blocking pool, so the worker
/// runs other tasks meanwhile; IP literals and `SocketAddr`s are returned as
/// they are, without a lookup. asyncio's `loop.getaddrinfo`.
///
/// ```
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let addrs = ringwork::net::lookup_host("localhost:8080").await?;
/// assert!(!addrs.is_empty());
/// assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 8080));
/// let literal = ringwork::net::lookup_host(("::1", 53)).await?;
/// assert_eq!(literal, ["[::1]:53".parse().unwrap()]);
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
///
/// A name without a port (`"localhost"`) is `InvalidInput`; a name the
/// resolver does not know is the resolver's error. Outside a runtime the
/// lookup runs on the calling thread.
pub async fn lookup_host(host: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    resolve(&host).await
}

impl ToSocketAddrs for SocketAddr {}
impl sealed::Sealed for SocketAddr {
    fn plan(&self) -> Plan {
        Plan::Ready(vec![*self])
    }
}

impl ToSocketAddrs for SocketAddrV4 {}
impl sealed::Sealed for SocketAddrV4 {
    fn plan(&self) -> Plan {
        Plan::Ready(vec![SocketAddr::V4(*self)])
    }
}

impl ToSocketAddrs for SocketAddrV6 {}
impl sealed::Sealed for SocketAddrV6 {
    fn plan(&self) -> Plan {
        Plan::Ready(vec![SocketAddr::V6(*self)])
    }
}

impl ToSocketAddrs for (IpAddr, u16) {}
impl sealed::Sealed for (IpAddr, u16) {
    fn plan(&self) -> Plan {
        Plan::Ready(vec![SocketAddr::from(*self)])
    }
}

impl ToSocketAddrs for (Ipv4Addr, u16) {}
impl sealed::Sealed for (Ipv4Addr, u16) {
    fn plan(&self) -> Plan {
        Plan::Ready(vec![SocketAddr::from(*self)])
    }
}

impl ToSocketAddrs for (Ipv6Addr, u16) {}
impl sealed::Sealed for (Ipv6Addr, u16) {
    fn plan(&self) -> Plan {
        Plan::Ready(vec![SocketAddr::from(*self)])
    }
}

impl ToSocketAddrs for str {}
impl sealed::Sealed for str {
    fn plan(&self) -> Plan {
        match self.parse::<SocketAddr>() {
            Ok(addr) => Plan::Ready(vec![addr]),
            Err(_) => Plan::Lookup(self.to_owned()),
        }
    }
}

impl ToSocketAddrs for String {}
impl sealed::Sealed for String {
    fn plan(&self) -> Plan {
        self.as_str().plan()
    }
}

impl ToSocketAddrs for (&str, u16) {}
impl sealed::Sealed for (&str, u16) {
    fn plan(&self) -> Plan {
        let (host, port) = *self;
        match host.parse::<IpAddr>() {
            Ok(ip) => Plan::Ready(vec![SocketAddr::new(ip, port)]),
            Err(_) => Plan::Lookup(format!("{host}:{port}")),
        }
    }
}

impl ToSocketAddrs for (String, u16) {}
impl sealed::Sealed for (String, u16) {
    fn plan(&self) -> Plan {
        (self.0.as_str(), self.1).plan()
    }
}

impl ToSocketAddrs for [SocketAddr] {}
impl sealed::Sealed for [SocketAddr] {
    fn plan(&self) -> Plan {
        Plan::Ready(self.to_vec())
    }
}

impl<const N: usize> ToSocketAddrs for [SocketAddr; N] {}
impl<const N: usize> sealed::Sealed for [SocketAddr; N] {
    fn plan(&self) -> Plan {
        Plan::Ready(self.to_vec())
    }
}

impl ToSocketAddrs for Vec<SocketAddr> {}
impl sealed::Sealed for Vec<SocketAddr> {
    fn plan(&self) -> Plan {
        Plan::Ready(self.clone())
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: sealed::Sealed + ?Sized> sealed::Sealed for &T {
    fn plan(&self) -> Plan {
        (**self).plan()
    }
}
