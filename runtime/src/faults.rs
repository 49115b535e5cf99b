//! Fault injection (feature `fault-injection`, for tests only: never on in
//! a release build). See docs/reliability.md, "Fault injection".
//!
//! One seeded, process-wide [`Plan`] makes the syscall boundary misbehave
//! in the ways the kernel really does, so tests can show the runtime
//! survives it. The drivers' own points live in their crates
//! (`ringwork_uring::faults`, `ringwork_epoll::faults`); this module sets
//! them and adds the runtime's:
//!
//! - [`Point::Short`]: a stream `recv`/`send` or a file `read`/`write`
//!   asks the kernel for fewer bytes than the buffer holds (the length is
//!   cut *before* submitting, on both drivers), as a short transfer would;
//! - [`Point::Accept`]: `accept4(2)` fails with `ECONNABORTED` or `EMFILE`
//!   instead of being made (the pending connection stays queued);
//! - [`Point::BlockingThread`]: starting a blocking-pool thread fails with
//!   `EAGAIN`, as `pthread_create` does under `RLIMIT_NPROC`;
//! - [`Point::TimerLate`]: a park bounded by a timer sleeps up to 5 ms
//!   longer (timers fire late, never early).
//!
//! The `n`th decision at a point is a pure function of
//! `(seed, point, n)`: a seed replays the same decisions at each point.
//! Set a plan with [`install`], or with the environment:
//! `RINGWORK_FAULTS=seed=7,ppm=20000,points=enter+op_error+short` (read by
//! the first `Builder::build` of the process; `points=all` for every point).

pub use ringwork_uring::faults::{
    fail_setups as fail_uring_setups, refuse_setup_flag as refuse_uring_setup_flag,
    setup_injected as uring_setups_failed,
};
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// A place where the runtime or a driver can be made to fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Point {
    /// io_uring: `io_uring_enter` fails with `EINTR`/`EAGAIN`/`EBUSY`.
    Enter,
    /// io_uring: an operation completes with `-EINTR`/`-EAGAIN`/
    /// `-ECANCELED` instead of being submitted.
    OpError,
    /// epoll: `epoll_wait` fails with `EINTR`.
    EpollWait,
    /// epoll: a registration is reported ready when it is not.
    Spurious,
    /// epoll: an unpark's eventfd write gets `EAGAIN` (counter saturated).
    EventfdFull,
    /// Both: short stream and file transfers.
    Short,
    /// Both: `accept4` fails with `ECONNABORTED` or `EMFILE`.
    Accept,
    /// Both: a blocking-pool thread cannot start.
    BlockingThread,
    /// Both: timers fire late.
    TimerLate,
}

impl Point {
    /// Every point.
    pub const ALL: [Point; 9] = [
        Point::Enter,
        Point::OpError,
        Point::EpollWait,
        Point::Spurious,
        Point::EventfdFull,
        Point::Short,
        Point::Accept,
        Point::BlockingThread,
        Point::TimerLate,
    ];

    /// The name `RINGWORK_FAULTS` uses.
    pub fn name(self) -> &'static str {
        match self {
            Point::Enter => "enter",
            Point::OpError => "op_error",
            Point::EpollWait => "epoll_wait",
            Point::Spurious => "spurious",
            Point::EventfdFull => "eventfd_full",
            Point::Short => "short",
            Point::Accept => "accept",
            Point::BlockingThread => "blocking_thread",
            Point::TimerLate => "timer_late",
        }
    }

    fn uring(self) -> Option<ringwork_uring::faults::Point> {
        match self {
            Point::Enter => Some(ringwork_uring::faults::Point::Enter),
            Point::OpError => Some(ringwork_uring::faults::Point::OpError),
            _ => None,
        }
    }

    fn epoll(self) -> Option<ringwork_epoll::faults::Point> {
        match self {
            Point::EpollWait => Some(ringwork_epoll::faults::Point::EpollWait),
            Point::Spurious => Some(ringwork_epoll::faults::Point::Spurious),
            Point::EventfdFull => Some(ringwork_epoll::faults::Point::EventfdFull),
            _ => None,
        }
    }

    /// The runtime's own points: their index in `DECISIONS`/`INJECTED`.
    fn own(self) -> Option<usize> {
        match self {
            Point::Short => Some(0),
            Point::Accept => Some(1),
            Point::BlockingThread => Some(2),
            Point::TimerLate => Some(3),
            _ => None,
        }
    }
}

/// Which points fail, how often, on which seed's schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The schedule's seed.
    pub seed: u64,
    /// Faults per million decisions at each enabled point.
    pub per_million: u32,
    /// The enabled points.
    pub points: Vec<Point>,
}

impl Plan {
    /// Every point, `per_million` each, on `seed`'s schedule.
    pub fn all(seed: u64, per_million: u32) -> Plan {
        Plan {
            seed,
            per_million,
            points: Point::ALL.to_vec(),
        }
    }

    /// Parses `seed=S,ppm=N,points=a+b+c` (`points=all`; every key
    /// optional: seed 0, 10000 per million, every point).
    pub fn parse(spec: &str) -> Result<Plan, String> {
        let mut plan = Plan::all(0, 10_000);
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("RINGWORK_FAULTS: `{part}` is not key=value"))?;
            let bad = |what: &str| format!("RINGWORK_FAULTS: bad {what} `{value}`");
            match key {
                "seed" => plan.seed = value.parse().map_err(|_| bad("seed"))?,
                "ppm" => plan.per_million = value.parse().map_err(|_| bad("ppm"))?,
                "points" if value == "all" => plan.points = Point::ALL.to_vec(),
                "points" => {
                    plan.points = value
                        .split('+')
                        .map(|name| {
                            Point::ALL
                                .into_iter()
                                .find(|p| p.name() == name)
                                .ok_or_else(|| format!("RINGWORK_FAULTS: no point `{name}`"))
                        })
                        .collect::<Result<_, _>>()?;
                }
                _ => return Err(format!("RINGWORK_FAULTS: unknown key `{key}`")),
            }
        }
        Ok(plan)
    }

    /// The plan `RINGWORK_FAULTS` names, if it is set.
    pub fn from_env() -> Option<Result<Plan, String>> {
        let spec = std::env::var("RINGWORK_FAULTS").ok()?;
        Some(Plan::parse(&spec))
    }
}

