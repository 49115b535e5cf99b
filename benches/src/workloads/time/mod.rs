//! Timer workloads: `timer_churn` (timeouts armed and cancelled, the
//! "timeout around every request" pattern) and `sleep_many` (many concurrent
//! sleeps: how late they fire), on ringwork and tokio side by side.
//!
//! Each run is a fresh child process (`ringwork-bench timer-run`, hidden), so
//! that its peak resident set size means something: `VmHWM` in
//! `/proc/self/status` is process-wide and only ever grows, so within one
//! process it would carry every earlier run's peak. The child builds the
//! peer's runtime exactly as the scheduler workloads do ([`default_peers`]),
//! reads `VmRSS` and `VmHWM`, runs the workload once, reads `VmHWM` again and
//! prints one line `result <json>`. Peak RSS is the final `VmHWM` (runtime,
//! threads and run together); "RSS rise" is how much the run raised it.
//! Time and process CPU time cover the run only, not the child's start or
//! the runtime's build.
//!
//! The parent runs one unrecorded warm-up child per peer, then interleaved
//! rounds (every peer once per round, the first rotating), takes the
//! ringwork/tokio ratio per round and reports the median with its min–max,
//! as for the scheduler workloads.
//!
//! Both bodies are written once, generic over [`TimerRuntime`], and count
//! what they did; a child whose counts are off (or, in `sleep_many`, whose
//! sleeps fire early) exits with an error, which stops the benchmark.
//!
//! This module holds the workloads and the child's side; [`compare`] the
//! parent's (rounds, child processes, summaries, the table).

pub mod compare;

pub use compare::{run, TimerMetric, TimerReport, TimerRun, TimerSettings, TimerWorkloadReport};

use super::Scale;
use crate::iobench::sys::ProcessCpuClock;
use crate::peer::{default_peers, PeerRuntime, PeerSettings, TimerRuntime};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The timer workloads' names, in report order.
pub const NAMES: [&str; 2] = ["timer_churn", "sleep_many"];

/// The timeout of every `timer_churn` iteration: far longer than the run,
/// so it never fires; it is armed and cancelled.
pub const CHURN_TIMEOUT: Duration = Duration::from_secs(30);

/// The prefix of the child's one line of output.
pub(crate) const RESULT_PREFIX: &str = "result ";

/// One timer workload and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerWorkload {
    /// `tasks` tasks share `timeouts` iterations of `timeout(30 s, inner)`,
    /// where `inner` (the runtime's `yield_now`) is pending on its first
    /// poll and ready on its second: each iteration arms a timer (the
    /// timeout polls its sleep only after a pending inner future) and
    /// cancels it (the timeout completes and is dropped).
    TimerChurn {
        /// Timeouts armed and cancelled per run, over all tasks.
        timeouts: u64,
        /// Tasks sharing them.
        tasks: u64,
    },
    /// `sleeps` tasks, spawned from one task, each sleeping until its first
    /// poll's instant plus `1 + (i * 37) % max_ms` ms (an even,
    /// deterministic spread over 1..=max_ms ms, not in spawn order).
    SleepMany {
        /// Concurrent sleeps per run.
        sleeps: u64,
        /// Longest sleep, in milliseconds.
        max_ms: u64,
    },
}

impl TimerWorkload {
    /// Short name, as accepted by `--only`.
    pub fn name(&self) -> &'static str {
        match self {
            TimerWorkload::TimerChurn { .. } => NAMES[0],
            TimerWorkload::SleepMany { .. } => NAMES[1],
        }
    }

    /// Its size, in words.
    pub fn size(&self) -> String {
        match *self {
            TimerWorkload::TimerChurn { timeouts, tasks } => format!(
                "{timeouts} timeouts ({} s) armed and cancelled, {tasks} tasks",
                CHURN_TIMEOUT.as_secs()
            ),
            TimerWorkload::SleepMany { sleeps, max_ms } => {
                format!("{sleeps} concurrent sleeps of 1-{max_ms} ms")
            }
        }
    }
}

/// The timer workloads at `scale`, in report order.
///
/// The same sizes at both scales: a run lasts well under a second (`--quick`
/// only runs fewer rounds).
pub fn workloads(_scale: Scale) -> Vec<TimerWorkload> {
    vec![
        TimerWorkload::TimerChurn {
            timeouts: 1_000_000,
            tasks: 100,
        },
        TimerWorkload::SleepMany {
            sleeps: 100_000,
            max_ms: 100,
        },
    ]
}

