//! The matrix's numbers: every cell as measured (or why it could not be),
//! the per-round ratios to the baseline and their summaries, and the two
//! renderings — plain-text tables for the terminal and `report.md` — of
//! the same [`MatrixReport`] that `report.json` holds.
//!
//! A cell is one (profile, workload, round). Its headline figure is the
//! server's CPU time per operation (per echoed message, per connection);
//! ratios divide a profile's figure by the baseline's *of the same round*,
//! and a profile's ratio is the median of those, with their range, over the
//! rounds where both were measured — and again over the rounds whose every
//! cell ran in the loopback's fast mode.

use super::environment::Environment;
use crate::iobench::loopback::Mode;
use crate::stats::Summary;
use crate::table::format_table;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// What one cell measured. The figures a workload has no use for are
/// `None` (and left out of `report.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Server CPU (process CPU clock, every thread including io_uring's
    /// SQPOLL thread) per operation, microseconds (per MiB for `bulk_*`,
    /// per connection set up for `idle_conns`).
    pub cpu_us_per_op: f64,
    /// The workload's rate, in its table's rate unit: closed-loop messages
    /// per second (echo, skewed), connections per second (accept storm),
    /// reads per second (files), GB/s (bulk).
    pub ops_per_sec: f64,
    /// Open-loop latency percentiles from intended send times, microseconds
    /// (echo only).
    pub p50_us: Option<f64>,
    /// See `p50_us`.
    pub p99_us: Option<f64>,
    /// See `p50_us`.
    pub p999_us: Option<f64>,
    /// Server CPU over the measured window (1.0 = one core).
    pub server_cpu_share: Option<f64>,
    /// CPU other processes used during the run (1.0 = one core).
    pub other_cpu_share: Option<f64>,
    /// Skewed: the heavy connections' open-loop p99, microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heavy_p99_us: Option<f64>,
    /// Skewed: the plain connections' p99 in the closed loop (from each
    /// message's send to its echo), microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_p99_us: Option<f64>,
    /// Idle connections: the server's VmRSS with every connection idle, KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_kib: Option<f64>,
    /// Idle connections: the server's VmRSS when ready, before any
    /// connection, KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_rss_kib: Option<f64>,
    /// Idle connections: `(rss_kib - idle_rss_kib) / connections`, KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_per_conn_kib: Option<f64>,
    /// Idle connections: how the server's read is pending, in words (from
    /// the server's description).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_pending: Option<String>,
    /// Busy worker: how late the neighbour's read completed, median over
    /// the cell's rounds, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_late_ms: Option<f64>,
    /// Busy worker: how late the neighbour's timer fired, the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer_late_ms: Option<f64>,
    /// Echo: the server's context switches (every thread, voluntary and
    /// involuntary) per message in the open loop's window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switches_per_op: Option<f64>,
    /// Echo: the server's system calls per message (perf,
    /// `raw_syscalls:sys_enter`), in a counting window of their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscalls_per_op: Option<f64>,
    /// Echo: the server's `io_uring_enter` calls per message (the same
    /// window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enters_per_op: Option<f64>,
    /// Echo: SQEs the server submitted per message (the same window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqes_per_op: Option<f64>,
    /// Echo: CQEs posted in the server's threads per message (the same
    /// window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cqes_per_op: Option<f64>,
    /// Skewed, monoio: how many heavy connections each of its threads got
    /// (`SO_REUSEPORT` chose), by thread index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heavy_split: Option<Vec<usize>>,
}

impl Measurement {
    /// A measurement of CPU per operation and a rate only.
    pub fn new(cpu_us_per_op: f64, ops_per_sec: f64) -> Measurement {
        Measurement {
            cpu_us_per_op,
            ops_per_sec,
            p50_us: None,
            p99_us: None,
            p999_us: None,
            server_cpu_share: None,
            other_cpu_share: None,
            heavy_p99_us: None,
            closed_p99_us: None,
            rss_kib: None,
            idle_rss_kib: None,
            rss_per_conn_kib: None,
            read_pending: None,
            read_late_ms: None,
            timer_late_ms: None,
            switches_per_op: None,
            syscalls_per_op: None,
            enters_per_op: None,
            sqes_per_op: None,
            cqes_per_op: None,
            heavy_split: None,
        }
    }
}

