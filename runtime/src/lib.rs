#![doc = include_str!("../../README.md")]
#![warn(missing_docs)]

mod blocking;
pub mod buf;
mod context;
mod coop;
mod driver;
#[cfg(feature = "fault-injection")]
pub mod faults;
pub mod fs;
#[cfg(feature = "hyper")]
pub mod hyper_rt;
pub mod io;
mod loom;
#[cfg(loom)]
#[doc(hidden)]
pub mod loom_api;
mod macros;
pub mod net;
pub mod runtime;

/// What most programs import: the owned-buffer traits, for `.slice(..)`
/// on a `Vec` or any other owned buffer (a trait method on a foreign type
/// needs its trait in scope).
///
/// ```
/// use ringwork::prelude::*;
///
/// let buf = b"hello world".to_vec();
/// let head = buf.slice(..5); // what `write_all` takes for `&buf[..5]`
/// assert_eq!(head.bytes_init(), 5);
/// assert_eq!(head.into_inner().len(), 11);
/// ```
pub mod prelude {
    pub use crate::buf::{IoBuf, IoBufMut};
}
pub mod process;
mod scheduler;
pub mod signal;
pub mod sync;
mod sys;
pub mod task;
mod task_core;
pub mod time;

#[doc(hidden)]
pub use macros::__private;
/// Runs an `async fn main` on a ringwork runtime: `#[ringwork::main]`, or
/// `#[ringwork::main(worker_threads = 2, driver = "epoll")]`, or
/// `#[ringwork::main(flavor = "current_thread")]` (one thread runs
/// everything, see `Builder::new_current_thread`). A wrong argument is a
/// compile error naming it.
///
/// ```
/// #[ringwork::main(worker_threads = 2)]
/// async fn main() -> std::io::Result<()> {
///     let handle = ringwork::Handle::current();
///     assert_eq!(handle.num_workers(), 2);
///     ringwork::time::sleep(std::time::Duration::from_millis(1)).await;
///     Ok(())
/// }
/// ```
pub use ringwork_macros::main;
/// An `async fn` test on a fresh runtime, under a printed seed:
/// `#[ringwork::test]`, with `#[ringwork::main]`'s arguments,
/// `seeds = N` (N runs, N seeds; `RINGWORK_SEED` replays one run) and
/// `start_paused = true` (with `flavor = "current_thread"`: the clock starts
/// paused, see [`time::pause`]).
pub use ringwork_macros::test;
pub use runtime::{Handle, Runtime};
pub use task::{spawn, JoinHandle};
