//! The driver's synchronization primitives: std/parking_lot normally, loom's
//! under `--cfg loom` (so the op-slot protocol can be model-checked).
//!
//! Reference counts stay `std::sync::Arc` under loom too: cancellation
//! requests hold slots as `Arc<dyn Completable>`, which loom's `Arc` cannot
//! express, and the counts are not part of the protocol the models check
//! (the slot's state is).

pub(crate) use std::sync::Arc;
#[cfg(not(loom))]
pub(crate) mod atomic {
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
}
#[cfg(not(loom))]
pub(crate) use parking_lot::Mutex;

/// `std::cell::UnsafeCell` with loom's closure API, so loom can track the
/// accesses under `--cfg loom`.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) fn new(value: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// Spins one round while waiting for a short critical section of another
/// thread (under loom: yields to the model's scheduler).
pub(crate) fn spin_wait() {
    #[cfg(not(loom))]
    std::thread::yield_now();
    #[cfg(loom)]
    loom::thread::yield_now();
}

#[cfg(loom)]
pub(crate) mod atomic {
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
}

/// loom's mutex with parking_lot's `lock()` signature.
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

#[cfg(loom)]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Mutex(loom::sync::Mutex::new(value))
    }
    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        self.0.lock().expect("loom mutex poisoned")
    }
}
