//! [`AlignedBuf`]: a heap buffer aligned for `O_DIRECT` (4096 bytes), usable
//! as an owned ringwork I/O buffer and as a plain slice for `pread`.

use ringwork::buf::{IoBuf, IoBufMut};
use std::alloc::{self, Layout};
use std::fmt;
use std::ptr::NonNull;

/// Alignment of every [`AlignedBuf`]: the logical block size `O_DIRECT`
/// needs on common disks, and the page size.
pub const ALIGN: usize = 4096;

/// A zero-initialised heap buffer whose start is aligned to [`ALIGN`].
///
/// Like a `Vec<u8>`, it has a capacity (fixed) and a length (the bytes
/// filled so far, which is what [`as_slice`](AlignedBuf::as_slice) shows);
/// reads fill it from the start.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    capacity: usize,
    len: usize,
}

// SAFETY: an `AlignedBuf` owns its allocation exclusively, like a
// `Box<[u8]>`; nothing about it is tied to a thread.
unsafe impl Send for AlignedBuf {}

impl AlignedBuf {
    /// A zeroed buffer of `capacity` bytes (more than 0), length 0.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0 or too large for a layout; aborts if the
    /// allocation fails.
    pub fn zeroed(capacity: usize) -> AlignedBuf {
        let layout = Self::layout(capacity);
        // SAFETY: the layout has a non-zero size (checked in `layout`).
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).unwrap_or_else(|| alloc::handle_alloc_error(layout));
        AlignedBuf {
            ptr,
            capacity,
            len: 0,
        }
    }

    fn layout(capacity: usize) -> Layout {
        assert!(capacity > 0, "an aligned buffer needs a capacity");
        Layout::from_size_align(capacity, ALIGN).expect("aligned buffer layout")
    }

    /// Forgets the filled bytes (they stay initialised).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The filled bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the allocation holds `capacity >= len` bytes, all
        // initialised (zeroed at allocation), and lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The whole capacity, for a plain `read`/`pread` into the buffer; call
    /// [`set_len`](AlignedBuf::set_len) afterwards.
    pub fn whole_mut(&mut self) -> &mut [u8] {
        // SAFETY: the allocation holds `capacity` initialised bytes (zeroed
        // at allocation) and `&mut self` makes the borrow exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.capacity) }
    }

    /// Sets how many bytes are filled.
    ///
    /// # Panics
    ///
    /// If `len` exceeds the capacity.
    pub fn set_len(&mut self, len: usize) {
        assert!(len <= self.capacity, "length beyond the capacity");
        self.len = len;
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `alloc_zeroed` with this very layout and is
        // freed only here.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), Self::layout(self.capacity)) };
    }
}

impl fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("capacity", &self.capacity)
            .field("len", &self.len)
            .finish()
    }
}

// SAFETY: the bytes live in a heap allocation owned by the buffer, which does
// not move when the `AlignedBuf` value moves and is freed only on drop;
// `len <= capacity` bytes are initialised (in fact all are, zeroed at
// allocation).
unsafe impl IoBuf for AlignedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.capacity
    }
}

// SAFETY: as for `IoBuf`; the allocation is writable for `capacity` bytes
// and `set_init` only records a length, never reads.
unsafe impl IoBufMut for AlignedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        if pos > self.len {
            self.len = pos.min(self.capacity);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{AlignedBuf, ALIGN};
    use ringwork::buf::{IoBuf, IoBufMut};

    #[test]
    fn start_is_aligned_and_length_follows_reads() {
        let mut buf = AlignedBuf::zeroed(2 * ALIGN);
        assert_eq!(buf.stable_ptr() as usize % ALIGN, 0);
        assert_eq!(buf.bytes_total(), 2 * ALIGN);
        assert!(buf.as_slice().is_empty());
        buf.whole_mut()[..3].copy_from_slice(b"abc");
        // SAFETY: three bytes were written just above.
        unsafe { buf.set_init(3) };
        assert_eq!(buf.as_slice(), b"abc");
        buf.clear();
        assert_eq!(buf.bytes_init(), 0);
    }
}
