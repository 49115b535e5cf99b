//! Owned buffers for completion-based I/O.
//!
//! The kernel may write into a read buffer long after the future that asked
//! for it was dropped, so I/O operations take buffers **by value** and give
//! them back with the result: `let (res, buf) = stream.read(buf).await;`.
//! While an operation is in flight its buffer is owned by the operation's
//! slot, and it is freed only after the kernel's final completion.
//!
//! [`IoBuf`] is a buffer to read *from* (write/send), [`IoBufMut`] one to
//! write *into* (read/recv). [`IoBuf::slice`] narrows either to a range
//! without copying and [`Slice::into_inner`] gives the whole buffer back.

use std::ops::{Bound, RangeBounds};

mod fixed;
mod recv_buf;
pub use fixed::{FixedBuf, FixedBufPool};
pub use recv_buf::RecvBuf;

/// A buffer the kernel may read from, owned by an I/O operation while it
/// runs.
///
/// Part of a buffer is `buf.slice(..n)`, not `&buf[..n]`: a borrowed slice
/// is an `IoBuf` only if it is `'static` (`b"..".as_slice()`), so
/// `stream.write_all(&buf[..n])` fails with E0597 "`buf` does not live long
/// enough … argument requires that `buf` is borrowed for `'static`". The
/// operation may outlive its future, so it must own what it sends:
///
/// ```
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// use ringwork::net::UnixStream;
/// use ringwork::prelude::*; // for `.slice`
///
/// let (a, b) = UnixStream::pair()?;
/// let buf = b"hello world".to_vec();
/// let (res, view) = a.write_all(buf.slice(..5)).await;
/// res?;
/// let buf = view.into_inner(); // the whole `Vec` again
/// # let _ = (buf, b);
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
///
/// ```compile_fail,E0597
/// # async fn f(stream: ringwork::net::TcpStream) {
/// let buf = b"hello world".to_vec();
/// stream.write_all(&buf[..5]).await; // borrowed, not owned
/// # }
/// ```
///
/// # Safety
///
/// `stable_ptr` must point to `bytes_init` initialized bytes that stay at that
/// address, unchanged, while the buffer value is not touched through `&mut`
/// — even if the value itself is moved (heap storage, or `'static` data).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an owned buffer (`IoBuf`) that an I/O operation can keep",
    note = "ringwork's I/O takes buffers by value and gives them back: pass a `Vec<u8>`, \
            `Box<[u8]>`, `String`, `&'static [u8]` or `&'static str`, and for part of one \
            use `buf.slice(..n)` (with `use ringwork::prelude::*;`), not `&buf[..n]`"
)]
pub unsafe trait IoBuf: Send + 'static {
    /// Start of the bytes.
    fn stable_ptr(&self) -> *const u8;
    /// Initialized bytes (what a write sends).
    fn bytes_init(&self) -> usize;
    /// Capacity (what a read may fill).
    fn bytes_total(&self) -> usize;

    /// A view of `range` of this buffer (relative to the start, within the
    /// capacity), without copying.
    ///
    /// # Panics
    /// If the range reaches past `bytes_total()`.
    fn slice(self, range: impl RangeBounds<usize>) -> Slice<Self>
    where
        Self: Sized,
    {
        let begin = match range.start_bound() {
            Bound::Included(&n) => n,
            Bound::Excluded(&n) => n.checked_add(1).expect("slice start out of range"),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&n) => n.checked_add(1).expect("slice end out of range"),
            Bound::Excluded(&n) => n,
            Bound::Unbounded => self.bytes_total(),
        };
        assert!(
            begin <= end && end <= self.bytes_total(),
            "slice {begin}..{end} out of buffer capacity {}",
            self.bytes_total()
        );
        Slice {
            buf: self,
            begin,
            end,
        }
    }
}

