#![doc = include_str!("../../README.md")]
#![warn(missing_docs)]

mod blocking;
pub mod buf;
mod coop;
pub mod fs;
pub mod io;
mod loom;
#[cfg(loom)]
#[doc(hidden)]
pub mod loom_api;
pub mod net;
pub mod runtime;
pub mod sync;
mod scheduler;
mod sys;
pub mod task;
pub mod time;

pub use runtime::{Handle, Runtime};
pub use task::{spawn, JoinHandle};
