//! The timer wheel of each thread's stack: [`TimedPark`] wraps the thread's
//! `Park` so that the wheel's earliest deadline bounds each park, and due
//! timers fire after it (and on every non-blocking harvest). The wheel
//! itself, and how timers reach it from other threads, is `time/driver.rs`.

use super::park::{Park, Unpark};
use crate::context;
use crate::loom::sync::Arc;
use crate::time::driver::TimeDriver;
use crate::time::Instant;
use std::time::Duration;

/// Wraps a thread's `Park` with its timer wheel: the earliest deadline
/// bounds each park, and due timers fire after it (and on every
/// non-blocking harvest).
pub(crate) struct TimedPark<P> {
    inner: P,
    time: Arc<TimeDriver>,
}

impl<P: Park> TimedPark<P> {
    pub(crate) fn new(inner: P) -> TimedPark<P> {
        TimedPark {
            inner,
            time: TimeDriver::new(),
        }
    }
}

impl<P: Park> Park for TimedPark<P> {
    fn enter(&mut self) {
        context::set_time(Some(self.time.clone()));
        self.inner.enter();
    }

    fn exit(&mut self) {
        self.inner.exit();
        context::set_time(None);
        self.time.close();
    }

    fn suspend(&mut self) {
        self.inner.suspend();
        context::set_time(None);
    }

    fn resume(&mut self) {
        context::set_time(Some(self.time.clone()));
        self.inner.resume();
    }

    fn flush(&mut self) {
        self.inner.flush();
    }

    fn park(&mut self, timeout: Option<Duration>) {
        // The clock is read once before and once after the park, not once
        // per timer.
        let now = Instant::now();
        let (fired, next) = self.time.process_and_next(now);
        let timeout = if fired > 0 {
            // Tasks became ready: only harvest I/O.
            Some(Duration::ZERO)
        } else {
            match (timeout, next) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        // Fault injection: a park bounded by a timer oversleeps a little.
        #[cfg(feature = "fault-injection")]
        let timeout = match (timeout, next) {
            (Some(t), Some(_)) if !t.is_zero() => Some(t + crate::faults::timer_delay()),
            _ => timeout,
        };
        self.inner.park(timeout);
        // With no timer armed before the park, none can be due now: this
        // thread's polls did not run during it, and a timer armed from
        // another thread meanwhile unparked it (see `register_remote`); the
        // next park processes that one.
        if timeout != Some(Duration::ZERO) && next.is_some() {
            self.time.process(Instant::now());
        }
    }

    fn unparker(&self) -> std::sync::Arc<dyn Unpark> {
        self.inner.unparker()
    }

    fn timer(&self) -> Option<Arc<TimeDriver>> {
        Some(self.time.clone())
    }

    fn io_stats(&self) -> Option<super::IoStats> {
        self.inner.io_stats()
    }
}
