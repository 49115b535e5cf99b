//! [`RwLock`]: an async, fair reader-writer lock.

use super::batch::BatchSemaphore;
use crate::loom::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// Concurrent readers allowed at once; a writer takes all of them.
const MAX_READS: usize = (u32::MAX >> 3) as usize;

/// A reader-writer lock whose guards can be held across `.await`.
///
/// Any number of readers (up to about 2^29) or one writer. Requests are
/// served in arrival order: a writer that is waiting blocks readers that
/// arrive after it, so writers do not starve. It is a semaphore with
/// `MAX_READS` permits: a read takes one, a write takes them all.
///
/// ```
/// use ringwork::sync::RwLock;
///
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let lock = RwLock::new(vec![1, 2]);
/// {
///     let a = lock.read().await;
///     let b = lock.read().await; // readers share
///     assert_eq!(a.len() + b.len(), 4);
///     assert!(lock.try_write().is_err());
/// }
/// lock.write().await.push(3);
/// assert_eq!(*lock.read().await, [1, 2, 3]);
/// # });
/// ```
pub struct RwLock<T> {
    semaphore: BatchSemaphore,
    data: UnsafeCell<T>,
}

// SAFETY: a writer gets `&mut T` on whichever thread holds the guard:
// `T: Send`.
unsafe impl<T: Send> Send for RwLock<T> {}
// SAFETY: readers on several threads share `&T` (`T: Sync`); writers move
// exclusive access between threads (`T: Send`).
unsafe impl<T: Send + Sync> Sync for RwLock<T> {}

/// The lock was held in a conflicting mode; `try_read`/`try_write` gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TryLockError(());

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the lock is held in a conflicting mode")
    }
}

impl std::error::Error for TryLockError {}

impl<T> RwLock<T> {
    /// An unlocked lock holding `value`.
    pub fn new(value: T) -> RwLock<T> {
        RwLock {
            semaphore: BatchSemaphore::new(MAX_READS),
            data: UnsafeCell::new(value),
        }
    }

    /// The protected value.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }

    /// The protected value, through exclusive access to the lock.
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` proves no guard borrows the lock.
        self.data.with_mut(|p| unsafe { &mut *p })
    }

    /// Waits for shared access.
    ///
    /// Cancel safety: dropping the future before it resolves changes
    /// nothing but its place in the queue.
    pub async fn read(&self) -> RwLockReadGuard<'_, T> {
        // The semaphore is never closed.
        let _ = self.semaphore.acquire(1).await;
        RwLockReadGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    /// Waits for exclusive access.
    ///
    /// Cancel safety: dropping the future before it resolves hands the read
    /// slots it had collected to the next waiters; it loses its place.
    pub async fn write(&self) -> RwLockWriteGuard<'_, T> {
        let _ = self.semaphore.acquire(MAX_READS).await;
        RwLockWriteGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    /// [`read`](RwLock::read) for a shared lock; the guard keeps the lock
    /// alive and is `'static`. Cancel safety as for `read`.
    pub async fn read_owned(self: Arc<Self>) -> OwnedRwLockReadGuard<T> {
        let _ = self.semaphore.acquire(1).await;
        OwnedRwLockReadGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    /// [`write`](RwLock::write) for a shared lock; the guard keeps the lock
    /// alive and is `'static`. Cancel safety as for `write`.
    pub async fn write_owned(self: Arc<Self>) -> OwnedRwLockWriteGuard<T> {
        let _ = self.semaphore.acquire(MAX_READS).await;
        OwnedRwLockWriteGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    /// Shared access if no writer holds or waits for the lock.
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        self.semaphore
            .try_acquire(1)
            .map_err(|_| TryLockError(()))?;
        Ok(RwLockReadGuard {
            lock: self,
            _marker: PhantomData,
        })
    }

    /// Exclusive access if nobody holds or waits for the lock.
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        self.semaphore
            .try_acquire(MAX_READS)
            .map_err(|_| TryLockError(()))?;
        Ok(RwLockWriteGuard {
            lock: self,
            _marker: PhantomData,
        })
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Ok(guard) => d.field("data", &&*guard),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Shared access to an [`RwLock`]'s value; releases on drop.
#[must_use = "the read lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T> {
    lock: &'a RwLock<T>,
    /// Opts out of the auto traits (see the impls below).
    _marker: PhantomData<*const T>,
}

// SAFETY: a read guard on another thread reads `&T` there: `T: Sync`.
unsafe impl<T: Sync> Send for RwLockReadGuard<'_, T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for RwLockReadGuard<'_, T> {}

impl<T> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds a read permit: no writer holds the lock
        // (a writer needs every permit), so nobody has `&mut T`.
        self.lock.data.with(|p| unsafe { &*p })
    }
}

