//! Runs workloads on every peer in interleaved rounds and records the times.
//!
//! This machine's speed drifts over tens of seconds, so peers are never
//! measured in separate blocks: each round runs every peer once, back to
//! back, and the peer that goes first rotates from round to round. A ratio
//! taken within a round compares runs made under the same conditions.
//!
//! Per workload: each peer runs it once as a warm-up (not recorded), then
//! `rounds` rounds follow. Runtimes are built outside the timed region, either
//! once per (peer, workload) and reused for the warm-up and every round, or
//! afresh for every run — see [`RuntimeLifetime`]. Only `Workload::run` is
//! timed; a run that fails its own correctness check stops everything.
//!
//! A [`Watchdog`] thread turns a hung run into a loud exit naming the
//! workload, the peer (with its seed) and the round, instead of a benchmark
//! that never ends.

use crate::peer::{Peer, PeerRuntime, PeerSettings};
use crate::workloads::{Family, Workload, WorkloadError};
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// How long runtimes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeLifetime {
    /// One runtime per (peer, workload), built before the warm-up and reused
    /// for every round.
    PerWorkload,
    /// A fresh runtime for every run, warm-up included, dropped right after.
    PerRun,
}

impl RuntimeLifetime {
    /// One line for the report's header.
    pub fn describe(self) -> &'static str {
        match self {
            RuntimeLifetime::PerWorkload => {
                "one runtime per (peer, workload), reused for the warm-up and every round"
            }
            RuntimeLifetime::PerRun => "a fresh runtime for every run, warm-up included",
        }
    }
}

/// How to run a comparison.
#[derive(Debug, Clone)]
pub struct CompareSettings {
    /// Measured rounds per workload (each runs every peer once).
    pub rounds: usize,
    /// What every runtime is built with.
    pub peer_settings: PeerSettings,
    /// Whether runtimes are reused across rounds.
    pub runtime_lifetime: RuntimeLifetime,
    /// A single run taking longer than this is taken for a hang: the process
    /// prints what was running and exits with status 3.
    pub hang_timeout: Duration,
    /// Print a line per run on standard error.
    pub show_progress: bool,
}

/// The times of one workload on every peer.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadTimes {
    /// The workload's name.
    pub workload: &'static str,
    /// The table it is reported in.
    pub family: Family,
    /// The workload's size, in words.
    pub size: String,
    /// The measured rounds, in the order they ran.
    pub rounds: Vec<RoundTimes>,
    /// Per peer (indexed like the peer list), the drivers its warm-up
    /// runtime actually ran ([`PeerRuntime::drivers`]).
    pub drivers: Vec<String>,
}

/// One round: every peer ran the workload once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundTimes {
    /// Indices into the peer list, in the order the peers ran.
    pub run_order: Vec<usize>,
    /// Wall-clock time of each peer's run, indexed like the peer list.
    pub times: Vec<Duration>,
}

/// Why a comparison stopped.
#[derive(Debug)]
pub enum CompareError {
    /// A runtime could not be built.
    Build(io::Error),
    /// A run did not do its work correctly.
    Workload {
        /// The peer it ran on.
        peer: &'static str,
        /// "warm-up" or "round N".
        run: String,
        /// What went wrong.
        error: WorkloadError,
    },
}

impl fmt::Display for CompareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompareError::Build(err) => write!(f, "{err}"),
            CompareError::Workload { peer, run, error } => {
                write!(f, "{error} (on {peer}, {run})")
            }
        }
    }
}

impl std::error::Error for CompareError {}

/// Runs every workload on every peer: a warm-up, then interleaved rounds.
pub fn compare(
    peers: &[Peer],
    workloads: &[Box<dyn Workload>],
    settings: &CompareSettings,
) -> Result<Vec<WorkloadTimes>, CompareError> {
    let watchdog = Watchdog::start(settings.hang_timeout);
    workloads
        .iter()
        .map(|workload| measure_workload(peers, workload.as_ref(), settings, &watchdog))
        .collect()
}

fn measure_workload(
    peers: &[Peer],
    workload: &dyn Workload,
    settings: &CompareSettings,
    watchdog: &Watchdog,
) -> Result<WorkloadTimes, CompareError> {
    let mut runtimes = RuntimeSet::new(peers, settings)?;
    let mut drivers = Vec::with_capacity(peers.len());
    for (index, peer) in peers.iter().enumerate() {
        let runtime = runtimes.for_run(index)?;
        drivers.push(runtime.drivers());
        let elapsed = timed_run(workload, peer, &runtime, "warm-up", watchdog)?;
        release_runtime(runtime, watchdog);
        progress(settings, workload, peer, "warm-up", elapsed);
    }
    let mut rounds = Vec::with_capacity(settings.rounds);
    for round in 0..settings.rounds {
        let run_order: Vec<usize> = (0..peers.len())
            .map(|position| (position + round) % peers.len())
            .collect();
        let mut times = vec![Duration::ZERO; peers.len()];
        let run = format!("round {}/{}", round + 1, settings.rounds);
        for &index in &run_order {
            let runtime = runtimes.for_run(index)?;
            let elapsed = timed_run(workload, &peers[index], &runtime, &run, watchdog)?;
            release_runtime(runtime, watchdog);
            progress(settings, workload, &peers[index], &run, elapsed);
            times[index] = elapsed;
        }
        rounds.push(RoundTimes { run_order, times });
    }
    for runtime in runtimes.kept {
        release_runtime(runtime, watchdog);
    }
    Ok(WorkloadTimes {
        workload: workload.name(),
        family: workload.family(),
        size: workload.size(),
        rounds,
        drivers,
    })
}

