//! The cooperative budget: each task poll may complete a bounded number of
//! runtime operations before they start returning `Pending`.
//!
//! A task that loops over always-ready operations (a channel that is never
//! empty, a socket with data buffered) would otherwise never yield, starving
//! the other tasks on its worker and the worker's driver. Each poll starts
//! with [`BUDGET`] units; every runtime operation that is about to return
//! `Ready` spends one through [`poll_proceed`]. When none are left, the
//! operation wakes the task and returns `Pending`, so the task goes to the
//! back of the run queue (see `Schedule::yield_now`).

use crate::context;
use std::task::{Context, Poll};

/// Operations per task poll before the task is made to yield.
pub(crate) const BUDGET: u8 = 128;

/// Restores a budget on drop (also on unwind).
struct Restore(Option<u8>);

impl Drop for Restore {
    fn drop(&mut self) {
        context::replace_budget(self.0);
    }
}

/// Runs `f` (one task poll) with a fresh budget, restoring the previous one
/// afterwards, also on unwind.
pub(crate) fn budget<R>(f: impl FnOnce() -> R) -> R {
    let prev = context::replace_budget(Some(BUDGET));
    let _restore = Restore(prev);
    f()
}

/// Runs `f` with no budget in force (restoring the current one after, also
/// on unwind): for a poll that must be able to complete even when the task
/// has spent its budget, such as a timeout's deadline.
pub(crate) fn unconstrained<R>(f: impl FnOnce() -> R) -> R {
    let prev = context::replace_budget(None);
    let _restore = Restore(prev);
    f()
}

/// Whether the current poll has budget left (`true` outside a task poll).
pub fn has_budget_remaining() -> bool {
    context::budget() != Some(0)
}

/// Spends one unit of the current budget, or, if it is spent, wakes the task
/// and returns `Pending`. The returned guard gives the unit back unless the
/// operation calls [`RestoreOnPending::made_progress`].
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<RestoreOnPending> {
    let spent = context::with_budget(|cell| match cell.get() {
        None => Some(None),
        Some(0) => None,
        Some(n) => {
            cell.set(Some(n - 1));
            Some(Some(n))
        }
    });
    match spent.unwrap_or(Some(None)) {
        Some(restore) => Poll::Ready(RestoreOnPending(restore)),
        None => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Returns the spent unit on drop, unless the operation made progress.
#[must_use]
pub(crate) struct RestoreOnPending(Option<u8>);

impl RestoreOnPending {
    /// The operation completed: keep the unit spent.
    pub(crate) fn made_progress(mut self) {
        self.0 = None;
    }
}

impl Drop for RestoreOnPending {
    fn drop(&mut self) {
        if let Some(n) = self.0 {
            context::replace_budget(Some(n));
        }
    }
}

/// Spends one unit of budget, yielding to the scheduler first if none is
/// left. Call it in long loops of work that never awaits a runtime operation.
///
/// ```
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let mut sum = 0u64;
/// for i in 0..10_000u64 {
///     sum += i;
///     ringwork::task::consume_budget().await;
/// }
/// # assert_eq!(sum, 49_995_000);
/// # });
/// ```
pub async fn consume_budget() {
    let mut spent = false;
    std::future::poll_fn(move |cx| {
        if spent {
            return Poll::Ready(());
        }
        let progress = std::task::ready!(poll_proceed(cx));
        progress.made_progress();
        spent = true;
        Poll::Ready(())
    })
    .await
}
