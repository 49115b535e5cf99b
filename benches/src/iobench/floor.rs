//! The floor of `tcp_echo`: a minimal echo server written directly against
//! io_uring (the `io-uring` crate), with no runtime — one thread, one ring,
//! no tasks, no wakers. What a runtime costs on top of the kernel's TCP work
//! is its CPU time per message over this one's.
//!
//! Each connection is a slot holding its socket and a buffer and has exactly
//! one operation in flight at any time: RECV into the buffer, then SEND of
//! what arrived (again for the rest if the send was short), then RECV again.
//! One ACCEPT is always in flight on the listener. An operation's
//! `user_data` is the slot index shifted left by two bits plus the operation
//! kind, so a completion finds its connection without a lookup.
//!
//! Submissions are batched: the loop takes every completion available, queues
//! the follow-up operations, and submits them all with the next wait, so one
//! `io_uring_enter` both submits a batch and waits for the next completions.

use io_uring::{cqueue, opcode, squeue, types, IoUring};
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::ECHO_BUFFER;

/// Submission queue entries; the completion queue gets twice as many. At most
/// one operation per connection plus the accept is in flight, far below.
pub(super) const RING_ENTRIES: u32 = 1024;

/// The operation kinds, in the low two bits of `user_data`.
pub(super) const OP_ACCEPT: u64 = 0;
pub(super) const OP_RECV: u64 = 1;
pub(super) const OP_SEND: u64 = 2;
pub(super) const OP_BITS: u32 = 2;

/// One connection: its socket and its buffer. `buf` is a boxed slice, so its
/// bytes stay put when the slot vector grows; the slot is emptied only when
/// the connection's single in-flight operation has completed, so the kernel
/// never writes into or reads from a freed buffer or a closed descriptor.
struct Conn {
    fd: OwnedFd,
    buf: Box<[u8]>,
    /// Bytes received by the last RECV, being echoed.
    len: usize,
    /// How many of them were sent already.
    sent: usize,
}

/// The connections, indexed by slot, and the free slots.
pub(super) struct Slots<C> {
    pub(super) conns: Vec<Option<C>>,
    free: Vec<usize>,
}

