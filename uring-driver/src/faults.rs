//! Fault injection at the io_uring syscall boundary (feature
//! `fault-injection`, for tests only: never on in a release build).
//!
//! A process-wide plan says which [`Point`]s misbehave and how often, on a
//! schedule drawn from a seed: the `n`th decision at a point is a pure
//! function of `(seed, point, n)`, so a seed replays the same sequence of
//! decisions at each point (which thread meets the `n`th one depends on the
//! scheduling, as it does without faults). Every fault is one the kernel
//! really produces, injected where it cannot corrupt a real completion:
//!
//! - [`Point::Enter`]: the owner's `io_uring_enter` fails with `EINTR`,
//!   `EAGAIN` or `EBUSY` *instead of* entering (nothing was submitted or
//!   reaped; the driver must retry or back off, losing nothing);
//! - [`Point::OpError`]: an operation is not submitted: its completion is
//!   `-EINTR`, `-EAGAIN` or `-ECANCELED`, synthesized and delivered through
//!   the ring's normal completion path on the owner's next reap;
//! - setup: [`fail_setups`] makes the next `io_uring_setup`s fail with an
//!   errno (`ENOMEM`: the ring-size halving; `EPERM`: unavailable), and
//!   [`refuse_setup_flag`] makes every setup asking for one optional flag
//!   fail with `EINVAL` (as a kernel without the flag does).
//!
//! Nothing here exists without the feature: the hot path has no check.

use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

/// A place where the driver can be made to fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Point {
    /// `io_uring_enter` fails with `EINTR`, `EAGAIN` or `EBUSY`.
    Enter,
    /// An operation completes with `-EINTR`, `-EAGAIN` or `-ECANCELED`
    /// instead of being submitted.
    OpError,
}

const POINTS: usize = 2;

impl Point {
    /// Every point.
    pub const ALL: [Point; POINTS] = [Point::Enter, Point::OpError];

    /// The name `RINGWORK_FAULTS` uses.
    pub fn name(self) -> &'static str {
        match self {
            Point::Enter => "enter",
            Point::OpError => "op_error",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The plan. Plain atomics, each read on its own (`Relaxed`): a test sets
/// the plan before it starts the work the plan applies to, and the thread
/// spawns and channel sends between the two order them.
static SEED: AtomicU64 = AtomicU64::new(0);
/// Faults per million decisions at an enabled point.
static PER_MILLION: AtomicU32 = AtomicU32::new(0);
/// Bit `i`: point `i` is enabled.
static ENABLED: AtomicU32 = AtomicU32::new(0);
/// Decisions taken at each point (the `n` of the schedule).
static DECISIONS: [AtomicU64; POINTS] = [const { AtomicU64::new(0) }; POINTS];
/// Faults injected at each point.
static INJECTED: [AtomicU64; POINTS] = [const { AtomicU64::new(0) }; POINTS];
/// Setup faults: the errno and how many setups are left to fail.
static SETUP_ERRNO: AtomicI32 = AtomicI32::new(0);
static SETUP_FAILS_LEFT: AtomicU32 = AtomicU32::new(0);
static SETUP_INJECTED: AtomicU64 = AtomicU64::new(0);
/// The optional setup flag refused (by its `RINGWORK_URING` name).
static REFUSED_FLAG: Mutex<Option<&'static str>> = Mutex::new(None);

/// Sets the plan: `points` fail `per_million` times in a million decisions
/// each, on the schedule of `seed`. Resets the decisions and the counters.
pub fn set(seed: u64, per_million: u32, points: &[Point]) {
    let mask = points.iter().fold(0, |mask, p| mask | 1 << p.index());
    SEED.store(seed, Ordering::Relaxed);
    PER_MILLION.store(per_million.min(1_000_000), Ordering::Relaxed);
    ENABLED.store(mask, Ordering::Relaxed);
    for counter in DECISIONS.iter().chain(&INJECTED) {
        counter.store(0, Ordering::Relaxed);
    }
    SETUP_INJECTED.store(0, Ordering::Relaxed);
}

/// No faults at all (setup faults included).
pub fn clear() {
    set(0, 0, &[]);
    fail_setups(0, 0);
    refuse_setup_flag(None);
}

/// The next `count` `io_uring_setup` calls fail with `errno`.
pub fn fail_setups(errno: i32, count: u32) {
    SETUP_ERRNO.store(errno, Ordering::Relaxed);
    SETUP_FAILS_LEFT.store(count, Ordering::Relaxed);
}

/// Every `io_uring_setup` asking for the optional flag named `flag`
/// (`"submit_all"`, `"no_sqarray"`, `"defer_taskrun"`, `"sqpoll"`) fails
/// with `EINVAL`, as on a kernel without it. `None`: none is refused.
pub fn refuse_setup_flag(flag: Option<&'static str>) {
    *REFUSED_FLAG.lock().unwrap_or_else(|e| e.into_inner()) = flag;
}

/// Faults injected at `point` since the plan was set.
pub fn injected(point: Point) -> u64 {
    INJECTED[point.index()].load(Ordering::Relaxed)
}

/// Setup calls failed by [`fail_setups`] or [`refuse_setup_flag`].
pub fn setup_injected() -> u64 {
    SETUP_INJECTED.load(Ordering::Relaxed)
}

/// The `n`th value of the seed's stream for `point` (splitmix64).
fn draw(point: Point) -> u64 {
    let n = DECISIONS[point.index()].fetch_add(1, Ordering::Relaxed);
    let mut z = SEED.load(Ordering::Relaxed)
        ^ (point.index() as u64 + 1).wrapping_mul(0xa076_1d64_78bd_642f)
        ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Whether `point` fails this time; `Some(choice)` (a value to pick the
/// fault's flavour with) if it does, counted as injected.
pub(crate) fn fire(point: Point) -> Option<u64> {
    if ENABLED.load(Ordering::Relaxed) & (1 << point.index()) == 0 {
        return None;
    }
    let value = draw(point);
    if (value % 1_000_000) as u32 >= PER_MILLION.load(Ordering::Relaxed) {
        return None;
    }
    INJECTED[point.index()].fetch_add(1, Ordering::Relaxed);
    Some(value >> 32)
}

/// [`Point::Enter`]: the errno an enter fails with instead of entering.
pub(crate) fn enter_error() -> Option<std::io::Error> {
    let choice = fire(Point::Enter)?;
    let errno = [libc::EINTR, libc::EAGAIN, libc::EBUSY][(choice % 3) as usize];
    Some(std::io::Error::from_raw_os_error(errno))
}

/// [`Point::OpError`]: the result an operation completes with instead of
/// being submitted.
pub(crate) fn op_error() -> Option<i32> {
    let choice = fire(Point::OpError)?;
    Some(-[libc::EINTR, libc::EAGAIN, libc::ECANCELED][(choice % 3) as usize])
}

/// The setup faults: the error an `io_uring_setup` asking for `flags` (by
/// name) fails with instead of being made.
pub(crate) fn setup_error(flags: &[&'static str]) -> Option<std::io::Error> {
    let refused = *REFUSED_FLAG.lock().unwrap_or_else(|e| e.into_inner());
    if refused.is_some_and(|flag| flags.contains(&flag)) {
        SETUP_INJECTED.fetch_add(1, Ordering::Relaxed);
        return Some(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    let left = SETUP_FAILS_LEFT.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
        left.checked_sub(1)
    });
    if left.is_ok() {
        SETUP_INJECTED.fetch_add(1, Ordering::Relaxed);
        return Some(std::io::Error::from_raw_os_error(
            SETUP_ERRNO.load(Ordering::Relaxed),
        ));
    }
    None
}
