//! [`RecvBuf`]: bytes a receive delivered in a buffer the runtime chose.

use super::IoBuf;
use std::fmt;
use std::ops::Deref;

/// The bytes one receive delivered, in a buffer the runtime chose: on
/// io_uring with provided buffers (`Builder::uring_buf_ring`), one of the
/// ring's buffers, filled by the kernel without a copy and given back to the
/// ring when this value is dropped — on any thread; elsewhere a heap buffer.
///
/// It reads as a byte slice (`Deref<Target = [u8]>`) and is an [`IoBuf`],
/// so it can be written on as it is (an echo server sends the buffer it
/// received). An empty `RecvBuf` means end of stream.
///
/// Holding many of them holds their buffers: the ring's pool is shared by
/// every socket of a worker, so keep them only as long as needed (copy out
/// what must live longer with [`to_vec`](slice::to_vec)).
pub struct RecvBuf {
    data: Data,
    /// Bytes before this were handed out already.
    start: usize,
}

enum Data {
    Pooled(ringwork_uring::PooledBuf),
    Heap(Vec<u8>),
}

impl RecvBuf {
    pub(crate) fn pooled(buf: ringwork_uring::PooledBuf) -> RecvBuf {
        RecvBuf {
            data: Data::Pooled(buf),
            start: 0,
        }
    }

    pub(crate) fn heap(buf: Vec<u8>) -> RecvBuf {
        RecvBuf {
            data: Data::Heap(buf),
            start: 0,
        }
    }

    /// Whether the bytes are in one of the io_uring ring's provided buffers
    /// (rather than a heap buffer).
    pub fn is_pooled(&self) -> bool {
        matches!(self.data, Data::Pooled(_))
    }

    /// Drops the first `n` bytes (all of them if there are fewer).
    pub fn advance(&mut self, n: usize) {
        self.start = (self.start + n).min(self.whole().len());
    }

    /// The bytes, moved into a `Vec` (copied out of a provided buffer, which
    /// goes back to its ring).
    pub fn into_vec(self) -> Vec<u8> {
        match self.data {
            Data::Heap(mut vec) if self.start == 0 => {
                vec.shrink_to_fit();
                vec
            }
            _ => self.to_vec(),
        }
    }

    fn whole(&self) -> &[u8] {
        match &self.data {
            Data::Pooled(buf) => buf.as_slice(),
            Data::Heap(vec) => vec,
        }
    }
}

impl Deref for RecvBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.whole()[self.start..]
    }
}

impl AsRef<[u8]> for RecvBuf {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl fmt::Debug for RecvBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvBuf")
            .field("len", &self.len())
            .field("pooled", &self.is_pooled())
            .finish()
    }
}

// SAFETY: the bytes live in a provided buffer (owned by the `PooledBuf`
// until it is dropped, never written while handed out: the kernel writes
// only buffers in the ring) or in a `Vec` that is never changed after it was
// filled; moving the `RecvBuf` moves neither.
unsafe impl IoBuf for RecvBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.deref().as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len()
    }

    fn bytes_total(&self) -> usize {
        self.len()
    }
}
