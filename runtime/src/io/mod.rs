//! I/O plumbing: the per-thread driver and the operations built on it, and
//! the owned-buffer conveniences on top: [`AsyncReadOwned`] /
//! [`AsyncWriteOwned`] (what the streams and files share), [`BufReader`]
//! (lines and delimited records) and [`copy`].

mod buf_reader;
#[cfg(any(feature = "futures-io", feature = "tokio-io", feature = "hyper"))]
pub mod compat;
pub(crate) mod driver;
pub(crate) mod fd;
pub(crate) mod op;
mod owned;
pub(crate) mod stash;

pub use buf_reader::{BufReader, Lines};
pub use driver::DriverKind;
pub use owned::{copy, AsyncReadOwned, AsyncWriteOwned};
pub(crate) use owned::{read_to_end, read_to_string};