/// A figure of a [`Measurement`], as a table column, a ratio's numerator
/// or a chart's axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    /// `cpu_us_per_op`.
    Cpu,
    /// `ops_per_sec`.
    Rate,
    /// `p50_us`.
    P50,
    /// `p99_us`.
    P99,
    /// `p999_us`.
    P999,
    /// `heavy_p99_us`.
    HeavyP99,
    /// `closed_p99_us`.
    ClosedP99,
    /// `rss_kib`, shown in MiB.
    RssMib,
    /// `rss_per_conn_kib`.
    RssPerConnKib,
    /// `read_late_ms`.
    ReadLateMs,
    /// `timer_late_ms`.
    TimerLateMs,
    /// `switches_per_op`.
    SwitchesPerOp,
    /// `syscalls_per_op`.
    SyscallsPerOp,
    /// `enters_per_op`.
    EntersPerOp,
    /// `sqes_per_op`.
    SqesPerOp,
    /// `cqes_per_op`.
    CqesPerOp,
}

impl Figure {
    /// The figure's value in `m`, if measured.
    pub fn of(self, m: &Measurement) -> Option<f64> {
        match self {
            Figure::Cpu => Some(m.cpu_us_per_op),
            Figure::Rate => Some(m.ops_per_sec),
            Figure::P50 => m.p50_us,
            Figure::P99 => m.p99_us,
            Figure::P999 => m.p999_us,
            Figure::HeavyP99 => m.heavy_p99_us,
            Figure::ClosedP99 => m.closed_p99_us,
            Figure::RssMib => m.rss_kib.map(|kib| kib / 1024.0),
            Figure::RssPerConnKib => m.rss_per_conn_kib,
            Figure::ReadLateMs => m.read_late_ms,
            Figure::TimerLateMs => m.timer_late_ms,
            Figure::SwitchesPerOp => m.switches_per_op,
            Figure::SyscallsPerOp => m.syscalls_per_op,
            Figure::EntersPerOp => m.enters_per_op,
            Figure::SqesPerOp => m.sqes_per_op,
            Figure::CqesPerOp => m.cqes_per_op,
        }
        .filter(|value| value.is_finite())
    }
}

/// How a workload's table is laid out: which figure its ratios divide,
/// against which profiles besides the baseline, and which other columns it
/// shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// The figure ratios divide, and its column's name.
    pub headline: (Figure, String),
    /// Profiles ratios are also taken against (besides the baseline).
    pub references: Vec<String>,
    /// The other columns: medians of these figures.
    pub columns: Vec<(Figure, String)>,
    /// The chart's right panel, one point per round.
    pub second: (Figure, String),
    /// Unit of the CPU figure, for `cpu_unit`.
    pub cpu_unit: String,
    /// Unit of the rate figure, for `rate_unit`.
    pub rate_unit: String,
}

/// A cell's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
// A run holds a few hundred cells: the unboxed measurement's size does not
// matter, and a box would only add a step to every read.
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    /// It ran.
    Measured(Measurement),
    /// The server could not start (the kernel, a limit or the runtime
    /// refused the profile) or the run failed: why, as the error said it.
    NotAvailable {
        /// The error.
        reason: String,
    },
}

/// One (profile, workload, round).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// The profile.
    pub profile: String,
    /// The workload.
    pub workload: String,
    /// From 1.
    pub round: usize,
    /// Loopback probes (UNIX socket pair ping-pong between the two CPUs,
    /// round trips/s) before and after the run.
    pub probe_before: f64,
    /// See `probe_before`.
    pub probe_after: f64,
    /// The mode the two probes agree on, or mixed.
    pub mode: Mode,
    /// What happened.
    pub outcome: Outcome,
}

impl Cell {
    /// The measurement, if the cell ran.
    pub fn measured(&self) -> Option<&Measurement> {
        match &self.outcome {
            Outcome::Measured(measurement) => Some(measurement),
            Outcome::NotAvailable { .. } => None,
        }
    }
}

/// One workload's round: the order its profiles ran in and its mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundInfo {
    /// The workload.
    pub workload: String,
    /// From 1.
    pub round: usize,
    /// The profiles in the order they ran (the first rotates per round).
    pub order: Vec<String>,
    /// Fast if every measured cell of the round was, slow if every one was
    /// slow, else mixed.
    pub mode: Mode,
}

/// One profile's summary for one workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowSummary {
    /// The profile.
    pub profile: String,
    /// Rounds it was measured in.
    pub rounds_measured: usize,
    /// Why it was not measured, when no round was (the first reason).
    pub not_available: Option<String>,
    /// CPU per operation over the rounds.
    pub cpu_us_per_op: Option<Summary>,
    /// Operations per second over the rounds.
    pub ops_per_sec: Option<Summary>,
    /// p50 over the rounds (echo).
    pub p50_us: Option<Summary>,
    /// p99 over the rounds (echo).
    pub p99_us: Option<Summary>,
    /// p99.9 over the rounds (echo).
    pub p999_us: Option<Summary>,
    /// Per round (`None`: this profile or the baseline was not measured),
    /// CPU per operation over the baseline's of the same round.
    pub ratio_per_round: Vec<Option<f64>>,
    /// Summary of the per-round ratios.
    pub ratio: Option<Summary>,
    /// The same over the fast rounds only.
    pub ratio_fast: Option<Summary>,
    /// The headline figure over the rounds (for the echo, accept and file
    /// workloads the same as `cpu_us_per_op`).
    #[serde(default)]
    pub headline: Option<Summary>,
    /// The layout's other columns, in order, over the rounds.
    #[serde(default)]
    pub columns: Vec<Option<Summary>>,
    /// Ratios of the headline figure to the layout's other references.
    #[serde(default)]
    pub references: Vec<ReferenceRatio>,
    /// What the server said about how it ran this workload, from its first
    /// measured cell (idle connections: how the read is pending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A row's headline figure over another profile's, per round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceRatio {
    /// The profile divided by.
    pub against: String,
    /// Per round (`None`: either was not measured).
    pub per_round: Vec<Option<f64>>,
    /// Over the rounds.
    pub summary: Option<Summary>,
}

