//! Networking: TCP, UDP and Unix sockets, all on the same operations.
//!
//! Every call that waits goes through the I/O driver of the thread that
//! polls it (an io_uring SQE); set-up calls that never block (socket, bind,
//! listen, options) are plain syscalls.

mod tcp;
mod udp;
mod unix;
mod unix_datagram;

pub use tcp::{OwnedReadHalf, OwnedWriteHalf, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixSocketAddr, UnixStream};
pub use unix_datagram::UnixDatagram;

use crate::io::op::{self, SharedFd};
use crate::sys::addr::RawAddr;
use std::io;
use std::os::fd::OwnedFd;

/// A listener's accept: the connection, or, when the process is out of
/// descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`), the
/// error after a 10 ms pause, so that an accept loop that retries at once
/// does not spin while nothing can be accepted.
async fn accept(fd: &SharedFd, acceptor: &op::accept::Acceptor) -> io::Result<(OwnedFd, RawAddr)> {
    match op::accept::accept(fd, acceptor).await {
        Err(err)
            if matches!(
                err.raw_os_error(),
                Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
            ) =>
        {
            crate::time::sleep(std::time::Duration::from_millis(10)).await;
            Err(err)
        }
        other => other,
    }
}
