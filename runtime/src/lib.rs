#![doc = include_str!("../../README.md")]
#![warn(missing_docs)]

mod coop;
mod loom;
pub mod runtime;
mod scheduler;
pub mod task;

pub use runtime::{Handle, Runtime};
pub use task::{spawn, JoinHandle};
