//! The floor with the kernel features of ringwork's `bufring` profile: the
//! same hand-written loop as [`floor`](super::floor) (one thread, one ring
//! with DEFER_TASKRUN, no runtime), but every connection keeps one
//! multishot `RECV` armed that takes its buffers from a provided-buffer
//! ring, instead of a single-shot `RECV` into its own buffer after each
//! echo. Against it, the `uring-*bufring*` profiles' cost over the kernel's
//! is measured like the plain profiles' over the plain floor.
//!
//! - **Buffers.** One buffer ring of [`BUF_ENTRIES`] buffers of
//!   [`ECHO_BUFFER`] bytes (group 0). A completion names the buffer the
//!   kernel filled; the echo sends from it and puts it back at the ring's
//!   tail once the send has completed.
//! - **Order.** A connection's received buffers queue in arrival order; one
//!   `SEND` is in flight per connection, for the oldest (again for the rest
//!   after a short send).
//! - **Re-arming.** A completion without `IORING_CQE_F_MORE` ends the
//!   receive. After data, it is armed again at once; after `ENOBUFS` (the
//!   ring was empty), once a buffer comes back, so an empty ring waits
//!   instead of spinning; after end of stream or an error, never.
//! - **Lifetime.** A slot is emptied only when nothing of its connection
//!   is in flight: no receive armed (its final completion seen) and no send
//!   pending. A failed send cancels the armed receive and waits for its
//!   final completion. The buffers outlive the ring's use of them: the ring
//!   and its buffer memory live for the whole loop, which never returns
//!   while operations are in flight except by exiting the process.

use super::floor::{
    accept_sqe, accepted, build_ring, submit_and_wait, Slots, OP_ACCEPT, OP_BITS, OP_RECV, OP_SEND,
    RING_ENTRIES,
};
use super::ECHO_BUFFER;
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use std::collections::VecDeque;
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};

/// Buffers in the ring (a power of two): over two per connection of the
/// 100-connection echo.
pub const BUF_ENTRIES: u16 = 256;

/// The cancel of an armed receive; its completion is ignored.
const OP_CANCEL: u64 = 3;

/// The buffer group of the ring.
const GROUP: u16 = 0;

/// Receives that ended with `ENOBUFS`, in this process (for the tests).
static NO_BUFFERS: AtomicU64 = AtomicU64::new(0);

/// One entry of the buffer ring as the kernel reads it (`struct
/// io_uring_buf`); the first entry's `resv` is the ring's tail.
#[repr(C)]
struct RawEntry {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

/// The provided-buffer ring and its buffers, for one thread.
struct BufferRing {
    /// Page-aligned memory of `BUF_ENTRIES` entries (mmap'd: the kernel
    /// wants the ring page-aligned).
    entries: *mut RawEntry,
    /// Buffers in the ring (a power of two).
    count: u16,
    /// The buffers, `ECHO_BUFFER` bytes each, back to back.
    memory: Box<[u8]>,
    /// The producer's tail (this thread is the only producer).
    tail: u16,
    /// Connections whose receive ended with `ENOBUFS`, to arm again when a
    /// buffer comes back.
    starved: Vec<usize>,
    /// A buffer came back since the starved were last armed.
    returned: bool,
}

impl BufferRing {
    /// Maps a ring of `count` buffers (a power of two), fills it with every
    /// buffer and registers it with `ring` as group [`GROUP`].
    fn register(ring: &IoUring, count: u16) -> io::Result<BufferRing> {
        assert!(
            count.is_power_of_two(),
            "a buffer ring's size is a power of two"
        );
        let bytes = usize::from(count) * std::mem::size_of::<RawEntry>();
        // SAFETY: an anonymous private mapping at an address of the
        // kernel's choice; no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut this = BufferRing {
            entries: ptr.cast(),
            count,
            memory: vec![0u8; usize::from(count) * ECHO_BUFFER].into_boxed_slice(),
            tail: 0,
            starved: Vec::new(),
            returned: false,
        };
        for bid in 0..count {
            this.give_back(bid);
        }
        // SAFETY: the entries are page-aligned memory for `count` entries, and they and the buffers they name stay allocated as
        // long as the process runs the loop (the `BufferRing` lives in
        // `serve`, which returns only on an error, after which the process
        // exits without touching the ring again).
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(ptr as u64, count, GROUP, 0)?;
        }
        Ok(this)
    }

    /// The bytes of buffer `bid`.
    fn buffer(&self, bid: u16) -> &[u8] {
        let start = usize::from(bid) * ECHO_BUFFER;
        &self.memory[start..start + ECHO_BUFFER]
    }

    /// Puts buffer `bid` at the tail of the ring.
    fn give_back(&mut self, bid: u16) {
        let index = usize::from(self.tail & (self.count - 1));
        let addr = self.buffer(bid).as_ptr() as u64;
        // `index < count`: inside the mapping.
        let entry = self.entries.wrapping_add(index).cast::<u8>();
        let field = |offset: usize| entry.wrapping_add(offset);
        // SAFETY: this and the next two writes are each to an aligned field
        // of an entry inside the mapping. The entry at the tail is not one
        // the kernel reads (it reads from its head up to the published
        // tail, and every buffer is in the ring at most once, so the tail
        // never laps the head). The fields are written one by one, never
        // the whole entry: entry 0's `resv` is the tail, which the kernel
        // may read at any time.
        unsafe {
            field(std::mem::offset_of!(RawEntry, addr))
                .cast::<u64>()
                .write(addr)
        };
        // SAFETY: as above.
        unsafe {
            field(std::mem::offset_of!(RawEntry, len))
                .cast::<u32>()
                .write(ECHO_BUFFER as u32)
        };
        // SAFETY: as above.
        unsafe {
            field(std::mem::offset_of!(RawEntry, bid))
                .cast::<u16>()
                .write(bid)
        };
        self.tail = self.tail.wrapping_add(1);
        let tail_field = self
            .entries
            .cast::<u8>()
            .wrapping_add(std::mem::offset_of!(RawEntry, resv))
            .cast::<AtomicU16>();
        // SAFETY: entry 0's `resv` is a 2-aligned `u16` inside the mapping
        // (`AtomicU16` has its layout), shared with the kernel, which only
        // reads it, and written from here only through this atomic.
        let shared_tail = unsafe { &*tail_field };
        // `Release`: the entry's fields above are visible to the kernel's
        // acquire load of the tail (`smp_load_acquire` in
        // `io_ring_buffer_select`) before it can pick the entry.
        shared_tail.store(self.tail, Ordering::Release);
        self.returned = true;
    }
}