/// A buffer the kernel may write into.
///
/// # Safety
///
/// As for [`IoBuf`], and `stable_mut_ptr` must be valid for writes of
/// `bytes_total` bytes; `set_init(n)` must make the first `n` bytes count as
/// initialized without reading them.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an owned buffer a read can fill (`IoBufMut`)",
    note = "ringwork's reads take buffers by value and give them back filled: pass a \
            `Vec::with_capacity(n)` (or `buf.slice(..)` of one, with \
            `use ringwork::prelude::*;`), not `&mut buf[..]`"
)]
pub unsafe trait IoBufMut: IoBuf {
    /// Start of the writable bytes.
    fn stable_mut_ptr(&mut self) -> *mut u8;

    /// Records that the first `pos` bytes are initialized (after a read).
    ///
    /// # Safety
    /// The first `pos` bytes (`pos <= bytes_total()`) were written.
    unsafe fn set_init(&mut self, pos: usize);
}

// SAFETY: a `Vec`'s heap storage does not move when the `Vec` moves; `len`
// bytes are initialized and `capacity` are writable.
unsafe impl IoBuf for Vec<u8> {
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

// SAFETY: see `IoBuf for Vec<u8>`.
unsafe impl IoBufMut for Vec<u8> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        if pos > self.len() {
            // SAFETY: `pos <= capacity` and the bytes were written (caller).
            unsafe { self.set_len(pos) };
        }
    }
}

// SAFETY: a boxed slice's storage does not move with the box; all of it is
// initialized.
unsafe impl IoBuf for Box<[u8]> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: see `IoBuf for Box<[u8]>`.
unsafe impl IoBufMut for Box<[u8]> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, _pos: usize) {}
}

