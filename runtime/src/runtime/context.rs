//! The thread-local runtime context: which runtime `spawn` and
//! `Handle::current` refer to on this thread, and whether this thread is
//! already driving a runtime (a worker, or inside `block_on`).

use super::Handle;
use std::cell::{Cell, RefCell};

struct Context {
    /// The runtime that `ringwork::spawn` uses on this thread.
    handle: RefCell<Option<Handle>>,
    /// This thread is a worker or inside `block_on`: a nested `block_on`
    /// would stall the tasks this thread is responsible for.
    driving: Cell<bool>,
}

crate::loom::thread_local! {
    static CONTEXT: Context = Context {
        handle: RefCell::new(None),
        driving: Cell::new(false),
    };
}

/// The current handle, if any runtime is entered on this thread.
pub(crate) fn current() -> Option<Handle> {
    CONTEXT
        .try_with(|ctx| ctx.handle.borrow().clone())
        .ok()
        .flatten()
}

/// Restores the previous handle on drop.
pub(crate) struct SetCurrentGuard {
    prev: Option<Handle>,
}

/// Makes `handle` current on this thread until the guard drops.
pub(crate) fn set_current(handle: Handle) -> SetCurrentGuard {
    let prev = CONTEXT.with(|ctx| ctx.handle.replace(Some(handle)));
    SetCurrentGuard { prev }
}

impl Drop for SetCurrentGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let _ = CONTEXT.try_with(|ctx| *ctx.handle.borrow_mut() = prev);
    }
}

/// Marks this thread as driving a runtime until dropped.
pub(crate) struct DrivingGuard {
    _current: SetCurrentGuard,
}

/// Why `block_on` may not run here.
pub(crate) const NESTED_BLOCK_ON: &str = "`block_on` was called on a thread that is already driving a ringwork \
runtime (a worker thread, or inside another `block_on`). Blocking here would stall every task this thread runs. \
`.await` the future instead, or `spawn` it and await its JoinHandle.";

/// Enters the runtime for `block_on`: panics if this thread already drives one.
#[track_caller]
pub(crate) fn enter_block_on(handle: Handle) -> DrivingGuard {
    if is_driving() {
        panic!("{NESTED_BLOCK_ON}");
    }
    enter_worker(handle)
}

/// Enters the runtime on a worker thread.
pub(crate) fn enter_worker(handle: Handle) -> DrivingGuard {
    CONTEXT.with(|ctx| ctx.driving.set(true));
    DrivingGuard {
        _current: set_current(handle),
    }
}

impl Drop for DrivingGuard {
    fn drop(&mut self) {
        let _ = CONTEXT.try_with(|ctx| ctx.driving.set(false));
    }
}

/// Whether this thread is a worker or inside `block_on`.
pub(crate) fn is_driving() -> bool {
    CONTEXT.try_with(|ctx| ctx.driving.get()).unwrap_or(false)
}
