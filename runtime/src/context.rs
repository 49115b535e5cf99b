//! The per-thread context: everything a thread knows of the runtime it
//! works for, in one thread-local.
//!
//! | field | set by | read by |
//! | --- | --- | --- |
//! | `runtime` | a worker, `block_on`, `Runtime::enter`, a blocking-pool job | `spawn`, `Handle::current`, blocking I/O, timers of threads without a wheel |
//! | `driving` | a worker, `block_on` | nested `block_on`, blocking channel calls |
//! | `worker` | the scheduler, while its loop runs | the scheduler (where a woken task goes) |
//! | `io` | the thread's I/O driver, between its park's `enter` and `exit` | every I/O operation |
//! | `time` | the thread's timer wheel, likewise | `sleep`, `timeout`, `interval` |
//! | `budget` | each task poll | every operation that may return `Ready` |
//! | `pool` | a blocking-pool thread | the pool (a shutdown from its own thread) |
//!
//! This module sits below everything that uses it: what it holds of higher
//! layers it holds type-erased (the runtime as a [`RuntimeContext`] trait
//! object, the worker and the pool as addresses their owners cast back).

use crate::time::driver::{TimeDriver, WheelClosed};
use crate::time::wheel::Key;
use crate::time::Instant;
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::Waker;

/// One thread's I/O driver.
pub(crate) enum ThreadDriver {
    Uring(Box<ringwork_uring::Driver>),
    Epoll(ringwork_epoll::Reactor),
}

/// What the layers below the runtime may ask of the current runtime.
/// Implemented by `runtime::Handle`.
pub(crate) trait RuntimeContext: Send + Sync + 'static {
    /// Runs `job` on the runtime's blocking pool. The future resolves once
    /// the job ran, or with the reason it could not run (no thread could be
    /// started, or the runtime shut down; the job is then dropped unrun).
    fn spawn_blocking_job(
        &self,
        job: Box<dyn FnOnce() + Send>,
    ) -> Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    /// Arms a timer for a thread that drives no wheel on a worker's wheel
    /// (see `Shared::arm_timer`).
    fn arm_timer(
        &self,
        deadline: Instant,
        waker: &Waker,
    ) -> Result<Option<(crate::loom::sync::Arc<TimeDriver>, Key)>, WheelClosed>;

    /// For `Handle::current`, which casts it back.
    fn as_any(&self) -> &dyn Any;
}

struct Context {
    runtime: RefCell<Option<std::sync::Arc<dyn RuntimeContext>>>,
    driving: Cell<bool>,
    worker: Cell<*const ()>,
    io: RefCell<Option<ThreadDriver>>,
    time: RefCell<Option<crate::loom::sync::Arc<TimeDriver>>>,
    /// `None`: no budget in force (outside a task poll: unconstrained).
    budget: Cell<Option<u8>>,
    pool: Cell<*const ()>,
}

crate::loom::thread_local! {
    static CONTEXT: Context = Context {
        runtime: RefCell::new(None),
        driving: Cell::new(false),
        worker: Cell::new(std::ptr::null()),
        io: RefCell::new(None),
        time: RefCell::new(None),
        budget: Cell::new(None),
        pool: Cell::new(std::ptr::null()),
    };
}

// ---- the runtime ----

/// The current runtime, if one is entered on this thread.
pub(crate) fn runtime() -> Option<std::sync::Arc<dyn RuntimeContext>> {
    CONTEXT
        .try_with(|ctx| ctx.runtime.borrow().clone())
        .ok()
        .flatten()
}

/// Runs `f` with the current runtime, without cloning it (no reference
/// count touched: the runtime's count is shared by every thread).
pub(crate) fn with_runtime<T>(f: impl FnOnce(Option<&dyn RuntimeContext>) -> T) -> T {
    let mut f = Some(f);
    let result = CONTEXT.try_with(|ctx| {
        let runtime = ctx.runtime.borrow();
        (f.take().expect("called once"))(runtime.as_deref())
    });
    match result {
        Ok(value) => value,
        Err(_) => (f.take().expect("not called when the context is gone"))(None),
    }
}

/// Restores the previous runtime on drop.
pub(crate) struct RuntimeGuard {
    prev: Option<std::sync::Arc<dyn RuntimeContext>>,
}

/// Makes `runtime` current on this thread until the guard drops.
pub(crate) fn set_runtime(runtime: std::sync::Arc<dyn RuntimeContext>) -> RuntimeGuard {
    let prev = CONTEXT.with(|ctx| ctx.runtime.replace(Some(runtime)));
    RuntimeGuard { prev }
}

impl Drop for RuntimeGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let _ = CONTEXT.try_with(|ctx| *ctx.runtime.borrow_mut() = prev);
    }
}

/// Marks this thread as driving a runtime (a worker, or inside `block_on`)
/// until dropped, with `runtime` current.
pub(crate) struct DrivingGuard {
    _runtime: RuntimeGuard,
}