/// A buffer the kernel filled for a connection, being echoed.
struct Received {
    bid: u16,
    len: usize,
    sent: usize,
}

/// One connection.
struct Conn {
    fd: OwnedFd,
    /// Its multishot receive is armed (its final completion not seen).
    armed: bool,
    /// Received and not yet completely echoed, oldest first.
    queue: VecDeque<Received>,
    /// A `SEND` of the oldest is in flight.
    sending: bool,
    /// End of stream or a receive error: nothing more will be received.
    eof: bool,
    /// A send failed: the peer is gone, nothing more is echoed.
    broken: bool,
}

impl Conn {
    /// Nothing of this connection is in flight or left to echo.
    fn finished(&self) -> bool {
        !self.armed && !self.sending && (self.broken || (self.eof && self.queue.is_empty()))
    }

    /// Whether a `SEND` of the oldest buffer should start now.
    fn should_send(&self) -> bool {
        !self.sending && !self.broken && !self.queue.is_empty()
    }

    /// Whether its receive may be armed again.
    fn receiving(&self) -> bool {
        !self.armed && !self.eof && !self.broken
    }
}

fn user_data(slot: usize, kind: u64) -> u64 {
    ((slot as u64) << OP_BITS) | kind
}

fn recv_sqe(slot: usize, conn: &Conn) -> squeue::Entry {
    opcode::RecvMulti::new(types::Fd(conn.fd.as_raw_fd()), GROUP)
        .build()
        .user_data(user_data(slot, OP_RECV))
}

fn send_sqe(slot: usize, conn: &Conn, buffers: &BufferRing) -> squeue::Entry {
    let front = conn.queue.front().expect("a send of the oldest buffer");
    let rest = &buffers.buffer(front.bid)[front.sent..front.len];
    opcode::Send::new(
        types::Fd(conn.fd.as_raw_fd()),
        rest.as_ptr(),
        rest.len() as u32,
    )
    .flags(libc::MSG_NOSIGNAL)
    .build()
    .user_data(user_data(slot, OP_SEND))
}

/// Serves until the process exits; `announce` is called with a description
/// once the ring is ready.
pub fn serve(
    listener: TcpListener,
    announce: impl FnOnce(&str) -> io::Result<()>,
) -> io::Result<()> {
    serve_with(listener, BUF_ENTRIES, announce)
}

