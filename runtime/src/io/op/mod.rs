//! Every I/O operation, defined once for both drivers.
//!
//! An operation is a value that owns everything the kernel may touch (the
//! descriptor's [`SharedFd`], the buffer, the address storage, the path)
//! and implements [`OpCode`]: its io_uring SQE, how the epoll driver runs
//! it (a non-blocking syscall retried on readiness, or a syscall on the
//! blocking pool for what epoll cannot watch), how the result becomes the
//! caller's output, and what happens to a result nobody awaits any more.
//! [`run`] executes it on the driver of the thread that polls it; callers
//! see the same results, errors and owned-buffer signatures on both.
//!
//! The files of this module are the operations (`recv.rs`, `accept.rs`,
//! ...); each holds its `OpCode` and the public-facing function around it
//! (loops such as "write all", and the stash check of reads, see
//! `io/stash.rs`).
//!
//! # The life of an operation on io_uring
//!
//! `run` moves the operation into a driver slot (`ringwork_uring::Driver::
//! submit`) that keeps it — and so every buffer the SQE points into — until
//! the kernel's final completion. Awaited to the end, the completion and the
//! operation come back and `complete` builds the output. Dropped before
//! that, the slot is cancelled (`ASYNC_CANCEL`, submitted at once when the
//! drop happens on the ring's owner thread) and the operation's `orphaned`
//! runs with the late result when it comes: reads, receives and accepts
//! keep what was delivered in the descriptor's stash, `open` closes the new
//! descriptor, everything else is dropped.

pub(crate) mod accept;
pub(crate) mod connect;
pub(crate) mod fixed;
pub(crate) mod fsync;
pub(crate) mod ftruncate;
pub(crate) mod link;
pub(crate) mod mkdir;
pub(crate) mod open;
pub(crate) mod poll;
pub(crate) mod read;
pub(crate) mod recv;
pub(crate) mod recv_multi;
pub(crate) mod recvmsg;
pub(crate) mod rename;
pub(crate) mod send;
pub(crate) mod sendmsg;
pub(crate) mod statx;
pub(crate) mod unlink;
pub(crate) mod write;

pub(crate) use crate::io::fd::SharedFd;

use crate::context::{self, IoAccess, ThreadDriver};
use crate::coop;
use crate::io::driver;
use ringwork_epoll::Direction;
use ringwork_uring::io_uring::squeue;
use ringwork_uring::{Completion, Driver, Orphan};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// How the epoll driver runs an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EpollPath {
    /// `attempt` is a non-blocking syscall on [`OpCode::fd`], retried when
    /// the descriptor is ready in this direction.
    Ready(Direction),
    /// `attempt` may block (regular files, paths): it runs on the blocking
    /// pool, which owns the operation while it runs.
    Blocking,
}

/// One kind of I/O operation, defined once: what the kernel gets on either
/// driver and what the caller gets back.
///
/// # Safety
///
/// [`sqe`](OpCode::sqe) is called once, with the operation at the address
/// where the driver keeps it until the kernel's final completion. An
/// implementation guarantees that every pointer in the SQE it returns
/// points into `self` (inline, or memory `self` owns and does not move or
/// free while it lives) and is valid for the access the opcode makes, and
/// that every descriptor the SQE names is kept open by `self` (a
/// [`SharedFd`] clone).
pub(crate) unsafe trait OpCode: Send + Sized + 'static {
    type Output;

    /// The io_uring SQE (see the trait's safety contract).
    fn sqe(&mut self) -> squeue::Entry;

    /// io_uring only: a way to finish without the ring, tried before
    /// submitting (`send` tries a non-blocking `send(2)` first), and the
    /// place to choose the SQE by the ring's features (counting what was
    /// chosen in its stats). `None` (the default): submit.
    fn try_before_submit(&mut self, _driver: &Driver) -> Option<io::Result<u32>> {
        None
    }

    /// io_uring: the operation's descriptor ([`fd`](OpCode::fd)) is the
    /// `fd` field of its SQE and worth registering in the ring's fixed-file
    /// table (`Builder::uring_fixed_files`): socket operations. `false`
    /// (the default): always submitted by descriptor.
    const FIXED_FILE: bool = false;

    /// How the epoll driver runs [`attempt`](OpCode::attempt).
    fn epoll_path(&self) -> EpollPath;

    /// The descriptor readiness is waited on (for [`EpollPath::Ready`];
    /// `None` for operations on paths, which never take that path).
    fn fd(&self) -> Option<&SharedFd>;

    /// The epoll driver's syscall. Returns what the io_uring completion
    /// would (a byte count, a new descriptor, 0), so `complete` serves both.
    fn attempt(&mut self) -> io::Result<u32>;

    /// The result, with the operation (and its buffers) back, becomes the
    /// output.
    fn complete(self, result: io::Result<u32>) -> Self::Output;

    /// The descriptor whose stash keeps what a dropped operation of this
    /// kind delivers; `orphaned` must then call `Stash::resolve` exactly
    /// once. `None` (the default): late results are not kept.
    fn stash_owner(&self) -> Option<&SharedFd> {
        None
    }

    /// The future was dropped before the final completion, which came later
    /// with `result` (io_uring only: on epoll a dropped operation never made
    /// its syscall). Runs on the thread that reaps the completion.
    fn orphaned(self, _result: io::Result<u32>) {}
}