impl<T> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.semaphore.release(1);
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to an [`RwLock`]'s value; releases on drop.
#[must_use = "the write lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T> {
    lock: &'a RwLock<T>,
    /// Opts out of the auto traits (see the impls below).
    _marker: PhantomData<*mut T>,
}

// SAFETY: moving the guard moves exclusive access to `T`: `T: Send`.
unsafe impl<T: Send> Send for RwLockWriteGuard<'_, T> {}
// SAFETY: sharing the guard shares `&T`: `T: Sync`.
unsafe impl<T: Send + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<T> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds every permit: nobody else reads or writes.
        self.lock.data.with(|p| unsafe { &*p })
    }
}

impl<T> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds every permit, and `&mut self` makes this
        // the only reference it hands out.
        self.lock.data.with_mut(|p| unsafe { &mut *p })
    }
}

impl<T> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.semaphore.release(MAX_READS);
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Shared access to a shared [`RwLock`]'s value; releases on drop.
#[must_use = "the read lock is released as soon as the guard is dropped"]
pub struct OwnedRwLockReadGuard<T> {
    lock: Arc<RwLock<T>>,
    /// Opts out of the auto traits (see the impls below).
    _marker: PhantomData<*const T>,
}

// SAFETY: as for `RwLockReadGuard`.
unsafe impl<T: Send + Sync> Send for OwnedRwLockReadGuard<T> {}
// SAFETY: as for `RwLockReadGuard`.
unsafe impl<T: Send + Sync> Sync for OwnedRwLockReadGuard<T> {}

impl<T> Deref for OwnedRwLockReadGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds a read permit: no writer holds the lock.
        self.lock.data.with(|p| unsafe { &*p })
    }
}

impl<T> Drop for OwnedRwLockReadGuard<T> {
    fn drop(&mut self) {
        self.lock.semaphore.release(1);
    }
}

impl<T: fmt::Debug> fmt::Debug for OwnedRwLockReadGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to a shared [`RwLock`]'s value; releases on drop.
#[must_use = "the write lock is released as soon as the guard is dropped"]
pub struct OwnedRwLockWriteGuard<T> {
    lock: Arc<RwLock<T>>,
    /// Opts out of the auto traits (see the impls below).
    _marker: PhantomData<*mut T>,
}

// SAFETY: as for `RwLockWriteGuard`; the guard also owns an `Arc` of the
// lock, which other threads share: `T: Sync` as well.
unsafe impl<T: Send + Sync> Send for OwnedRwLockWriteGuard<T> {}
// SAFETY: as for `RwLockWriteGuard`.
unsafe impl<T: Send + Sync> Sync for OwnedRwLockWriteGuard<T> {}

impl<T> Deref for OwnedRwLockWriteGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds every permit: nobody else reads or writes.
        self.lock.data.with(|p| unsafe { &*p })
    }
}

impl<T> DerefMut for OwnedRwLockWriteGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds every permit, and `&mut self` makes this
        // the only reference it hands out.
        self.lock.data.with_mut(|p| unsafe { &mut *p })
    }
}

impl<T> Drop for OwnedRwLockWriteGuard<T> {
    fn drop(&mut self) {
        self.lock.semaphore.release(MAX_READS);
    }
}

impl<T: fmt::Debug> fmt::Debug for OwnedRwLockWriteGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
