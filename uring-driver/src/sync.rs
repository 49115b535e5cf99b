//! The driver's synchronization primitives: std/parking_lot normally, loom's
//! under `--cfg loom` (so the op-slot protocol can be model-checked).
//!
//! Reference counts stay `std::sync::Arc` under loom too: slots are stored as
//! `Arc<dyn Completable>`, which loom's `Arc` cannot express, and the counts
//! are not part of the protocol the models check (the slot's state is).

pub(crate) use std::sync::Arc;
#[cfg(not(loom))]
pub(crate) mod atomic {
    pub(crate) use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
}
#[cfg(not(loom))]
pub(crate) use parking_lot::Mutex;

#[cfg(loom)]
pub(crate) mod atomic {
    pub(crate) use loom::sync::atomic::{AtomicU64, AtomicU8, Ordering};
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