/// Runs `op` on this thread's driver: the future of its output.
///
/// The operation is submitted when this is called (by the first poll of
/// the async function that calls it).
pub(crate) fn run<O: OpCode>(op: O) -> Run<O> {
    // Feature `tracing`: a span per operation, from submission to its
    // output (or its drop), entered while it is submitted and polled.
    #[cfg(feature = "tracing")]
    let span = tracing::trace_span!("ringwork.io", op = op_name::<O>());
    #[cfg(feature = "tracing")]
    let _entered = span.enter();
    Run(
        start(op),
        #[cfg(feature = "tracing")]
        span.clone(),
    )
}

/// Submits `op` (or starts it on epoll): its first state.
fn start<O: OpCode>(op: O) -> State<O> {
    match submit_or_epoll(op) {
        Submitted::Uring(op) => State::Uring(op),
        Submitted::Epoll(op) => epoll(op),
        Submitted::Finished(op, result) => State::Finished(Some((op, result))),
    }
}

/// An io_uring result that is not the operation's outcome: `EINTR` (submit
/// again at once) or `EAGAIN` (a descriptor in non-blocking mode, or the
/// kernel out of a resource: wait until the descriptor is ready in the
/// operation's direction, then submit again) — what the epoll path does
/// with the same errors, so callers never see `Interrupted` or
/// `WouldBlock` from an async operation on either driver. `Some(None)`:
/// retry at once; `Some(Some(interest))`: after readiness.
fn uring_retry<O: OpCode>(op: &O, result: &io::Result<u32>) -> Option<Option<poll::Interest>> {
    let errno = result.as_ref().err()?.raw_os_error()?;
    match errno {
        libc::EINTR => Some(None),
        libc::EAGAIN => Some(match (op.epoll_path(), op.fd()) {
            (EpollPath::Ready(Direction::Read), Some(_)) => Some(poll::Interest::Read),
            (EpollPath::Ready(Direction::Write), Some(_)) => Some(poll::Interest::Write),
            // Files and paths: nothing to wait for; the kernel's next try
            // is the wait.
            _ => None,
        }),
        _ => None,
    }
}

/// The operation's type name without its path and parameters ("Recv").
#[cfg(feature = "tracing")]
fn op_name<O>() -> &'static str {
    let full = std::any::type_name::<O>();
    let plain = full.split('<').next().unwrap_or(full);
    plain.rsplit("::").next().unwrap_or(plain)
}