/// [`serve`] with a ring of `count` buffers (a power of two).
fn serve_with(
    listener: TcpListener,
    count: u16,
    announce: impl FnOnce(&str) -> io::Result<()>,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener_fd = listener.as_raw_fd();
    let (mut ring, setup) = build_ring()?;
    let mut buffers = BufferRing::register(&ring, count)?;
    announce(&format!(
        "hand-written io_uring echo loop with multishot receive into a provided-buffer ring \
         ({count} x {} KiB), 1 thread, no runtime; sq={RING_ENTRIES} cq={} {setup}, \
         batched submissions",
        ECHO_BUFFER / 1024,
        ring.params().cq_entries()
    ))?;

    let mut slots: Slots<Conn> = Slots::default();
    let mut queued: Vec<squeue::Entry> = vec![accept_sqe(listener_fd)];
    let mut completions: Vec<(u64, i32, u32)> = Vec::with_capacity(RING_ENTRIES as usize);
    loop {
        // SAFETY: every entry points at a descriptor owned by a slot that
        // stays alive until the connection's last completion (a slot is
        // emptied only when nothing of it is in flight), at a buffer of the
        // ring that is not given back before its send completes, or at the
        // listener, alive for the whole loop.
        if !unsafe { submit_and_wait(&mut ring, &mut queued) }? {
            continue;
        }
        completions.extend(
            ring.completion()
                .map(|cqe: cqueue::Entry| (cqe.user_data(), cqe.result(), cqe.flags())),
        );
        for (data, result, flags) in completions.drain(..) {
            let slot = (data >> OP_BITS) as usize;
            match data & ((1 << OP_BITS) - 1) {
                OP_ACCEPT => {
                    queued.push(accept_sqe(listener_fd));
                    let Some(fd) = accepted(result)? else {
                        continue;
                    };
                    let slot = slots.insert(Conn {
                        fd,
                        armed: true,
                        queue: VecDeque::new(),
                        sending: false,
                        eof: false,
                        broken: false,
                    });
                    queued.push(recv_sqe(
                        slot,
                        slots.conns[slot].as_ref().expect("inserted"),
                    ));
                }
                OP_RECV => {
                    let conn = slots.conns[slot].as_mut().expect("RECV on an empty slot");
                    let more = cqueue::more(flags);
                    if let Some(bid) = cqueue::buffer_select(flags) {
                        if result > 0 {
                            conn.queue.push_back(Received {
                                bid,
                                len: result as usize,
                                sent: 0,
                            });
                        } else {
                            // A buffer taken on a path that then failed.
                            buffers.give_back(bid);
                        }
                    }
                    if !more {
                        conn.armed = false;
                        if result > 0 && conn.receiving() {
                            conn.armed = true;
                            queued.push(recv_sqe(slot, conn));
                        } else if result == -libc::ENOBUFS && conn.receiving() {
                            // `Relaxed`: a counter, read by tests after the fact.
                            NO_BUFFERS.fetch_add(1, Ordering::Relaxed);
                            buffers.starved.push(slot);
                        } else {
                            conn.eof = true;
                        }
                    }
                    if conn.should_send() {
                        conn.sending = true;
                        queued.push(send_sqe(slot, conn, &buffers));
                    }
                    if conn.finished() {
                        release(&mut buffers, conn);
                        slots.remove(slot);
                    }
                }
                OP_SEND => {
                    let conn = slots.conns[slot].as_mut().expect("SEND on an empty slot");
                    conn.sending = false;
                    if result < 0 {
                        // The peer is gone: stop receiving, echo nothing more.
                        conn.broken = true;
                        if conn.armed {
                            queued.push(
                                opcode::AsyncCancel::new(user_data(slot, OP_RECV))
                                    .build()
                                    .user_data(OP_CANCEL),
                            );
                        }
                    } else {
                        let front = conn.queue.front_mut().expect("a send was in flight");
                        front.sent += result as usize;
                        if front.sent == front.len {
                            let bid = front.bid;
                            conn.queue.pop_front();
                            buffers.give_back(bid);
                        }
                    }
                    if conn.should_send() {
                        conn.sending = true;
                        queued.push(send_sqe(slot, conn, &buffers));
                    }
                    if conn.finished() {
                        release(&mut buffers, conn);
                        slots.remove(slot);
                    }
                }
                OP_CANCEL => {}
                other => unreachable!("unknown operation kind {other}"),
            }
        }
        if std::mem::take(&mut buffers.returned) {
            // Buffers are back: arm the receives that found the ring empty
            // (a slot may hold a newer connection by now, whose receive is
            // armed: skipped).
            for starved in std::mem::take(&mut buffers.starved) {
                if let Some(conn) = slots.conns[starved]
                    .as_mut()
                    .filter(|conn| conn.receiving())
                {
                    conn.armed = true;
                    queued.push(recv_sqe(starved, conn));
                }
            }
        }
    }
}

/// Gives back every buffer a finished connection still holds.
fn release(buffers: &mut BufferRing, conn: &mut Conn) {
    for received in conn.queue.drain(..) {
        buffers.give_back(received.bid);
    }
}

#[cfg(test)]
mod tests {
    use super::{serve_with, NO_BUFFERS};
    use crate::iobench::loadgen::Client;
    use std::net::TcpListener;
    use std::sync::atomic::Ordering;
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    /// Four buffers for sixteen connections: receives end with `ENOBUFS`
    /// and must be armed again when buffers come back, with every byte
    /// echoed in order (the load generator checks each one).
    #[test]
    fn an_empty_buffer_ring_delays_receives_and_loses_nothing() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (ready, is_ready) = mpsc::channel();
        thread::spawn(move || {
            let result = serve_with(listener, 4, move |_| {
                ready.send(()).unwrap();
                Ok(())
            });
            panic!("the floor stopped: {result:?}");
        });
        is_ready.recv_timeout(Duration::from_secs(5)).unwrap();
        let mut client = Client::connect(addr, 16, 16 * 1024).unwrap();
        let closed = client
            .closed_loop(Duration::from_millis(20), Duration::from_millis(300))
            .unwrap();
        assert!(closed.msgs_per_sec > 0.0);
        client.finish().unwrap();
        assert!(
            NO_BUFFERS.load(Ordering::Relaxed) > 0,
            "the ring never ran empty: the test did not test re-arming"
        );
    }
}
