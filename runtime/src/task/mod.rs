//! Tasks: spawning, joining, aborting, yielding.
//!
//! A task is a future the runtime polls on its worker threads.
//! [`spawn`] starts one and returns its [`JoinHandle`], which is itself a
//! future of the task's output (or a [`JoinError`] if the task panicked or
//! was cancelled). [`JoinHandle::abort`] and [`AbortHandle`] cancel a task;
//! [`yield_now`] and [`consume_budget`] let a long-running task make room for
//! others.
//!
//! Groups of tasks: [`JoinSet`] joins tasks in the order they finish and
//! aborts the rest when dropped; [`join_all`] is asyncio's `gather` and
//! [`wait`] its `wait` (with [`ReturnWhen`] and a timeout). To run futures
//! concurrently on the current task instead, see [`join!`](crate::join) and
//! [`select!`](crate::select).

mod builder;
mod join_set;
mod local;
mod task_local;
mod unordered;
mod wait;
mod yield_now;

pub use crate::task_core::{AbortHandle, Id, JoinError, JoinHandle};
pub use builder::Builder;
pub use join_set::JoinSet;
pub use local::{spawn_local, LocalJoinHandle, LocalSet};
pub use task_local::{AccessError, LocalKey, TaskLocalFuture};
pub use wait::{join_all, wait, Done, Pending, ReturnWhen};
pub use yield_now::yield_now;

use std::future::Future;

pub use crate::coop::{consume_budget, has_budget_remaining};

/// Runs `f` on the runtime's blocking pool, a set of threads for work that
/// would stall a worker (asyncio's `run_in_executor`). Awaiting the handle
/// gives `f`'s result, or `JoinError::Panic` if it panicked; `abort()` only
/// prevents a job that has not started yet. Inside `f` the runtime is
/// current: [`crate::spawn`] and [`Handle::current`](crate::Handle::current)
/// work there.
///
/// ```
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let sum = ringwork::task::spawn_blocking(|| (1..=100u64).sum::<u64>()).await.unwrap();
/// assert_eq!(sum, 5050);
/// # });
/// ```
///
/// # Panics
/// Outside any runtime (see [`Handle::try_current`](crate::Handle::try_current)).
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    crate::runtime::Handle::with_current(|handle| match handle {
        Some(handle) => handle.spawn_blocking(f),
        None => panic!("{}", crate::runtime::TryCurrentError::new()),
    })
}

/// Spawns `future` on the current runtime (the one this thread is a worker
/// of, or inside `block_on` / `Runtime::enter` of).
///
/// ```
/// let rt = ringwork::Runtime::new().unwrap();
/// let answer = rt.block_on(async {
///     let handle = ringwork::spawn(async { 6 * 7 });
///     handle.await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// ```
///
/// A task may move between worker threads, so its future must be `Send`:
///
/// ```compile_fail
/// let rt = ringwork::Runtime::new().unwrap();
/// rt.block_on(async {
///     let not_send = std::rc::Rc::new(1);
///     ringwork::spawn(async move { *not_send + 1 }); // Rc is !Send
/// });
/// ```
///
/// # Panics
/// Outside any runtime (see [`Handle::try_current`](crate::Handle::try_current)).
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    // Spawned without cloning the handle (whose count every thread shares).
    crate::runtime::Handle::with_current(|handle| match handle {
        Some(handle) => handle.spawn(future),
        None => panic!("{}", crate::runtime::TryCurrentError::new()),
    })
}
