//! The parent's side of the timer workloads: one warm-up child per peer,
//! interleaved rounds of child processes, per-round ratios, the table.

use super::{workloads, ChildOutcome, ChildRequest, TimerWorkload, RESULT_PREFIX};
use crate::iobench::sys;
use crate::peer::default_peers;
use crate::stats::Summary;
use crate::workloads::Scale;
use serde::Serialize;
use std::fmt::Write as _;
use std::io::{self, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How the parent runs the timer workloads.
#[derive(Debug, Clone)]
pub struct TimerSettings {
    /// Worker threads of every runtime.
    pub workers: usize,
    /// Measured rounds per workload (after one warm-up child per peer).
    pub rounds: usize,
    /// ringwork's scheduler seed, if fixed.
    pub ringwork_seed: Option<u64>,
    /// A child running longer than this is a hang: it is killed and the
    /// process exits with status 3, like the scheduler workloads' watchdog.
    pub hang_timeout: Duration,
    /// Print a line per run on standard error.
    pub show_progress: bool,
}

/// One measured run.
#[derive(Debug, Clone, Serialize)]
pub struct TimerRun {
    /// The peer.
    pub peer: &'static str,
    /// The round, from 1.
    pub round: usize,
    /// What the child measured.
    pub outcome: ChildOutcome,
    /// CPU used by every other user-space process while the child ran, over
    /// its wall time (1.0 = one core): competition on a shared machine.
    pub other_cpu_share: f64,
}

/// One metric of one workload: per peer, and the ringwork/tokio ratio.
#[derive(Debug, Clone, Serialize)]
pub struct TimerMetric {
    /// What is measured, e.g. "time" or "lateness p99".
    pub name: &'static str,
    /// Its unit, e.g. "ms" or "MiB".
    pub unit: &'static str,
    /// Per peer, in column order: median and range over the rounds.
    pub per_peer: Vec<(&'static str, Summary)>,
    /// What the ratio divides, e.g. "ringwork/tokio".
    pub ratio_name: String,
    /// Per round, that ratio, when the metric has a meaningful one.
    pub ratio_per_round: Option<Vec<f64>>,
    /// Median and range of those ratios.
    pub ratio: Option<Summary>,
}

/// One timer workload's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct TimerWorkloadReport {
    /// The workload's name.
    pub name: &'static str,
    /// Its size, in words.
    pub size: String,
    /// The workload and its size, as the children got them.
    pub workload: TimerWorkload,
    /// Per round, the peers in the order they ran.
    pub run_order: Vec<Vec<&'static str>>,
    /// Every measured run.
    pub runs: Vec<TimerRun>,
    /// The summarised metrics.
    pub metrics: Vec<TimerMetric>,
}

/// Everything the timer workloads measured.
#[derive(Debug, Clone, Serialize)]
pub struct TimerReport {
    /// Measured rounds per workload.
    pub rounds: usize,
    /// Per peer, the runtime its first measured child built.
    pub runtimes: Vec<(&'static str, String)>,
    /// Per workload.
    pub workloads: Vec<TimerWorkloadReport>,
}

/// A metric of a run: name, unit, whether a ratio is meaningful, and how to
/// read it from a child's outcome.
type MetricSpec = (&'static str, &'static str, bool, fn(&ChildOutcome) -> f64);

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn metrics_of(workload: &TimerWorkload) -> Vec<MetricSpec> {
    let memory: [MetricSpec; 2] = [
        ("peak RSS", "MiB", true, |o| mib(o.hwm_after_kib)),
        ("RSS rise in run", "MiB", false, |o| {
            mib(o.hwm_after_kib.saturating_sub(o.hwm_before_kib))
        }),
    ];
    let mut specs: Vec<MetricSpec> = match workload {
        TimerWorkload::TimerChurn { .. } => vec![
            ("time", "ms", true, |o| o.elapsed_ms),
            ("CPU (process)", "ms", true, |o| o.cpu_ms),
        ],
        TimerWorkload::SleepMany { .. } => vec![
            ("time to last fire", "ms", true, |o| o.elapsed_ms),
            ("lateness p50", "ms", true, |o| {
                o.sleeps.map_or(f64::NAN, |s| s.lateness_p50_ms)
            }),
            ("lateness p99", "ms", true, |o| {
                o.sleeps.map_or(f64::NAN, |s| s.lateness_p99_ms)
            }),
            ("lateness max", "ms", true, |o| {
                o.sleeps.map_or(f64::NAN, |s| s.lateness_max_ms)
            }),
            ("peak pending sleeps", "", false, |o| {
                o.sleeps.map_or(f64::NAN, |s| s.peak_pending as f64)
            }),
            ("CPU (process)", "ms", true, |o| o.cpu_ms),
        ],
    };
    specs.extend(memory);
    specs
}

/// The peer names in column order, the index of the peer whose ratio is
/// reported (the first that is not the reference) and of the reference.
fn peer_names() -> (Vec<&'static str>, usize, usize) {
    let peers = default_peers();
    let reference = peers
        .iter()
        .position(|peer| peer.is_reference)
        .unwrap_or(peers.len() - 1);
    let measured = (0..peers.len())
        .find(|&index| index != reference)
        .unwrap_or(0);
    (
        peers.iter().map(|peer| peer.name).collect(),
        measured,
        reference,
    )
}

/// Runs the timer workloads named in `selected`, at `scale`.
pub fn run(selected: &[&str], scale: Scale, settings: &TimerSettings) -> io::Result<TimerReport> {
    let (peers, measured, reference) = peer_names();
    let mut runtimes: Vec<(&'static str, String)> = Vec::new();
    let mut reports = Vec::new();
    for workload in workloads(scale)
        .into_iter()
        .filter(|workload| selected.contains(&workload.name()))
    {
        for &peer in &peers {
            let (outcome, other_cpu_share) = watched_child(workload, peer, settings, "warm-up")?;
            progress(
                settings,
                workload,
                peer,
                "warm-up",
                &outcome,
                other_cpu_share,
            );
        }
        let mut runs = Vec::new();
        let mut run_order = Vec::new();
        for round in 1..=settings.rounds {
            let order = crate::iobench::rotate(peers.len(), round - 1);
            let label = format!("round {round}/{}", settings.rounds);
            for &index in &order {
                let peer = peers[index];
                let (outcome, other_cpu_share) = watched_child(workload, peer, settings, &label)?;
                progress(settings, workload, peer, &label, &outcome, other_cpu_share);
                if !runtimes.iter().any(|(name, _)| *name == peer) {
                    runtimes.push((peer, outcome.runtime.clone()));
                }
                runs.push(TimerRun {
                    peer,
                    round,
                    outcome,
                    other_cpu_share,
                });
            }
            run_order.push(order.iter().map(|&index| peers[index]).collect());
        }
        let metrics = summarise(&workload, &peers, (measured, reference), &runs);
        reports.push(TimerWorkloadReport {
            name: workload.name(),
            size: workload.size(),
            workload,
            run_order,
            runs,
            metrics,
        });
    }
    runtimes.sort_by_key(|(name, _)| peers.iter().position(|peer| peer == name));
    Ok(TimerReport {
        rounds: settings.rounds,
        runtimes,
        workloads: reports,
    })
}

/// [`run_child`], plus the CPU share other user-space processes used while
/// it ran (the child is reaped by then: its own time is in ours, which is
/// left out).
fn watched_child(
    workload: TimerWorkload,
    peer: &'static str,
    settings: &TimerSettings,
    label: &str,
) -> io::Result<(ChildOutcome, f64)> {
    let ours = [std::process::id()];
    let other_before = sys::other_processes_cpu(&ours)?;
    let started = Instant::now();
    let outcome = run_child(workload, peer, settings, label)?;
    let other = sys::other_processes_cpu(&ours)?.saturating_sub(other_before);
    Ok((
        outcome,
        other.as_secs_f64() / started.elapsed().as_secs_f64(),
    ))
}

fn progress(
    settings: &TimerSettings,
    workload: TimerWorkload,
    peer: &str,
    label: &str,
    outcome: &ChildOutcome,
    other_cpu_share: f64,
) {
    if !settings.show_progress {
        return;
    }
    let lateness = outcome.sleeps.map_or_else(String::new, |sleeps| {
        format!(
            ", lateness p50 {:.2} ms p99 {:.2} ms",
            sleeps.lateness_p50_ms, sleeps.lateness_p99_ms
        )
    });
    eprintln!(
        "  {:<20} {:<10} {:<12} {:>10.3} ms, CPU {:.0} ms, peak RSS {:.1} MiB{lateness}, \
         other processes {:.0}% CPU",
        workload.name(),
        peer,
        label,
        outcome.elapsed_ms,
        outcome.cpu_ms,
        mib(outcome.hwm_after_kib),
        other_cpu_share * 100.0
    );
}

/// Runs one child and returns what it measured. A child that outlives the
/// hang timeout is killed and the whole process exits with status 3.
fn run_child(
    workload: TimerWorkload,
    peer: &'static str,
    settings: &TimerSettings,
    label: &str,
) -> io::Result<ChildOutcome> {
    let request = ChildRequest {
        workload,
        peer: peer.to_owned(),
        workers: settings.workers,
        ringwork_seed: settings.ringwork_seed,
    };
    let request = serde_json::to_string(&request).map_err(io::Error::other)?;
    let mut child = Command::new(std::env::current_exe()?)
        .arg("timer-run")
        .arg("--request")
        .arg(&request)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("timer-run-output".to_owned())
        .spawn(move || {
            let mut text = String::new();
            let res = stdout.read_to_string(&mut text).map(|_| text);
            let _ = tx.send(res);
        })?;
    let output = match rx.recv_timeout(settings.hang_timeout) {
        Ok(output) => output?,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!(
                "\nringwork-bench: {} ({}) on {peer}, {label}, has not finished after {:.0} s: \
                 the runtime looks hung (a lost wake-up or a timer that never fires). Rerun it \
                 alone with `ringwork-bench compare --only {}` (plus `--seed`). Exiting.",
                workload.name(),
                workload.size(),
                settings.hang_timeout.as_secs_f64(),
                workload.name()
            );
            std::process::exit(3);
        }
    };
    let status = child.wait()?;
    let context =
        |what: String| io::Error::other(format!("{} on {peer}, {label}: {what}", workload.name()));
    if !status.success() {
        return Err(context(format!(
            "the timer-run child exited with {status} (its error is above)"
        )));
    }
    let line = output
        .lines()
        .find_map(|line| line.strip_prefix(RESULT_PREFIX))
        .ok_or_else(|| context(format!("the child printed no result line: {output:?}")))?;
    serde_json::from_str(line).map_err(|err| context(format!("bad result line {line:?}: {err}")))
}

/// Per metric: each peer's median and range, and the per-round ratio
/// `peers[ratio.0] / peers[ratio.1]` where the metric has one.
fn summarise(
    workload: &TimerWorkload,
    peers: &[&'static str],
    ratio: (usize, usize),
    runs: &[TimerRun],
) -> Vec<TimerMetric> {
    let (measured, reference) = ratio;
    metrics_of(workload)
        .into_iter()
        .map(|(name, unit, has_ratio, read)| {
            let per_peer = peers
                .iter()
                .map(|&peer| {
                    let samples: Vec<f64> = runs
                        .iter()
                        .filter(|run| run.peer == peer)
                        .map(|run| read(&run.outcome))
                        .collect();
                    (peer, Summary::of(&samples).unwrap_or(NAN_SUMMARY))
                })
                .collect();
            let ratio_per_round = has_ratio.then(|| {
                let rounds = runs.iter().map(|run| run.round).max().unwrap_or(0);
                (1..=rounds)
                    .filter_map(|round| {
                        let value = |peer: &str| {
                            runs.iter()
                                .find(|run| run.round == round && run.peer == peer)
                                .map(|run| read(&run.outcome))
                        };
                        let ratio = value(peers[measured])? / value(peers[reference])?;
                        ratio.is_finite().then_some(ratio)
                    })
                    .collect::<Vec<f64>>()
            });
            let ratio = ratio_per_round.as_deref().and_then(Summary::of);
            TimerMetric {
                name,
                unit,
                per_peer,
                ratio_name: format!("{}/{}", peers[measured], peers[reference]),
                ratio_per_round,
                ratio,
            }
        })
        .collect()
}

const NAN_SUMMARY: Summary = Summary {
    median: f64::NAN,
    min: f64::NAN,
    max: f64::NAN,
};

impl crate::report::Section for TimerReport {
    fn key(&self) -> &'static str {
        "timers"
    }

    fn render(&self) -> String {
        TimerReport::render(self)
    }
}

impl TimerReport {
    /// The timer table, as printed after the scheduler table.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // `writeln!` into a `String` cannot fail.
        let _ = writeln!(out, "\ntimer workloads");
        for workload in &self.workloads {
            let _ = writeln!(
                out,
                "{:<12} {}",
                format!("{}:", workload.name),
                workload.size
            );
        }
        for (peer, runtime) in &self.runtimes {
            let _ = writeln!(out, "peer:        {peer}: {runtime}");
        }
        let _ = writeln!(
            out,
            "method:      every run in a fresh child process (`ringwork-bench timer-run`) that \
             builds the runtime, runs the workload once and exits; 1 warm-up child per peer, \
             then {} rounds with the peers interleaved (first rotates), ratio per round; time \
             and CPU cover the run only; peak RSS = the child's VmHWM at the end (process-wide: \
             runtime, threads and run), RSS rise = how much the run raised VmHWM",
            self.rounds
        );
        let _ = writeln!(
            out,
            "checks:      timer_churn: every timeout completed with its inner future's output \
             and every inner future was polled exactly twice (pending, then ready: the timer \
             was armed, then cancelled); sleep_many: every sleep completed, none before its \
             deadline (lateness = the sleeping task's resume instant - deadline)"
        );
        let (peers, measured, reference) = peer_names();
        let mut header = vec!["workload".to_owned(), "metric".to_owned()];
        header.extend(peers.iter().map(|peer| format!("{peer} median [min-max]")));
        header.push(format!(
            "{}/{} median [min-max]",
            peers[measured], peers[reference]
        ));
        let mut rows = vec![header];
        for workload in &self.workloads {
            for (index, metric) in workload.metrics.iter().enumerate() {
                let name = if index == 0 { workload.name } else { "" };
                let metric_name = if metric.unit.is_empty() {
                    metric.name.to_owned()
                } else {
                    format!("{} ({})", metric.name, metric.unit)
                };
                let mut row = vec![name.to_owned(), metric_name];
                row.extend(
                    metric
                        .per_peer
                        .iter()
                        .map(|(_, summary)| format_value(summary)),
                );
                row.push(
                    metric
                        .ratio
                        .as_ref()
                        .map_or_else(|| "-".to_owned(), crate::table::format_range),
                );
                rows.push(row);
            }
        }
        let _ = writeln!(out);
        out.push_str(&crate::table::format_table(&rows, 2));
        let other = self
            .workloads
            .iter()
            .flat_map(|workload| &workload.runs)
            .map(|run| run.other_cpu_share)
            .fold(0.0, f64::max);
        if let Some(TimerWorkload::SleepMany { sleeps, max_ms }) = self
            .workloads
            .iter()
            .map(|workload| workload.workload)
            .find(|workload| matches!(workload, TimerWorkload::SleepMany { .. }))
        {
            let _ = writeln!(
                out,
                "\nsleep_many: about {} sleeps end in every millisecond, so lateness is the \
                 timer's resolution (1 ms in both runtimes) plus the time to wake and run that \
                 many tasks on the workers: it measures timer and wake-up throughput as much as \
                 precision. Peak pending sleeps: how many were armed at once (spawning the \
                 tasks overlaps the ends of the first sleeps).",
                sleeps / max_ms.max(1)
            );
        }
        let _ = writeln!(
            out,
            "\nratios below 1: ringwork took less (time, CPU, lateness, memory) than tokio. \
             Other user-space processes used at most {:.0} % of a core while a measured child \
             ran (100 = one core).",
            other * 100.0
        );
        out
    }
}

/// "median [min-max]" with a precision that suits the magnitude.
fn format_value(summary: &Summary) -> String {
    let digits = if summary.median.abs() >= 100.0 {
        0
    } else if summary.median.abs() >= 10.0 {
        1
    } else {
        2
    };
    format!(
        "{:.digits$} [{:.digits$}-{:.digits$}]",
        summary.median, summary.min, summary.max
    )
}
