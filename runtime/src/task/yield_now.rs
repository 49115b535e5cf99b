//! [`yield_now`]: let other ready tasks run before this one continues.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields to the scheduler: the current task goes to the back of its worker's
/// run queue, so every task that was ready before it runs first. Like
/// asyncio's `await asyncio.sleep(0)`.
///
/// ```
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// for _ in 0..3 {
///     ringwork::task::yield_now().await;
/// }
/// # });
/// ```
pub async fn yield_now() {
    YieldNow { yielded: false }.await
}

struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        // A wake during the task's own poll makes the poller requeue it at the
        // back (`Schedule::yield_now`), after the poll returns.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
