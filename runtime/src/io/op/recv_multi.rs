//! A stream socket's multishot receive into provided buffers (io_uring with
//! `Builder::uring_buf_ring`): [`Receiver`].
//!
//! One armed `RECV` with `IORING_RECV_MULTISHOT | IOSQE_BUFFER_SELECT` per
//! socket: as data arrives the kernel picks a buffer of the worker ring's
//! buffer ring, fills it and posts a CQE, without a new SQE per read and
//! without a buffer pinned by an idle connection. The CQEs queue in the
//! operation's driver slot; each read takes the oldest. The data belongs to
//! the socket, not to a read call, so a dropped read loses nothing (reads
//! stay cancel safe), and a buffer handed out goes back to its ring when
//! dropped, on whatever thread.
//!
//! - **Who arms it.** The first read on a worker thread whose ring has a
//!   buffer ring (`Features::buf_ring`) and a free buffer. Other threads
//!   (`block_on`) take what an armed one posted, else receive the plain way
//!   (a ring whose thread may stop driving it would strand the data).
//! - **When it ends.** A CQE without `IORING_CQE_F_MORE`: end of stream,
//!   an error, `ENOBUFS` (the buffer ring was empty: this read receives the
//!   plain way into its own buffer, and a later read arms again once the
//!   ring has a free buffer, so an empty ring costs one ordinary receive per
//!   read, never a spin), or the per-socket cap (`BufRingConfig::
//!   per_socket` unread buffers: the owner cancels it, so a socket nobody
//!   reads cannot take the whole pool; the next read, having taken what was
//!   queued, arms it again). `EINVAL` as the first CQE means the kernel has
//!   no multishot receive (before 6.0): plain receives from then on.
//! - **Order.** Concurrent readers take turns on an async mutex (fair,
//!   FIFO). For one reader at a time, a plain receive happens only while
//!   nothing is armed and nothing is held, so bytes come out in the order
//!   they arrived; what a dropped plain receive got goes to the stash as
//!   before (`stash.rs`), and is read first. Concurrent readers of one
//!   socket get each byte once, in no promised order (the plain receive
//!   runs after the lock is released, as concurrent `read(2)` calls do).
//! - **Teardown.** Dropping the socket (its last handle) drops the armed
//!   operation: it is cancelled, and every buffer its unread CQEs name goes
//!   back to the ring (the slot's `Orphan::Each` rule), after the last CQE.

use super::SharedFd;
use crate::buf::RecvBuf;
use crate::context::{self, IoAccess, ThreadDriver};
use ringwork_uring::{BufRing, Completion, Orphan, Stats};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

/// What an armed multishot receive keeps alive: the socket and the ring
/// its buffers come from.
struct RecvMulti {
    fd: SharedFd,
    ring: Arc<BufRing>,
}

/// The orphan rule: a CQE nobody will read gives its buffer back.
fn give_back(completion: Completion, op: &RecvMulti) {
    // SAFETY: `completion` is a CQE of this operation, which selected its
    // buffer from `op.ring`'s group on the ring that group is registered
    // with, and the slot hands each unread CQE to this rule once.
    drop(unsafe { op.ring.take(completion) });
}

/// A stream socket's multishot receive (see the module docs). Every handle
/// of one socket (a stream and its split halves) shares one.
#[derive(Default)]
pub(crate) struct Receiver {
    state: crate::sync::Mutex<State>,
    /// Set once the kernel refused multishot receive on this socket.
    refused: AtomicBool,
    /// Whether something is armed or held (a hint, written under `state`):
    /// threads that may not arm still take what is there.
    active: AtomicBool,
}

#[derive(Default)]
struct State {
    op: Option<ringwork_uring::Op<RecvMulti>>,
    /// The ring (and its counters) the armed operation's buffers come from.
    ring: Option<(Arc<BufRing>, Arc<Stats>)>,
    /// Whether the armed operation has posted anything yet.
    posted: bool,
    /// Whether it was armed with the kernel's byte limit.
    limited: bool,
    /// The unread rest of a buffer a smaller read did not take.
    held: Option<RecvBuf>,
}

impl State {
    fn is_active(&self) -> bool {
        self.op.is_some() || self.held.is_some()
    }
}

/// What one look at the multishot receive gave.
pub(crate) enum Next {
    /// Bytes (empty: end of stream).
    Data(RecvBuf),
    Error(io::Error),
    /// Nothing armed here: receive the plain way.
    Plain,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("active", &self.active.load(Relaxed))
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// Whether a read on this thread may arm a multishot receive now.
    fn may_arm(&self) -> bool {
        // `Relaxed`: a hint; a stale `false` arms once more and is refused
        // again.
        if self.refused.load(Relaxed) || context::worker().is_null() {
            return false;
        }
        context::with_io(|io| match io {
            IoAccess::Driver(ThreadDriver::Uring(driver)) => {
                driver.buf_ring().is_some_and(|ring| ring.has_free())
            }
            _ => false,
        })
    }

    /// The next bytes of the stream from the multishot receive, arming it
    /// if this thread may; [`Next::Plain`] if the caller should receive the
    /// plain way. `take` gets the bytes under the lock and returns what it
    /// leaves (kept for the next read, in order).
    pub(crate) async fn next<T>(
        &self,
        fd: &SharedFd,
        take: impl FnOnce(RecvBuf) -> (T, Option<RecvBuf>),
    ) -> Result<T, Next> {
        // `Relaxed`: a hint; the state is decided under the lock.
        let may_arm = self.may_arm();
        if !may_arm && !self.active.load(Relaxed) {
            return Err(Next::Plain);
        }
        let mut state = self.state.lock().await;
        let next = self.next_locked(&mut state, fd, may_arm).await;
        let result = match next {
            Next::Data(buf) => {
                let (out, rest) = take(buf);
                state.held = rest.filter(|rest| !rest.is_empty());
                Ok(out)
            }
            other => Err(other),
        };
        self.active.store(state.is_active(), Relaxed);
        result
    }