/// What the parent asks one child for (passed as JSON on its command line).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChildRequest {
    /// The workload and its size.
    pub workload: TimerWorkload,
    /// A peer of [`default_peers`], by name.
    pub peer: String,
    /// Worker threads.
    pub workers: usize,
    /// ringwork's scheduler seed, if fixed.
    pub ringwork_seed: Option<u64>,
}

/// What one child measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChildOutcome {
    /// The runtime as built (workers, seed, drivers in use).
    pub runtime: String,
    /// Wall time of the run: for `timer_churn` until every task is joined;
    /// for `sleep_many` from before the first spawn until the last sleep
    /// fired (its task resumed).
    pub elapsed_ms: f64,
    /// CPU time of the whole child process (every thread) over the run.
    pub cpu_ms: f64,
    /// `VmRSS` just before the run (runtime built, idle).
    pub rss_before_kib: u64,
    /// `VmHWM` just before the run.
    pub hwm_before_kib: u64,
    /// `VmHWM` after the run: the child's peak resident set size.
    pub hwm_after_kib: u64,
    /// `sleep_many` only.
    pub sleeps: Option<SleepStats>,
}

/// How `sleep_many`'s sleeps fired. Lateness is the instant the sleeping task
/// resumed minus its deadline: timer resolution plus wake-up and scheduling
/// delay, what a caller sees.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SleepStats {
    /// Median lateness, milliseconds.
    pub lateness_p50_ms: f64,
    /// 99th percentile lateness, milliseconds.
    pub lateness_p99_ms: f64,
    /// Largest lateness, milliseconds.
    pub lateness_max_ms: f64,
    /// Sleeps that completed before their deadline (a run with any fails,
    /// so a reported run always has 0).
    pub early: u64,
    /// The most sleeps armed and not yet fired at one instant.
    pub peak_pending: u64,
}

/// Runs one child's request: builds the runtime, measures one run. Used by
/// the hidden `timer-run` subcommand; the `Ok` text is its `result` line.
pub fn child_main(request_json: &str) -> Result<String, String> {
    let request: ChildRequest = serde_json::from_str(request_json)
        .map_err(|err| format!("bad timer-run request {request_json:?}: {err}"))?;
    let peers = default_peers();
    let peer = peers
        .iter()
        .find(|peer| peer.name == request.peer)
        .ok_or_else(|| format!("unknown peer {:?}", request.peer))?;
    let runtime = peer
        .build(&PeerSettings {
            workers: request.workers,
            ringwork_seed: request.ringwork_seed,
        })
        .map_err(|err| err.to_string())?;
    let outcome = match &runtime {
        PeerRuntime::Ringwork(rt) => measure(rt, &runtime, request.workload),
        PeerRuntime::Tokio(rt) => measure(rt, &runtime, request.workload),
    }
    .map_err(|err| format!("{} on {}: {err}", request.workload.name(), runtime))?;
    let json = serde_json::to_string(&outcome).map_err(|err| err.to_string())?;
    Ok(format!("{RESULT_PREFIX}{json}"))
}

/// One measured run on `runtime` (also seen as `peer` for its description).
fn measure<R: TimerRuntime>(
    runtime: &R,
    peer: &PeerRuntime,
    workload: TimerWorkload,
) -> Result<ChildOutcome, String> {
    let cpu_clock = ProcessCpuClock::of(std::process::id()).map_err(|err| err.to_string())?;
    let before = MemoryStatus::read().map_err(|err| err.to_string())?;
    let cpu_before = cpu_clock.read().map_err(|err| err.to_string())?;
    let (elapsed, sleeps) = match workload {
        TimerWorkload::TimerChurn { timeouts, tasks } => {
            (timer_churn(runtime, timeouts, tasks)?, None)
        }
        TimerWorkload::SleepMany { sleeps, max_ms } => {
            let (elapsed, stats) = sleep_many(runtime, sleeps, max_ms)?;
            (elapsed, Some(stats))
        }
    };
    let cpu = cpu_clock
        .read()
        .map_err(|err| err.to_string())?
        .saturating_sub(cpu_before);
    let after = MemoryStatus::read().map_err(|err| err.to_string())?;
    Ok(ChildOutcome {
        runtime: peer.to_string(),
        elapsed_ms: elapsed.as_secs_f64() * 1e3,
        cpu_ms: cpu.as_secs_f64() * 1e3,
        rss_before_kib: before.rss_kib,
        hwm_before_kib: before.hwm_kib,
        hwm_after_kib: after.hwm_kib,
        sleeps,
    })
}

/// `VmRSS` and `VmHWM` of this process.
#[derive(Debug, Clone, Copy)]
struct MemoryStatus {
    rss_kib: u64,
    hwm_kib: u64,
}

