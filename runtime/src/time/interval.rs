//! [`interval`]: a periodic timer.

use super::sleep::{far_future, sleep_until, Sleep};
use crate::time::Instant;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Ticks every `period`, the first tick at once.
///
/// ```
/// use ringwork::time::Instant;
/// use std::time::Duration;
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let start = Instant::now();
/// let mut ticks = ringwork::time::interval(Duration::from_millis(10));
/// for _ in 0..3 {
///     ticks.tick().await;
/// }
/// assert!(start.elapsed() >= Duration::from_millis(20));
/// # });
/// ```
///
/// # Panics
/// If `period` is zero.
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// Ticks every `period`, the first tick at `start`.
///
/// # Panics
/// If `period` is zero.
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(
        period > Duration::ZERO,
        "`interval` period must be non-zero"
    );
    Interval {
        next: start,
        period,
        sleep: sleep_until(start),
        missed: MissedTickBehavior::default(),
    }
}

/// What an [`Interval`] does when ticks were missed (the task was busy for
/// longer than a period).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks back to back until caught up, keeping the
    /// original schedule (`start + n * period`). The default.
    #[default]
    Burst,
    /// Fire once now, then every `period` from now (the schedule shifts).
    Delay,
    /// Fire once now, then at the next multiple of `period` on the original
    /// schedule (missed ticks are dropped).
    Skip,
}

/// The periodic timer returned by [`interval`].
pub struct Interval {
    next: Instant,
    period: Duration,
    sleep: Sleep,
    missed: MissedTickBehavior,
}

impl Interval {
    /// Waits for the next tick; returns the instant it was scheduled for.
    /// Cancel safety: dropping the `.tick()` future loses no tick.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        std::task::ready!(Pin::new(&mut self.sleep).poll(cx));
        let scheduled = self.next;
        let now = Instant::now();
        let later = |from: Instant, by: Duration| from.checked_add(by).unwrap_or_else(far_future);
        self.next = match self.missed {
            MissedTickBehavior::Burst => later(scheduled, self.period),
            MissedTickBehavior::Delay => later(now, self.period),
            MissedTickBehavior::Skip => {
                let behind = now.saturating_duration_since(scheduled);
                let periods = behind.as_nanos() / self.period.as_nanos() + 1;
                let periods = u32::try_from(periods).unwrap_or(u32::MAX);
                later(scheduled, self.period.saturating_mul(periods))
            }
        };
        self.sleep.reset(self.next);
        Poll::Ready(scheduled)
    }

    /// Sets the missed-tick behaviour.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }

    /// The missed-tick behaviour.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        self.next = Instant::now()
            .checked_add(self.period)
            .unwrap_or_else(far_future);
        self.sleep.reset(self.next);
    }
}

impl fmt::Debug for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interval")
            .field("next", &self.next)
            .field("period", &self.period)
            .field("missed", &self.missed)
            .finish()
    }
}