/// Submits `op` on this thread's io_uring, or hands it back to be run on
/// this thread's epoll reactor (one look at the thread's driver either way).
fn submit_or_epoll<O: OpCode>(op: O) -> Submitted<O> {
    // The operation stays here until a driver takes it, so that every
    // failure can hand it back.
    let mut pending = Some(op);
    context::with_io(|io| {
        let mut op = pending.take().expect("taken once");
        match io {
            IoAccess::Driver(ThreadDriver::Uring(driver)) => {
                if let Some(result) = op.try_before_submit(driver) {
                    return Submitted::Finished(op, result);
                }
                let stash_owner = op.stash_owner().cloned();
                let slot = if O::FIXED_FILE && driver.has_file_table() {
                    op.fd().and_then(|fd| fd.fixed_slot(driver))
                } else {
                    None
                };
                let build = |op: &mut O| match slot {
                    Some(slot) => ringwork_uring::with_fixed_file(op.sqe(), slot),
                    None => op.sqe(),
                };
                // SAFETY: `OpCode`'s contract: the SQE points only into the
                // operation, which the driver keeps unmoved until the final
                // completion, and the operation keeps every descriptor it
                // names open — including a fixed-file slot's: the slot is
                // cleared only after the descriptor's last owner (this
                // operation among them) lets go.
                match unsafe { driver.submit(op, UringOp::<O>::ORPHAN, build) } {
                    Ok(submitted) => Submitted::Uring(UringOp::new(submitted, stash_owner)),
                    Err((err, op)) => Submitted::Finished(op, Err(err)),
                }
            }
            IoAccess::Driver(ThreadDriver::Epoll(_)) => Submitted::Epoll(op),
            IoAccess::None => Submitted::Finished(op, Err(driver::no_driver())),
            // Re-entered from inside the driver (a waker submitting I/O):
            // not supported; the operation comes back with the error.
            IoAccess::Busy => Submitted::Finished(
                op,
                Err(io::Error::other("I/O submitted from inside the I/O driver")),
            ),
            IoAccess::Gone => Submitted::Finished(
                op,
                Err(io::Error::other(
                    "I/O submitted while the thread is exiting",
                )),
            ),
        }
    })
}

/// Drops an unfinished operation: on the ring's owner thread its
/// `ASYNC_CANCEL` is submitted at once; elsewhere (or from inside the
/// driver) the owner is asked through its remote queue, as `Op`'s `Drop`
/// does.
fn cancel<R: Send + 'static>(op: ringwork_uring::Op<R>) {
    let mut op = Some(op);
    context::with_io(|io| {
        if let IoAccess::Driver(ThreadDriver::Uring(driver)) = io {
            // An error leaves the request queued for the next flush.
            let _ = driver.cancel(op.take().expect("taken once"));
        }
    });
    drop(op);
}

/// What `submit_or_epoll` did with an operation.
enum Submitted<O: Send + 'static> {
    /// In the io_uring submission queue.
    Uring(UringOp<O>),
    /// This thread runs epoll: the operation is to be run here.
    Epoll(O),
    /// Finished without the ring (`try_before_submit`), or not submitted:
    /// no driver on this thread, or the driver shut down.
    Finished(O, io::Result<u32>),
}

/// The future of an operation's output (see [`run`]).
///
/// A hand-written future rather than an `async fn`, and without `OpCode`
/// bounds on its type: a generic `async fn` returning `O::Output` (or a
/// bound on a type it holds across an `.await`) makes the compiler demand
/// `OpCode` for every lifetime of a borrowed buffer type such as
/// `&'static [u8]` when it proves a task's future `Send`, and fail.
pub(crate) struct Run<O: Send + 'static>(State<O>, #[cfg(feature = "tracing")] tracing::Span);

enum State<O: Send + 'static> {
    /// In an io_uring slot.
    Uring(UringOp<O>),
    /// io_uring: the operation got `EAGAIN`; it is submitted again once
    /// `ready` (a `POLL_ADD` on its descriptor) says the descriptor is.
    UringWait {
        ready: Pin<Box<dyn Future<Output = io::Result<()>> + Send>>,
        op: Option<O>,
    },
    /// epoll: the syscall, retried on readiness.
    Ready {
        op: Option<O>,
        registration: std::sync::Arc<ringwork_epoll::Registration>,
        waiter: ringwork_epoll::Waiter,
    },
    /// epoll: on the blocking pool.
    Blocking {
        job: Pin<Box<dyn Future<Output = io::Result<()>> + Send>>,
        guard: AbandonOnDrop<O>,
    },
    /// Done before any waiting; the output is built on the first poll.
    Finished(Option<(O, io::Result<u32>)>),
}