impl MemoryStatus {
    fn read() -> io::Result<MemoryStatus> {
        let status = std::fs::read_to_string("/proc/self/status")?;
        let field = |name: &str| -> io::Result<u64> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|value| value.trim().strip_suffix("kB"))
                .and_then(|kib| kib.trim().parse().ok())
                .ok_or_else(|| io::Error::other(format!("/proc/self/status has no {name} in kB")))
        };
        Ok(MemoryStatus {
            rss_kib: field("VmRSS")?,
            hwm_kib: field("VmHWM")?,
        })
    }
}

/// Counts the polls of the future it wraps, so that `timer_churn` can check
/// its inner future was pending once (which is what makes each runtime's
/// `timeout` poll, and so arm, its timer) and ready once.
struct CountPolls<'a, F> {
    inner: Pin<&'a mut F>,
    polls: &'a mut u64,
}

impl<F: Future> Future for CountPolls<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // Both fields are `Unpin` (a pinned reference and a plain one).
        let this = self.get_mut();
        *this.polls += 1;
        this.inner.as_mut().poll(cx)
    }
}

/// `timer_churn`'s body; returns the time until every task was joined.
fn timer_churn<R: TimerRuntime>(
    runtime: &R,
    timeouts: u64,
    tasks: u64,
) -> Result<Duration, String> {
    let tasks = tasks.clamp(1, timeouts.max(1));
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let iterations = timeouts / tasks + u64::from(task < timeouts % tasks);
            runtime.spawn(async move {
                let mut completed = 0u64;
                let mut polls = 0u64;
                for _ in 0..iterations {
                    let inner = pin!(R::yield_now());
                    let counted = CountPolls {
                        inner,
                        polls: &mut polls,
                    };
                    // The timeout (and its armed timer) is dropped at the
                    // end of this statement: cancelled.
                    if R::timeout(CHURN_TIMEOUT, counted).await.is_ok() {
                        completed += 1;
                    }
                }
                (completed, polls)
            })
        })
        .collect();
    let joined = runtime.block_on(async move {
        let mut completed = 0;
        let mut polls = 0;
        for handle in handles {
            let (done, polled) = handle.await.map_err(|err| err.to_string())?;
            completed += done;
            polls += polled;
        }
        Ok::<_, String>((completed, polls))
    });
    let elapsed = start.elapsed();
    let (completed, polls) = joined?;
    if completed != timeouts {
        return Err(format!(
            "{completed} timeouts completed with their inner future's output, expected \
             {timeouts} (the others elapsed: impossible within {CHURN_TIMEOUT:?})"
        ));
    }
    if polls != 2 * timeouts {
        return Err(format!(
            "the inner futures were polled {polls} times, expected {} (pending once, then \
             ready, per timeout): the timers may not all have been armed",
            2 * timeouts
        ));
    }
    Ok(elapsed)
}

/// When one sleep of `sleep_many` was armed and fired, relative to the run's
/// start.
#[derive(Debug, Clone, Copy)]
struct SleepRecord {
    /// From the run's start to the task's first poll (where the deadline is
    /// taken), nanoseconds.
    armed_ns: u64,
    /// Resumed instant minus deadline, nanoseconds (negative: early).
    lateness_ns: i64,
    /// The sleep's length, milliseconds.
    delay_ms: u64,
}

/// The sleep length of task `index`: 1..=max_ms ms, evenly spread and not in
/// spawn order (37 is prime to every `max_ms` up to 36 and to 100).
fn delay_ms(index: u64, max_ms: u64) -> u64 {
    1 + (index.wrapping_mul(37)) % max_ms.max(1)
}

