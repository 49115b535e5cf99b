//! `connect` a socket to an address.

use super::{submit, SharedFd};
use crate::net::addr::RawAddr;
use ringwork_uring::io_uring::opcode;
use ringwork_uring::Orphan;
use std::io;

struct Resources {
    fd: SharedFd,
    addr: RawAddr,
}

/// Connects `fd` to `addr`.
pub(crate) async fn connect(fd: &SharedFd, addr: RawAddr) -> io::Result<()> {
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