/// The epoll driver's path: wait for readiness, or the blocking pool.
fn epoll<O: OpCode>(op: O) -> State<O> {
    match op.epoll_path() {
        EpollPath::Ready(direction) => {
            let fd = op.fd().expect("readiness needs a descriptor");
            match fd.registration() {
                Ok(registration) => State::Ready {
                    waiter: registration.waiter(direction),
                    registration,
                    op: Some(op),
                },
                Err(err) => State::Finished(Some((op, Err(err)))),
            }
        }
        EpollPath::Blocking => start_blocking(op),
    }
}

impl<O: OpCode> Future for Run<O> {
    type Output = O::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<O::Output> {
        let this = self.get_mut();
        #[cfg(feature = "tracing")]
        let _entered = this.1.enter();
        loop {
            break match &mut this.0 {
                State::Uring(op) => {
                    let (op, result) = std::task::ready!(op.poll_result(cx));
                    match uring_retry(&op, &result) {
                        None => Poll::Ready(op.complete(result)),
                        Some(None) => {
                            this.0 = start(op);
                            continue;
                        }
                        Some(Some(interest)) => {
                            let fd = op.fd().expect("checked by uring_retry").clone();
                            this.0 = State::UringWait {
                                ready: Box::pin(async move { poll::poll(&fd, interest).await }),
                                op: Some(op),
                            };
                            continue;
                        }
                    }
                }
                State::UringWait { ready, op } => {
                    let ready = std::task::ready!(ready.as_mut().poll(cx));
                    let op = op.take().expect("Run polled after completion");
                    match ready {
                        Ok(()) => {
                            this.0 = start(op);
                            continue;
                        }
                        Err(err) => Poll::Ready(op.complete(Err(err))),
                    }
                }
                State::Ready {
                    op,
                    registration,
                    waiter,
                } => loop {
                    // One unit of the cooperative budget per readiness wait.
                    let progress = std::task::ready!(coop::poll_proceed(cx));
                    let event = std::task::ready!(waiter.poll_ready(cx));
                    progress.made_progress();
                    let attempt = op.as_mut().expect("Run polled after completion").attempt();
                    match attempt {
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                            registration.clear(event)
                        }
                        Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                        result => {
                            let op = op.take().expect("checked above");
                            return Poll::Ready(op.complete(result));
                        }
                    }
                },
                State::Blocking { job, guard } => {
                    let joined = std::task::ready!(job.as_mut().poll(cx));
                    Poll::Ready(guard.finish(joined))
                }
                State::Finished(done) => {
                    let (op, result) = done.take().expect("Run polled after completion");
                    Poll::Ready(op.complete(result))
                }
            };
        }
    }
}

// Every state holds handles (`Arc`s, a `JoinHandle`) or the operation by
// value, never pinned: `Run` is `Unpin`.
impl<O: Send + 'static> Unpin for Run<O> {}

/// The longest transfer one operation asks for: Linux caps a single read or
/// write at `MAX_RW_COUNT` (`INT_MAX` rounded down to the page size; this is
/// that for pages up to 64 KiB), and io_uring rejects longer lengths with
/// `EINVAL`. Callers that promise "all" loop.
pub(crate) const MAX_TRANSFER: usize = (i32::MAX as usize) & !0xffff;

/// A buffer length as one operation's length: at most [`MAX_TRANSFER`].
pub(crate) fn transfer_len(len: usize) -> usize {
    len.min(MAX_TRANSFER)
}

/// The length a stream or file transfer of `len` bytes asks the kernel
/// for: `len`, or with fault injection sometimes less (a short transfer,
/// `faults::Point::Short`).
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub(crate) fn short(len: usize) -> usize {
    len
}

/// See the version without fault injection.
#[cfg(feature = "fault-injection")]
pub(crate) fn short(len: usize) -> usize {
    crate::faults::short_len(len)
}

/// [`short`] for a send on `fd`, which may be a datagram socket: those are
/// never cut (a datagram is sent whole or not at all).
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub(crate) fn short_send(_fd: &SharedFd, len: usize) -> usize {
    len
}

/// See the version without fault injection.
#[cfg(feature = "fault-injection")]
pub(crate) fn short_send(fd: &SharedFd, len: usize) -> usize {
    let stream = socket2::SockRef::from(fd).r#type().ok() == Some(socket2::Type::STREAM);
    if stream {
        short(len)
    } else {
        len
    }
}