/// One workload's table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadSummary {
    /// The workload.
    pub workload: String,
    /// Its size and method, in words.
    pub size: String,
    /// Unit of the headline figure ("CPU us/msg").
    pub cpu_unit: String,
    /// Unit of the rate figure.
    pub rate_unit: String,
    /// Whether latency percentiles were measured.
    pub has_latency: bool,
    /// Name of the headline figure, the one ratios divide.
    #[serde(default)]
    pub headline: String,
    /// Profiles ratios are also taken against, besides the baseline.
    #[serde(default)]
    pub references: Vec<String>,
    /// Names of the other columns.
    #[serde(default)]
    pub columns: Vec<String>,
    /// The chart's right panel: its figure and name.
    pub second: (Figure, String),
    /// Per round: the mode.
    pub round_modes: Vec<Mode>,
    /// One row per profile, in table order.
    pub rows: Vec<RowSummary>,
}

/// A profile as the report describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileInfo {
    /// Its name.
    pub name: String,
    /// The environment of its server (empty for peers).
    pub env: String,
    /// What it switches.
    pub what: String,
    /// The server's description of itself in its first measured run (for
    /// ringwork, the ring's flags as the runtime reports them).
    pub server: Option<String>,
}

/// How the matrix was run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatrixSettings {
    /// The command line.
    pub command: String,
    /// "quick" or "full".
    pub scale: String,
    /// Rounds.
    pub rounds: usize,
    /// Worker threads of the multi-thread servers.
    pub workers: usize,
    /// The profile ratios are taken against.
    pub baseline: String,
    /// Probe rate from which a probe says fast.
    pub fast_threshold: f64,
    /// Pinning, in words.
    pub pinning: String,
}

/// Everything a matrix run wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatrixReport {
    /// Machine, privileges, limits, io_uring probe.
    pub environment: Environment,
    /// How it ran.
    pub settings: MatrixSettings,
    /// The rows.
    pub profiles: Vec<ProfileInfo>,
    /// Per workload and round: order and mode.
    pub rounds: Vec<RoundInfo>,
    /// Per workload: the table.
    pub summaries: Vec<WorkloadSummary>,
    /// Every cell, in the order they ran.
    pub cells: Vec<Cell>,
    /// Wall time of the whole run, seconds.
    pub wall_secs: f64,
}

/// The mode of a round from its measured cells' modes.
pub fn round_mode(modes: impl IntoIterator<Item = Mode>) -> Mode {
    let modes: Vec<Mode> = modes.into_iter().collect();
    if !modes.is_empty() && modes.iter().all(|mode| *mode == Mode::Fast) {
        Mode::Fast
    } else if !modes.is_empty() && modes.iter().all(|mode| *mode == Mode::Slow) {
        Mode::Slow
    } else {
        Mode::Mixed
    }
}

/// The per-round ratios of `figure` in `cells` (one profile's) to the same
/// in `reference` (another profile's) for rounds `1..=rounds`: `None` where
/// either is missing.
pub fn ratios_per_round(
    cells: &[&Cell],
    reference: &[&Cell],
    rounds: usize,
    figure: Figure,
) -> Vec<Option<f64>> {
    let value_in = |cells: &[&Cell], round: usize| {
        cells
            .iter()
            .find(|cell| cell.round == round)
            .and_then(|cell| cell.measured())
            .and_then(|measured| figure.of(measured))
    };
    (1..=rounds)
        .map(|round| {
            let ratio = value_in(cells, round)? / value_in(reference, round)?;
            ratio.is_finite().then_some(ratio)
        })
        .collect()
}

