//! [`task_local!`](crate::task_local): values that belong to a task, not to
//! a thread (asyncio's `contextvars`).
//!
//! A task may run on a different worker after every `.await`, so a
//! `thread_local!` is the wrong home for per-request state. A task-local is
//! set for the extent of a future ([`LocalKey::scope`]): each time that
//! future is polled, on whatever thread, the value is moved into the key's
//! thread-local slot for the poll and moved back out after it (also when
//! the poll panics). Code under that poll reads it with
//! [`LocalKey::with`] or [`LocalKey::get`].

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Declares task-local keys: `static NAME: Type;`, one or more.
///
/// ```
/// ringwork::task_local! {
///     static REQUEST_ID: u64;
/// }
///
/// let runtime = ringwork::Runtime::new()?;
/// let seen = runtime.block_on(REQUEST_ID.scope(7, async {
///     ringwork::task::yield_now().await; // may resume on another worker
///     REQUEST_ID.get()
/// }));
/// assert_eq!(seen, 7);
/// # Ok::<(), std::io::Error>(())
/// ```
#[macro_export]
macro_rules! task_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty; $($rest:tt)*) => {
        $crate::__task_local_key!($(#[$attr])* $vis $name, $t);
        $crate::task_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty) => {
        $crate::__task_local_key!($(#[$attr])* $vis $name, $t);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __task_local_key {
    ($(#[$attr:meta])* $vis:vis $name:ident, $t:ty) => {
        $(#[$attr])*
        $vis static $name: $crate::task::LocalKey<$t> = {
            ::std::thread_local! {
                static __RINGWORK_TASK_LOCAL: ::std::cell::RefCell<::std::option::Option<$t>> =
                    const { ::std::cell::RefCell::new(::std::option::Option::None) };
            }
            $crate::task::LocalKey::__new(&__RINGWORK_TASK_LOCAL)
        };
    };
}

/// A task-local key, declared with [`task_local!`](crate::task_local).
pub struct LocalKey<T: 'static> {
    slot: &'static std::thread::LocalKey<RefCell<Option<T>>>,
}

/// Why [`LocalKey::try_with`] found no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessError(());

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task-local value not set: the code does not run inside `LocalKey::scope`")
    }
}

impl std::error::Error for AccessError {}

impl<T: 'static> LocalKey<T> {
    #[doc(hidden)]
    pub const fn __new(slot: &'static std::thread::LocalKey<RefCell<Option<T>>>) -> LocalKey<T> {
        LocalKey { slot }
    }

    /// Runs `future` with this key set to `value` during each of its polls,
    /// on whichever thread polls it.
    pub fn scope<F: Future>(&'static self, value: T, future: F) -> TaskLocalFuture<T, F> {
        TaskLocalFuture {
            key: self,
            value: Some(value),
            future: Some(future),
        }
    }

    /// Runs `f` with this key set to `value`.
    pub fn sync_scope<R>(&'static self, value: T, f: impl FnOnce() -> R) -> R {
        let mut value = Some(value);
        let _swapped = Swapped::enter(self, &mut value);
        f()
    }

    /// Runs `f` with a reference to the value.
    ///
    /// # Panics
    /// Outside a [`scope`](LocalKey::scope) of this key; see
    /// [`try_with`](LocalKey::try_with).
    #[track_caller]
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        match self.try_with(f) {
            Ok(result) => result,
            Err(err) => panic!("{err}"),
        }
    }

    /// Runs `f` with a reference to the value, or reports that none is set.
    pub fn try_with<R>(&'static self, f: impl FnOnce(&T) -> R) -> Result<R, AccessError> {
        self.slot.with(|slot| {
            let slot = slot.borrow();
            slot.as_ref().map(f).ok_or(AccessError(()))
        })
    }

    /// A copy of the value.
    ///
    /// # Panics
    /// Outside a [`scope`](LocalKey::scope) of this key.
    #[track_caller]
    pub fn get(&'static self) -> T
    where
        T: Clone,
    {
        self.with(T::clone)
    }
}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKey").finish_non_exhaustive()
    }
}

/// Moves a value into its key's thread-local slot and back out on drop
/// (also when unwinding), leaving whatever was there (an outer scope's
/// value) as it was.
struct Swapped<'a, T: 'static> {
    key: &'static LocalKey<T>,
    value: &'a mut Option<T>,
}

impl<'a, T: 'static> Swapped<'a, T> {
    #[track_caller]
    fn enter(key: &'static LocalKey<T>, value: &'a mut Option<T>) -> Swapped<'a, T> {
        key.slot.with(|slot| match slot.try_borrow_mut() {
            Ok(mut slot) => std::mem::swap(&mut *slot, value),
            Err(_) => {
                panic!("a task-local scope entered from inside `LocalKey::with` of the same key")
            }
        });
        Swapped { key, value }
    }
}

impl<T: 'static> Drop for Swapped<'_, T> {
    fn drop(&mut self) {
        // The slot cannot be borrowed here: a `with` borrows it only for
        // the length of its closure, and `enter` refused to nest in one.
        let _ = self
            .key
            .slot
            .try_with(|slot| std::mem::swap(&mut *slot.borrow_mut(), self.value));
    }
}

pin_project_lite::pin_project! {
    /// The future of [`LocalKey::scope`].
    pub struct TaskLocalFuture<T: 'static, F> {
        key: &'static LocalKey<T>,
        value: Option<T>,
        // `None` once it completed (dropped then, with the value set).
        #[pin]
        future: Option<F>,
    }

    impl<T: 'static, F> PinnedDrop for TaskLocalFuture<T, F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if this.future.is_some() {
                // The future's `Drop` sees the value too, as its polls did.
                let _swapped = Swapped::enter(*this.key, this.value);
                this.future.set(None);
            }
        }
    }
}

impl<T: 'static, F: Future> Future for TaskLocalFuture<T, F> {
    type Output = F::Output;

    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        let _swapped = Swapped::enter(*this.key, this.value);
        let future = this
            .future
            .as_mut()
            .as_pin_mut()
            .expect("TaskLocalFuture polled after it completed");
        let poll = future.poll(cx);
        if poll.is_ready() {
            // Dropped inside the scope, like the `Drop` above does.
            this.future.set(None);
        }
        poll
    }
}

impl<T: 'static, F> fmt::Debug for TaskLocalFuture<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskLocalFuture").finish_non_exhaustive()
    }
}