// SAFETY: `'static` data never moves or changes.
unsafe impl IoBuf for &'static [u8] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: as for `&'static [u8]`.
unsafe impl IoBuf for &'static str {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: a `String`'s heap storage does not move with it. Only `IoBuf`: a
// read could write invalid UTF-8.
unsafe impl IoBuf for String {
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

/// The whole capacity of `buf` as writable, possibly uninitialized bytes
/// (for copying into it without the kernel).
pub(crate) fn capacity_mut<B: IoBufMut>(buf: &mut B) -> &mut [std::mem::MaybeUninit<u8>] {
    let len = buf.bytes_total();
    let ptr = buf.stable_mut_ptr().cast::<std::mem::MaybeUninit<u8>>();
    // SAFETY: `IoBufMut` guarantees `stable_mut_ptr` is valid for writes of
    // `bytes_total` bytes, and the exclusive borrow of `buf` keeps anyone
    // else from touching them while the slice lives. `MaybeUninit` claims
    // nothing about their contents.
    unsafe { std::slice::from_raw_parts_mut(ptr, len) }
}

/// A range of an owned buffer; see [`IoBuf::slice`].
#[derive(Debug)]
pub struct Slice<T> {
    buf: T,
    begin: usize,
    end: usize,
}

impl<T> Slice<T> {
    /// Offset of the view's start in the buffer.
    pub fn begin(&self) -> usize {
        self.begin
    }
    /// Offset of the view's end in the buffer.
    pub fn end(&self) -> usize {
        self.end
    }
    /// The whole buffer.
    pub fn get_ref(&self) -> &T {
        &self.buf
    }
    /// Gives the whole buffer back.
    pub fn into_inner(self) -> T {
        self.buf
    }
}

// SAFETY: the view points inside the wrapped buffer's stable storage.
unsafe impl<T: IoBuf> IoBuf for Slice<T> {
    fn stable_ptr(&self) -> *const u8 {
        // `begin <= bytes_total` (checked in `slice`), so this stays in bounds.
        self.buf.stable_ptr().wrapping_add(self.begin)
    }
    fn bytes_init(&self) -> usize {
        self.buf.bytes_init().clamp(self.begin, self.end) - self.begin
    }
    fn bytes_total(&self) -> usize {
        self.end - self.begin
    }
}

// SAFETY: as above; `set_init` forwards with the view's offset.
unsafe impl<T: IoBufMut> IoBufMut for Slice<T> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.buf.stable_mut_ptr().wrapping_add(self.begin)
    }
    /// Extends the wrapped buffer's initialized length only when the view
    /// starts inside (or right at the end of) its initialized bytes: a view
    /// that starts past them would otherwise make the gap count as
    /// initialized. (Reading into such a view still works; the bytes land in
    /// the buffer, but its length does not claim them.)
    unsafe fn set_init(&mut self, pos: usize) {
        if self.buf.bytes_init() >= self.begin {
            // SAFETY: bytes `..begin` were initialized (checked above) and the
            // caller wrote `pos` bytes from `begin`, so `..begin + pos` are.
            unsafe { self.buf.set_init(self.begin + pos) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_views_a_range_of_the_capacity() {
        let mut v = Vec::with_capacity(16);
        v.extend_from_slice(b"hello world");
        let s = v.slice(6..);
        assert_eq!(s.bytes_total(), 10);
        assert_eq!(s.bytes_init(), 5);
        let v = s.into_inner();
        assert_eq!(v, b"hello world");
    }

    #[test]
    fn a_read_into_a_view_past_the_initialized_bytes_does_not_expose_the_gap() {
        let mut view = Vec::<u8>::with_capacity(64).slice(32..);
        // Pretend a read wrote 5 bytes at the view's start.
        // SAFETY: writing 5 bytes into the view's capacity.
        unsafe { std::ptr::copy_nonoverlapping(b"hello".as_ptr(), view.stable_mut_ptr(), 5) };
        // SAFETY: those 5 bytes were written.
        unsafe { view.set_init(5) };
        assert_eq!(view.into_inner().len(), 0, "bytes 0..32 were never written");
    }

    #[test]
    #[should_panic(expected = "out of buffer capacity")]
    fn slice_past_capacity_panics() {
        let _ = vec![0u8; 4].slice(2..9);
    }
}

/// `Slice` against a model of its rules: a view `begin..end` of a buffer
/// with capacity `C` and `L` initialized bytes exists iff `begin <= end <=
/// C`; it has `end - begin` bytes of capacity and `clamp(L, begin, end) -
/// begin` initialized ones; a read of `n` bytes into it extends the
/// buffer's length to `begin + n` only if the view starts within the
/// initialized bytes.
#[cfg(test)]
mod model {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn a_slice_views_exactly_its_range_and_never_claims_unwritten_bytes(
            capacity in 0usize..64,
            len_fraction in 0.0f64..=1.0,
            begin in 0usize..80,
            width in 0usize..80,
            written_fraction in 0.0f64..=1.0,
        ) {
            let mut buf = Vec::<u8>::with_capacity(capacity);
            let capacity = buf.capacity();
            let len = (capacity as f64 * len_fraction) as usize;
            buf.resize(len, 7);
            let end = begin + width;
            let view = std::panic::catch_unwind(move || buf.slice(begin..end));
            let in_bounds = end <= capacity;
            prop_assert_eq!(view.is_ok(), in_bounds, "slice {}..{} of capacity {}", begin, end, capacity);
            let Ok(mut view) = view else { return Ok(()) };
            prop_assert_eq!(view.bytes_total(), end - begin);
            prop_assert_eq!(view.bytes_init(), len.clamp(begin, end) - begin);
            prop_assert_eq!(view.stable_ptr() as usize - view.get_ref().as_ptr() as usize, begin);
            // A read of `n` bytes into the view.
            let n = ((end - begin) as f64 * written_fraction) as usize;
            // SAFETY: `n <= bytes_total()` bytes are written at the view's
            // start, inside the buffer's capacity.
            unsafe { std::ptr::write_bytes(view.stable_mut_ptr(), 9, n) };
            // SAFETY: those `n` bytes were written just above.
            unsafe { view.set_init(n) };
            let buf = view.into_inner();
            let expected = if len >= begin { len.max(begin + n) } else { len };
            prop_assert_eq!(buf.len(), expected);
        }
    }
}