/// `sleep_many`'s body; returns the time from the start until the last sleep
/// fired, and the lateness figures.
fn sleep_many<R: TimerRuntime>(
    runtime: &R,
    sleeps: u64,
    max_ms: u64,
) -> Result<(Duration, SleepStats), String> {
    let start = Instant::now();
    let spawner = runtime.spawn(async move {
        let handles: Vec<_> = (0..sleeps)
            .map(|index| {
                R::spawn_current(async move {
                    let armed = Instant::now();
                    let delay_ms = delay_ms(index, max_ms);
                    let deadline = armed + Duration::from_millis(delay_ms);
                    R::sleep_until(deadline).await;
                    let resumed = Instant::now();
                    let lateness_ns = match resumed.checked_duration_since(deadline) {
                        Some(late) => i64::try_from(late.as_nanos()).unwrap_or(i64::MAX),
                        None => -i64::try_from((deadline - resumed).as_nanos()).unwrap_or(i64::MAX),
                    };
                    SleepRecord {
                        armed_ns: u64::try_from(armed.duration_since(start).as_nanos())
                            .unwrap_or(u64::MAX),
                        lateness_ns,
                        delay_ms,
                    }
                })
            })
            .collect();
        let mut records = Vec::with_capacity(handles.len());
        for handle in handles {
            records.push(handle.await.map_err(|err| err.to_string())?);
        }
        Ok::<_, String>(records)
    });
    let records = runtime.block_on(spawner).map_err(|err| err.to_string())??;
    if records.len() as u64 != sleeps {
        return Err(format!(
            "{} sleeps completed, expected {sleeps}",
            records.len()
        ));
    }
    let fired_ns = |record: &SleepRecord| -> i128 {
        i128::from(record.armed_ns)
            + i128::from(record.delay_ms) * 1_000_000
            + i128::from(record.lateness_ns)
    };
    let early: Vec<i64> = records
        .iter()
        .filter(|record| record.lateness_ns < 0)
        .map(|record| record.lateness_ns)
        .collect();
    if let Some(earliest) = early.iter().min() {
        return Err(format!(
            "{} of {sleeps} sleeps completed before their deadline (the earliest by {:.3} ms)",
            early.len(),
            -(*earliest as f64) / 1e6
        ));
    }
    let last_fired_ns = records.iter().map(fired_ns).max().unwrap_or(0).max(0);
    let elapsed = Duration::from_nanos(u64::try_from(last_fired_ns).unwrap_or(u64::MAX));

    let mut lateness: Vec<i64> = records.iter().map(|record| record.lateness_ns).collect();
    lateness.sort_unstable();
    let percentile = |p: f64| -> f64 {
        let index = ((lateness.len() as f64 * p) as usize).min(lateness.len().saturating_sub(1));
        lateness.get(index).map_or(f64::NAN, |&ns| ns as f64 / 1e6)
    };
    // Peak concurrency: sweep the arm (+1) and fire (-1) instants; at equal
    // instants fires go first, so that a sleep is not counted with the one
    // armed as it ends.
    let mut events: Vec<(i128, i8)> = Vec::with_capacity(2 * records.len());
    for record in &records {
        events.push((i128::from(record.armed_ns), 1));
        events.push((fired_ns(record), -1));
    }
    events.sort_unstable();
    let (mut pending, mut peak_pending) = (0i64, 0i64);
    for (_, change) in events {
        pending += i64::from(change);
        peak_pending = peak_pending.max(pending);
    }
    Ok((
        elapsed,
        SleepStats {
            lateness_p50_ms: percentile(0.50),
            lateness_p99_ms: percentile(0.99),
            lateness_max_ms: lateness.last().map_or(f64::NAN, |&ns| ns as f64 / 1e6),
            early: 0,
            peak_pending: u64::try_from(peak_pending).unwrap_or(0),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::{delay_ms, sleep_many, timer_churn, MemoryStatus};
    use crate::peer::{default_peers, PeerRuntime, PeerSettings};

    #[test]
    fn delays_cover_one_to_max_evenly() {
        let mut counts = [0u32; 101];
        for index in 0..10_000 {
            counts[delay_ms(index, 100) as usize] += 1;
        }
        assert_eq!(counts[0], 0);
        assert!(counts[1..].iter().all(|&count| count == 100));
    }

    #[test]
    fn memory_status_reads_this_process() {
        let status = MemoryStatus::read().unwrap();
        assert!(status.rss_kib > 0);
        assert!(status.hwm_kib >= status.rss_kib);
    }

    #[test]
    fn both_bodies_pass_their_checks_on_every_peer() {
        let settings = PeerSettings {
            workers: 2,
            ringwork_seed: Some(3),
        };
        for peer in default_peers() {
            let runtime = peer.build(&settings).unwrap();
            let (churn, sleeps) = match &runtime {
                PeerRuntime::Ringwork(rt) => (timer_churn(rt, 2_000, 7), sleep_many(rt, 500, 5)),
                PeerRuntime::Tokio(rt) => (timer_churn(rt, 2_000, 7), sleep_many(rt, 500, 5)),
            };
            churn.unwrap_or_else(|err| panic!("timer_churn on {}: {err}", peer.name));
            let (_, stats) =
                sleeps.unwrap_or_else(|err| panic!("sleep_many on {}: {err}", peer.name));
            assert_eq!(stats.early, 0);
            assert!(stats.peak_pending >= 1, "{}", peer.name);
        }
    }
}