    async fn next_locked(&self, state: &mut State, fd: &SharedFd, may_arm: bool) -> Next {
        if let Some(held) = state.held.take() {
            return Next::Data(held);
        }
        loop {
            if state.op.is_none() {
                if !may_arm {
                    return Next::Plain;
                }
                let limited = !NO_BYTE_LIMIT.load(Relaxed);
                match arm(fd, limited) {
                    Ok(Some((op, ring, stats))) => {
                        state.op = Some(op);
                        state.ring = Some((ring, stats));
                        state.posted = false;
                        state.limited = limited;
                    }
                    Ok(None) => return Next::Plain,
                    Err(err) => return Next::Error(err),
                }
            }
            let op = state.op.as_mut().expect("armed above");
            let (completion, last) = super::next_multishot(op).await;
            let first = !state.posted;
            state.posted = true;
            let (ring, stats) = state.ring.clone().expect("set when armed");
            let capped = last.is_some() && op.hit_cap();
            if last.is_some() {
                state.op = None;
            }
            // SAFETY: a CQE of the operation armed on the ring of `ring`'s
            // group, with buffer select from it; `poll_next` hands each CQE
            // out once.
            let taken = unsafe { ring.take(completion) };
            if let Some(buf) = taken.filter(|_| completion.result > 0) {
                // Data, possibly on the final CQE: the byte limit ended it
                // (or a full completion queue did). (An error or end of
                // stream that names a buffer — the kernel consumed one on a
                // path that then failed — gives it back just above and is
                // reported as what it is.)
                if last.is_some() && state.limited {
                    stats.capped();
                }
                return Next::Data(RecvBuf::pooled(buf));
            }
            match completion.into_result() {
                Ok(0) => return Next::Data(RecvBuf::heap(Vec::new())),
                Ok(n) => {
                    return Next::Error(io::Error::other(format!(
                        "io_uring multishot receive reported {n} bytes without a buffer"
                    )))
                }
                Err(err) if last.is_none() => return Next::Error(err),
                Err(err) => match err.raw_os_error() {
                    Some(libc::ENOBUFS) => {
                        stats.no_buffers();
                        return Next::Plain;
                    }
                    // `EINTR`/`EAGAIN` end no stream: arm again (a
                    // single-shot receive is submitted again, `op::Run`).
                    Some(libc::ECANCELED | libc::EINTR | libc::EAGAIN) => {
                        // The per-socket cap (everything queued before it
                        // was taken first), or the ring shut down: arm
                        // again, here.
                        if capped {
                            stats.capped();
                        }
                        if !may_arm {
                            return Next::Plain;
                        }
                    }
                    Some(libc::EINVAL) if first && state.limited => {
                        // A kernel without the byte limit (before 6.17):
                        // arm without it from now on.
                        NO_BYTE_LIMIT.store(true, Relaxed);
                    }
                    Some(libc::EINVAL) if first => {
                        self.refused.store(true, Relaxed);
                        return Next::Plain;
                    }
                    _ => return Next::Error(err),
                },
            }
        }
    }
}

/// Set once a kernel refused the multishot receive's byte limit
/// (`EINVAL`; it came in Linux 6.17): later arms go without it.
static NO_BYTE_LIMIT: AtomicBool = AtomicBool::new(false);

/// Arms a multishot receive on this thread's ring; `None` if it has no
/// buffer ring. With `limited`, the kernel ends it after `per_socket`
/// buffers' worth of bytes: the hard part of the per-socket cap, for a burst
/// that arrives faster than a cancel could stop it (the cancel at
/// `per_socket` unread completions covers small deliveries, which fill a
/// buffer each without reaching the byte limit).
#[allow(clippy::type_complexity)]
fn arm(
    fd: &SharedFd,
    limited: bool,
) -> io::Result<Option<(ringwork_uring::Op<RecvMulti>, Arc<BufRing>, Arc<Stats>)>> {
    context::with_io(|io| match io {
        IoAccess::Driver(ThreadDriver::Uring(driver)) => {
            let Some(ring) = driver.buf_ring().cloned() else {
                return Ok(None);
            };
            let sizes = ring.config();
            let limit = usize::from(sizes.per_socket);
            let bytes = limited.then(|| {
                u32::try_from(u64::from(sizes.per_socket) * u64::from(sizes.buf_size))
                    .unwrap_or(u32::MAX)
            });
            let resources = RecvMulti {
                fd: fd.clone(),
                ring: ring.clone(),
            };
            // SAFETY: the SQE names the socket, which the resources keep
            // open until the final completion, and a buffer group of this
            // ring, which the driver keeps registered as long as the ring;
            // it has no pointers. Unread CQEs give their buffers back
            // (`give_back`).
            let submitted = unsafe {
                driver.submit_capped(resources, Orphan::Each(give_back), limit, |multi| {
                    ringwork_uring::recv_multishot(multi.fd.types_fd(), multi.ring.group(), bytes)
                })
            };
            let op = submitted.map_err(|(err, _)| err)?;
            let stats = driver.stats();
            stats.recv_armed();
            Ok(Some((op, ring, stats)))
        }
        _ => Ok(None),
    })
}
