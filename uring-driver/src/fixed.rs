//! [`FixedBuffers`]: registered buffers (`IORING_REGISTER_BUFFERS`) — one
//! pool of equal buffers, registered with every ring of a runtime, so a
//! buffer taken on one thread can be used by an operation on any worker.
//!
//! A registered buffer is pinned and mapped into the kernel once, at
//! registration, instead of for every `READ`/`WRITE` (`get_user_pages` per
//! operation): `READ_FIXED`/`WRITE_FIXED` name it by index. Registering the
//! same memory with several rings is allowed (each ring pins it; on Linux
//! that counts once per ring against `RLIMIT_MEMLOCK` for users without
//! `CAP_IPC_LOCK`).
//!
//! Buffers are handed out ([`FixedBuffers::try_get`], [`poll_get`]) and
//! come back when the [`FixedBuf`] is dropped, on any thread; a waiter is
//! woken then.
//!
//! [`poll_get`]: FixedBuffers::poll_get

use crate::bufring::Mapping;
use parking_lot::Mutex;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// Most buffers one registration takes (`IORING_MAX_REG_BUFFERS`).
pub const MAX_FIXED_BUFFERS: u16 = 16384;

/// A pool of registered buffers (see the module docs).
pub struct FixedBuffers {
    id: u64,
    count: u16,
    size: usize,
    memory: Mapping,
    free: Mutex<Free>,
}

struct Free {
    indexes: Vec<u16>,
    waiters: Vec<Waker>,
}

impl FixedBuffers {
    /// `count` buffers of `size` bytes (1..=16384 buffers, 1 B..=1 GiB
    /// each); `InvalidInput` naming a bad value. The memory is reserved
    /// here and pinned when a ring registers it.
    pub fn new(count: u16, size: usize) -> io::Result<Arc<FixedBuffers>> {
        if count == 0 || count > MAX_FIXED_BUFFERS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("fixed buffers: between 1 and {MAX_FIXED_BUFFERS} buffers, got {count}"),
            ));
        }
        if size == 0 || size > 1 << 30 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("fixed buffers: each between 1 byte and 1 GiB, got {size}"),
            ));
        }
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Ok(Arc::new(FixedBuffers {
            // `Relaxed`: a unique number, ordered with nothing.
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            count,
            size,
            memory: Mapping::new(usize::from(count) * size)?,
            free: Mutex::new(Free {
                indexes: (0..count).rev().collect(),
                waiters: Vec::new(),
            }),
        }))
    }

    /// Identifies the pool (a ring reports the pool it registered).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Buffers in the pool.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// Bytes per buffer.
    pub fn buf_size(&self) -> usize {
        self.size
    }

    /// Buffers not handed out now.
    pub fn available(&self) -> usize {
        self.free.lock().indexes.len()
    }

    /// A free buffer (empty: length 0), or `None` if all are out.
    pub fn try_get(self: &Arc<Self>) -> Option<FixedBuf> {
        let index = self.free.lock().indexes.pop()?;
        Some(self.buf(index))
    }

    /// A free buffer, or `Pending` until one is given back (the waker is
    /// woken then).
    pub fn poll_get(self: &Arc<Self>, cx: &mut Context<'_>) -> Poll<FixedBuf> {
        let mut free = self.free.lock();
        match free.indexes.pop() {
            Some(index) => Poll::Ready(self.buf(index)),
            None => {
                if !free.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                    free.waiters.push(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }

    fn buf(self: &Arc<Self>, index: u16) -> FixedBuf {
        FixedBuf {
            pool: self.clone(),
            index,
            len: 0,
        }
    }

    /// The iovecs to register (one per buffer, in index order).
    pub(crate) fn iovecs(&self) -> Vec<libc::iovec> {
        (0..self.count)
            .map(|index| libc::iovec {
                iov_base: self.ptr(index).cast(),
                iov_len: self.size,
            })
            .collect()
    }

    fn ptr(&self, index: u16) -> *mut u8 {
        // SAFETY: `index < count`, so the offset is inside the mapping.
        unsafe { self.memory.ptr.as_ptr().add(usize::from(index) * self.size) }
    }

    fn give_back(&self, index: u16) {
        let waiters = {
            let mut free = self.free.lock();
            free.indexes.push(index);
            std::mem::take(&mut free.waiters)
        };
        // Outside the lock: a waker may run user code. Everyone retries;
        // those that find none wait again.
        for waker in waiters {
            waker.wake();
        }
    }
}

impl fmt::Debug for FixedBuffers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedBuffers")
            .field("id", &self.id)
            .field("count", &self.count)
            .field("buf_size", &self.size)
            .field("available", &self.available())
            .finish()
    }
}

/// A buffer of a [`FixedBuffers`] pool, owned by its holder until dropped
/// (then it goes back to the pool, from any thread). It has a capacity
/// (the pool's buffer size) and a length (the initialized bytes).
pub struct FixedBuf {
    pool: Arc<FixedBuffers>,
    index: u16,
    len: usize,
}

impl FixedBuf {
    /// The buffer's index in its pool (`buf_index` of a fixed operation).
    pub fn index(&self) -> u16 {
        self.index
    }

    /// The pool's id ([`FixedBuffers::id`]).
    pub fn pool_id(&self) -> u64 {
        self.pool.id
    }

    /// The initialized bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no byte is initialized.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The buffer's size.
    pub fn capacity(&self) -> usize {
        self.pool.size
    }

    /// The start of the buffer (stable until it is dropped).
    pub fn as_ptr(&self) -> *const u8 {
        self.pool.ptr(self.index)
    }

    /// The start of the buffer, for writing (stable until it is dropped).
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.pool.ptr(self.index)
    }

    /// Sets the initialized length.
    ///
    /// # Safety
    /// The first `len <= capacity()` bytes were written.
    pub unsafe fn set_len(&mut self, len: usize) {
        debug_assert!(len <= self.capacity());
        self.len = len;
    }

    /// The initialized bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the buffer is this value's alone (taken from the free
        // list, not in the kernel's hands unless an operation owns this
        // value), and its first `len` bytes are initialized.
        unsafe { std::slice::from_raw_parts(self.as_ptr(), self.len) }
    }

    /// Replaces the contents with `data` (at most `capacity()` bytes;
    /// returns how many were copied).
    pub fn fill_from(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.capacity());
        // SAFETY: `n` bytes fit in the buffer, which is this value's alone
        // and does not overlap `data` (a borrowed slice cannot point into a
        // buffer held by `&mut self`).
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.as_mut_ptr(), n) };
        self.len = n;
        n
    }
}

impl Drop for FixedBuf {
    fn drop(&mut self) {
        self.pool.give_back(self.index);
    }
}

impl fmt::Debug for FixedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedBuf")
            .field("pool", &self.pool.id)
            .field("index", &self.index)
            .field("len", &self.len)
            .finish()
    }
}

/// A pool shared by a runtime's rings, compared by identity (so that
/// [`Config`](crate::Config) stays comparable).
#[derive(Clone)]
pub struct SharedFixedBuffers(pub Arc<FixedBuffers>);

impl PartialEq for SharedFixedBuffers {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for SharedFixedBuffers {}

impl fmt::Debug for SharedFixedBuffers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
