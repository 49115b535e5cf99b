#![doc = include_str!("../../README.md")]
#![warn(missing_docs)]

mod blocking;
pub mod buf;
mod context;
mod coop;
mod driver;
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

/// What most programs import: the owned-buffer traits (for `.slice(..)`).
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
pub use runtime::{Handle, Runtime};
pub use task::{spawn, JoinHandle};