impl<C> Default for Slots<C> {
    fn default() -> Self {
        Slots {
            conns: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<C> Slots<C> {
    pub(super) fn insert(&mut self, conn: C) -> usize {
        match self.free.pop() {
            Some(slot) => {
                self.conns[slot] = Some(conn);
                slot
            }
            None => {
                self.conns.push(Some(conn));
                self.conns.len() - 1
            }
        }
    }

    pub(super) fn remove(&mut self, slot: usize) {
        // Dropping the connection closes its socket.
        if self.conns[slot].take().is_some() {
            self.free.push(slot);
        }
    }
}

/// Builds the ring, preferring single-issuer + deferred task running (the
/// cheapest waits, BENCHMARKING.md), falling back to a plain ring on a
/// kernel without them. Returns the ring and a description of its set-up.
pub(super) fn build_ring() -> io::Result<(IoUring, &'static str)> {
    match IoUring::builder()
        .setup_coop_taskrun()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(RING_ENTRIES)
    {
        Ok(ring) => Ok((ring, "single_issuer+defer_taskrun+coop_taskrun")),
        Err(_) => Ok((IoUring::new(RING_ENTRIES)?, "plain set-up")),
    }
}

pub(super) fn accept_sqe(listener: RawFd) -> squeue::Entry {
    opcode::Accept::new(
        types::Fd(listener),
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    )
    .flags(libc::SOCK_CLOEXEC)
    .build()
    .user_data(OP_ACCEPT)
}

fn recv_sqe(slot: usize, conn: &mut Conn) -> squeue::Entry {
    opcode::Recv::new(
        types::Fd(conn.fd.as_raw_fd()),
        conn.buf.as_mut_ptr(),
        conn.buf.len() as u32,
    )
    .build()
    .user_data(((slot as u64) << OP_BITS) | OP_RECV)
}

fn send_sqe(slot: usize, conn: &Conn) -> squeue::Entry {
    let rest = &conn.buf[conn.sent..conn.len];
    opcode::Send::new(
        types::Fd(conn.fd.as_raw_fd()),
        rest.as_ptr(),
        rest.len() as u32,
    )
    .flags(libc::MSG_NOSIGNAL)
    .build()
    .user_data(((slot as u64) << OP_BITS) | OP_SEND)
}

/// Serves until the process exits; `announce` is called with a description
/// once the ring is ready.
pub fn serve(
    listener: TcpListener,
    announce: impl FnOnce(&str) -> io::Result<()>,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener_fd = listener.as_raw_fd();
    let (mut ring, setup) = build_ring()?;
    announce(&format!(
        "hand-written io_uring echo loop, 1 thread, no runtime; sq={RING_ENTRIES} \
         cq={} {setup}, batched submissions",
        ring.params().cq_entries()
    ))?;

    let mut slots: Slots<Conn> = Slots::default();
    // Follow-up operations queued while handling completions, submitted
    // together with the next wait.
    let mut queued: Vec<squeue::Entry> = vec![accept_sqe(listener_fd)];
    let mut completions: Vec<(u64, i32)> = Vec::with_capacity(RING_ENTRIES as usize);
    loop {
        // SAFETY: every entry points at a descriptor and a buffer owned by a
        // slot that stays alive until this entry's completion (one operation
        // per connection, slots emptied only on completion), or at the
        // listener, alive for the whole loop.
        if !unsafe { submit_and_wait(&mut ring, &mut queued) }? {
            continue;
        }
        completions.extend(
            ring.completion()
                .map(|cqe: cqueue::Entry| (cqe.user_data(), cqe.result())),
        );
        for (user_data, result) in completions.drain(..) {
            let slot = (user_data >> OP_BITS) as usize;
            match user_data & ((1 << OP_BITS) - 1) {
                OP_ACCEPT => {
                    queued.push(accept_sqe(listener_fd));
                    let Some(fd) = accepted(result)? else {
                        continue;
                    };
                    let slot = slots.insert(Conn {
                        fd,
                        buf: vec![0u8; ECHO_BUFFER].into_boxed_slice(),
                        len: 0,
                        sent: 0,
                    });
                    let conn = slots.conns[slot].as_mut().expect("just inserted");
                    queued.push(recv_sqe(slot, conn));
                }
                OP_RECV => {
                    let conn = slots.conns[slot].as_mut().expect("RECV on an empty slot");
                    if result <= 0 {
                        // End of stream, or an error such as a reset.
                        slots.remove(slot);
                        continue;
                    }
                    conn.len = result as usize;
                    conn.sent = 0;
                    queued.push(send_sqe(slot, conn));
                }
                OP_SEND => {
                    let conn = slots.conns[slot].as_mut().expect("SEND on an empty slot");
                    if result < 0 {
                        slots.remove(slot);
                        continue;
                    }
                    conn.sent += result as usize;
                    if conn.sent < conn.len {
                        queued.push(send_sqe(slot, conn));
                    } else {
                        queued.push(recv_sqe(slot, conn));
                    }
                }
                other => unreachable!("unknown operation kind {other}"),
            }
        }
    }
}

/// Pushes every `queued` entry (submitting when the queue is full), then
/// submits and waits for at least one completion. `Ok(false)`: the wait was
/// interrupted (`EINTR`); wait again.
///
/// # Safety
/// Every memory area and descriptor a queued entry names must stay valid
/// until that entry's completion has been reaped.
pub(super) unsafe fn submit_and_wait(
    ring: &mut IoUring,
    queued: &mut Vec<squeue::Entry>,
) -> io::Result<bool> {
    for sqe in queued.drain(..) {
        // SAFETY: what the entry names stays valid until its completion
        // (this function's contract).
        while unsafe { ring.submission().push(&sqe) }.is_err() {
            // The queue is full: hand what is there to the kernel.
            ring.submit()?;
        }
    }
    match ring.submit_and_wait(1) {
        Ok(_) => Ok(true),
        Err(err) if err.raw_os_error() == Some(libc::EINTR) => Ok(false),
        Err(err) => Err(err),
    }
}

/// The connection an ACCEPT completion with `result` gave, with
/// `TCP_NODELAY` set; `None` for an error that concerns that connection
/// only, `Err` for one that concerns the listener.
pub(super) fn accepted(result: i32) -> io::Result<Option<OwnedFd>> {
    if result < 0 {
        let err = io::Error::from_raw_os_error(-result);
        return if is_transient_accept_error(&err) {
            Ok(None)
        } else {
            Err(err)
        };
    }
    // SAFETY: a successful ACCEPT returns a fresh descriptor that nothing
    // else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(result) };
    set_nodelay(fd.as_raw_fd())?;
    Ok(Some(fd))
}

/// Accept errors that concern one connection, not the listener.
fn is_transient_accept_error(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EINTR | libc::ECONNABORTED | libc::EAGAIN | libc::EPROTO | libc::EPERM)
    )
}

fn set_nodelay(fd: RawFd) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: the option value is a live `c_int` of the size passed.
    let res = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    super::sys::check(res).map(drop)
}
