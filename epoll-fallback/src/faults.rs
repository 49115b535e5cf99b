//! Fault injection at the epoll driver's syscall boundary (feature
//! `fault-injection`, for tests only: never on in a release build).
//!
//! The same seeded, process-wide plan as the io_uring driver's `faults`
//! module (the `n`th decision at a point is a pure function of
//! `(seed, point, n)`; the runtime's `ringwork::faults` sets both). Every
//! fault is one the kernel really produces:
//!
//! - [`Point::EpollWait`]: `epoll_wait` fails with `EINTR` instead of
//!   waiting (zero events);
//! - [`Point::Spurious`]: after a wait, a registration that had no event
//!   is reported readable and writable (readiness is a hint: its operation
//!   must find `EAGAIN` and wait again, neither spin nor fail);
//! - [`Point::EventfdFull`]: an unpark finds the eventfd's counter
//!   saturated (it is filled first), so its `write` gets a real `EAGAIN`.
//!
//! Nothing here exists without the feature: the hot path has no check.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// A place where the reactor can be made to fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Point {
    /// `epoll_wait` fails with `EINTR`.
    EpollWait,
    /// A registration is reported ready when it is not.
    Spurious,
    /// The wake-up eventfd is saturated before an unpark writes it.
    EventfdFull,
}

const POINTS: usize = 3;

impl Point {
    /// Every point.
    pub const ALL: [Point; POINTS] = [Point::EpollWait, Point::Spurious, Point::EventfdFull];

    /// The name `RINGWORK_FAULTS` uses.
    pub fn name(self) -> &'static str {
        match self {
            Point::EpollWait => "epoll_wait",
            Point::Spurious => "spurious",
            Point::EventfdFull => "eventfd_full",
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
}

/// No faults at all.
pub fn clear() {
    set(0, 0, &[]);
}

/// Faults injected at `point` since the plan was set.
pub fn injected(point: Point) -> u64 {
    INJECTED[point.index()].load(Ordering::Relaxed)
}

/// The `n`th value of the seed's stream for `point` (splitmix64).
fn draw(point: Point) -> u64 {
    let n = DECISIONS[point.index()].fetch_add(1, Ordering::Relaxed);
    let mut z = SEED.load(Ordering::Relaxed)
        ^ (point.index() as u64 + 17).wrapping_mul(0xa076_1d64_78bd_642f)
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
