//! The one place that chooses between real synchronization primitives and
//! loom's model-checked ones.
//!
//! Everything in the runtime that is shared between threads imports its
//! atomics, `Arc`, `Mutex`, `Condvar`, `UnsafeCell`, thread-locals and thread
//! spawning from here (`crate::loom::sync::atomic::AtomicUsize`, ...). Built
//! with `RUSTFLAGS="--cfg loom"` the same code runs under loom's scheduler, so
//! the models in `loom-tests/` check the protocols that ship, not copies.
//!
//! The two flavours expose one interface:
//! - `Mutex::lock` returns the guard directly (parking_lot style; loom's
//!   poisoning is unwrapped, a poisoned loom mutex is a model failure anyway);
//! - `Condvar::wait` / `wait_timeout` take and return the guard;
//! - `UnsafeCell` has loom's closure API (`with`, `with_mut`), so loom can
//!   track every access to cell contents.

#[cfg(not(loom))]
mod imp {
    pub(crate) mod sync {
        pub(crate) use std::sync::Arc;

        pub(crate) mod atomic {
            pub(crate) use std::sync::atomic::{
                fence, AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering,
            };
        }

        /// A mutex without poisoning (parking_lot).
        #[derive(Debug, Default)]
        pub(crate) struct Mutex<T>(parking_lot::Mutex<T>);

        pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

        impl<T> Mutex<T> {
            pub(crate) fn new(value: T) -> Self {
                Mutex(parking_lot::Mutex::new(value))
            }

            pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
                self.0.lock()
            }
        }

        /// A condition variable paired with [`Mutex`].
        #[derive(Debug, Default)]
        pub(crate) struct Condvar(parking_lot::Condvar);

        impl Condvar {
            pub(crate) fn new() -> Self {
                Condvar(parking_lot::Condvar::new())
            }

            pub(crate) fn wait<'a, T>(&self, mut guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
                self.0.wait(&mut guard);
                guard
            }

            pub(crate) fn wait_timeout<'a, T>(
                &self,
                mut guard: MutexGuard<'a, T>,
                timeout: std::time::Duration,
            ) -> MutexGuard<'a, T> {
                let _ = self.0.wait_for(&mut guard, timeout);
                guard
            }

            pub(crate) fn notify_one(&self) {
                self.0.notify_one();
            }

            pub(crate) fn notify_all(&self) {
                self.0.notify_all();
            }
        }
    }

    pub(crate) mod cell {
        /// `std::cell::UnsafeCell` with loom's closure-based access API.
        #[derive(Debug)]
        pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

        impl<T> UnsafeCell<T> {
            pub(crate) const fn new(value: T) -> Self {
                UnsafeCell(std::cell::UnsafeCell::new(value))
            }

            pub(crate) fn into_inner(self) -> T {
                self.0.into_inner()
            }

            /// Runs `f` with a shared pointer to the contents.
            #[inline(always)]
            pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
                f(self.0.get())
            }

            /// Runs `f` with an exclusive pointer to the contents.
            #[inline(always)]
            pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
                f(self.0.get())
            }
        }
    }

    pub(crate) mod thread {
        pub(crate) use std::thread::{sleep, JoinHandle};

        /// Spawns an OS thread with an optional name and stack size.
        pub(crate) fn spawn_named<F>(
            name: String,
            stack_size: Option<usize>,
            f: F,
        ) -> std::io::Result<JoinHandle<()>>
        where
            F: FnOnce() + Send + 'static,
        {
            let mut builder = std::thread::Builder::new().name(name);
            if let Some(size) = stack_size {
                builder = builder.stack_size(size);
            }
            builder.spawn(f)
        }
    }

    /// `std::thread_local!` with a `const` initializer (no lazy-init check
    /// on access). Every thread-local in the runtime has a const initializer;
    /// loom's macro has no `const` form, hence the wrapper.
    macro_rules! const_thread_local {
        ($(#[$attr:meta])* static $name:ident: $ty:ty = $init:expr;) => {
            std::thread_local!($(#[$attr])* static $name: $ty = const { $init });
        };
    }
    pub(crate) use const_thread_local as thread_local;
}

#[cfg(loom)]
mod imp {
    pub(crate) mod sync {
        pub(crate) use loom::sync::Arc;

        pub(crate) mod atomic {
            pub(crate) use loom::sync::atomic::{
                fence, AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering,
            };
        }

        #[derive(Debug)]
        pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

        pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

        impl<T> Mutex<T> {
            pub(crate) fn new(value: T) -> Self {
                Mutex(loom::sync::Mutex::new(value))
            }

            pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
                self.0.lock().expect("loom mutex poisoned")
            }
        }

        impl<T: Default> Default for Mutex<T> {
            fn default() -> Self {
                Mutex::new(T::default())
            }
        }

        #[derive(Debug, Default)]
        pub(crate) struct Condvar(loom::sync::Condvar);

        impl Condvar {
            pub(crate) fn new() -> Self {
                Condvar(loom::sync::Condvar::new())
            }

            pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
                self.0.wait(guard).expect("loom mutex poisoned")
            }

            /// Loom has no notion of time: a timed wait is a wait that may
            /// also return spuriously, which loom explores.
            pub(crate) fn wait_timeout<'a, T>(
                &self,
                guard: MutexGuard<'a, T>,
                timeout: std::time::Duration,
            ) -> MutexGuard<'a, T> {
                self.0
                    .wait_timeout(guard, timeout)
                    .expect("loom mutex poisoned")
                    .0
            }

            pub(crate) fn notify_one(&self) {
                self.0.notify_one();
            }

            pub(crate) fn notify_all(&self) {
                self.0.notify_all();
            }
        }
    }

    pub(crate) mod cell {
        pub(crate) use loom::cell::UnsafeCell;
    }

    pub(crate) mod thread {
        pub(crate) use loom::thread::JoinHandle;

        /// Under loom time does not pass: a sleep is a yield to the model.
        pub(crate) fn sleep(_: std::time::Duration) {
            loom::thread::yield_now();
        }

        /// Loom threads have no OS name or stack size.
        pub(crate) fn spawn_named<F>(
            _name: String,
            _stack_size: Option<usize>,
            f: F,
        ) -> std::io::Result<JoinHandle<()>>
        where
            F: FnOnce() + Send + 'static,
        {
            Ok(loom::thread::spawn(f))
        }
    }

    pub(crate) use loom::thread_local;
}

pub(crate) use imp::*;
