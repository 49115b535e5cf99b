//! Socket set-up that never blocks: creation, options, bind, listen, names.
//! (The operations that wait — accept, connect, send, recv — are in
//! `io/op/`.)

use super::addr::RawAddr;
use crate::sys::syscall;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A new non-blocking, close-on-exec socket.
pub(crate) fn new_socket(domain: libc::c_int, ty: libc::c_int) -> io::Result<OwnedFd> {
    let fd = syscall!(socket(
        domain,
        ty | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
        0
    ))?;
    // SAFETY: `socket` returned a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(crate) fn get_int_option(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    syscall!(getsockopt(
        fd,
        level,
        name,
        (&mut value as *mut libc::c_int).cast(),
        &mut len
    ))?;
    Ok(value)
}

pub(crate) fn bind(fd: RawFd, addr: &RawAddr) -> io::Result<()> {
    let (ptr, len) = addr.as_ptr();
    syscall!(bind(fd, ptr, len)).map(drop)
}

pub(crate) fn listen(fd: RawFd, backlog: libc::c_int) -> io::Result<()> {
    syscall!(listen(fd, backlog)).map(drop)
}

pub(crate) fn local_addr(fd: RawFd) -> io::Result<RawAddr> {
    let mut addr = RawAddr::empty();
    let (ptr, len) = addr.as_out_ptrs();
    syscall!(getsockname(fd, ptr, len))?;
    Ok(addr)
}

pub(crate) fn peer_addr(fd: RawFd) -> io::Result<RawAddr> {
    let mut addr = RawAddr::empty();
    let (ptr, len) = addr.as_out_ptrs();
    syscall!(getpeername(fd, ptr, len))?;
    Ok(addr)
}

pub(crate) fn shutdown(fd: &impl AsRawFd, how: std::net::Shutdown) -> io::Result<()> {
    let how = match how {
        std::net::Shutdown::Read => libc::SHUT_RD,
        std::net::Shutdown::Write => libc::SHUT_WR,
        std::net::Shutdown::Both => libc::SHUT_RDWR,
    };
    syscall!(shutdown(fd.as_raw_fd(), how)).map(drop)
}

/// Takes a pending socket error (`SO_ERROR`).
pub(crate) fn take_error(fd: RawFd) -> io::Result<Option<io::Error>> {
    let err = get_int_option(fd, libc::SOL_SOCKET, libc::SO_ERROR)?;
    Ok((err != 0).then(|| io::Error::from_raw_os_error(err)))
}

pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    let flags = syscall!(fcntl(fd, libc::F_GETFL))?;
    syscall!(fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK)).map(drop)
}

/// Default listen backlog: large enough that a burst of connects is not
/// dropped into SYN retries (the kernel caps it at `somaxconn`).
pub(crate) const LISTEN_BACKLOG: libc::c_int = 1024;