/// [`transfer_len`] for an SQE's 32-bit length field.
pub(crate) fn sqe_len(len: usize) -> u32 {
    transfer_len(len) as u32
}

/// The error of a read into a buffer with no room: `Ok(0)` would read as
/// end-of-stream to every caller.
pub(crate) fn zero_capacity() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "read into a buffer with zero capacity (bytes_total() == 0): give the buffer room, \
         e.g. Vec::with_capacity(n)",
    )
}

/// The next completion of a multishot operation (`(completion, None)`, or
/// the final one with its resources), one unit of the cooperative budget
/// per delivery: a loop draining a burst (of connections, of received
/// buffers) yields now and then.
pub(crate) async fn next_multishot<R: Send + 'static>(
    op: &mut ringwork_uring::Op<R>,
) -> (Completion, Option<R>) {
    std::future::poll_fn(|cx| {
        let progress = std::task::ready!(coop::poll_proceed(cx));
        let next = std::task::ready!(op.poll_next(cx));
        progress.made_progress();
        Poll::Ready(next)
    })
    .await
}

/// An operation in an io_uring slot, as a future of its output, counted
/// against the cooperative budget.
///
/// (No `OpCode` bound on the type or its `Drop`: a bound there makes the
/// compiler demand `OpCode` for every lifetime of a borrowed buffer type
/// such as `&'static [u8]` when it proves a task's future `Send`.)
pub(crate) struct UringOp<O: Send + 'static> {
    op: Option<ringwork_uring::Op<O>>,
    /// The descriptor whose stash counts this operation as an orphan if it
    /// is dropped unfinished.
    stash_owner: Option<SharedFd>,
    /// A non-final CQE: a zero-copy send's result, whose final CQE is the
    /// notification that the buffer is free.
    first: Option<Completion>,
}

impl<O: OpCode> UringOp<O> {
    /// The orphan rule passed to the driver for every operation.
    pub(crate) const ORPHAN: Orphan<O> = Orphan::Keep(orphaned::<O>);

    pub(crate) fn new(op: ringwork_uring::Op<O>, stash_owner: Option<SharedFd>) -> UringOp<O> {
        UringOp {
            op: Some(op),
            stash_owner,
            first: None,
        }
    }
}

fn orphaned<O: OpCode>(completion: Completion, op: O) {
    op.orphaned(completion.into_result());
}

impl<O: OpCode> Future for UringOp<O> {
    type Output = O::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<O::Output> {
        let (op, result) = std::task::ready!(self.get_mut().poll_result(cx));
        Poll::Ready(op.complete(result))
    }
}

impl<O: OpCode> UringOp<O> {
    /// The operation back with its result, at its final completion.
    fn poll_result(&mut self, cx: &mut Context<'_>) -> Poll<(O, io::Result<u32>)> {
        let this = self;
        let op = this.op.as_mut().expect("UringOp polled after completion");
        let progress = std::task::ready!(coop::poll_proceed(cx));
        loop {
            match std::task::ready!(op.poll_next(cx)) {
                // A zero-copy send's result, before its notification.
                (completion, None) => this.first = Some(completion),
                (last, Some(resources)) => {
                    progress.made_progress();
                    this.op = None;
                    // The notification (`F_NOTIF`) only says the buffer is
                    // free again; the result was the CQE before it.
                    let completion = match this.first.take() {
                        Some(first) if last.flags & ringwork_uring::CQE_F_NOTIF != 0 => first,
                        _ => last,
                    };
                    return Poll::Ready((resources, completion.into_result()));
                }
            }
        }
    }
}

impl<O: Send + 'static> Drop for UringOp<O> {
    fn drop(&mut self) {
        let Some(op) = self.op.take() else {
            return;
        };
        // Counted before the driver can run the orphan rule (which may run
        // inside the cancel below, if the completion already arrived).
        if let Some(fd) = &self.stash_owner {
            fd.stash().orphan_started();
        }
        cancel(op);
    }
}

// `UringOp` holds an `Op` (a handle of `Arc`s) and a `SharedFd`: `Unpin`.
impl<O: Send + 'static> Unpin for UringOp<O> {}

