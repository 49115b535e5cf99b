//! [`timeout`] and [`timeout_at`] (asyncio's `wait_for`).

use super::sleep::{far_future, sleep_until, Sleep};
use crate::time::Instant;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Runs `future` for at most `duration`: its output, or [`Elapsed`] if the
/// time ran out first (the future is then dropped, cancelling it). The
/// deadline is a [`Sleep`]: see there where it is armed and when polling it
/// panics.
///
/// ```
/// use std::time::Duration;
/// use ringwork::time::{sleep, timeout};
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// assert_eq!(timeout(Duration::from_secs(5), async { 7 }).await, Ok(7));
/// assert!(timeout(Duration::from_millis(5), sleep(Duration::from_secs(5))).await.is_err());
/// # });
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    let deadline = Instant::now()
        .checked_add(duration)
        .unwrap_or_else(far_future);
    timeout_at(deadline, future)
}

/// Runs `future` until `deadline` at most.
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep_until(deadline),
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`timeout`] and [`timeout_at`]. The inner
    /// future is polled first, so one that is ready is never reported as
    /// timed out. Like other runtime futures it counts against the task's
    /// cooperative budget: an elapsed deadline spends a unit, and once the
    /// budget is spent the task yields before the timeout reports again; an
    /// inner future that spends the last unit itself does not keep the
    /// deadline from firing. Cancel safety: that of the inner future.
    #[must_use = "a `Timeout` does nothing unless it is `.await`ed or polled"]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        sleep: Sleep,
    }
}

impl<F> Timeout<F> {
    /// The inner future.
    pub fn get_ref(&self) -> &F {
        &self.future
    }

    /// Gives the inner future back.
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let had_budget = crate::coop::has_budget_remaining();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        // If the inner future spent the last of the task's budget during this
        // poll, the deadline must still be able to fire (a future that is
        // always ready would otherwise never time out): poll it outside the
        // budget. If the budget was spent before this poll, the inner future
        // was refused without running, and an elapsed deadline spends budget
        // like any ready future: it yields instead of reporting `Elapsed`
        // forever to a task that loops on `timeout(ZERO, ..)`.
        let sleep = Pin::new(this.sleep);
        let elapsed = if had_budget && !crate::coop::has_budget_remaining() {
            crate::coop::unconstrained(|| sleep.poll(cx))
        } else {
            sleep.poll(cx)
        };
        match elapsed {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F: fmt::Debug> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("future", &self.future)
            .field("sleep", &self.sleep)
            .finish()
    }
}

/// The error of a [`timeout`] that ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(_: Elapsed) -> std::io::Error {
        std::io::ErrorKind::TimedOut.into()
    }
}