/// Summarises one workload's cells, rows in `profiles` order.
pub fn summarise(
    workload: &str,
    size: String,
    layout: &Layout,
    profiles: &[&str],
    baseline: &str,
    rounds: usize,
    cells: &[Cell],
) -> WorkloadSummary {
    let of = |profile: &str| -> Vec<&Cell> {
        cells
            .iter()
            .filter(|cell| cell.workload == workload && cell.profile == profile)
            .collect()
    };
    let round_modes: Vec<Mode> = (1..=rounds)
        .map(|round| {
            round_mode(
                cells
                    .iter()
                    .filter(|cell| {
                        cell.workload == workload
                            && cell.round == round
                            && cell.measured().is_some()
                    })
                    .map(|cell| cell.mode),
            )
        })
        .collect();
    let headline = layout.headline.0;
    let baseline_cells = of(baseline);
    let rows = profiles
        .iter()
        .map(|&profile| {
            let mine = of(profile);
            let measured: Vec<&Measurement> =
                mine.iter().filter_map(|cell| cell.measured()).collect();
            let summary = |figure: Figure| {
                let samples: Vec<f64> = measured.iter().filter_map(|m| figure.of(m)).collect();
                Summary::of(&samples)
            };
            let ratio_per_round = ratios_per_round(&mine, &baseline_cells, rounds, headline);
            let all: Vec<f64> = ratio_per_round.iter().flatten().copied().collect();
            let fast: Vec<f64> = ratio_per_round
                .iter()
                .zip(&round_modes)
                .filter(|(_, mode)| **mode == Mode::Fast)
                .filter_map(|(ratio, _)| *ratio)
                .collect();
            let references = layout
                .references
                .iter()
                .map(|against| {
                    let per_round = ratios_per_round(&mine, &of(against), rounds, headline);
                    let all: Vec<f64> = per_round.iter().flatten().copied().collect();
                    ReferenceRatio {
                        against: against.clone(),
                        summary: Summary::of(&all),
                        per_round,
                    }
                })
                .collect();
            RowSummary {
                profile: profile.to_owned(),
                rounds_measured: measured.len(),
                not_available: if measured.is_empty() {
                    mine.iter().find_map(|cell| match &cell.outcome {
                        Outcome::NotAvailable { reason } => Some(reason.clone()),
                        Outcome::Measured(_) => None,
                    })
                } else {
                    None
                },
                cpu_us_per_op: summary(Figure::Cpu),
                ops_per_sec: summary(Figure::Rate),
                p50_us: summary(Figure::P50),
                p99_us: summary(Figure::P99),
                p999_us: summary(Figure::P999),
                ratio: Summary::of(&all),
                ratio_fast: Summary::of(&fast),
                ratio_per_round,
                headline: summary(headline),
                columns: layout
                    .columns
                    .iter()
                    .map(|(figure, _)| summary(*figure))
                    .collect(),
                references,
                note: measured
                    .iter()
                    .find_map(|m| m.read_pending.clone())
                    .or_else(|| split_note(&mine)),
            }
        })
        .collect();
    WorkloadSummary {
        workload: workload.to_owned(),
        size,
        cpu_unit: layout.cpu_unit.clone(),
        rate_unit: layout.rate_unit.clone(),
        has_latency: layout
            .columns
            .iter()
            .any(|(figure, _)| *figure == Figure::P99),
        headline: layout.headline.1.clone(),
        references: layout.references.clone(),
        columns: layout
            .columns
            .iter()
            .map(|(_, name)| name.clone())
            .collect(),
        second: layout.second.clone(),
        round_modes,
        rows,
    }
}

/// monoio's split of the heavy connections over its threads, round by
/// round ("heavy connections per thread by round: r1 [6, 4], r2 [9, 1]"),
/// if its cells recorded one.
fn split_note(cells: &[&Cell]) -> Option<String> {
    let rounds: Vec<String> = cells
        .iter()
        .filter_map(|cell| {
            let split = cell.measured()?.heavy_split.as_ref()?;
            let counts: Vec<String> = split.iter().map(usize::to_string).collect();
            Some(format!("r{} [{}]", cell.round, counts.join(", ")))
        })
        .collect();
    (!rounds.is_empty()).then(|| {
        format!(
            "heavy connections per thread (SO_REUSEPORT's split) by round: {}",
            rounds.join(", ")
        )
    })
}

/// The text of an `n/a` cell from an error: the child's "ringwork-bench:
/// error: serve NAME: " prefix dropped, an errno named (`EINVAL: ...`), one
/// line.
pub fn not_available_reason(error: &str) -> String {
    let line = error
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("unknown error");
    let mut text = line.strip_prefix("ringwork-bench: error: ").unwrap_or(line);
    if let Some(rest) = text.strip_prefix("serve ") {
        if let Some((_, after)) = rest.split_once(": ") {
            text = after;
        }
    }
    match errno_name(text) {
        Some(name) if !text.starts_with(name) => format!("{name}: {text}"),
        _ => text.to_owned(),
    }
}

