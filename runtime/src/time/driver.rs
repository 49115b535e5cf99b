//! The per-thread timer driver: a [`Wheel`] behind a mutex, owned by one
//! thread (a worker, or a thread inside `block_on`), which drives it from its
//! park (`driver/time.rs`: `TimedPark`).
//!
//! # Timers of threads without a wheel
//!
//! A blocking-pool thread, or a plain thread under `Runtime::enter`, drives
//! no wheel: its timers are armed on a worker's wheel
//! ([`TimeDriver::register_remote`], through `RuntimeContext::arm_timer`). The owner
//! may be parked with a timeout computed before that timer existed, so when
//! the new deadline comes before the wheel's earliest one (which bounded
//! that park), the caller unparks the owner, which then re-computes its
//! timeout. A wheel that is closed refuses remote timers.
//!
//! # Cross-thread cancellation
//!
//! A timer is armed on the wheel of the thread that first polls it; the task
//! owning it may later run (and drop or reset it) on any thread. Scheme: **a
//! lock per wheel**. The owner takes it for each batch of expirations and each
//! registration; another thread dropping a timer takes it once to unlink the
//! entry (O(1) by key). So a dropped timer leaves the wheel at once wherever
//! it is dropped, and memory stays bounded under the "30 s timeout around
//! every request" pattern. The lock is uncontended almost always (2
//! threads touching one wheel at the same instant is rare), which is cheaper
//! and simpler than a remote-cancel queue the owner must drain — and the
//! queue would keep dead entries alive until the owner's next tick.

use super::wheel::{Key, Wheel};
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::{Arc, Mutex};
use crate::time::Instant;
use std::task::Waker;
use std::time::Duration;

/// The wheel's owner stopped driving it: no timer may be armed there.
#[derive(Debug)]
pub(crate) struct WheelClosed;

pub(crate) struct TimeDriver {
    origin: Instant,
    wheel: Mutex<Wheel>,
    /// Set when the owner thread stops driving the wheel; registrations then
    /// move to the next thread that polls them.
    closed: AtomicBool,
}

impl TimeDriver {
    pub(crate) fn new() -> Arc<TimeDriver> {
        Arc::new(TimeDriver {
            origin: Instant::now(),
            wheel: Mutex::new(Wheel::new()),
            closed: AtomicBool::new(false),
        })
    }

    /// Milliseconds from the origin to `deadline`, rounded **up** (a timer
    /// never fires before its deadline).
    fn deadline_ms(&self, deadline: Instant) -> u64 {
        let nanos = deadline.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(nanos.div_ceil(1_000_000)).unwrap_or(u64::MAX)
    }

    /// Milliseconds from the origin to `now`, rounded **down**.
    fn now_ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) fn is_closed(&self) -> bool {
        // `Acquire`: pairs with the `Release` store in `close`, so a poller
        // that sees the flag also sees the drained wheel.
        self.closed.load(Ordering::Acquire)
    }

    /// Arms a timer for `deadline`; `None` if it is already due.
    pub(crate) fn register(&self, deadline: Instant, waker: &Waker) -> Option<Key> {
        let ms = self.deadline_ms(deadline);
        self.wheel.lock().insert(ms, waker.clone())
    }

    /// Arms a timer for `deadline` from a thread that does not own this
    /// wheel. `Err` if the wheel is closed. Otherwise the key (`None`: already
    /// due) and whether the owner must be unparked: the new deadline comes
    /// before every timer armed so far, so the owner may be parked past it.
    pub(crate) fn register_remote(
        &self,
        deadline: Instant,
        waker: &Waker,
    ) -> Result<(Option<Key>, bool), WheelClosed> {
        let ms = self.deadline_ms(deadline);
        let mut wheel = self.wheel.lock();
        // Read under the wheel lock: `close` sets the flag before it drains
        // the wheel under this lock, so either the drain comes after this
        // insert (and wakes it), or this lock section comes after the drain
        // and sees the flag (the lock orders the store before this load).
        if self.is_closed() {
            return Err(WheelClosed);
        }
        let owner_wakes_at = wheel.next_expiration();
        let key = wheel.insert(ms, waker.clone());
        let earlier = key.is_some() && owner_wakes_at.is_none_or(|next| ms < next);
        Ok((key, earlier))
    }

    /// `true`: still armed (waker updated); `false`: fired, or removed by
    /// `close`.
    pub(crate) fn poll_armed(&self, key: Key, waker: &Waker) -> bool {
        let mut wheel = self.wheel.lock();
        if wheel.contains(key) {
            let old = wheel.set_waker(key, waker);
            drop(wheel);
            drop(old); // outside the lock: a waker's drop may run user code
            true
        } else {
            false
        }
    }

    /// Disarms a timer from any thread.
    pub(crate) fn deregister(&self, key: Key) {
        let waker = self.wheel.lock().remove(key);
        drop(waker); // outside the lock: a waker's drop may run user code
    }

    /// Fires every timer due at `now`. Returns how many fired.
    pub(crate) fn process(&self, now: Instant) -> usize {
        let now_ms = self.now_ms(now);
        let mut fired = Vec::new();
        self.wheel.lock().advance(now_ms, &mut fired);
        let n = fired.len();
        for waker in fired {
            waker.wake();
        }
        n
    }

    /// Fires every timer due at `now` and returns how many fired and the
    /// time from `now` until the earliest remaining timer may fire — under
    /// one lock.
    pub(crate) fn process_and_next(&self, now: Instant) -> (usize, Option<Duration>) {
        let now_ms = self.now_ms(now);
        let mut fired = Vec::new();
        let next = {
            let mut wheel = self.wheel.lock();
            wheel.advance(now_ms, &mut fired);
            wheel.next_expiration()
        };
        let n = fired.len();
        for waker in fired {
            waker.wake();
        }
        let next =
            next.map(|ms| (self.origin + Duration::from_millis(ms)).saturating_duration_since(now));
        (n, next)
    }

    /// When the earliest armed timer is due, if any.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let ms = self.wheel.lock().next_expiration()?;
        Some(self.origin + Duration::from_millis(ms))
    }

    /// The owner stops driving: every armed timer is removed and its task
    /// woken, so that it re-arms on whichever thread polls it next.
    pub(crate) fn close(&self) {
        // `Release`: see `is_closed`.
        self.closed.store(true, Ordering::Release);
        let wakers = self.wheel.lock().drain();
        for waker in wakers {
            waker.wake();
        }
    }
}
