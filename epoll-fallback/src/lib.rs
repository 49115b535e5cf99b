//! The epoll fallback driver of ringwork: one edge-triggered reactor per
//! thread, for kernels or sandboxes without io_uring.
//!
//! This crate knows nothing of tasks or schedulers; it speaks only
//! [`std::task::Waker`], file descriptors and deadlines. It mirrors
//! `ringwork-uring`'s shape where the idea is the same: an owner
//! ([`Reactor`], like `Driver`) that parks with a timeout, a `Send + Sync`
//! [`Unparker`] that skips the syscall when the owner is not parked, and
//! `Stats`.
//!
//! An operation on epoll is "try the non-blocking syscall; on `WouldBlock`
//! wait for readiness and retry": [`Registration::poll_ready`] then
//! [`Registration::clear`] with the event it returned (see `readiness.rs` for
//! why clearing carries a tick).
//!
//! ```
//! use ringwork_epoll::{Direction, Reactor};
//! use std::os::fd::AsRawFd;
//! use std::task::{Context, Poll, Waker};
//!
//! let mut reactor = Reactor::new()?;
//! let (a, b) = std::os::unix::net::UnixStream::pair()?;
//! a.set_nonblocking(true)?;
//! let reg = reactor.register(a.as_raw_fd())?;
//! std::io::Write::write_all(&mut &b, b"x")?;
//! reactor.park(Some(std::time::Duration::from_secs(1)))?;
//! let mut cx = Context::from_waker(Waker::noop());
//! assert!(matches!(reg.poll_ready(Direction::Read, &mut cx), Poll::Ready(_)));
//! # Ok::<(), std::io::Error>(())
//! ```

#[cfg(feature = "fault-injection")]
pub mod faults;
mod reactor;
mod readiness;
mod sys;

pub use reactor::{Handle, Reactor, Registration, Stats, StatsSnapshot, Unparker};
pub use readiness::{
    Direction, Readiness, ReadyEvent, Waiter, ERROR, READABLE, READ_CLOSED, WRITABLE,
};