/// The plan as `RINGWORK_FAULTS` spells it (what replays it).
impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let points: Vec<_> = self.points.iter().map(|p| p.name()).collect();
        write!(
            f,
            "RINGWORK_FAULTS=seed={},ppm={},points={}",
            self.seed,
            self.per_million,
            points.join("+")
        )
    }
}

/// The runtime's share of the plan. Plain atomics, each read on its own
/// (`Relaxed`): a plan is installed before the work it applies to starts,
/// and the spawns and sends in between order the two.
static SEED: AtomicU64 = AtomicU64::new(0);
static PER_MILLION: AtomicU32 = AtomicU32::new(0);
static ENABLED: AtomicU32 = AtomicU32::new(0);
static DECISIONS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
static INJECTED: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

/// Makes `plan` the process's plan (both drivers' and the runtime's
/// points); resets every counter.
pub fn install(plan: &Plan) {
    let uring: Vec<_> = plan.points.iter().filter_map(|p| p.uring()).collect();
    let epoll: Vec<_> = plan.points.iter().filter_map(|p| p.epoll()).collect();
    ringwork_uring::faults::set(plan.seed, plan.per_million, &uring);
    ringwork_epoll::faults::set(plan.seed, plan.per_million, &epoll);
    let mask = plan
        .points
        .iter()
        .filter_map(|p| p.own())
        .fold(0, |mask, i| mask | 1 << i);
    SEED.store(plan.seed, Ordering::Relaxed);
    PER_MILLION.store(plan.per_million.min(1_000_000), Ordering::Relaxed);
    ENABLED.store(mask, Ordering::Relaxed);
    for counter in DECISIONS.iter().chain(&INJECTED) {
        counter.store(0, Ordering::Relaxed);
    }
}

/// No faults (setup faults of the io_uring driver included).
pub fn clear() {
    install(&Plan {
        seed: 0,
        per_million: 0,
        points: Vec::new(),
    });
    ringwork_uring::faults::clear();
}

/// Faults injected at `point` since the plan was installed.
pub fn injected(point: Point) -> u64 {
    if let Some(p) = point.uring() {
        return ringwork_uring::faults::injected(p);
    }
    if let Some(p) = point.epoll() {
        return ringwork_epoll::faults::injected(p);
    }
    point
        .own()
        .map_or(0, |i| INJECTED[i].load(Ordering::Relaxed))
}

/// Every point with its count of injected faults.
pub fn report() -> Vec<(Point, u64)> {
    Point::ALL.into_iter().map(|p| (p, injected(p))).collect()
}

/// The process's plan from `RINGWORK_FAULTS`, installed once (by the first
/// `Builder::build`); a bad value is that build's error, every time.
pub(crate) fn install_from_env() -> std::io::Result<()> {
    static FROM_ENV: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    FROM_ENV
        .get_or_init(|| match Plan::from_env() {
            None => Ok(()),
            Some(Ok(plan)) => {
                eprintln!("ringwork: fault injection on: {plan}");
                install(&plan);
                Ok(())
            }
            Some(Err(err)) => Err(err),
        })
        .clone()
        .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidInput, err))
}

/// Whether the runtime's point `index` fails this time; a value to choose
/// the fault's flavour with if it does (see `ringwork_uring::faults`).
fn fire(point: Point) -> Option<u64> {
    let index = point.own()?;
    if ENABLED.load(Ordering::Relaxed) & (1 << index) == 0 {
        return None;
    }
    let n = DECISIONS[index].fetch_add(1, Ordering::Relaxed);
    let mut z = SEED.load(Ordering::Relaxed)
        ^ (index as u64 + 33).wrapping_mul(0xa076_1d64_78bd_642f)
        ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    if (z % 1_000_000) as u32 >= PER_MILLION.load(Ordering::Relaxed) {
        return None;
    }
    INJECTED[index].fetch_add(1, Ordering::Relaxed);
    Some(z >> 32)
}

/// [`Point::Short`]: the length to ask for instead of `len` (1 ..= `len`).
pub(crate) fn short_len(len: usize) -> usize {
    match fire(Point::Short) {
        Some(choice) if len > 1 => 1 + (choice as usize) % (len - 1),
        _ => len,
    }
}

/// [`Point::Accept`]: the error `accept4` fails with instead of accepting.
pub(crate) fn accept_error() -> Option<std::io::Error> {
    let choice = fire(Point::Accept)?;
    let errno = [libc::ECONNABORTED, libc::EMFILE][(choice % 2) as usize];
    Some(std::io::Error::from_raw_os_error(errno))
}

/// [`Point::BlockingThread`]: the error a thread start fails with.
pub(crate) fn thread_start_error() -> Option<std::io::Error> {
    fire(Point::BlockingThread).map(|_| std::io::Error::from_raw_os_error(libc::EAGAIN))
}

/// [`Point::TimerLate`]: how much longer a park bounded by a timer sleeps.
pub(crate) fn timer_delay() -> Duration {
    fire(Point::TimerLate).map_or(Duration::ZERO, |choice| {
        Duration::from_micros(choice % 5_000)
    })
}
