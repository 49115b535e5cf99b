//! `accept` a connection: a new non-blocking, close-on-exec socket.

use super::{submit, SharedFd};
use crate::net::addr::RawAddr;
use crate::sys::syscall;
use ringwork_epoll::Direction;
use ringwork_uring::io_uring::opcode;
use ringwork_uring::Orphan;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

struct Resources {
    fd: SharedFd,
    addr: RawAddr,
}

/// Accepts one connection; returns the new socket and the peer's address.
/// If the future is dropped after the kernel accepted, the new socket is
/// closed, so no connection leaks. Errors meaning "out of descriptors or
/// memory" come back after a short pause (see [`pause_if_exhausted`]).
pub(crate) async fn accept(fd: &SharedFd) -> io::Result<(OwnedFd, RawAddr)> {
    let accepted = if super::on_epoll() {
        epoll(fd).await
    } else {
        uring(fd).await
    };
    match accepted {
        Ok(accepted) => Ok(accepted),
        Err(err) => Err(pause_if_exhausted(err).await),
    }
}

async fn epoll(fd: &SharedFd) -> io::Result<(OwnedFd, RawAddr)> {
    let mut addr = RawAddr::empty();
    let raw = fd
        .ready(Direction::Read, |raw| {
            let (ptr, len) = addr.as_out_ptrs();
            syscall!(accept4(
                raw,
                ptr,
                len,
                libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK
            ))
        })
        .await?;
    // SAFETY: `accept4` returned a new descriptor that we own.
    Ok((unsafe { OwnedFd::from_raw_fd(raw) }, addr))
}

async fn uring(fd: &SharedFd) -> io::Result<(OwnedFd, RawAddr)> {
    let resources = Resources {
        fd: fd.clone(),
        addr: RawAddr::empty(),
    };
    // SAFETY: the SQE points to the address storage and its length, both
    // inside the resources, which hold the listener open.
    let op = unsafe {
        submit(resources, Orphan::CloseFd, |r| {
            let (addr, len) = r.addr.as_out_ptrs();
            opcode::Accept::new(r.fd.types_fd(), addr, len)
                .flags(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK)
                .build()
        })
    };
    let (result, resources) = op.await;
    let fd = result?;
    // SAFETY: a successful accept returns a new descriptor that we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    Ok((fd, resources.addr))
}

/// Pauses 10 ms before an accept error that means "out of descriptors or
/// memory" is returned (a retry loop then cannot spin), and returns the error.
async fn pause_if_exhausted(err: io::Error) -> io::Error {
    if matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    ) {
        crate::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    err
}
