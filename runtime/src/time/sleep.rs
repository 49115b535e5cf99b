//! [`Sleep`], [`sleep`] and [`sleep_until`].

use super::driver::TimeDriver;
use super::wheel::Key;
use crate::context;
use crate::coop;
use crate::loom::sync::Arc;
use crate::time::Instant;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Waits until `duration` has elapsed (like asyncio's `sleep`). Never
/// completes early; under no load it completes within about a millisecond
/// after the deadline (the wheel's resolution) plus scheduling noise.
///
/// ```
/// use ringwork::time::Instant;
/// use std::time::Duration;
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let start = Instant::now();
/// ringwork::time::sleep(Duration::from_millis(20)).await;
/// assert!(start.elapsed() >= Duration::from_millis(20));
/// # });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    let now = Instant::now();
    Sleep::new(now.checked_add(duration).unwrap_or_else(far_future))
}

/// Waits until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new(deadline)
}

/// An instant about 30 years ahead: "never", for durations that overflow.
pub(crate) fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

/// The future returned by [`sleep`] and [`sleep_until`].
///
/// The timer is armed when a poll finds its deadline ahead: on the timer
/// wheel of the polling thread if it drives one (a worker, or a thread inside
/// `block_on`), otherwise — a [`spawn_blocking`](crate::task::spawn_blocking)
/// job, or a plain thread under [`Runtime::enter`](crate::Runtime::enter)
/// with any executor — on a worker's wheel of the current runtime, which is
/// woken if it must wake earlier for it. It fires there, waking the task
/// wherever it runs. Dropping (or resetting) it from any thread disarms it at
/// once. A sleep whose deadline has passed completes without a timer.
///
/// # Panics
///
/// When polled before its deadline on a thread with no ringwork runtime (not
/// a runtime thread, not under `Runtime::enter`), or under a runtime that has
/// shut down: no timer could ever wake it.
///
/// Cancel safety: dropping a `Sleep` loses nothing.
#[must_use = "a `Sleep` does nothing unless it is `.await`ed or polled"]
pub struct Sleep {
    deadline: Instant,
    entry: Option<(Arc<TimeDriver>, Key)>,
}

impl Sleep {
    fn new(deadline: Instant) -> Sleep {
        Sleep {
            deadline,
            entry: None,
        }
    }

    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Moves the deadline (earlier or later, before or after it fired); the
    /// sleep is armed again on its next poll.
    pub fn reset(&mut self, deadline: Instant) {
        self.disarm();
        self.deadline = deadline;
    }

    fn disarm(&mut self) {
        if let Some((driver, key)) = self.entry.take() {
            driver.deregister(key);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if let Some((driver, key)) = &this.entry {
            if driver.poll_armed(*key, cx.waker()) {
                return Poll::Pending;
            }
            if !driver.is_closed() {
                // Fired: the wheel only fires at or after the deadline.
                this.entry = None;
                return Poll::Ready(());
            }
            // Its thread stopped driving timers: arm it here instead.
            this.entry = None;
        }
        let progress = std::task::ready!(coop::poll_proceed(cx));
        if Instant::now() >= this.deadline {
            progress.made_progress();
            return Poll::Ready(());
        }
        let armed = match crate::context::time() {
            Some(driver) => driver
                .register(this.deadline, cx.waker())
                .map(|key| (driver, key)),
            None => arm_on_a_worker(this.deadline, cx.waker()),
        };
        match armed {
            Some(entry) => {
                this.entry = Some(entry);
                Poll::Pending
            }
            None => {
                progress.made_progress();
                Poll::Ready(())
            }
        }
    }
}

/// Arms a timer for a thread that drives no wheel, on a worker's wheel of
/// the current runtime; `None` if it is already due. Panics (see [`Sleep`])
/// with no runtime, or when the runtime has shut down.
fn arm_on_a_worker(deadline: Instant, waker: &Waker) -> Option<(Arc<TimeDriver>, Key)> {
    let Some(runtime) = context::runtime() else {
        panic!(
            "a ringwork `Sleep` (sleep, timeout or interval) was polled with no ringwork runtime \
             running on this thread: nothing would ever wake it. Poll it from a task, inside \
             `Runtime::block_on` or `spawn_blocking`, or under `Runtime::enter`."
        );
    };
    match runtime.arm_timer(deadline, waker) {
        Ok(armed) => armed,
        Err(_) => panic!(
            "a ringwork `Sleep` (sleep, timeout or interval) was polled under a ringwork runtime \
             that has shut down: no timer is left to wake it."
        ),
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.disarm();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("armed", &self.entry.is_some())
            .finish()
    }
}
