//! [`Mutex`]: an async, fair mutual-exclusion lock.

use super::batch::{BatchSemaphore, TryAcquire};
use crate::loom::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// A mutual-exclusion lock whose guard can be held across `.await`.
///
/// Tasks that find it locked wait in FIFO order and are handed the lock in
/// that order: a task that unlocks and immediately locks again queues behind
/// the others (no barging), so no waiter starves. Built on the same
/// semaphore as [`Semaphore`](super::Semaphore) with one permit.
///
/// Prefer `std::sync::Mutex` or `parking_lot::Mutex` for data that is never
/// locked across an `.await`: they are cheaper.
///
/// ```
/// use std::sync::Arc;
/// use ringwork::sync::Mutex;
///
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let count = Arc::new(Mutex::new(0));
/// let mut tasks = Vec::new();
/// for _ in 0..10 {
///     let count = count.clone();
///     tasks.push(ringwork::spawn(async move {
///         let mut guard = count.lock().await;
///         ringwork::task::yield_now().await; // still held
///         *guard += 1;
///     }));
/// }
/// for t in tasks {
///     t.await.unwrap();
/// }
/// assert_eq!(*count.lock().await, 10);
/// # });
/// ```
pub struct Mutex<T> {
    semaphore: BatchSemaphore,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands out access to `T` to one holder at a time, possibly
// on another thread than the previous one: `T: Send` suffices (as for
// `std::sync::Mutex`).
unsafe impl<T: Send> Send for Mutex<T> {}
// SAFETY: as above; `&Mutex` only gives exclusive access through a guard.
unsafe impl<T: Send> Sync for Mutex<T> {}

/// The lock was held; `try_lock` gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TryLockError(());

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the mutex is locked")
    }
}

impl std::error::Error for TryLockError {}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    pub fn new(value: T) -> Mutex<T> {
        Mutex {
            semaphore: BatchSemaphore::new(1),
            data: UnsafeCell::new(value),
        }
    }

    /// The protected value.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T> Mutex<T> {
    /// Waits for the lock.
    ///
    /// Cancel safety: dropping the future before it resolves leaves the lock
    /// as it was (if it had just been handed to this future, it is handed to
    /// the next waiter); the future loses its place in the queue.
    pub async fn lock(&self) -> MutexGuard<'_, T> {
        // The semaphore is never closed.
        let _ = self.semaphore.acquire(1).await;
        MutexGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    /// Takes the lock if it is free and nobody is queued for it.
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        match self.semaphore.try_acquire(1) {
            Ok(()) => Ok(MutexGuard {
                lock: self,
                _marker: PhantomData,
            }),
            Err(TryAcquire::NoPermits | TryAcquire::Closed) => Err(TryLockError(())),
        }
    }

    /// [`lock`](Mutex::lock) for a shared mutex; the guard keeps the mutex
    /// alive and is `'static`. Cancel safety as for `lock`.
    pub async fn lock_owned(self: Arc<Self>) -> OwnedMutexGuard<T> {
        let _ = self.semaphore.acquire(1).await;
        OwnedMutexGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    /// [`try_lock`](Mutex::try_lock) for a shared mutex.
    pub fn try_lock_owned(self: Arc<Self>) -> Result<OwnedMutexGuard<T>, TryLockError> {
        match self.semaphore.try_acquire(1) {
            Ok(()) => Ok(OwnedMutexGuard {
                lock: self,
                _marker: PhantomData,
            }),
            Err(_) => Err(TryLockError(())),
        }
    }

    /// The protected value, through exclusive access to the mutex (no
    /// locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` proves no guard exists (guards borrow the
        // mutex or hold an `Arc` to it, which `&mut` excludes).
        self.data.with_mut(|p| unsafe { &mut *p })
    }

    fn unlock(&self) {
        self.semaphore.release(1);
    }

    /// # Safety
    /// - The caller holds the lock (owns the single permit) while the
    ///   returned reference lives.
    unsafe fn data(&self) -> &T {
        // SAFETY: by the precondition nobody holds `&mut T` meanwhile.
        self.data.with(|p| unsafe { &*p })
    }

    /// # Safety
    /// - The caller holds the lock while the returned reference lives and
    ///   is the only one using it (guards hand it out through `&mut self`).
    #[allow(clippy::mut_from_ref)]
    unsafe fn data_mut(&self) -> &mut T {
        // SAFETY: the lock's single permit makes the holder the only one
        // touching `T` (the Acquire of taking the permit pairs with the
        // Release of the previous holder's unlock, see `batch.rs`).
        self.data.with_mut(|p| unsafe { &mut *p })
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<T: fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(guard) => d.field("data", &&*guard),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Exclusive access to a [`Mutex`]'s value; unlocks on drop.
#[must_use = "the mutex unlocks as soon as the guard is dropped"]
pub struct MutexGuard<'a, T> {
    lock: &'a Mutex<T>,
    /// Opts out of the auto traits, which would follow `&Mutex<T>` (`Sync`
    /// for any `T: Send`); the impls below ask for what a guard needs.
    _marker: PhantomData<*mut T>,
}

// SAFETY: moving the guard moves exclusive access to `T` (and the duty to
// unlock, which any thread may do): `T: Send`.
unsafe impl<T: Send> Send for MutexGuard<'_, T> {}
// SAFETY: sharing the guard shares `&T`: `T: Sync`.
unsafe impl<T: Send + Sync> Sync for MutexGuard<'_, T> {}

impl<T> MutexGuard<'_, T> {
    /// The mutex this guard locks.
    pub fn mutex(this: &Self) -> &Mutex<T> {
        this.lock
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock for its lifetime.
        unsafe { self.lock.data() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, and `&mut self` makes this the
        // only reference it hands out.
        unsafe { self.lock.data_mut() }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.unlock();
    }
}

impl<T: fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to a shared [`Mutex`]'s value; unlocks on drop.
#[must_use = "the mutex unlocks as soon as the guard is dropped"]
pub struct OwnedMutexGuard<T> {
    lock: Arc<Mutex<T>>,
    /// As in [`MutexGuard`].
    _marker: PhantomData<*mut T>,
}

// SAFETY: as for `MutexGuard`.
unsafe impl<T: Send> Send for OwnedMutexGuard<T> {}
// SAFETY: as for `MutexGuard`.
unsafe impl<T: Send + Sync> Sync for OwnedMutexGuard<T> {}

impl<T> OwnedMutexGuard<T> {
    /// The mutex this guard locks.
    pub fn mutex(this: &Self) -> &Arc<Mutex<T>> {
        &this.lock
    }
}

impl<T> Deref for OwnedMutexGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock for its lifetime.
        unsafe { self.lock.data() }
    }
}

impl<T> DerefMut for OwnedMutexGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock; `&mut self` makes this the only
        // reference it hands out.
        unsafe { self.lock.data_mut() }
    }
}

impl<T> Drop for OwnedMutexGuard<T> {
    fn drop(&mut self) {
        self.lock.unlock();
    }
}

impl<T: fmt::Debug> fmt::Debug for OwnedMutexGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
