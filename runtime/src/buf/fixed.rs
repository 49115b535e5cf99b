//! Registered buffers as owned buffers: [`FixedBufPool`] and [`FixedBuf`].

use super::{IoBuf, IoBufMut};
use std::fmt;
use std::future::poll_fn;
use std::sync::Arc;

pub use ringwork_uring::FixedBuf;

/// The runtime's pool of registered buffers (`Builder::uring_fixed_buffers`),
/// from `Handle::fixed_buffers()`. Cheap to clone; buffers taken on any
/// thread work with any worker, and go back to the pool when dropped.
#[derive(Clone)]
pub struct FixedBufPool(pub(crate) Arc<ringwork_uring::FixedBuffers>);

impl FixedBufPool {
    /// A free buffer (length 0, capacity [`buf_size`](Self::buf_size)), or
    /// `None` if every buffer is out.
    pub fn try_get(&self) -> Option<FixedBuf> {
        self.0.try_get()
    }

    /// A free buffer, waiting until one is given back if every buffer is
    /// out.
    pub async fn get(&self) -> FixedBuf {
        poll_fn(|cx| self.0.poll_get(cx)).await
    }

    /// Buffers in the pool.
    pub fn count(&self) -> usize {
        usize::from(self.0.count())
    }

    /// Bytes per buffer.
    pub fn buf_size(&self) -> usize {
        self.0.buf_size()
    }

    /// Buffers not handed out now.
    pub fn available(&self) -> usize {
        self.0.available()
    }
}

impl fmt::Debug for FixedBufPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

// SAFETY: the bytes live in the pool's mapping, at an address fixed for the
// buffer's index, which this value holds alone until it is dropped; moving
// the value does not move them.
unsafe impl IoBuf for FixedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len()
    }

    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: as above; `stable_mut_ptr` is valid for writes of `capacity()`
// bytes, and `set_init` records what was written.
unsafe impl IoBufMut for FixedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }

    unsafe fn set_init(&mut self, pos: usize) {
        if pos > self.len() {
            // SAFETY: the caller says the first `pos` bytes were written.
            unsafe { self.set_len(pos) };
        }
    }
}