/// Enters `runtime` as a thread that drives it.
pub(crate) fn enter_driving(runtime: std::sync::Arc<dyn RuntimeContext>) -> DrivingGuard {
    CONTEXT.with(|ctx| ctx.driving.set(true));
    DrivingGuard {
        _runtime: set_runtime(runtime),
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

// ---- the worker and the pool (addresses their owners cast back) ----

/// The scheduler's worker on this thread (null if none).
pub(crate) fn worker() -> *const () {
    CONTEXT
        .try_with(|ctx| ctx.worker.get())
        .unwrap_or(std::ptr::null())
}

/// Sets the worker address; returns the previous one.
pub(crate) fn replace_worker(worker: *const ()) -> *const () {
    CONTEXT
        .try_with(|ctx| ctx.worker.replace(worker))
        .unwrap_or(std::ptr::null())
}

/// The blocking pool this thread belongs to (null if none).
pub(crate) fn pool() -> *const () {
    CONTEXT
        .try_with(|ctx| ctx.pool.get())
        .unwrap_or(std::ptr::null())
}

/// Marks this thread as one of `pool`'s.
pub(crate) fn set_pool(pool: *const ()) {
    CONTEXT.with(|ctx| ctx.pool.set(pool));
}

// ---- the I/O driver ----

/// What a look at this thread's I/O driver found.
pub(crate) enum IoAccess<'a> {
    /// The driver, borrowed for the call.
    Driver(&'a mut ThreadDriver),
    /// No driver on this thread.
    None,
    /// The driver is in use further up this thread's stack (a waker or a
    /// resource's `Drop` running inside it).
    Busy,
    /// The thread is exiting; its context is gone.
    Gone,
}

/// Runs `f` with this thread's I/O driver.
pub(crate) fn with_io<T>(f: impl FnOnce(IoAccess<'_>) -> T) -> T {
    let mut f = Some(f);
    let result = CONTEXT.try_with(|ctx| {
        let f = f.take().expect("called once");
        match ctx.io.try_borrow_mut() {
            Ok(mut driver) => match driver.as_mut() {
                Some(driver) => f(IoAccess::Driver(driver)),
                None => f(IoAccess::None),
            },
            Err(_) => f(IoAccess::Busy),
        }
    });
    match result {
        Ok(value) => value,
        Err(_) => (f.take().expect("not called when the context is gone"))(IoAccess::Gone),
    }
}

/// Installs `driver` as this thread's until the guard drops; the driver is
/// then dropped (shut down) on this thread.
pub(crate) struct IoGuard {
    _not_send: std::marker::PhantomData<*const ()>,
}

pub(crate) fn install_io(driver: ThreadDriver) -> IoGuard {
    CONTEXT.with(|ctx| {
        let prev = ctx.io.borrow_mut().replace(driver);
        debug_assert!(prev.is_none(), "a thread has one driver at a time");
    });
    IoGuard {
        _not_send: std::marker::PhantomData,
    }
}

impl IoGuard {
    /// Takes the driver back out of this thread's context, without shutting
    /// it down (see `Park::suspend`). `None` if the thread is exiting.
    #[cfg_attr(loom, allow(dead_code))] // current-thread runtimes only
    pub(crate) fn suspend(self) -> Option<ThreadDriver> {
        // Not through `Drop`, which would shut the driver down.
        std::mem::forget(self);
        CONTEXT
            .try_with(|ctx| ctx.io.borrow_mut().take())
            .ok()
            .flatten()
    }
}

impl Drop for IoGuard {
    fn drop(&mut self) {
        // Taken out first, dropped after: its shutdown may run wakers that
        // look at the context.
        let driver = CONTEXT
            .try_with(|ctx| ctx.io.borrow_mut().take())
            .ok()
            .flatten();
        drop(driver);
    }
}

// ---- the timer wheel ----

/// The timer wheel this thread drives, if any.
pub(crate) fn time() -> Option<crate::loom::sync::Arc<TimeDriver>> {
    CONTEXT
        .try_with(|ctx| ctx.time.borrow().clone())
        .ok()
        .flatten()
}

/// Sets (or with `None` clears) the wheel this thread drives.
pub(crate) fn set_time(time: Option<crate::loom::sync::Arc<TimeDriver>>) {
    let _ = CONTEXT.try_with(|ctx| *ctx.time.borrow_mut() = time);
}

// ---- the cooperative budget ----

/// The budget in force (`None`: unconstrained).
pub(crate) fn budget() -> Option<u8> {
    CONTEXT.try_with(|ctx| ctx.budget.get()).unwrap_or(None)
}

/// Runs `f` with the budget's cell (one thread-local access for a read and
/// a write); `None` if the thread is exiting.
pub(crate) fn with_budget<T>(f: impl FnOnce(&Cell<Option<u8>>) -> T) -> Option<T> {
    CONTEXT.try_with(|ctx| f(&ctx.budget)).ok()
}

/// Sets the budget; returns the previous one.
pub(crate) fn replace_budget(budget: Option<u8>) -> Option<u8> {
    CONTEXT
        .try_with(|ctx| ctx.budget.replace(budget))
        .unwrap_or(None)
}
