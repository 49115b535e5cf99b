//! I/O plumbing: the per-thread driver and the operations built on it.

pub(crate) mod driver;
pub(crate) mod op;

pub use driver::DriverKind;
