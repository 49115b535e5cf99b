//! What the soak's lanes share: per-runtime counters and heartbeats, the
//! process-wide list of failures, the stop flag, and the bound on a single
//! operation.
//!
//! Every field is written by the lanes (tasks on one runtime) and read by
//! the sampling thread; plain atomics with `Relaxed` suffice, since nothing
//! is published through them: the numbers are reports, and the stop flag is
//! polled.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest any single operation (a read, a connect, a sleep's lateness, a
/// blocking job) may take before it counts as hung. Loopback and the page
/// cache answer in microseconds; 15 s is orders of magnitude of headroom
/// for a loaded 2-core machine.
pub const OP_BOUND: Duration = Duration::from_secs(15);

/// Longest a lane may go without completing a unit of work (a frame, a
/// connection, a round) before it counts as hung, even if no operation's
/// own bound fired (a stuck runtime does not fire its timers).
pub const LANE_HANG: Duration = Duration::from_secs(30);

/// The operations counted, per runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Echo frames sent, echoed back and verified.
    EchoFrames,
    /// Echo connections completed (every frame back, then end of stream).
    EchoConnections,
    /// Reads (client and server) dropped by a `timeout` before completing.
    ReadsCancelled,
    /// Churn connections: connect, hello, acknowledgement, close.
    ChurnConnections,
    /// Churn connections closed by the client right after connecting.
    EarlyCloses,
    /// Accepts dropped by a `timeout` before completing.
    AcceptsCancelled,
    /// Sleeps that completed (never early).
    TimersFired,
    /// Sleeps dropped by a shorter `timeout`.
    TimersCancelled,
    /// Sleeping tasks aborted.
    TasksAborted,
    /// mpsc messages received, in order.
    ChannelMessages,
    /// mpsc and oneshot receives dropped by a `timeout`.
    RecvsCancelled,
    /// oneshot values delivered (or returned to a sender whose receiver
    /// was gone).
    Oneshots,
    /// Temp-file rounds: write, read back, checksum.
    FileRounds,
    /// File reads dropped before completing.
    FileReadsCancelled,
    /// `spawn_blocking` jobs whose result was checked.
    BlockingJobs,
}

impl Op {
    /// Every operation, in report order.
    pub const ALL: [Op; 15] = [
        Op::EchoFrames,
        Op::EchoConnections,
        Op::ReadsCancelled,
        Op::ChurnConnections,
        Op::EarlyCloses,
        Op::AcceptsCancelled,
        Op::TimersFired,
        Op::TimersCancelled,
        Op::TasksAborted,
        Op::ChannelMessages,
        Op::RecvsCancelled,
        Op::Oneshots,
        Op::FileRounds,
        Op::FileReadsCancelled,
        Op::BlockingJobs,
    ];

    /// The name printed in the summary.
    pub fn name(self) -> &'static str {
        match self {
            Op::EchoFrames => "echo frames verified",
            Op::EchoConnections => "echo connections",
            Op::ReadsCancelled => "socket reads cancelled",
            Op::ChurnConnections => "churn connections",
            Op::EarlyCloses => "churn early closes",
            Op::AcceptsCancelled => "accepts cancelled",
            Op::TimersFired => "timers fired",
            Op::TimersCancelled => "timers cancelled",
            Op::TasksAborted => "sleeping tasks aborted",
            Op::ChannelMessages => "mpsc messages",
            Op::RecvsCancelled => "receives cancelled",
            Op::Oneshots => "oneshot values",
            Op::FileRounds => "file rounds",
            Op::FileReadsCancelled => "file reads cancelled",
            Op::BlockingJobs => "blocking jobs",
        }
    }

    /// Whether a run that never did this one is a failure: the workload
    /// did not exercise what it claims to (every operation is, except early
    /// closes, whose count depends only on the dice).
    pub fn required(self) -> bool {
        self != Op::EarlyCloses
    }
}

/// A fault the soak injects into its own workload, to show that its
/// checks catch it (`--inject`, hidden; the soak must then fail).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The echo server flips a bit of one chunk it echoes.
    Corrupt,
    /// The echo server drops one chunk instead of echoing it.
    Lose,
    /// The echo server echoes one chunk twice.
    Duplicate,
    /// A churn connector leaks a connection every 500 ms.
    LeakFds,
    /// The timers lane leaks 2 MiB of touched memory a second.
    LeakMemory,
    /// The channels lane stops making progress (awaits forever).
    Hang,
    /// A blocking job panics.
    Panic,
}