/// The symbolic name of the `(os error N)` in `text`, for the errors a
/// kernel or a limit gives io_uring setups.
fn errno_name(text: &str) -> Option<&'static str> {
    let number: i32 = text
        .split("(os error ")
        .nth(1)?
        .split(')')
        .next()?
        .parse()
        .ok()?;
    Some(match number {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EINVAL => "EINVAL",
        libc::EMFILE => "EMFILE",
        libc::ENOSYS => "ENOSYS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ENOBUFS => "ENOBUFS",
        _ => return None,
    })
}

/// `text` cut to `max` characters, with "…" when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// "1.23 [1.10-1.40]", with a precision that suits the magnitude.
fn format_summary(summary: &Option<Summary>) -> String {
    match summary {
        None => "-".to_owned(),
        Some(s) if s.median >= 1000.0 => format!("{:.0} [{:.0}-{:.0}]", s.median, s.min, s.max),
        Some(s) if s.median >= 100.0 => format!("{:.1} [{:.1}-{:.1}]", s.median, s.min, s.max),
        // Ratios to a reference hundreds of times worse (busy_worker).
        Some(s) if s.median < 0.1 => format!("{:.4} [{:.4}-{:.4}]", s.median, s.min, s.max),
        Some(s) => format!("{:.2} [{:.2}-{:.2}]", s.median, s.min, s.max),
    }
}

fn format_median(summary: &Option<Summary>) -> String {
    match summary {
        None => "-".to_owned(),
        Some(s) if s.median >= 100.0 => format!("{:.0}", s.median),
        // Per-message counts (0.35 enters/msg).
        Some(s) if s.median < 10.0 => format!("{:.2}", s.median),
        Some(s) => format!("{:.1}", s.median),
    }
}

/// Per-round ratios with each round's mode letter: "1.02F 0.97S -M".
fn format_rounds(ratios: &[Option<f64>], modes: &[Mode]) -> String {
    let cells: Vec<String> = ratios
        .iter()
        .zip(modes)
        .map(|(ratio, mode)| match ratio {
            Some(ratio) if *ratio < 0.1 => format!("{ratio:.4}{}", mode.letter()),
            Some(ratio) => format!("{ratio:.2}{}", mode.letter()),
            None => format!("-{}", mode.letter()),
        })
        .collect();
    cells.join(" ")
}

impl WorkloadSummary {
    /// The table's rows: a header, then one per profile. An `n/a` row
    /// says `n/a (reason)` in its first figure's column when `inline`
    /// (Markdown), else `n/a [k]`, the k-th of [`Self::not_available`].
    fn table_rows(&self, baseline: &str, inline: bool) -> Vec<Vec<String>> {
        let mut header = vec![
            "profile".to_owned(),
            format!("{} median [min-max]", self.headline),
            format!("/{baseline} [min-max]"),
            "fast rounds".to_owned(),
        ];
        for against in &self.references {
            header.push(format!("/{against} [min-max]"));
        }
        header.extend(self.columns.iter().cloned());
        header.push("per round (F/S/M)".to_owned());
        for against in &self.references {
            header.push(format!("/{against} per round"));
        }
        let mut rows = vec![header];
        let mut footnote = 0;
        for row in &self.rows {
            if let Some(reason) = &row.not_available {
                footnote += 1;
                rows.push(vec![
                    row.profile.clone(),
                    if inline {
                        format!("n/a ({reason})")
                    } else {
                        format!("n/a [{footnote}]")
                    },
                ]);
                continue;
            }
            let mut cells = vec![
                row.profile.clone(),
                format_summary(&row.headline),
                format_summary(&row.ratio),
                format_summary(&row.ratio_fast),
            ];
            for reference in &row.references {
                cells.push(format_summary(&reference.summary));
            }
            cells.extend(row.columns.iter().map(format_median));
            cells.push(format_rounds(&row.ratio_per_round, &self.round_modes));
            for reference in &row.references {
                cells.push(format_rounds(&reference.per_round, &self.round_modes));
            }
            rows.push(cells);
        }
        rows
    }
}

impl WorkloadSummary {
    /// The rows never measured, with why: `(profile, reason)`.
    pub fn not_available(&self) -> Vec<(&str, &str)> {
        self.rows
            .iter()
            .filter_map(|row| Some((row.profile.as_str(), row.not_available.as_deref()?)))
            .collect()
    }
}

