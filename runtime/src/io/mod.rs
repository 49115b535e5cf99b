//! I/O plumbing: the per-thread driver and the operations built on it.

#[cfg(any(feature = "futures-io", feature = "tokio-io", feature = "hyper"))]
pub mod compat;
pub(crate) mod driver;
pub(crate) mod fd;
pub(crate) mod op;
pub(crate) mod stash;

pub use driver::DriverKind;