/// Runs `workload` once, timing only the run itself.
fn timed_run(
    workload: &dyn Workload,
    peer: &Peer,
    runtime: &PeerRuntime,
    run: &str,
    watchdog: &Watchdog,
) -> Result<Duration, CompareError> {
    let _watched = watchdog.watch(format!(
        "workload {name} ({size}) on {runtime}, {run}, has not finished after {timeout:.0} s: \
         the runtime looks hung (a deadlock or a lost wake-up). Rerun it alone with \
         `ringwork-bench compare --only {name}` (plus `--seed` with the seed shown to \
         replay ringwork's scheduling choices)",
        name = workload.name(),
        size = workload.size(),
        timeout = watchdog.timeout.as_secs_f64(),
    ));
    let start = Instant::now();
    let outcome = workload.run(runtime);
    let elapsed = start.elapsed();
    outcome.map_err(|error| CompareError::Workload {
        peer: peer.name,
        run: run.to_owned(),
        error,
    })?;
    Ok(elapsed)
}

/// Drops one reference to a runtime; when it is the last, the runtime shuts
/// down under the watchdog's eye, since a shutdown that never ends is a hang
/// like any other.
fn release_runtime(runtime: Arc<PeerRuntime>, watchdog: &Watchdog) {
    if Arc::strong_count(&runtime) > 1 {
        return;
    }
    let _watched = watchdog.watch(format!(
        "shutting down {runtime} has not finished after {:.0} s: the runtime looks hung",
        watchdog.timeout.as_secs_f64()
    ));
    drop(runtime);
}

fn progress(
    settings: &CompareSettings,
    workload: &dyn Workload,
    peer: &Peer,
    run: &str,
    elapsed: Duration,
) {
    if settings.show_progress {
        eprintln!(
            "  {:<20} {:<10} {:<12} {:>10.3} ms",
            workload.name(),
            peer.name,
            run,
            elapsed.as_secs_f64() * 1e3
        );
    }
}

/// The runtimes of one workload's measurement, per [`RuntimeLifetime`].
struct RuntimeSet<'a> {
    peers: &'a [Peer],
    settings: &'a CompareSettings,
    /// Built once, when runtimes live for the whole workload.
    kept: Vec<Arc<PeerRuntime>>,
}

impl<'a> RuntimeSet<'a> {
    fn new(peers: &'a [Peer], settings: &'a CompareSettings) -> Result<Self, CompareError> {
        let kept = match settings.runtime_lifetime {
            RuntimeLifetime::PerWorkload => peers
                .iter()
                .map(|peer| peer.build(&settings.peer_settings).map(Arc::new))
                .collect::<io::Result<_>>()
                .map_err(CompareError::Build)?,
            RuntimeLifetime::PerRun => Vec::new(),
        };
        Ok(RuntimeSet {
            peers,
            settings,
            kept,
        })
    }

    /// The runtime for one run of peer `index`; a fresh one is dropped (and
    /// its threads joined) when the caller lets go of it, outside the timing.
    fn for_run(&mut self, index: usize) -> Result<Arc<PeerRuntime>, CompareError> {
        match self.settings.runtime_lifetime {
            RuntimeLifetime::PerWorkload => Ok(self.kept[index].clone()),
            RuntimeLifetime::PerRun => self.peers[index]
                .build(&self.settings.peer_settings)
                .map(Arc::new)
                .map_err(CompareError::Build),
        }
    }
}

/// Turns a run that takes longer than a timeout into a loud exit.
///
/// A background thread looks at the current run once per poll interval, so
/// it costs the measured runs nothing but a mutex taken twice per run.
#[derive(Debug)]
pub struct Watchdog {
    state: Arc<Mutex<WatchState>>,
    timeout: Duration,
}

#[derive(Debug)]
struct WatchState {
    /// The running run's hang message, and when it started.
    current: Option<(String, Instant)>,
    stopped: bool,
}

impl Watchdog {
    /// Starts the watching thread.
    pub fn start(timeout: Duration) -> Watchdog {
        let state = Arc::new(Mutex::new(WatchState {
            current: None,
            stopped: false,
        }));
        let watched = state.clone();
        let poll_interval = timeout.min(Duration::from_secs(1));
        thread::Builder::new()
            .name("ringwork-bench-watchdog".to_owned())
            .spawn(move || loop {
                thread::sleep(poll_interval);
                let state = lock(&watched);
                if state.stopped {
                    return;
                }
                if let Some((message, started)) = &state.current {
                    if started.elapsed() > timeout {
                        eprintln!("\nringwork-bench: {message}. Exiting.");
                        std::process::exit(3);
                    }
                }
            })
            .expect("failed to start the watchdog thread");
        Watchdog { state, timeout }
    }

    /// Watches one run until the guard drops; if it outlives the timeout,
    /// `hang_message` is printed and the process exits with status 3.
    pub fn watch(&self, hang_message: String) -> WatchGuard<'_> {
        lock(&self.state).current = Some((hang_message, Instant::now()));
        WatchGuard { watchdog: self }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        lock(&self.state).stopped = true;
    }
}

/// Ends the watch of one run; see [`Watchdog::watch`].
#[derive(Debug)]
pub struct WatchGuard<'a> {
    watchdog: &'a Watchdog,
}

impl Drop for WatchGuard<'_> {
    fn drop(&mut self) {
        lock(&self.watchdog.state).current = None;
    }
}

fn lock(state: &Mutex<WatchState>) -> MutexGuard<'_, WatchState> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