/// An operation on the blocking pool (the epoll driver's path for what
/// epoll cannot watch). The job owns the operation while its syscall runs,
/// so a dropped future never frees a buffer the syscall writes into; the
/// state says who has it when.
enum Blocking<O> {
    /// Not started: the future takes it back if the job never runs (the
    /// pool could not start a thread, or shut down).
    Queued(O),
    /// The job has it.
    Running,
    /// The job is done; the future has not taken the result yet.
    Done(O, io::Result<u32>),
    /// The future was dropped while the job ran: the job applies the orphan
    /// rule when it is done.
    Abandoned,
    /// Handed out.
    Taken,
}

/// Starts `op.attempt()` on the blocking pool.
fn start_blocking<O: OpCode>(op: O) -> State<O> {
    let Some(runtime) = context::runtime() else {
        return State::Finished(Some((op, Err(driver::no_driver()))));
    };
    let stash_owner = op.stash_owner().cloned();
    let state = std::sync::Arc::new(parking_lot::Mutex::new(Blocking::Queued(op)));
    let job_state = state.clone();
    let job = runtime.spawn_blocking_job(Box::new(move || {
        let Blocking::Queued(mut op) = std::mem::replace(&mut *job_state.lock(), Blocking::Running)
        else {
            return; // the future gave up before the job started
        };
        let result = op.attempt();
        let mut state = job_state.lock();
        if matches!(*state, Blocking::Abandoned) {
            drop(state);
            op.orphaned(result);
        } else {
            *state = Blocking::Done(op, result);
        }
    }));
    State::Blocking {
        job,
        guard: AbandonOnDrop {
            state: Some(state),
            stash_owner,
            orphaned: O::orphaned,
        },
    }
}

impl<O: OpCode> AbandonOnDrop<O> {
    /// The job ended (`joined`): the output.
    fn finish(&mut self, joined: io::Result<()>) -> O::Output {
        let state = self.state.take().expect("finished once");
        let taken = std::mem::replace(&mut *state.lock(), Blocking::Taken);
        match (taken, joined) {
            (Blocking::Done(op, result), _) => op.complete(result),
            // The job never ran (no thread could start, or shutdown): the
            // operation comes back with the cause the runtime named.
            (Blocking::Queued(op), Err(why)) => op.complete(Err(why)),
            (other, joined) => unreachable!(
                "blocking operation in state {} after its job ended (ok: {})",
                other.name(),
                joined.is_ok()
            ),
        }
    }
}

impl<O> Blocking<O> {
    fn name(&self) -> &'static str {
        match self {
            Blocking::Queued(_) => "Queued",
            Blocking::Running => "Running",
            Blocking::Done(..) => "Done",
            Blocking::Abandoned => "Abandoned",
            Blocking::Taken => "Taken",
        }
    }
}

/// Dropped with the future of `run_blocking` before the job ended: the
/// operation is dropped if it never started, its result goes to the orphan
/// rule if it did.
/// (No `OpCode` bound, for the reason given at `UringOp`: the orphan rule
/// comes as a function pointer.)
struct AbandonOnDrop<O> {
    state: Option<std::sync::Arc<parking_lot::Mutex<Blocking<O>>>>,
    stash_owner: Option<SharedFd>,
    orphaned: fn(O, io::Result<u32>),
}

impl<O> Drop for AbandonOnDrop<O> {
    fn drop(&mut self) {
        let Some(state) = self.state.take() else {
            return;
        };
        let mut state = state.lock();
        match std::mem::replace(&mut *state, Blocking::Abandoned) {
            // Never started: nothing was delivered; the job finds it gone.
            Blocking::Queued(op) => {
                *state = Blocking::Taken;
                drop(state);
                drop(op);
            }
            // The job applies the orphan rule when done. Counted first: the
            // job needs the lock held here to see `Abandoned`.
            Blocking::Running => {
                if let Some(fd) = &self.stash_owner {
                    fd.stash().orphan_started();
                }
            }
            Blocking::Done(op, result) => {
                *state = Blocking::Taken;
                drop(state);
                if let Some(fd) = &self.stash_owner {
                    fd.stash().orphan_started();
                }
                (self.orphaned)(op, result);
            }
            Blocking::Abandoned | Blocking::Taken => {}
        }
    }
}
