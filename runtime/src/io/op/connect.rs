//! `connect` a socket to an address.

use super::{submit, SharedFd};
use crate::net::addr::RawAddr;
use crate::net::socket;
use crate::sys::syscall;
use ringwork_epoll::Direction;
use ringwork_uring::io_uring::opcode;
use ringwork_uring::Orphan;
use std::io;

struct Resources {
    fd: SharedFd,
    addr: RawAddr,
}

/// Connects `fd` to `addr`.
pub(crate) async fn connect(fd: &SharedFd, addr: RawAddr) -> io::Result<()> {
    if super::on_epoll() {
        epoll(fd, addr).await
    } else {
        uring(fd, addr).await
    }
}

async fn epoll(fd: &SharedFd, addr: RawAddr) -> io::Result<()> {
    let (ptr, len) = addr.as_ptr();
    match syscall!(connect(fd.raw(), ptr, len)) {
        Ok(_) => return Ok(()),
        Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(err) => return Err(err),
    }
    // In progress: writable means decided; SO_ERROR says how.
    fd.ready(Direction::Write, |raw| {
        if let Some(err) = socket::take_error(raw)? {
            return Err(err);
        }
        match socket::peer_addr(raw) {
            Ok(_) => Ok(()),
            Err(err) if err.raw_os_error() == Some(libc::ENOTCONN) => {
                Err(io::ErrorKind::WouldBlock.into())
            }
            Err(err) => Err(err),
        }
    })
    .await
}

async fn uring(fd: &SharedFd, addr: RawAddr) -> io::Result<()> {
    let resources = Resources {
        fd: fd.clone(),
        addr,
    };
    // SAFETY: the SQE points to the address inside the resources, which hold
    // the socket open.
    let op = unsafe {
        submit(resources, Orphan::Drop, |r| {
            let (addr, len) = r.addr.as_ptr();
            opcode::Connect::new(r.fd.types_fd(), addr, len).build()
        })
    };
    op.await.0.map(drop)
}
