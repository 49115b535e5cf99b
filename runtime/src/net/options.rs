//! Socket options, set and read through `socket2` on a borrowed descriptor.
//! One macro writes the options a TCP socket shares before and after it
//! connects ([`TcpSocket`](super::TcpSocket), [`TcpStream`](super::TcpStream)),
//! so each is documented once.

use std::io;

/// The largest buffer size the kernel takes (`setsockopt` reads an `int`).
pub(crate) fn buffer_size(size: usize) -> io::Result<usize> {
    if size > i32::MAX as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("socket buffer size {size} is larger than {}", i32::MAX),
        ));
    }
    Ok(size)
}

/// Options of a TCP socket, for a type with `fn sock(&self) -> SockRef<'_>`.
macro_rules! tcp_options {
    () => {
        /// Sets `TCP_NODELAY` (disables Nagle's algorithm: small writes go
        /// out at once).
        pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
            self.sock().set_tcp_nodelay(nodelay)
        }

        /// Whether `TCP_NODELAY` is set.
        pub fn nodelay(&self) -> io::Result<bool> {
            self.sock().tcp_nodelay()
        }

        /// Sets `SO_KEEPALIVE`: the kernel probes an idle connection and
        /// fails it (`ETIMEDOUT` on the next operation) when the peer has
        /// gone. The probe timing is the system's unless set with
        /// `set_keepalive_params`.
        pub fn set_keepalive(&self, keepalive: bool) -> io::Result<()> {
            self.sock().set_keepalive(keepalive)
        }

        /// Whether `SO_KEEPALIVE` is set.
        pub fn keepalive(&self) -> io::Result<bool> {
            self.sock().keepalive()
        }

        /// Turns keepalive on with this timing: the first probe after
        /// `idle` without traffic (`TCP_KEEPIDLE`), then one every
        /// `interval` (`TCP_KEEPINTVL`), giving up after `retries`
        /// unanswered probes (`TCP_KEEPCNT`). The kernel counts whole
        /// seconds: a duration under one second, or zero retries, is
        /// `InvalidInput`.
        pub fn set_keepalive_params(
            &self,
            idle: std::time::Duration,
            interval: std::time::Duration,
            retries: u32,
        ) -> io::Result<()> {
            if idle.as_secs() == 0 || interval.as_secs() == 0 || retries == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "keepalive idle time and interval must be at least one second, \
                     and retries at least one",
                ));
            }
            let params = socket2::TcpKeepalive::new()
                .with_time(idle)
                .with_interval(interval)
                .with_retries(retries);
            self.sock().set_tcp_keepalive(&params)
        }

        /// The keepalive timing: `(idle, interval, retries)` (see
        /// `set_keepalive_params`).
        pub fn keepalive_params(
            &self,
        ) -> io::Result<(std::time::Duration, std::time::Duration, u32)> {
            let sock = self.sock();
            Ok((
                sock.tcp_keepalive_time()?,
                sock.tcp_keepalive_interval()?,
                sock.tcp_keepalive_retries()?,
            ))
        }

        /// Sets `SO_LINGER`. `None` (the default): closing returns at once
        /// and the kernel sends what is queued in the background.
        /// `Some(Duration::ZERO)`: closing discards unsent data and resets
        /// the connection (the peer sees `ConnectionReset`). Another
        /// `Some(d)` (whole seconds) makes `close(2)` wait up to `d` for
        /// queued data to go out, even on a non-blocking socket, and the
        /// descriptor is closed on the thread that lets go of it last — a
        /// worker, usually — so prefer `None` or zero in async code. A
        /// non-zero duration under one second is `InvalidInput` (the kernel
        /// would read it as zero, a reset).
        pub fn set_linger(&self, linger: Option<std::time::Duration>) -> io::Result<()> {
            if linger.is_some_and(|d| !d.is_zero() && d.as_secs() == 0) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a linger time counts whole seconds: use zero (reset) or at least one second",
                ));
            }
            self.sock().set_linger(linger)
        }

        /// The `SO_LINGER` setting.
        pub fn linger(&self) -> io::Result<Option<std::time::Duration>> {
            self.sock().linger()
        }

        /// Sets the IPv4 time-to-live of outgoing packets (`IP_TTL`,
        /// 1..=255; other values are `InvalidInput` from the kernel). On an
        /// IPv6 socket this sets the unicast hop limit
        /// (`IPV6_UNICAST_HOPS`).
        pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
            crate::net::options::set_ttl(&self.sock(), ttl)
        }

        /// The time-to-live (IPv4) or unicast hop limit (IPv6).
        pub fn ttl(&self) -> io::Result<u32> {
            crate::net::options::ttl(&self.sock())
        }

        /// Asks for a receive buffer of `size` bytes (`SO_RCVBUF`). The
        /// kernel doubles the value (for its bookkeeping) and caps it at
        /// `net.core.rmem_max`; [`recv_buffer_size`](Self::recv_buffer_size)
        /// reads what it chose. A size over `i32::MAX` is `InvalidInput`.
        pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
            self.sock()
                .set_recv_buffer_size(crate::net::options::buffer_size(size)?)
        }

        /// The receive buffer size the kernel uses (`SO_RCVBUF`).
        pub fn recv_buffer_size(&self) -> io::Result<usize> {
            self.sock().recv_buffer_size()
        }

        /// Asks for a send buffer of `size` bytes (`SO_SNDBUF`); as
        /// [`set_recv_buffer_size`](Self::set_recv_buffer_size), with
        /// `net.core.wmem_max`.
        pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
            self.sock()
                .set_send_buffer_size(crate::net::options::buffer_size(size)?)
        }

        /// The send buffer size the kernel uses (`SO_SNDBUF`).
        pub fn send_buffer_size(&self) -> io::Result<usize> {
            self.sock().send_buffer_size()
        }
    };
}

pub(crate) use tcp_options;

/// Whether the socket is IPv6 (its local address says so).
fn is_v6(sock: &socket2::SockRef<'_>) -> io::Result<bool> {
    Ok(sock.local_addr()?.is_ipv6())
}

/// `IP_TTL`, or `IPV6_UNICAST_HOPS` on an IPv6 socket.
pub(crate) fn set_ttl(sock: &socket2::SockRef<'_>, ttl: u32) -> io::Result<()> {
    if is_v6(sock)? {
        sock.set_unicast_hops_v6(ttl)
    } else {
        sock.set_ttl_v4(ttl)
    }
}

/// See [`set_ttl`].
pub(crate) fn ttl(sock: &socket2::SockRef<'_>) -> io::Result<u32> {
    if is_v6(sock)? {
        sock.unicast_hops_v6()
    } else {
        sock.ttl_v4()
    }
}