impl MatrixReport {
    /// The header lines shared by both renderings.
    fn header_lines(&self) -> Vec<String> {
        let env = &self.environment;
        let machine = &env.machine;
        let settings = &self.settings;
        vec![
            format!("command:    {}", settings.command),
            format!(
                "machine:    {} CPUs ({}), kernel {}",
                machine
                    .cpus
                    .map_or_else(|| "?".to_owned(), |n| n.to_string()),
                machine.cpu_model,
                machine.kernel
            ),
            format!("revision:   {}, {}", machine.git_revision, machine.rustc),
            format!("privileges: {}", env.privileges()),
            format!("io_uring:   {}", env.uring_probe),
            format!(
                "method:     {} scale, {} rounds, profiles interleaved (the first rotates each \
                 round), a fresh server process per cell, {} workers for multi-thread servers; \
                 {}; ratio = the table's headline figure (CPU per op unless the table says \
                 otherwise) / the {} profile's in the same round, median [min-max] over rounds; F/S/M = loopback fast/slow/mixed (probe threshold \
                 {:.0}k round trips/s); wall time {:.0} s",
                settings.scale,
                settings.rounds,
                settings.workers,
                settings.pinning,
                settings.baseline,
                settings.fast_threshold / 1e3,
                self.wall_secs
            ),
        ]
    }

    /// Plain-text tables, as printed on standard output.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "\nringwork-bench matrix");
        for line in self.header_lines() {
            let _ = writeln!(out, "{line}");
        }
        for profile in &self.profiles {
            let _ = writeln!(
                out,
                "profile:    {:<24} {}{}",
                profile.name,
                profile.what,
                if profile.env.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", profile.env)
                }
            );
        }
        for summary in &self.summaries {
            let _ = writeln!(out, "\n{}: {}", summary.workload, summary.size);
            out.push_str(&format_table(
                &summary.table_rows(&self.settings.baseline, false),
                1,
            ));
            for row in &summary.rows {
                if let Some(note) = &row.note {
                    let _ = writeln!(out, "{}: {note}", row.profile);
                }
            }
            for (index, (profile, reason)) in summary.not_available().iter().enumerate() {
                let _ = writeln!(
                    out,
                    "[{}] {profile}: n/a ({})",
                    index + 1,
                    shorten(reason, 160)
                );
            }
        }
        out
    }

    /// `report.md`: the same tables in Markdown, with the charts.
    pub fn render_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# ringwork kernel-feature matrix\n");
        let _ = writeln!(out, "```text");
        for line in self.header_lines() {
            let _ = writeln!(out, "{line}");
        }
        let _ = writeln!(out, "```\n");
        let _ = writeln!(out, "## Profiles\n");
        let _ = writeln!(
            out,
            "| profile | switches | environment | ring as reported |"
        );
        let _ = writeln!(out, "|---|---|---|---|");
        for profile in &self.profiles {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                profile.name,
                markdown_cell(&profile.what),
                if profile.env.is_empty() {
                    "-".to_owned()
                } else {
                    format!("`{}`", profile.env)
                },
                profile
                    .server
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), markdown_cell)
            );
        }
        for summary in &self.summaries {
            let _ = writeln!(out, "\n## {}\n\n{}\n", summary.workload, summary.size);
            let rows = summary.table_rows(&self.settings.baseline, true);
            let columns = rows[0].len();
            for (index, row) in rows.iter().enumerate() {
                let mut cells: Vec<String> = row.iter().map(|cell| markdown_cell(cell)).collect();
                cells.resize(columns, String::new());
                let _ = writeln!(out, "| {} |", cells.join(" | "));
                if index == 0 {
                    let _ = writeln!(out, "|{}", "---|".repeat(columns));
                }
            }
            let notes: Vec<String> = summary
                .rows
                .iter()
                .filter_map(|row| Some(format!("- {}: {}", row.profile, row.note.as_deref()?)))
                .collect();
            if !notes.is_empty() {
                let _ = writeln!(out, "\n{}", notes.join("\n"));
            }
            let _ = writeln!(
                out,
                "\n![{}: {}, ratio to {}; {}]({}.svg)",
                summary.workload,
                summary.headline,
                self.settings.baseline,
                summary.second.1,
                summary.workload
            );
        }
        out
    }
}

