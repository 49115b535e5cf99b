//! The runtime's clock: [`Instant`], and the paused test clock
//! ([`pause`], [`resume`], [`advance`]).
//!
//! Every deadline in `time` is an [`Instant`] of the current runtime's
//! clock. Normally that clock is the system's monotonic clock. A
//! current-thread runtime's clock can be *paused* for tests: then it stands
//! still until [`advance`] moves it, or until the runtime has nothing to do
//! but wait for a timer — the worker then moves the clock straight to that
//! timer's deadline (auto-advance), so a test full of long timers runs in
//! no real time. After [`resume`] the clock runs again from where it stood
//! (never backwards).
//!
//! Cost when no clock is paused: one relaxed load of a process-wide
//! counter per reading, on top of the system clock.

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Clocks that are not the system clock right now (paused, or resumed
/// ahead of it). While 0, [`Instant::now`] reads the system clock without
/// looking for a runtime.
static ADJUSTED_CLOCKS: AtomicUsize = AtomicUsize::new(0);

/// A measurement of the current runtime's clock: the system's monotonic
/// clock, or a paused test clock ([`pause`]). Converts to and from
/// [`std::time::Instant`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(std::time::Instant);

impl Instant {
    /// Now, on the clock of the runtime this thread is in (the system clock
    /// outside any runtime, or when its clock is not paused).
    pub fn now() -> Instant {
        // `Relaxed`: a clock is adjusted by `pause` on the thread that then
        // reads it; other threads may see the change late, which is no
        // different from reading the clock a moment earlier.
        if ADJUSTED_CLOCKS.load(Ordering::Relaxed) == 0 {
            return Instant(std::time::Instant::now());
        }
        crate::runtime::Handle::with_current(|handle| match handle {
            Some(handle) => handle.shared.clock().now(),
            None => Instant(std::time::Instant::now()),
        })
    }

    /// From the system clock's instant.
    pub fn from_std(instant: std::time::Instant) -> Instant {
        Instant(instant)
    }

    /// As the system clock's instant.
    pub fn into_std(self) -> std::time::Instant {
        self.0
    }

    /// Time since `earlier`; zero if `earlier` is later.
    pub fn duration_since(&self, earlier: Instant) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }

    /// Time since `earlier`, `None` if `earlier` is later.
    pub fn checked_duration_since(&self, earlier: Instant) -> Option<Duration> {
        self.0.checked_duration_since(earlier.0)
    }

    /// Time since `earlier`; zero if `earlier` is later.
    pub fn saturating_duration_since(&self, earlier: Instant) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }

    /// Time elapsed since this instant, on the same clock.
    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(*self)
    }

    /// `self + duration`, `None` on overflow.
    pub fn checked_add(&self, duration: Duration) -> Option<Instant> {
        self.0.checked_add(duration).map(Instant)
    }

    /// `self - duration`, `None` on underflow.
    pub fn checked_sub(&self, duration: Duration) -> Option<Instant> {
        self.0.checked_sub(duration).map(Instant)
    }
}

impl From<std::time::Instant> for Instant {
    fn from(instant: std::time::Instant) -> Instant {
        Instant(instant)
    }
}

impl From<Instant> for std::time::Instant {
    fn from(instant: Instant) -> std::time::Instant {
        instant.0
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0 + rhs)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        self.0 += rhs;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, rhs: Duration) -> Instant {
        Instant(self.0 - rhs)
    }
}

impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, rhs: Duration) {
        self.0 -= rhs;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturates at zero, like [`Instant::duration_since`].
    fn sub(self, rhs: Instant) -> Duration {
        self.duration_since(rhs)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One runtime's clock.
pub(crate) struct Clock {
    state: parking_lot::Mutex<State>,
    /// Whether `state` is `Paused`, readable without the lock (a worker
    /// asks before every park). Written under the lock.
    paused: std::sync::atomic::AtomicBool,
    /// Whether `pause` may be used (current-thread runtimes only: with
    /// several workers, "nothing to do but wait" is not one thread's call).
    pausable: bool,
}

#[derive(Clone, Copy)]
enum State {
    /// The system clock.
    System,
    /// The system clock plus `ahead` (after a `resume`).
    Ahead(Duration),
    /// Standing still at this instant.
    Paused(std::time::Instant),
}

impl Clock {
    pub(crate) fn new(pausable: bool) -> Clock {
        Clock {
            state: parking_lot::Mutex::new(State::System),
            paused: std::sync::atomic::AtomicBool::new(false),
            pausable,
        }
    }

    pub(crate) fn now(&self) -> Instant {
        Instant(match *self.state.lock() {
            State::System => std::time::Instant::now(),
            State::Ahead(ahead) => std::time::Instant::now() + ahead,
            State::Paused(at) => at,
        })
    }

    pub(crate) fn is_paused(&self) -> bool {
        // `Relaxed`: pause and resume happen on the worker's own thread
        // (a current-thread runtime's), which then reads it; nothing else
        // is published through it.
        self.paused.load(Ordering::Relaxed)
    }

    fn pause(&self) -> Result<(), &'static str> {
        if !self.pausable {
            return Err(
                "time::pause() needs a current_thread runtime (Builder::new_current_thread, \
                 #[ringwork::test(flavor = \"current_thread\")]): with several workers no \
                 single thread can tell that every task only waits for time",
            );
        }
        let mut state = self.state.lock();
        let now = std::time::Instant::now();
        match *state {
            State::System => {
                ADJUSTED_CLOCKS.fetch_add(1, Ordering::Relaxed);
                *state = State::Paused(now);
            }
            State::Ahead(ahead) => *state = State::Paused(now + ahead),
            State::Paused(_) => return Err("time::pause(): the clock is paused already"),
        }
        self.paused.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// `Builder::start_paused` (checked to be a current-thread runtime).
    #[cfg_attr(loom, allow(dead_code))] // current-thread runtimes only
    pub(crate) fn start_paused(&self) {
        let paused = self.pause();
        debug_assert!(paused.is_ok(), "{paused:?}");
    }

    fn resume(&self) -> Result<(), &'static str> {
        let mut state = self.state.lock();
        let State::Paused(at) = *state else {
            return Err("time::resume(): the clock is not paused");
        };
        // Runs on from where it stood: ahead of the system clock by what
        // was advanced, never behind it.
        *state = State::Ahead(at.saturating_duration_since(std::time::Instant::now()));
        self.paused.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// Moves a paused clock forward by `by`.
    fn advance(&self, by: Duration) -> Result<Instant, &'static str> {
        let mut state = self.state.lock();
        let State::Paused(at) = *state else {
            return Err("time::advance(): the clock is not paused (call time::pause() first)");
        };
        let to = at + by;
        *state = State::Paused(to);
        Ok(Instant(to))
    }

    /// Moves a paused clock forward to `to` if it is behind it (the
    /// worker's auto-advance).
    pub(crate) fn advance_to(&self, to: Instant) {
        let mut state = self.state.lock();
        if let State::Paused(at) = *state {
            if to.0 > at {
                *state = State::Paused(to.0);
            }
        }
    }
}

impl Drop for Clock {
    fn drop(&mut self) {
        if !matches!(*self.state.get_mut(), State::System) {
            ADJUSTED_CLOCKS.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Runs `f` with the current runtime's clock, or panics with `f`'s error.
#[track_caller]
fn with_clock<T>(what: &str, f: impl FnOnce(&Clock) -> Result<T, &'static str>) -> T {
    let result = crate::runtime::Handle::with_current(|handle| match handle {
        Some(handle) => f(handle.shared.clock()),
        None => Err("no ringwork runtime on this thread"),
    });
    match result {
        Ok(value) => value,
        Err(err) => panic!("{what}: {err}"),
    }
}

/// Stops the current runtime's clock (tests). Timers then fire only when
/// [`advance`] moves the clock past them, or when the runtime has nothing
/// to do but wait for one: it then moves the clock to that timer's
/// deadline at once (not while a [`spawn_blocking`](crate::task::spawn_blocking)
/// job runs: its result may be what the runtime is waiting for).
///
/// ```
/// use std::time::Duration;
/// use ringwork::time::{self, Instant};
///
/// let runtime = ringwork::runtime::Builder::new_current_thread().build()?;
/// runtime.block_on(async {
///     time::pause();
///     let start = Instant::now();
///     let real = std::time::Instant::now();
///     time::sleep(Duration::from_secs(3600)).await; // an hour, at once
///     assert!(start.elapsed() >= Duration::from_secs(3600));
///     assert!(real.elapsed() < Duration::from_secs(60));
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Panics
/// Outside a current-thread runtime, or if the clock is paused already.
#[track_caller]
pub fn pause() {
    with_clock("time::pause()", Clock::pause);
}

/// Lets a paused clock run again, from where it stands.
///
/// # Panics
/// If the current runtime's clock is not paused.
#[track_caller]
pub fn resume() {
    with_clock("time::resume()", Clock::resume);
}

/// Moves a paused clock forward by `by`, fires the timers that are due by
/// then on this thread, and yields, so that the tasks they woke run before
/// this returns (those on the current-thread runtime's one thread).
///
/// # Panics
/// If the current runtime's clock is not paused.
pub async fn advance(by: Duration) {
    let now = with_clock("time::advance()", |clock| clock.advance(by));
    if let Some(wheel) = crate::context::time() {
        wheel.process(now);
    }
    crate::task::yield_now().await;
}
