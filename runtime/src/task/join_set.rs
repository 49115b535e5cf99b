//! [`JoinSet`]: a group of tasks awaited in completion order.

use super::unordered::Unordered;
use super::{AbortHandle, JoinError, JoinHandle};
use crate::runtime::Handle;
use std::fmt;
use std::future::Future;
use std::task::{Context, Poll};

/// A group of spawned tasks, joined in the order they finish.
///
/// Dropping the set aborts every task still in it, so a `JoinSet` scopes
/// its tasks' lifetime to its owner (asyncio's `TaskGroup` without the
/// implicit wait: call [`shutdown`](JoinSet::shutdown) or drain
/// [`join_next`](JoinSet::join_next) to wait).
///
/// ```
/// use ringwork::task::JoinSet;
///
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let mut set = JoinSet::new();
/// for i in 0..10u64 {
///     set.spawn(async move { i * i });
/// }
/// let mut sum = 0;
/// while let Some(result) = set.join_next().await {
///     sum += result.unwrap();
/// }
/// assert_eq!(sum, 285);
/// # });
/// ```
pub struct JoinSet<T> {
    tasks: Unordered<JoinHandle<T>>,
}

impl<T> JoinSet<T> {
    /// An empty set.
    pub fn new() -> Self {
        JoinSet {
            tasks: Unordered::new(),
        }
    }

    /// Tasks in the set (finished ones count until they are joined).
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether the set holds no task.
    pub fn is_empty(&self) -> bool {
        self.tasks.len() == 0
    }

    /// Adds an already spawned task (its handle) to the set.
    pub fn push(&mut self, handle: JoinHandle<T>) -> AbortHandle {
        let abort = handle.abort_handle();
        self.tasks.push(0, handle);
        abort
    }

    /// The output of the next task to finish: `None` when the set is empty.
    ///
    /// Cancel safety: safe. A finished task is removed from the set only in
    /// the poll that returns its output.
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        std::future::poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// Polls for the next finished task (for hand-written futures).
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        self.tasks
            .poll_next(Some(cx.waker()))
            .map(|next| next.map(|(_, output)| output))
    }

    /// The output of a task that has already finished, without waiting;
    /// `None` if no task has finished (or the set is empty). A waker
    /// registered by an earlier `poll_join_next` stays registered.
    pub fn try_join_next(&mut self) -> Option<Result<T, JoinError>> {
        match self.tasks.poll_next(None) {
            Poll::Ready(next) => next.map(|(_, output)| output),
            Poll::Pending => None,
        }
    }

    /// Aborts every task in the set. They stay in the set: each
    /// `join_next` then yields a cancelled [`JoinError`] (or the output of
    /// a task that finished before the abort reached it).
    pub fn abort_all(&mut self) {
        for (_, handle) in self.tasks.iter() {
            handle.abort();
        }
    }

    /// Removes every task from the set without aborting it: they keep
    /// running, detached.
    pub fn detach_all(&mut self) {
        self.tasks.drain().for_each(drop);
    }

    /// Aborts every task and waits until all have stopped.
    ///
    /// Cancel safety: if dropped early, the tasks are aborted but some may
    /// still be in the set.
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }
}

impl<T: Send + 'static> JoinSet<T> {
    /// Spawns `future` on the current runtime and adds it to the set.
    ///
    /// # Panics
    /// Outside any runtime.
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
    {
        self.push(super::spawn(future))
    }

    /// Spawns `future` on the runtime of `handle` and adds it to the set.
    pub fn spawn_on<F>(&mut self, future: F, handle: &Handle) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
    {
        self.push(handle.spawn(future))
    }

    /// Runs `f` on the blocking pool and adds it to the set.
    ///
    /// # Panics
    /// Outside any runtime.
    #[track_caller]
    pub fn spawn_blocking<F>(&mut self, f: F) -> AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
    {
        self.push(super::spawn_blocking(f))
    }
}

impl<T> Default for JoinSet<T> {
    fn default() -> Self {
        JoinSet::new()
    }
}

impl<T> Drop for JoinSet<T> {
    fn drop(&mut self) {
        self.abort_all();
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.len()).finish()
    }
}
