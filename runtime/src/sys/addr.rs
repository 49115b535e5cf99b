//! Socket addresses in the kernel's layout, owned by operations while the
//! kernel reads or writes them.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// A `sockaddr_storage` and its length.
#[derive(Clone, Copy)]
pub(crate) struct RawAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl std::fmt::Debug for RawAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.as_socket_addr() {
            Ok(addr) => write!(f, "{addr}"),
            Err(_) => f
                .debug_struct("RawAddr")
                .field("family", &self.family())
                .field("len", &self.len)
                .finish(),
        }
    }
}

impl RawAddr {
    /// Room for any address (for accept / recvfrom to fill).
    pub(crate) fn empty() -> RawAddr {
        RawAddr {
            // SAFETY: all-zero bytes are a valid `sockaddr_storage`.
            storage: unsafe { mem::zeroed() },
            len: mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
    }

    pub(crate) fn from_socket_addr(addr: &SocketAddr) -> RawAddr {
        let mut raw = RawAddr::empty();
        match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: `sockaddr_storage` is larger than and aligned for
                // `sockaddr_in`.
                unsafe {
                    std::ptr::write(
                        (&mut raw.storage as *mut libc::sockaddr_storage).cast(),
                        sin,
                    )
                };
                raw.len = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: `sockaddr_storage` is larger than and aligned for
                // `sockaddr_in6`.
                unsafe {
                    std::ptr::write(
                        (&mut raw.storage as *mut libc::sockaddr_storage).cast(),
                        sin6,
                    )
                };
                raw.len = mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            }
        }
        raw
    }

    /// Pointers for the kernel to fill (accept, getsockname, recvmsg).
    pub(crate) fn as_out_ptrs(&mut self) -> (*mut libc::sockaddr, *mut libc::socklen_t) {
        self.len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        (
            (&mut self.storage as *mut libc::sockaddr_storage).cast(),
            &mut self.len,
        )
    }

    /// Pointer and length for the kernel to read (connect, bind, sendmsg).
    pub(crate) fn as_ptr(&self) -> (*const libc::sockaddr, libc::socklen_t) {
        (
            (&self.storage as *const libc::sockaddr_storage).cast(),
            self.len,
        )
    }

    pub(crate) fn family(&self) -> libc::c_int {
        libc::c_int::from(self.storage.ss_family)
    }

    /// Bytes in a `sockaddr_storage`: room for any address.
    pub(crate) const CAPACITY: libc::socklen_t =
        mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;

    /// Records the length the kernel wrote (recvmsg's `msg_namelen`),
    /// clamped to the storage.
    pub(crate) fn set_len(&mut self, len: libc::socklen_t) {
        self.len = len.min(RawAddr::CAPACITY);
    }

    /// An `AF_UNIX` address naming `path` in the file system. Paths that
    /// do not fit `sun_path` with their terminating NUL (107 bytes on
    /// Linux), empty paths and paths containing NUL are `InvalidInput`.
    pub(crate) fn from_unix_path(path: &std::path::Path) -> io::Result<RawAddr> {
        use std::os::unix::ffi::OsStrExt;
        let bytes = path.as_os_str().as_bytes();
        let invalid = |msg: &str| io::Error::new(io::ErrorKind::InvalidInput, msg.to_owned());
        if bytes.is_empty() {
            return Err(invalid("empty Unix socket path"));
        }
        if bytes.contains(&0) {
            return Err(invalid("Unix socket path contains a NUL byte"));
        }
        // SAFETY: all-zero bytes are a valid `sockaddr_un`.
        let mut sun: libc::sockaddr_un = unsafe { mem::zeroed() };
        if bytes.len() >= sun.sun_path.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "Unix socket path is {} bytes; at most {} fit in sockaddr_un",
                    bytes.len(),
                    sun.sun_path.len() - 1
                ),
            ));
        }
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (dst, src) in sun.sun_path.iter_mut().zip(bytes) {
            *dst = *src as libc::c_char;
        }
        let mut raw = RawAddr::empty();
        // SAFETY: `sockaddr_storage` is larger than and aligned for
        // `sockaddr_un`.
        unsafe {
            std::ptr::write(
                (&mut raw.storage as *mut libc::sockaddr_storage).cast(),
                sun,
            )
        };
        // Family, path and its terminating NUL.
        raw.len =
            (mem::offset_of!(libc::sockaddr_un, sun_path) + bytes.len() + 1) as libc::socklen_t;
        Ok(raw)
    }

    /// The `sun_path` bytes of an `AF_UNIX` address, as long as the kernel
    /// said (a pathname keeps its terminating NUL, if the kernel counted
    /// it; an abstract name starts with NUL; unnamed is empty).
    pub(crate) fn unix_path_bytes(&self) -> io::Result<Vec<u8>> {
        if self.family() != libc::AF_UNIX {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not a Unix socket address (family {})", self.family()),
            ));
        }
        // SAFETY: the family says the storage holds a `sockaddr_un` (and
        // `sockaddr_storage` is larger than and aligned for it).
        let sun: libc::sockaddr_un =
            unsafe { std::ptr::read((&self.storage as *const libc::sockaddr_storage).cast()) };
        let offset = mem::offset_of!(libc::sockaddr_un, sun_path);
        let len = (self.len as usize)
            .saturating_sub(offset)
            .min(sun.sun_path.len());
        Ok(sun.sun_path[..len].iter().map(|&c| c as u8).collect())
    }

    /// Decodes an IPv4/IPv6 address.
    pub(crate) fn as_socket_addr(&self) -> io::Result<SocketAddr> {
        match self.family() {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a `sockaddr_in`.
                let sin: libc::sockaddr_in = unsafe {
                    std::ptr::read((&self.storage as *const libc::sockaddr_storage).cast())
                };
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Ok(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 => {
                // SAFETY: the family says the storage holds a `sockaddr_in6`.
                let sin6: libc::sockaddr_in6 = unsafe {
                    std::ptr::read((&self.storage as *const libc::sockaddr_storage).cast())
                };
                Ok(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            family => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not an IP socket address (family {family})"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_addresses_round_trip() {
        for text in ["127.0.0.1:8080", "[::1]:443", "[fe80::1%2]:9"] {
            let addr: SocketAddr = text.parse().unwrap();
            assert_eq!(
                RawAddr::from_socket_addr(&addr).as_socket_addr().unwrap(),
                addr
            );
        }
    }
}
