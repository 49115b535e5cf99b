//! Networking: TCP today; UDP and Unix sockets share the same operations.
//!
//! Every call that waits goes through the I/O driver of the thread that
//! polls it (an io_uring SQE); set-up calls that never block (socket, bind,
//! listen, options) are plain syscalls.

pub(crate) mod addr;
pub(crate) mod socket;
mod tcp;
mod udp;
mod unix;

pub use tcp::{OwnedReadHalf, OwnedWriteHalf, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixSocketAddr, UnixStream};