impl Fault {
    /// Every fault, with its name on the command line.
    pub const ALL: [(&'static str, Fault); 7] = [
        ("corrupt", Fault::Corrupt),
        ("lose", Fault::Lose),
        ("duplicate", Fault::Duplicate),
        ("leak-fds", Fault::LeakFds),
        ("leak-memory", Fault::LeakMemory),
        ("hang", Fault::Hang),
        ("panic", Fault::Panic),
    ];

    /// Parses a fault's name.
    pub fn parse(text: &str) -> Result<Fault, String> {
        Fault::ALL
            .iter()
            .find(|(name, _)| *name == text)
            .map(|&(_, fault)| fault)
            .ok_or_else(|| {
                let names: Vec<_> = Fault::ALL.iter().map(|(name, _)| *name).collect();
                format!("{text:?}: expected one of {}", names.join(", "))
            })
    }
}

/// Seconds into the soak before a one-time fault fires.
const FAULT_AFTER_MS: u64 = 2000;

/// Process-wide failures, in the order found.
#[derive(Debug, Default)]
pub struct Failures {
    list: Mutex<Vec<String>>,
    any: AtomicBool,
}

/// Failures kept verbatim; later ones are only counted.
const KEPT_FAILURES: usize = 32;

impl Failures {
    /// Records a failure. Those after the first are marked: they may be
    /// its consequences (a peer that stopped on the first failure resets
    /// its connections).
    pub fn record(&self, message: String) {
        let mut list = self
            .list
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let message = if self.any.swap(true, Ordering::Relaxed) {
            format!("(after the first) {message}")
        } else {
            message
        };
        if list.len() < KEPT_FAILURES {
            eprintln!("ringwork-bench: soak: FAILURE: {message}");
            list.push(message);
        } else if list.len() == KEPT_FAILURES {
            list.push("(more failures not kept)".to_owned());
        }
    }

    /// Whether any failure was recorded.
    pub fn any(&self) -> bool {
        self.any.load(Ordering::Relaxed)
    }

    /// The failures recorded so far.
    pub fn list(&self) -> Vec<String> {
        self.list
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }
}

/// One lane's progress, for the hang watchdog.
#[derive(Debug)]
pub struct Lane {
    /// The lane's name.
    pub name: &'static str,
    /// Milliseconds since the soak started, at the last completed unit.
    last_beat_ms: AtomicU64,
    /// Set when the lane returned.
    done: AtomicBool,
}

impl Lane {
    fn new(name: &'static str) -> Lane {
        Lane {
            name,
            last_beat_ms: AtomicU64::new(0),
            done: AtomicBool::new(false),
        }
    }

    /// Time since the lane last completed a unit of work (zero once the
    /// lane has returned).
    pub fn silent_for(&self, now_ms: u64) -> Duration {
        if self.done.load(Ordering::Relaxed) {
            return Duration::ZERO;
        }
        Duration::from_millis(now_ms.saturating_sub(self.last_beat_ms.load(Ordering::Relaxed)))
    }

