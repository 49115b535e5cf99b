//! Workloads: what is measured, one module per family.
//!
//! A [`Workload`] has a name, a size, and a `run` that executes it once on a
//! [`PeerRuntime`] and checks the result: a run that completes the wrong
//! number of tasks or messages is an error, never a timing. Timing is the
//! runner's job, so the same `run` serves the `compare` command and the
//! criterion benches.
//!
//! Families: [`scheduler`] (spawning, yielding, waking), [`sync`] (the
//! runtimes' own channels, mutex and semaphore: `ringwork::sync` against
//! `tokio::sync`) and [`time`] (timeouts armed and cancelled, many
//! concurrent sleeps). The scheduler and sync workloads share the runner and
//! the report (a table per [`Family`]). The timer
//! workloads measure more than a time per run (lateness, peak RSS in a fresh
//! child process per run), so they have their own driver in [`time`]; the
//! I/O workloads (`tcp_echo`, `file_randread`) measure other things again (a
//! server's CPU time in another process, IOPS) and live in
//! [`crate::iobench`].

/// Implements [`Workload`] for a scheduler or sync workload: its name is its
/// `NAME`, `$family` its table, the given `fn size`, and `run` hands the
/// concrete runtime of the peer to the workload's generic `run_on`
/// (`SchedulerWorkload` or `SyncWorkload`).
macro_rules! peer_workload {
    ($ty:ty, $family:expr, $($size_fn:tt)*) => {
        impl $crate::workloads::Workload for $ty {
            fn name(&self) -> &'static str {
                Self::NAME
            }

            fn family(&self) -> $crate::workloads::Family {
                $family
            }

            $($size_fn)*

            fn run(
                &self,
                runtime: &$crate::peer::PeerRuntime,
            ) -> Result<(), $crate::workloads::WorkloadError> {
                match runtime {
                    $crate::peer::PeerRuntime::Ringwork(runtime) => self.run_on(runtime),
                    $crate::peer::PeerRuntime::Tokio(runtime) => self.run_on(runtime),
                }
            }
        }
    };
}

pub mod scheduler;
pub mod sync;
pub mod time;

use crate::peer::PeerRuntime;
use serde::Serialize;
use std::error::Error;
use std::fmt;

/// How big the workloads are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// The sizes that give stable numbers (a few minutes for everything).
    Full,
    /// Smaller sizes for a quick look (well under a minute for everything).
    Quick,
}

/// Which table of the report a [`Workload`] belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Spawning, yielding and waking ([`scheduler`]).
    Scheduler,
    /// The runtimes' synchronization primitives ([`sync`]).
    Sync,
}

impl Family {
    /// Every family, in report order.
    pub const ALL: [Family; 2] = [Family::Scheduler, Family::Sync];

    /// The title of the family's table.
    pub fn title(self) -> &'static str {
        match self {
            Family::Scheduler => "scheduler workloads (spawn, yield, wake; no I/O)",
            Family::Sync => {
                "sync primitives: ringwork::sync vs tokio::sync (mpsc, oneshot, Mutex, Semaphore)"
            }
        }
    }
}

/// One benchmark workload.
pub trait Workload: fmt::Debug + Send + Sync {
    /// Short name, as accepted by `--only`.
    fn name(&self) -> &'static str;

    /// The table it is reported in.
    fn family(&self) -> Family;

    /// Its size in words, e.g. "100000 tasks".
    fn size(&self) -> String;

    /// Runs the workload once to completion on `runtime` and checks that it did
    /// all its work.
    fn run(&self, runtime: &PeerRuntime) -> Result<(), WorkloadError>;
}

/// Every workload the runner runs at `scale`, in report order: the
/// scheduler workloads, then the sync workloads.
pub fn all(scale: Scale) -> Vec<Box<dyn Workload>> {
    let mut all = scheduler::workloads(scale);
    all.extend(sync::workloads(scale));
    all
}

/// A run that did not do what it should: the numbers it would give are
/// meaningless, so the benchmark stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkloadError {
    /// A task panicked or was cancelled.
    TaskFailed {
        /// The workload's name.
        workload: &'static str,
        /// The runtime's join error, as text.
        error: String,
    },
    /// The work done differs from the work asked for.
    WrongCount {
        /// The workload's name.
        workload: &'static str,
        /// What was counted ("tasks completed", "round trips", ...).
        what: &'static str,
        /// How many there should have been.
        expected: u64,
        /// How many there were.
        actual: u64,
    },
}

impl WorkloadError {
    /// A join error from any runtime.
    pub fn task_failed(workload: &'static str, error: &dyn Error) -> WorkloadError {
        WorkloadError::TaskFailed {
            workload,
            error: error.to_string(),
        }
    }

    /// `Ok` when `actual == expected`, else a [`WorkloadError::WrongCount`].
    pub fn check_count(
        workload: &'static str,
        what: &'static str,
        expected: u64,
        actual: u64,
    ) -> Result<(), WorkloadError> {
        if actual == expected {
            Ok(())
        } else {
            Err(WorkloadError::WrongCount {
                workload,
                what,
                expected,
                actual,
            })
        }
    }
}

impl fmt::Display for WorkloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkloadError::TaskFailed { workload, error } => {
                write!(f, "{workload}: a task failed: {error}")
            }
            WorkloadError::WrongCount {
                workload,
                what,
                expected,
                actual,
            } => write!(f, "{workload}: expected {expected} {what}, got {actual}"),
        }
    }
}

impl Error for WorkloadError {}