fn markdown_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::MachineInfo;

    fn measured(profile: &str, round: usize, cpu: f64, mode: Mode) -> Cell {
        Cell {
            profile: profile.to_owned(),
            workload: "echo_64".to_owned(),
            round,
            probe_before: 200e3,
            probe_after: 200e3,
            mode,
            outcome: Outcome::Measured(Measurement {
                p50_us: Some(11.0),
                p99_us: Some(40.0),
                p999_us: Some(90.0),
                server_cpu_share: Some(0.4),
                other_cpu_share: Some(0.01),
                ..Measurement::new(cpu, 500e3)
            }),
        }
    }

    fn refused(profile: &str, round: usize) -> Cell {
        Cell {
            profile: profile.to_owned(),
            workload: "echo_64".to_owned(),
            round,
            probe_before: 200e3,
            probe_after: 200e3,
            mode: Mode::Fast,
            outcome: Outcome::NotAvailable {
                reason: "EINVAL: io_uring_setup: Invalid argument (os error 22)".to_owned(),
            },
        }
    }

    fn cells() -> Vec<Cell> {
        vec![
            measured("epoll", 1, 10.0, Mode::Fast),
            measured("uring", 1, 8.0, Mode::Fast),
            refused("bufring", 1),
            measured("epoll", 2, 20.0, Mode::Slow),
            measured("uring", 2, 18.0, Mode::Slow),
            refused("bufring", 2),
            measured("epoll", 3, 10.0, Mode::Fast),
            measured("uring", 3, 12.0, Mode::Slow),
            refused("bufring", 3),
        ]
    }

    fn echo_layout() -> Layout {
        Layout {
            headline: (Figure::Cpu, "CPU us/msg".to_owned()),
            references: Vec::new(),
            columns: vec![
                (Figure::P50, "p50 us".to_owned()),
                (Figure::P99, "p99 us".to_owned()),
                (Figure::P999, "p999 us".to_owned()),
                (Figure::Rate, "closed-loop msgs/s".to_owned()),
            ],
            second: (Figure::P99, "p99 latency, us".to_owned()),
            cpu_unit: "CPU us/msg".to_owned(),
            rate_unit: "closed-loop msgs/s".to_owned(),
        }
    }

    fn summary() -> WorkloadSummary {
        summarise(
            "echo_64",
            "100 conns".to_owned(),
            &echo_layout(),
            &["epoll", "uring", "bufring"],
            "epoll",
            3,
            &cells(),
        )
    }

    fn report() -> MatrixReport {
        report_with(summary())
    }

    fn report_with(summary: WorkloadSummary) -> MatrixReport {
        MatrixReport {
            environment: Environment {
                machine: MachineInfo {
                    cpus: Some(2),
                    cpu_model: "test CPU".to_owned(),
                    kernel: "6.18".to_owned(),
                    git_revision: "abc1234".to_owned(),
                    rustc: "rustc 1.95".to_owned(),
                    started_unix_secs: 1,
                },
                euid: 0,
                cap_ipc_lock: Some(true),
                memlock_soft: Some(8 << 20),
                memlock_hard: None,
                uring_probe: "default ring: sq=256".to_owned(),
                fio: None,
            },
            settings: MatrixSettings {
                command: "matrix --quick".to_owned(),
                scale: "quick".to_owned(),
                rounds: 3,
                workers: 2,
                baseline: "epoll".to_owned(),
                fast_threshold: 150e3,
                pinning: "servers on CPU 0, clients on CPU 1".to_owned(),
            },
            profiles: vec![ProfileInfo {
                name: "epoll".to_owned(),
                env: "RINGWORK_DRIVER=epoll".to_owned(),
                what: "baseline | reference".to_owned(),
                server: Some("driver epoll".to_owned()),
            }],
            rounds: vec![RoundInfo {
                workload: "echo_64".to_owned(),
                round: 1,
                order: vec!["epoll".to_owned(), "uring".to_owned()],
                mode: Mode::Fast,
            }],
            summaries: vec![summary],
            cells: cells(),
            wall_secs: 12.5,
        }
    }

    #[test]
    fn ratios_are_taken_per_round_against_the_same_rounds_baseline() {
        let summary = summary();
        let uring = &summary.rows[1];
        assert_eq!(uring.ratio_per_round, [Some(0.8), Some(0.9), Some(1.2)]);
        let ratio = uring.ratio.unwrap();
        assert_eq!((ratio.median, ratio.min, ratio.max), (0.9, 0.8, 1.2));
        // Only round 1 had every measured cell fast (round 3's uring was slow).
        assert_eq!(summary.round_modes, [Mode::Fast, Mode::Slow, Mode::Mixed]);
        assert_eq!(uring.ratio_fast.unwrap().median, 0.8);
        assert_eq!(summary.rows[0].ratio.unwrap().median, 1.0);
    }

    #[test]
    fn a_profile_never_measured_is_one_na_row_with_its_reason() {
        let summary = summary();
        let bufring = &summary.rows[2];
        assert_eq!(bufring.rounds_measured, 0);
        assert_eq!(bufring.ratio_per_round, [None, None, None]);
        assert!(bufring.ratio.is_none() && bufring.cpu_us_per_op.is_none());
        let text = report().render_text();
        assert!(
            text.contains("[1] bufring: n/a (EINVAL: io_uring_setup: Invalid argument"),
            "{text}"
        );
    }

    #[test]
    fn a_reference_ratio_divides_the_headline_figure_per_round() {
        let mut layout = echo_layout();
        layout.headline = (Figure::P99, "p99 us".to_owned());
        layout.references = vec!["uring".to_owned()];
        let mut cells = cells();
        if let Outcome::Measured(m) = &mut cells[0].outcome {
            m.p99_us = Some(80.0);
        }
        let summary = summarise(
            "echo_64",
            String::new(),
            &layout,
            &["epoll", "uring", "bufring"],
            "epoll",
            3,
            &cells,
        );
        let epoll = &summary.rows[0];
        // Round 1: 80 / 40; rounds 2 and 3: 40 / 40.
        assert_eq!(
            epoll.references[0].per_round,
            [Some(2.0), Some(1.0), Some(1.0)]
        );
        assert_eq!(epoll.headline.unwrap().max, 80.0);
        assert_eq!(
            summary.rows[1].ratio_per_round,
            [Some(0.5), Some(1.0), Some(1.0)]
        );
        assert_eq!(summary.rows[2].references[0].per_round, [None, None, None]);
        let text = report_with(summary).render_text();
        assert!(text.contains("/uring [min-max]"), "{text}");
        assert!(text.contains("2.00F 1.00S 1.00M"), "{text}");
    }

    #[test]
    fn a_missing_baseline_round_leaves_that_ratio_out() {
        let mut cells = cells();
        cells[0] = refused("epoll", 1);
        let summary = summarise(
            "echo_64",
            String::new(),
            &echo_layout(),
            &["epoll", "uring"],
            "epoll",
            3,
            &cells,
        );
        assert_eq!(
            summary.rows[1].ratio_per_round,
            [None, Some(0.9), Some(1.2)]
        );
        assert_eq!(summary.rows[1].ratio.unwrap().median, 1.05);
    }

    #[test]
    fn the_report_survives_a_json_round_trip() {
        let report = report();
        let json = serde_json::to_string_pretty(&report).unwrap();
        let back: MatrixReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["cells"][2]["outcome"]["status"], "not_available");
        assert_eq!(value["cells"][0]["outcome"]["status"], "measured");
        assert_eq!(value["cells"][0]["mode"], "fast");
    }

    #[test]
    fn markdown_has_a_table_and_a_chart_per_workload() {
        let markdown = report().render_markdown();
        assert!(
            markdown.contains("| epoll | baseline \\| reference | `RINGWORK_DRIVER=epoll` |"),
            "{markdown}"
        );
        assert!(markdown.contains("## echo_64"), "{markdown}");
        assert!(
            markdown.contains("| uring | 12.00 [8.00-18.00]"),
            "{markdown}"
        );
        assert!(markdown.contains("(echo_64.svg)"), "{markdown}");
        assert!(markdown.contains("| bufring | n/a (EINVAL"), "{markdown}");
    }

    #[test]
    fn na_reasons_drop_the_childs_prefix_and_name_the_errno() {
        assert_eq!(
            not_available_reason(
                "ringwork-bench: error: serve ringwork: io_uring_setup: Invalid argument \
                 (os error 22)"
            ),
            "EINVAL: io_uring_setup: Invalid argument (os error 22)"
        );
        assert_eq!(
            not_available_reason(
                "noise\nringwork-bench: error: serve ringwork: RINGWORK_URING=\"bufring\": \
                 unknown setting \"bufring\"\n"
            ),
            "RINGWORK_URING=\"bufring\": unknown setting \"bufring\""
        );
        assert_eq!(
            not_available_reason("Cannot allocate memory (os error 12)"),
            "ENOMEM: Cannot allocate memory (os error 12)"
        );
        assert_eq!(not_available_reason(""), "unknown error");
    }

    #[test]
    fn monoios_split_is_a_row_note_round_by_round() {
        let mut cells = cells();
        for (cell, split) in cells
            .iter_mut()
            .filter(|cell| cell.profile == "uring")
            .zip([vec![6, 4], vec![10, 0], vec![5, 5]])
        {
            if let Outcome::Measured(m) = &mut cell.outcome {
                m.heavy_split = Some(split);
            }
        }
        let summary = summarise(
            "echo_64",
            String::new(),
            &echo_layout(),
            &["epoll", "uring"],
            "epoll",
            3,
            &cells,
        );
        assert_eq!(summary.rows[0].note, None);
        assert_eq!(
            summary.rows[1].note.as_deref(),
            Some(
                "heavy connections per thread (SO_REUSEPORT's split) by round: r1 [6, 4], \
                 r2 [10, 0], r3 [5, 5]"
            )
        );
    }

    #[test]
    fn a_round_is_fast_only_when_every_cell_was() {
        assert_eq!(round_mode([Mode::Fast, Mode::Fast]), Mode::Fast);
        assert_eq!(round_mode([Mode::Slow, Mode::Slow]), Mode::Slow);
        assert_eq!(round_mode([Mode::Fast, Mode::Slow]), Mode::Mixed);
        assert_eq!(round_mode([]), Mode::Mixed);
    }
}