    /// Marks the lane returned.
    pub fn finish(&self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

/// What one runtime's lanes share.
#[derive(Debug)]
pub struct Ctx {
    /// "uring" or "epoll".
    pub driver: &'static str,
    started: Instant,
    stop: Arc<AtomicBool>,
    counts: [AtomicU64; Op::ALL.len()],
    lanes: Vec<Lane>,
    /// The run's failures (shared by both runtimes).
    pub failures: Arc<Failures>,
    /// Where the file lane writes.
    pub temp_dir: std::path::PathBuf,
    /// The fault to inject, if any.
    fault: Option<Fault>,
    /// Set once a one-time fault has fired.
    fault_fired: AtomicBool,
}

impl Ctx {
    /// A context for `driver`'s runtime with the named lanes.
    pub fn new(
        driver: &'static str,
        lanes: &[&'static str],
        started: Instant,
        stop: Arc<AtomicBool>,
        failures: Arc<Failures>,
        temp_dir: std::path::PathBuf,
        fault: Option<Fault>,
    ) -> Ctx {
        Ctx {
            driver,
            started,
            stop,
            counts: Default::default(),
            lanes: lanes.iter().map(|name| Lane::new(name)).collect(),
            failures,
            temp_dir,
            fault,
            fault_fired: AtomicBool::new(false),
        }
    }

    /// True once, from 2 s into the soak, if `fault` is the injected one.
    pub fn inject_once(&self, fault: Fault) -> bool {
        self.fault == Some(fault)
            && self.now_ms() >= FAULT_AFTER_MS
            && !self.fault_fired.swap(true, Ordering::Relaxed)
    }

    /// Whether `fault` is the injected one (for the continuous faults).
    pub fn injects(&self, fault: Fault) -> bool {
        self.fault == Some(fault)
    }

    /// Records a failure of `what` on this runtime.
    pub fn fail(&self, what: &str, err: &str) {
        self.failures
            .record(format!("{} {what}: {err}", self.driver));
    }

    /// Whether the lanes should wind down.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.failures.any()
    }

    /// Counts `n` of `op`.
    pub fn count(&self, op: Op, n: u64) {
        self.counts[Self::index(op)].fetch_add(n, Ordering::Relaxed);
    }

    /// The count of `op` so far.
    pub fn get(&self, op: Op) -> u64 {
        self.counts[Self::index(op)].load(Ordering::Relaxed)
    }

    /// Every operation counted so far.
    pub fn total(&self) -> u64 {
        Op::ALL.iter().map(|&op| self.get(op)).sum()
    }

    fn index(op: Op) -> usize {
        Op::ALL
            .iter()
            .position(|&other| other == op)
            .expect("every Op is in ALL")
    }

    /// Milliseconds since the soak started.
    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Records that lane `name` completed a unit of work.
    pub fn beat(&self, name: &str) {
        let now = self.now_ms();
        if let Some(lane) = self.lane(name) {
            lane.last_beat_ms.store(now, Ordering::Relaxed);
        }
    }

    /// The lane called `name`.
    pub fn lane(&self, name: &str) -> Option<&Lane> {
        self.lanes.iter().find(|lane| lane.name == name)
    }

    /// Every lane.
    pub fn lanes(&self) -> &[Lane] {
        &self.lanes
    }
}

/// `future`'s output, or an error saying that `what` hung (took longer than
/// [`OP_BOUND`]).
pub async fn bounded<F: Future>(what: &str, future: F) -> Result<F::Output, String> {
    ringwork::time::timeout(OP_BOUND, future)
        .await
        .map_err(|_| format!("{what} hung: no result within {} s", OP_BOUND.as_secs()))
}

/// Formats an I/O error with what was being done.
pub fn io_err(what: &str) -> impl FnOnce(std::io::Error) -> String + '_ {
    move |err| format!("{what}: {err}")
}

/// `future`, recording its error (as `what` on `ctx`'s runtime) the
/// moment it happens, so that the list of failures starts with the cause
/// rather than with its consequences.
pub async fn checked<F>(ctx: Arc<Ctx>, what: &'static str, future: F)
where
    F: Future<Output = Result<(), String>>,
{
    if let Err(err) = future.await {
        ctx.fail(what, &err);
    }
}

/// Awaits a [`checked`] sub-task, recording a panic or cancellation.
pub async fn join_checked(ctx: &Ctx, what: &str, handle: ringwork::JoinHandle<()>) {
    joined_result(ctx, what, handle.await);
}

/// Records a [`checked`] sub-task's panic or cancellation.
pub fn joined_result(ctx: &Ctx, what: &str, done: Result<(), ringwork::task::JoinError>) {
    match done {
        Ok(()) => {}
        Err(err) if err.is_panic() => ctx.fail(what, "the task panicked"),
        Err(err) => ctx.fail(what, &format!("the task was cancelled: {err}")),
    }
}

/// Awaits a sub-task: its error, or a panic or cancellation as an error.
pub async fn joined<T>(
    what: &str,
    handle: ringwork::JoinHandle<Result<T, String>>,
) -> Result<T, String> {
    match handle.await {
        Ok(result) => result,
        Err(err) if err.is_panic() => Err(format!("{what}: the task panicked")),
        Err(err) => Err(format!("{what}: the task was cancelled: {err}")),
    }
}
