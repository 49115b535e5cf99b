//! `accept` a connection: a new non-blocking, close-on-exec socket
//! (`IORING_OP_ACCEPT`; `accept4(2)` on readiness).
//!
//! Cancel safe on both drivers: a connection a dropped accept got is kept
//! in the listener's stash and handed to the next accept (closed only if
//! the listener is dropped first).
//!
//! On io_uring with multishot accept ([`Acceptor`]), a listener used from a
//! worker keeps one armed `ACCEPT` (`IORING_ACCEPT_MULTISHOT`): the kernel
//! posts every connection to it, and each `accept` takes the oldest posted.
//! The connections belong to the listener, not to a call, so a dropped
//! `accept` loses none; dropping the listener cancels the armed accept and
//! closes what it posted and nobody took.

use super::{run, EpollPath, OpCode, SharedFd};
use crate::context::{self, IoAccess, ThreadDriver};
use crate::io::stash::{self, Stashed};
use crate::sys::addr::RawAddr;
use crate::sys::{socket, syscall};
use ringwork_epoll::Direction;
use ringwork_uring::io_uring::{opcode, squeue};
use ringwork_uring::{Driver, Orphan};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const FLAGS: libc::c_int = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;

struct Accept {
    fd: SharedFd,
    addr: RawAddr,
}

impl Accept {
    /// A successful result: the new descriptor, now ours.
    fn take(&mut self, fd: u32) -> (OwnedFd, RawAddr) {
        // SAFETY: a successful accept returns a new descriptor nobody else
        // owns.
        (unsafe { OwnedFd::from_raw_fd(fd as i32) }, self.addr)
    }
}

// SAFETY: the SQE points to the address storage and its length, both inside
// the operation, which holds the listener open.
unsafe impl OpCode for Accept {
    type Output = io::Result<(OwnedFd, RawAddr)>;

    fn sqe(&mut self) -> squeue::Entry {
        let (addr, len) = self.addr.as_out_ptrs();
        opcode::Accept::new(self.fd.types_fd(), addr, len)
            .flags(FLAGS)
            .build()
    }

    /// A non-blocking `accept4(2)` first: when connections are queued (a
    /// burst), an accept loop drains the queue with one syscall each, as on
    /// epoll, instead of one ring round trip per connection. With one
    /// `ACCEPT` in flight at a time, a burst of 10,000 loopback connects
    /// overflowed the 1024-entry queue while the ring trickled them out:
    /// the kernel dropped SYNs (`ListenOverflows`), and clients waited out
    /// 1 s and 3 s SYN retransmits (2–3 s for the burst vs 0.25 s on epoll).
    /// Only an empty queue (`EAGAIN`) costs the extra syscall.
    fn try_before_submit(&mut self, _: &Driver) -> Option<io::Result<u32>> {
        match self.attempt() {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => None,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => None,
            other => Some(other),
        }
    }

    const FIXED_FILE: bool = true;

    fn epoll_path(&self) -> EpollPath {
        EpollPath::Ready(Direction::Read)
    }

    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        #[cfg(feature = "fault-injection")]
        if let Some(err) = crate::faults::accept_error() {
            return Err(err);
        }
        let (ptr, len) = self.addr.as_out_ptrs();
        syscall!(accept4(self.fd.raw(), ptr, len, FLAGS)).map(|fd| fd as u32)
    }

    fn complete(mut self, result: io::Result<u32>) -> Self::Output {
        Ok(self.take(result?))
    }

    fn stash_owner(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn orphaned(mut self, result: io::Result<u32>) {
        // Errors of an accept concern that attempt only (a connection
        // aborted before it was accepted, descriptors exhausted): not news.
        let delivered = result.ok().map(|fd| {
            let (fd, peer) = self.take(fd);
            Stashed::Connection { fd, peer }
        });
        self.fd.stash().resolve(delivered);
    }
}

/// Accepts one connection; returns the new socket and the peer's address.
/// A connection accepted for a dropped single-shot accept comes first; then
/// the listener's multishot accept where it has one ([`Acceptor`]), else a
/// single-shot accept.
pub(crate) async fn accept(fd: &SharedFd, acceptor: &Acceptor) -> io::Result<(OwnedFd, RawAddr)> {
    if let Some(accepted) = fd.take_stashed(stash::take_connection).await {
        return Ok(accepted);
    }
    if let Some(accepted) = acceptor.accept(fd, acceptor.wants_multishot()).await {
        return accepted;
    }
    run(Accept {
        fd: fd.clone(),
        addr: RawAddr::empty(),
    })
    .await
}

/// What a multishot `ACCEPT` keeps alive: the listener.
struct AcceptMulti {
    fd: SharedFd,
}

