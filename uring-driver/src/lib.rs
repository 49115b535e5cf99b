//! The io_uring driver of ringwork: one ring per thread, generation-tagged
//! op slots that own every resource the kernel may touch, and a feature probe.
//!
//! This crate knows nothing of tasks or schedulers; it speaks only
//! [`std::task::Waker`], file descriptors, buffers and deadlines.
//!
//! # The contract
//!
//! - A [`Driver`] is owned by one thread and entered only by it (`!Send`).
//! - [`Driver::submit`] takes the resources an SQE points into and returns
//!   an [`Op`]. The `Op` may move to, be polled on, and be dropped on any
//!   thread. Dropping it before completion cancels the operation; the
//!   resources are freed only when the kernel's final CQE arrives.
//! - The owner calls [`Driver::flush`] once per scheduler tick (batching
//!   submissions), [`Driver::harvest`] to reap completions without blocking,
//!   and [`Driver::park`] to sleep until a completion, an
//!   [`Unparker::unpark`] from another thread, or a timeout.
//! - Another thread may reap the ring's completions with a [`Reaper`] while
//!   the owner is busy (one lock decides who reaps; see `driver.rs`).
//! - Dropping the driver cancels everything and waits for every CQE before
//!   freeing anything.
//!
//! ```
//! use io_uring::opcode;
//! use ringwork_uring::{Config, Driver, Orphan};
//!
//! let mut driver = Driver::new(&Config::default())?;
//! // SAFETY: a NOP points to no memory.
//! let mut op = unsafe { driver.submit((), Orphan::Drop, |_| opcode::Nop::new().build()) }
//!     .map_err(|(err, ())| err)?;
//! driver.park(None)?; // submits the NOP and waits for its completion
//! let waker = std::task::Waker::noop();
//! let mut cx = std::task::Context::from_waker(waker);
//! let std::task::Poll::Ready((completion, ())) = op.poll_complete(&mut cx) else {
//!     panic!("the NOP completed during park");
//! };
//! assert_eq!(completion.result, 0);
//! # Ok::<(), std::io::Error>(())
//! ```

mod bufring;
mod completions;
mod config;
mod cqe;
mod driver;
mod enter;
#[cfg(feature = "fault-injection")]
pub mod faults;
mod files;
mod fixed;
#[cfg(loom)]
#[doc(hidden)]
pub mod loom_api;
mod op;
mod probe;
mod remote;
mod slot;
mod stats;
mod sync;
mod sys;
mod user_data;

pub use bufring::{recv_multishot, BufRing, BufRingConfig, PooledBuf};
pub use config::{Config, MAX_ENTRIES};
pub use cqe::{Completion, CQE_F_NOTIF};
pub use driver::{Driver, Reaper, UnstartedDriver};
pub use files::{with_fixed_file, FixedFile};
pub use fixed::{FixedBuf, FixedBuffers, SharedFixedBuffers, MAX_FIXED_BUFFERS};
pub use io_uring;
pub use op::Op;
pub use probe::{classify_setup_error, probe, FeatureState, Features, Unavailable};
pub use remote::Unparker;
pub use slot::Orphan;
pub use stats::{Stats, StatsSnapshot};