/// A listener's multishot accept (io_uring): at most one armed `ACCEPT`
/// with `IORING_ACCEPT_MULTISHOT`, whose posted connections wait in its
/// driver slot until an `accept` takes them.
///
/// - It is armed by the first `accept` that runs on a worker whose ring
///   has the feature (`Features::multishot_accept`), on that worker's ring.
///   Threads that are not workers (`block_on`) use single-shot accepts: a
///   ring whose thread may stop driving it would strand the connections.
/// - A final completion (no `IORING_CQE_F_MORE`: an error such as
///   `EMFILE`, a full completion queue, the ring's shutdown) ends it; the
///   next `accept` arms a new one. Never two at once: the mutex below is
///   held from the check to the arming.
/// - `EINVAL` as its very first completion means this kernel refuses
///   multishot accept: the listener uses single-shot accepts from then on.
/// - Concurrent `accept`s take turns on the async mutex (fair, FIFO), so
///   each connection goes to exactly one of them; a dropped `accept`
///   leaves the connections in the slot.
#[derive(Default)]
pub(crate) struct Acceptor {
    state: crate::sync::Mutex<Multishot>,
    /// Set once the kernel refused multishot accept on this listener.
    refused: std::sync::atomic::AtomicBool,
    /// Whether an accept is armed (a hint, written under `state`): callers
    /// that may not arm one still take what an armed one posted.
    armed: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct Multishot {
    op: Option<ringwork_uring::Op<AcceptMulti>>,
    /// Whether the armed accept has posted anything yet.
    posted: bool,
}

impl Acceptor {
    /// Whether an `accept` on this thread should use the multishot accept.
    fn wants_multishot(&self) -> bool {
        // `Relaxed`: a hint; a stale `false` arms once more and gets
        // `EINVAL` again.
        if self.refused.load(std::sync::atomic::Ordering::Relaxed) || context::worker().is_null() {
            return false;
        }
        context::with_io(|io| match io {
            IoAccess::Driver(ThreadDriver::Uring(driver)) => driver.features().multishot_accept,
            _ => false,
        })
    }

    /// The next connection from the multishot accept; `None` when there is
    /// none armed and `may_arm` is false (the kernel refused it, or this
    /// thread is not a worker with a ring), and the caller accepts the
    /// single-shot way. An armed one is drained from any thread: the
    /// connections it took from the kernel are only there.
    async fn accept(&self, fd: &SharedFd, may_arm: bool) -> Option<io::Result<(OwnedFd, RawAddr)>> {
        use std::sync::atomic::Ordering::Relaxed;
        // `Relaxed`: a hint; the state is decided under the lock.
        if !may_arm && !self.armed.load(Relaxed) {
            return None;
        }
        let mut state = self.state.lock().await;
        loop {
            if state.op.is_none() {
                if !may_arm {
                    return None;
                }
                match arm(fd) {
                    Ok(Some(op)) => {
                        state.op = Some(op);
                        state.posted = false;
                        self.armed.store(true, Relaxed);
                    }
                    Ok(None) => return None,
                    Err(err) => return Some(Err(err)),
                }
            }
            let op = state.op.as_mut().expect("armed above");
            let (completion, last) = super::next_multishot(op).await;
            let first = !state.posted;
            state.posted = true;
            if last.is_some() {
                state.op = None;
                self.armed.store(false, Relaxed);
            }
            match completion.into_result() {
                Ok(new_fd) => {
                    // SAFETY: a successful accept returns a new descriptor
                    // nobody else owns.
                    let new_fd = unsafe { OwnedFd::from_raw_fd(new_fd as i32) };
                    // A multishot accept has no address storage: ask. A
                    // peer that reset in between (`ENOTCONN`) is dropped,
                    // as the kernel drops one reset before its accept.
                    match socket::peer_addr(new_fd.as_raw_fd()) {
                        Ok(peer) => return Some(Ok((new_fd, peer))),
                        Err(_) => continue,
                    }
                }
                Err(err) if last.is_some() && first && err.raw_os_error() == Some(libc::EINVAL) => {
                    self.refused
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                    return None;
                }
                // The ring shut down (its runtime ended): arm anew here.
                // `EINTR`/`EAGAIN` end no listener either: arm again, as a
                // single-shot accept is submitted again (`op::Run`).
                Err(err)
                    if last.is_some()
                        && matches!(
                            err.raw_os_error(),
                            Some(libc::ECANCELED | libc::EINTR | libc::EAGAIN)
                        ) => {}
                Err(err) => return Some(Err(err)),
            }
        }
    }
}

/// Arms a multishot accept on this thread's ring; `None` if this thread
/// has none.
fn arm(fd: &SharedFd) -> io::Result<Option<ringwork_uring::Op<AcceptMulti>>> {
    context::with_io(|io| match io {
        IoAccess::Driver(ThreadDriver::Uring(driver)) => {
            let resources = AcceptMulti { fd: fd.clone() };
            // SAFETY: the SQE names only the listener's descriptor, which
            // the resources keep open until the final completion; it has no
            // pointers. Connections posted after the future side is gone
            // are closed (`CloseFd`).
            let submitted = unsafe {
                driver.submit(resources, Orphan::CloseFd, |multi| {
                    opcode::AcceptMulti::new(multi.fd.types_fd())
                        .flags(FLAGS)
                        .build()
                })
            };
            if submitted.is_ok() {
                driver.stats().multishot_armed();
            }
            submitted.map(Some).map_err(|(err, _)| err)
        }
        _ => Ok(None),
    })
}
