//! `ringwork-bench matrix`: the kernel-feature comparison — every profile
//! (ringwork under one set of io_uring switches, or a peer runtime) against
//! every workload, in interleaved rounds, as tables, `report.md`,
//! `report.json` and one SVG chart per workload.
//!
//! Each cell is a fresh server process (`ringwork-bench serve`, its threads
//! pinned to CPU 0; ringwork profiles choose their driver and io_uring
//! settings through `RINGWORK_DRIVER` and `RINGWORK_URING` on that process)
//! driven by the load generators of `tcp_echo` and `accept_storm` pinned to
//! CPU 1. Within a round every workload runs every profile, the first
//! profile rotating from round to round; a loopback probe before and after
//! each cell labels it fast or slow (BENCHMARKING.md's two speeds). A
//! profile the runtime, the kernel or a limit refuses is an `n/a` cell with
//! the error, and the run goes on. The headline figure is the server's CPU
//! time per operation at a fixed offered rate, divided by the baseline
//! profile's (`epoll`) in the same round — except where a workload's
//! [`Layout`](report::Layout) names another (the skewed columns: the plain
//! connections' p99, also divided by std-threads'; their servers and
//! client are not pinned). Columns beyond the echo, accept and file ones
//! are not in the default set (`--workloads NAME` or `--workloads all`):
//! the default set already takes ~17 min at full scale.

mod busy;
pub mod chart;
pub mod environment;
mod files;
pub mod profile;
pub mod report;

use crate::iobench::accept_storm::{self, StormConfig};
use crate::iobench::bulk::{self, BulkConfig};
use crate::iobench::idle_conns::{self, IdleConfig};
use crate::iobench::loopback::{self, Mode};
use crate::iobench::server::{self, Service};
use crate::iobench::skewed::{self, SkewedConfig};
use crate::iobench::syscount::{self, PerfEvents};
use crate::iobench::tcp_echo::{self, EchoConfig, ServerProcess, StderrSink};
use crate::iobench::{rotate, tcp_echo::CLIENT_CPU, tcp_echo::SERVER_CPU};
use crate::runner::Watchdog;
use crate::workloads::Scale;
use environment::Environment;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use profile::{MatrixWorkload, Profile, WorkloadKind, BASELINE};
use report::{
    Cell, Figure, MatrixReport, MatrixSettings, Measurement, Outcome, ProfileInfo, RoundInfo,
};
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct MatrixOptions {
    /// Quick or full sizes.
    pub scale: Scale,
    /// Rounds.
    pub rounds: usize,
    /// The rows, in table order (the baseline among them).
    pub profiles: Vec<Profile>,
    /// The columns.
    pub workloads: Vec<MatrixWorkload>,
    /// Worker threads of the multi-thread servers.
    pub workers: usize,
    /// Seed of ringwork's scheduler in every server.
    pub ringwork_seed: Option<u64>,
    /// A cell taking longer than this is a hang (the process exits).
    pub hang_timeout: Duration,
    /// Probe rate from which a probe says fast.
    pub fast_threshold: f64,
    /// The command line, for the report.
    pub command: String,
    /// Show a progress bar (or, when standard error is not a terminal, a
    /// line per cell).
    pub show_progress: bool,
}

/// Default rounds at `scale`: 2 with `--quick`, which keeps it under two
/// minutes with every profile (3 rounds took 162 s with 19 profiles).
pub fn default_rounds(scale: Scale) -> usize {
    match scale {
        Scale::Full => 7,
        Scale::Quick => 2,
    }
}

/// Offered rate of an echo workload's open loop, messages per second over
/// all connections: BENCHMARKING.md's 50k for small messages (25k with
/// `--quick`, which measures shorter windows), and 10k for 16 KiB ones
/// (160 MiB/s each way) so that no server nears a full core.
pub fn echo_rate(scale: Scale, size: usize) -> u64 {
    match (scale, size >= 4096) {
        (_, true) => 10_000,
        (Scale::Full, false) => 50_000,
        (Scale::Quick, false) => 25_000,
    }
}

/// Offered rate of the `http_hello` open loop, requests per second over
/// all connections: well below either server's saturation on one core.
pub fn http_rate(scale: Scale) -> u64 {
    match scale {
        Scale::Full => 20_000,
        Scale::Quick => 10_000,
    }
}

/// The `http_hello` workload's sizes: the echo's windows and connections,
/// at [`http_rate`].
pub fn http_config(scale: Scale, rounds: usize) -> EchoConfig {
    EchoConfig {
        rate: http_rate(scale),
        ..echo_config(scale, crate::iobench::http::REQUEST.len(), rounds)
    }
}

/// An echo workload's sizes.
pub fn echo_config(scale: Scale, size: usize, rounds: usize) -> EchoConfig {
    let ms = Duration::from_millis;
    let (closed_warm, closed_measure, open_warm, open_measure) = match scale {
        Scale::Full => (ms(100), ms(400), ms(200), ms(1000)),
        Scale::Quick => (ms(30), ms(100), ms(100), ms(300)),
    };
    EchoConfig {
        connections: 100,
        sizes: vec![size],
        closed_warm,
        closed_measure,
        rate: echo_rate(scale, size),
        open_warm,
        open_measure,
        rounds,
    }
}

/// The accept storm's sizes.
pub fn storm_config(scale: Scale, rounds: usize) -> StormConfig {
    let mut config = StormConfig::new(scale, rounds);
    if scale == Scale::Quick {
        config.measure = Duration::from_millis(300);
    }
    config
}

/// The closed-loop column's warm-up and window.
pub fn closed_config(scale: Scale) -> (Duration, Duration) {
    let ms = Duration::from_millis;
    match scale {
        Scale::Full => (ms(200), ms(1000)),
        Scale::Quick => (ms(100), ms(300)),
    }
}

/// A skewed workload's sizes: `heavy` of 100 connections cost the server
/// `compute_us` per message; a closed loop at saturation, then the open
/// loop at 20k msgs/s (which asks the heavy ones for 0.4 cores in both
/// settings of the matrix).
pub fn skewed_config(scale: Scale, rounds: usize, heavy: usize, compute_us: u64) -> SkewedConfig {
    let ms = Duration::from_millis;
    let mut config = SkewedConfig::new(scale, rounds);
    config.heavy = heavy;
    config.compute = Duration::from_micros(compute_us);
    let (closed_warm, closed_measure, warm, measure) = match scale {
        Scale::Full => (ms(100), ms(400), ms(300), ms(1000)),
        Scale::Quick => (ms(50), ms(200), ms(200), ms(500)),
    };
    config.closed = Some((closed_warm, closed_measure));
    config.warm = warm;
    config.measure = measure;
    config
}

/// A workload's size and method in words.
pub fn describe(workload: &MatrixWorkload, scale: Scale, rounds: usize) -> String {
    match workload.kind {
        WorkloadKind::Echo { size } => {
            let config = echo_config(scale, size, rounds);
            format!(
                "{}; open loop {:.1} s after {:.1} s (CPU per message = server process CPU \
                 clock over the window / echoes completed in it; latency from intended send \
                 times), after a closed loop of {:.1} s",
                config.size(),
                config.open_measure.as_secs_f64(),
                config.open_warm.as_secs_f64(),
                config.closed_measure.as_secs_f64()
            )
        }
        WorkloadKind::Http => {
            let config = http_config(scale, rounds);
            format!(
                "{} keep-alive HTTP/1.1 connections, a {}-byte GET and a 13-byte hello each \
                 way (every response parsed and checked); closed loop {:.1} s (one request in \
                 flight per connection: requests/s at saturation), then open loop at {} req/s, \
                 {:.1} s after {:.1} s (CPU per request = server process CPU clock over the \
                 window / responses completed in it; latency from intended send times); \
                 headline ratios to epoll and to tokio-mt; server pinned to CPU {SERVER_CPU}, \
                 client to CPU {CLIENT_CPU}",
                config.connections,
                crate::iobench::http::REQUEST.len(),
                config.closed_measure.as_secs_f64(),
                config.rate,
                config.open_measure.as_secs_f64(),
                config.open_warm.as_secs_f64()
            )
        }
        WorkloadKind::AcceptStorm => {
            let config = storm_config(scale, rounds);
            format!(
                "{}; CPU per connection = server process CPU clock over the window / \
                 connections completed",
                config.size()
            )
        }
        WorkloadKind::FileRandread => {
            let (bytes, reads) = files::sizes(scale);
            format!(
                "{reads} x 4 KiB random reads, 32 in flight, {} MiB file, in the benchmark \
                 process (no server); CPU per read = this process's CPU clock over the reads",
                bytes >> 20
            )
        }
        WorkloadKind::EchoClosed { size } => {
            let (warm, measure) = closed_config(scale);
            format!(
                "100 conns, {} messages, closed loop alone (one message in flight per \
                 connection, the next sent when its echo is back) for {:.1} s after {:.1} s: \
                 headline = echoes/s at saturation (ratio > 1: more than epoll); latency from \
                 each message's send to its echo (no intended send times: a closed loop waits); \
                 CPU per message = server CPU over the window / echoes in it (on this machine \
                 the client's core is often the ceiling: read the CPU beside the rate)",
                crate::iobench::tcp_echo::format_size(size),
                measure.as_secs_f64(),
                warm.as_secs_f64()
            )
        }
        WorkloadKind::File(job) => {
            let threads = match job.op {
                files::FileOp::SyncLog => "one thread",
                _ => "threads: one per operation in flight",
            };
            format!(
                "{} x {}, in the benchmark process (no server); CPU per op = this process's \
                 CPU clock over the operations / operations; latency of each operation from \
                 its issue to its completion (the log's: the append and its fdatasync); \
                 writes read back in part afterwards and compared byte for byte; peers: \
                 ringwork (io_uring ops, or the blocking pool on epoll), tokio (blocking pool), \
                 std-threads ({threads})",
                files::job_ops(scale, job),
                job.words()
            )
        }
        WorkloadKind::Skewed { heavy, compute_us } => {
            let config = skewed_config(scale, rounds, heavy, compute_us);
            let (closed_warm, closed_measure) = config.closed.unwrap_or_default();
            format!(
                "{}; server and client NOT pinned (the server's threads may use both cores); \
                 closed loop at saturation {:.1} s after {:.1} s (msgs/s over all connections, \
                 plain connections' p99 from send to echo), then open loop {:.1} s after {:.1} \
                 s: headline = plain connections' p99 from intended send times, ratios per \
                 round to the epoll baseline and to std-threads (the kernel's scheduler); \
                 heavy connections ask for {:.2} cores",
                config.size(),
                closed_measure.as_secs_f64(),
                closed_warm.as_secs_f64(),
                config.measure.as_secs_f64(),
                config.warm.as_secs_f64(),
                config.heavy_cores()
            )
        }
        WorkloadKind::IdleConns => {
            let config = IdleConfig::new(scale);
            format!(
                "{} connections (in batches of 256: connect, send {} B, check the echo), then \
                 all idle for {:.1} s with a read pending; headline = the server's VmRSS then, \
                 ratio per round to epoll and to tokio-mt (issue 13: RSS <= tokio's); KiB/conn \
                 = (VmRSS - VmRSS of the ready server before any connection) / connections; \
                 CPU = server CPU from the first connect to the last echo, per connection; \
                 each server waits its lowest-memory way (said per profile below the table); \
                 server pinned to CPU {SERVER_CPU}, client to CPU {CLIENT_CPU}",
                config.connections,
                config.size,
                config.settle.as_secs_f64()
            )
        }
        WorkloadKind::Bulk { size } => {
            let config = BulkConfig::new(scale, size);
            format!(
                "the server sends {} messages on {} connections as fast as the client (a \
                 thread per connection, every byte checked) reads them; {:.1} s measured after \
                 {:.1} s; GB/s = bytes read in the window / its length; CPU per MiB = server \
                 CPU over the window / MiB read in it; uring-send-zc (and uring-all) send these \
                 with IORING_OP_SEND_ZC (threshold 16 KiB), but loopback never does zero-copy: \
                 the kernel copies and the notification says so (IORING_NOTIF_USAGE_ZC_COPIED), \
                 so only SEND_ZC's overhead shows; server pinned to CPU {SERVER_CPU}, client to \
                 CPU {CLIENT_CPU}",
                crate::iobench::tcp_echo::format_size(size),
                config.connections,
                config.measure.as_secs_f64(),
                config.warm.as_secs_f64()
            )
        }
        WorkloadKind::BusyWorker(blocker) => format!(
            "busy_worker in the benchmark process (no server, nothing pinned): {} counted \
             rounds per cell on a runtime built for the profile; a neighbour task's {} ms \
             timer and socket read are first polled on the worker that then blocks {} ms \
             ({}), the other worker idle; headline = how late the read completed after the \
             byte was written (when both were due), median over the cell's rounds; void \
             rounds = rounds repeated because the neighbour ran elsewhere; ringwork profiles \
             and tokio-mt only",
            busy::rounds_per_cell(scale),
            crate::busy_worker::DUE.as_millis(),
            crate::busy_worker::BLOCKED.as_millis(),
            blocker.name()
        ),
    }
}

/// Progress on standard error: a bar with ETA on a terminal, else a line
/// per cell.
struct Progress {
    bar: Option<ProgressBar>,
    lines: bool,
    total: u64,
    done: u64,
    started: Instant,
}

impl Progress {
    fn new(total: u64, show: bool) -> Progress {
        let terminal = show && io::stderr().is_terminal();
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} cells, ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        });
        Progress {
            bar,
            lines: show && !terminal,
            total,
            done: 0,
            started: Instant::now(),
        }
    }

    fn start(&self, what: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(what.to_owned());
        }
    }

    fn finish_cell(&mut self, line: &str) {
        self.done += 1;
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        if self.lines {
            let elapsed = self.started.elapsed().as_secs_f64();
            let eta = elapsed / self.done as f64 * (self.total - self.done) as f64;
            eprintln!(
                "  [{:>3}/{}, {:>4.0} s, ETA {:>4.0} s] {line}",
                self.done, self.total, elapsed, eta
            );
        }
    }

    /// Where a child server's standard error goes while the bar is shown.
    fn sink(&self) -> StderrSink {
        match &self.bar {
            Some(bar) => {
                let bar = bar.clone();
                Arc::new(move |line: &str| bar.println(line))
            }
            None => Arc::new(|line: &str| eprintln!("{line}")),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Runs the matrix.
pub fn run(options: &MatrixOptions) -> io::Result<MatrixReport> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        return Err(io::Error::other(format!(
            "the matrix pins servers to CPU {SERVER_CPU} and clients to CPU {CLIENT_CPU}: it \
             needs 2 CPUs, this process may use {cpus}"
        )));
    }
    let started = Instant::now();
    let environment = Environment::detect();
    let watchdog = Watchdog::start(options.hang_timeout);
    let total = (options.rounds * options.workloads.len() * options.profiles.len()) as u64;
    let mut progress = Progress::new(total, options.show_progress);
    let mut cells = Vec::new();
    let mut rounds = Vec::new();
    let mut servers: Vec<(&'static str, String)> = Vec::new();
    let file_bench = options
        .workloads
        .iter()
        .any(|workload| workload.kind.file_job().is_some())
        .then(|| files::FileBench::create(options.scale).map_err(|err| err.to_string()));
    // Syscall and io_uring counts per message (echo columns, round 1).
    let perf = options
        .workloads
        .iter()
        .any(|workload| matches!(workload.kind, WorkloadKind::Echo { .. }))
        .then(syscount::probe);
    for round in 1..=options.rounds {
        for workload in &options.workloads {
            let order = rotate(options.profiles.len(), round - 1);
            let mut probe = loopback::probe_on_fresh_thread(SERVER_CPU, CLIENT_CPU)?;
            let mut modes = Vec::new();
            for &index in &order {
                let profile = &options.profiles[index];
                let label = format!(
                    "round {round}/{}, {}, {}",
                    options.rounds, workload.name, profile.name
                );
                progress.start(&label);
                let _watched = watchdog.watch(format!(
                    "matrix cell ({label}) has not finished after {:.0} s: the server or the \
                     client looks hung. Rerun it alone with `ringwork-bench matrix --profiles \
                     {} --workloads {}`",
                    options.hang_timeout.as_secs_f64(),
                    profile.name,
                    workload.name
                ));
                let refused = profile.refuses(workload);
                let outcome = match (&workload.kind, &file_bench) {
                    _ if refused.is_some() => Err(refused.unwrap_or_default()),
                    (kind, Some(Ok(bench))) if kind.file_job().is_some() => bench.run_cell(
                        profile,
                        kind.file_job().expect("a file column"),
                        round,
                        options.workers,
                        options.ringwork_seed,
                    ),
                    (kind, Some(Err(err))) if kind.file_job().is_some() => {
                        Err(format!("creating the test file: {err}"))
                    }
                    (WorkloadKind::BusyWorker(blocker), _) => busy::run_cell(
                        profile,
                        *blocker,
                        options.scale,
                        options.workers,
                        options.ringwork_seed,
                    ),
                    _ => {
                        let count = match &perf {
                            Some(Ok(events)) if round == 1 => Some(events),
                            _ => None,
                        };
                        run_cell(profile, workload, options, count, progress.sink())
                    }
                };
                let after = loopback::probe_on_fresh_thread(SERVER_CPU, CLIENT_CPU)?;
                let mode = Mode::between(probe, after, options.fast_threshold);
                let outcome = match outcome {
                    Ok((measurement, description)) => {
                        let in_process = matches!(
                            workload.kind,
                            WorkloadKind::FileRandread
                                | WorkloadKind::BusyWorker(_)
                                | WorkloadKind::File(_)
                        );
                        if !in_process && !servers.iter().any(|(name, _)| *name == profile.name) {
                            servers.push((profile.name, description));
                        }
                        modes.push(mode);
                        Outcome::Measured(measurement)
                    }
                    Err(reason) => Outcome::NotAvailable { reason },
                };
                progress.finish_cell(&cell_line(&label, mode, &outcome, workload));
                cells.push(Cell {
                    profile: profile.name.to_owned(),
                    workload: workload.name.to_owned(),
                    round,
                    probe_before: probe,
                    probe_after: after,
                    mode,
                    outcome,
                });
                probe = after;
            }
            rounds.push(RoundInfo {
                workload: workload.name.to_owned(),
                round,
                order: order
                    .iter()
                    .map(|&index| options.profiles[index].name.to_owned())
                    .collect(),
                mode: report::round_mode(modes),
            });
        }
    }
    progress.finish();
    // fio runs after every cell (its writes replace the test file's
    // checked blocks), once per file column.
    let file_notes: Vec<(&str, String)> = match &file_bench {
        Some(Ok(bench)) => options
            .workloads
            .iter()
            .filter_map(|workload| Some((workload.name, workload.kind.file_job()?)))
            .map(|(name, job)| {
                let fio = bench.fio_reference(job, fio_runtime(options.scale, job));
                (name, format!("; {}; {fio}", bench.access_of(job)))
            })
            .collect(),
        _ => Vec::new(),
    };
    let names: Vec<&str> = options
        .profiles
        .iter()
        .map(|profile| profile.name)
        .collect();
    let summaries = options
        .workloads
        .iter()
        .map(|workload| {
            let mut size = describe(workload, options.scale, options.rounds);
            if let Some((_, note)) = file_notes.iter().find(|(name, _)| *name == workload.name) {
                size.push_str(note);
            }
            if let (WorkloadKind::Echo { .. }, Some(perf)) = (workload.kind, &perf) {
                size.push_str(&count_note(perf));
            }
            report::summarise(
                workload.name,
                size,
                &workload.layout(),
                &names,
                BASELINE,
                options.rounds,
                &cells,
            )
        })
        .collect();
    Ok(MatrixReport {
        environment,
        settings: MatrixSettings {
            command: options.command.clone(),
            scale: match options.scale {
                Scale::Full => "full",
                Scale::Quick => "quick",
            }
            .to_owned(),
            rounds: options.rounds,
            workers: options.workers,
            baseline: BASELINE.to_owned(),
            fast_threshold: options.fast_threshold,
            pinning: format!(
                "every server thread pinned to CPU {SERVER_CPU} (an SQPOLL thread inherits \
                 it), load generators pinned to CPU {CLIENT_CPU}, except in the skewed \
                 columns (nothing pinned)"
            ),
        },
        profiles: options
            .profiles
            .iter()
            .map(|profile| ProfileInfo {
                name: profile.name.to_owned(),
                env: profile.env_words(),
                what: profile.what.to_owned(),
                server: servers
                    .iter()
                    .find(|(name, _)| *name == profile.name)
                    .map(|(_, description)| description.clone()),
            })
            .collect(),
        rounds,
        summaries,
        cells,
        wall_secs: started.elapsed().as_secs_f64(),
    })
}

/// How long fio runs for `job`'s reference: 5 s at full scale; with
/// `--quick` 2 s for the QD32 jobs and 1 s for the others (their cells
/// are short too).
fn fio_runtime(scale: Scale, job: files::FileJob) -> Duration {
    match (scale, job.depth > 1) {
        (Scale::Full, _) => Duration::from_secs(5),
        (Scale::Quick, true) => Duration::from_secs(2),
        (Scale::Quick, false) => Duration::from_secs(1),
    }
}

/// How the echo columns' syscall and io_uring counts were taken, or why
/// they are n/a.
fn count_note(perf: &Result<PerfEvents, String>) -> String {
    match perf {
        Ok(events) => format!(
            "; syscalls/enters/SQEs/CQEs per message: perf stat -p SERVER -e {} over a \
             counting open loop of their own at the same rate (a third of the window, after \
             half the warm-up) between the closed loop and the measured open loop, in round 1 \
             only: counting slows every system call (~270 ns here), so perf has exited before \
             the measured window",
            events.events.join(",")
        ),
        Err(reason) => format!("; syscalls/enters/SQEs/CQEs per message: n/a ({reason})"),
    }
}

/// One progress line.
fn cell_line(label: &str, mode: Mode, outcome: &Outcome, workload: &MatrixWorkload) -> String {
    match outcome {
        Outcome::Measured(m) => {
            let (headline, name) = workload.layout().headline;
            let mut line = format!(
                "{label}: {} {:.2} {name}",
                mode.letter(),
                headline.of(m).unwrap_or(f64::NAN)
            );
            if headline != Figure::Cpu {
                line.push_str(&format!(", {:.2} {}", m.cpu_us_per_op, workload.cpu_unit()));
            }
            let rate = m.ops_per_sec;
            let precision = if rate.abs() < 100.0 { 2 } else { 0 };
            line.push_str(&format!(", {rate:.precision$} {}", workload.rate_unit()));
            if let Some(p99) = m.p99_us.filter(|_| headline != Figure::P99) {
                line.push_str(&format!(", p99 {p99:.0} us"));
            }
            if let Some(p99) = m.closed_p99_us {
                line.push_str(&format!(", closed-loop plain p99 {p99:.0} us"));
            }
            line
        }
        Outcome::NotAvailable { reason } => format!("{label}: n/a ({reason})"),
    }
}

/// Runs one cell: a fresh server with the profile's environment, the
/// workload against it. `Err` holds the `n/a` text.
fn run_cell(
    profile: &Profile,
    workload: &MatrixWorkload,
    options: &MatrixOptions,
    count: Option<&PerfEvents>,
    sink: StderrSink,
) -> Result<(Measurement, String), String> {
    let na = |err: io::Error| report::not_available_reason(&err.to_string());
    // The skewed columns leave the server unpinned: work stealing needs the
    // second core.
    let (cpu, service) = match workload.kind {
        WorkloadKind::Skewed { heavy, compute_us } => (
            None,
            Service::Skewed(skewed_config(options.scale, options.rounds, heavy, compute_us).skew()),
        ),
        WorkloadKind::IdleConns => (Some(SERVER_CPU), Service::Idle),
        WorkloadKind::Bulk { size } => (Some(SERVER_CPU), Service::Bulk(size)),
        WorkloadKind::Http => (Some(SERVER_CPU), Service::Http),
        _ => (Some(SERVER_CPU), Service::Echo),
    };
    let warn = sink.clone();
    // monoio's threads say which got each heavy connection (skewed).
    let heavy_on: Arc<std::sync::Mutex<Vec<usize>>> = Arc::default();
    let sink: StderrSink = {
        let heavy_on = heavy_on.clone();
        Arc::new(move |line: &str| {
            match line
                .strip_prefix(server::HEAVY_ON_THREAD)
                .and_then(|thread| thread.trim().parse::<usize>().ok())
            {
                Some(thread) => heavy_on
                    .lock()
                    .unwrap_or_else(|err| err.into_inner())
                    .push(thread),
                None => sink(line),
            }
        })
    };
    let (server, ready) = ServerProcess::start_with_env(
        profile.server,
        options.workers,
        options.ringwork_seed,
        cpu,
        service,
        &profile.env(),
        sink,
    )
    .map_err(na)?;
    profile.check_driver(&ready.description)?;
    let measurement = match workload.kind {
        WorkloadKind::Echo { size } => {
            let config = echo_config(options.scale, size, options.rounds);
            let (measured, counted) = tcp_echo::measure_counted(
                server,
                ready.addr,
                &config,
                move |addr, connections| {
                    crate::iobench::loadgen::Client::connect(addr, connections, size)
                },
                count,
            )
            .map_err(na)?;
            let per_msg = match counted {
                Some(Ok(per_msg)) => per_msg,
                Some(Err(reason)) => {
                    warn(&format!("{}: syscall counts n/a: {reason}", profile.name));
                    syscount::PerOp::default()
                }
                None => syscount::PerOp::default(),
            };
            let cpu = measured.cpu_us_per_msg();
            if !cpu.is_finite() {
                return Err(
                    "no echo completed in the CPU window (the server or client was starved)"
                        .to_owned(),
                );
            }
            Measurement {
                p50_us: Some(measured.latency_us(0.50)),
                p99_us: Some(measured.latency_us(0.99)),
                p999_us: Some(measured.latency_us(0.999)),
                server_cpu_share: Some(measured.cpu.as_secs_f64() / measured.window.as_secs_f64()),
                other_cpu_share: Some(measured.other_cpu_share),
                switches_per_op: Some(measured.switches_per_msg()),
                syscalls_per_op: per_msg.syscalls,
                enters_per_op: per_msg.enters,
                sqes_per_op: per_msg.sqes,
                cqes_per_op: per_msg.cqes,
                ..Measurement::new(cpu, measured.closed_msgs_per_sec)
            }
        }
        WorkloadKind::Http => {
            let config = http_config(options.scale, options.rounds);
            let measured =
                tcp_echo::measure_with(server, ready.addr, &config, |addr, connections| {
                    crate::iobench::loadgen::Client::connect_http(addr, connections)
                })
                .map_err(na)?;
            let cpu = measured.cpu_us_per_msg();
            if !cpu.is_finite() {
                return Err("no response completed in the CPU window".to_owned());
            }
            Measurement {
                p50_us: Some(measured.latency_us(0.50)),
                p99_us: Some(measured.latency_us(0.99)),
                p999_us: Some(measured.latency_us(0.999)),
                server_cpu_share: Some(measured.cpu.as_secs_f64() / measured.window.as_secs_f64()),
                other_cpu_share: Some(measured.other_cpu_share),
                switches_per_op: Some(measured.switches_per_msg()),
                ..Measurement::new(cpu, measured.closed_msgs_per_sec)
            }
        }
        WorkloadKind::FileRandread | WorkloadKind::BusyWorker(_) | WorkloadKind::File(_) => {
            return Err("this column runs in the benchmark process, not in a server".to_owned())
        }
        WorkloadKind::EchoClosed { size } => {
            let (warm, measure) = closed_config(options.scale);
            let measured = tcp_echo::measure_closed(server, ready.addr, size, 100, warm, measure)
                .map_err(na)?;
            if measured.latencies_ns.is_empty() {
                return Err("no echo completed in the closed loop's window".to_owned());
            }
            Measurement {
                p50_us: Some(measured.latency_us(0.50)),
                p99_us: Some(measured.latency_us(0.99)),
                p999_us: Some(measured.latency_us(0.999)),
                ..Measurement::new(measured.cpu_us_per_msg, measured.msgs_per_sec)
            }
        }
        WorkloadKind::AcceptStorm => {
            let config = storm_config(options.scale, options.rounds);
            let storm = accept_storm::measure(server, ready.addr, &config).map_err(na)?;
            Measurement::new(storm.cpu_us_per_conn, storm.conns_per_sec)
        }
        WorkloadKind::Skewed { heavy, compute_us } => {
            let config = skewed_config(options.scale, options.rounds, heavy, compute_us);
            let measured = skewed::measure(server, ready.addr, &config).map_err(na)?;
            if !measured.plain_p99_us.is_finite() {
                return Err("no plain echo completed in the open loop's window".to_owned());
            }
            Measurement {
                p50_us: Some(measured.plain_p50_us),
                p99_us: Some(measured.plain_p99_us),
                p999_us: Some(measured.plain_p999_us),
                server_cpu_share: Some(measured.server_cores),
                heavy_p99_us: Some(measured.heavy_p99_us),
                closed_p99_us: measured.closed_plain_p99_us,
                heavy_split: (profile.server == crate::iobench::server::ServerKind::Monoio).then(
                    || {
                        let threads = heavy_on.lock().unwrap_or_else(|err| err.into_inner());
                        let mut split = vec![0; options.workers];
                        for &thread in threads.iter() {
                            if let Some(count) = split.get_mut(thread) {
                                *count += 1;
                            }
                        }
                        split
                    },
                ),
                ..Measurement::new(
                    measured.cpu_us_per_msg,
                    measured.closed_msgs_per_sec.unwrap_or(f64::NAN),
                )
            }
        }
        WorkloadKind::IdleConns => {
            let read_pending = idle_conns::pending_read(&ready.description);
            let measured = idle_conns::measure(server, ready.addr, &IdleConfig::new(options.scale))
                .map_err(na)?;
            Measurement {
                rss_kib: Some(measured.rss_kib as f64),
                idle_rss_kib: Some(measured.idle_rss_kib as f64),
                rss_per_conn_kib: Some(measured.rss_per_conn_kib()),
                read_pending,
                ..Measurement::new(measured.cpu_us_per_conn, measured.conns_per_sec)
            }
        }
        WorkloadKind::Bulk { size } => {
            let config = BulkConfig::new(options.scale, size);
            let measured = bulk::measure(server, ready.addr, &config).map_err(na)?;
            Measurement::new(measured.cpu_us_per_mib, measured.gb_per_sec)
        }
    };
    Ok((measurement, ready.description))
}

/// Writes `report.md`, `report.json` and a chart per workload into `dir`
/// (created if needed); returns the files written.
pub fn write_outputs(report: &MatrixReport, dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let json = serde_json::to_string_pretty(report).map_err(io::Error::other)?;
    let path = dir.join("report.json");
    std::fs::write(&path, json + "\n")?;
    written.push(path);
    let path = dir.join("report.md");
    std::fs::write(&path, report.render_markdown())?;
    written.push(path);
    for summary in &report.summaries {
        let (figure, second_name) = &summary.second;
        let second = per_round(report, &summary.workload, *figure);
        let path = dir.join(format!("{}.svg", summary.workload));
        chart::write(
            summary,
            &report.settings.baseline,
            &second,
            second_name,
            &path,
        )?;
        written.push(path);
    }
    Ok(written)
}

/// Per row of `workload`'s table, one value per measured round.
fn per_round(report: &MatrixReport, workload: &str, figure: Figure) -> chart::SecondFigure {
    let summary = report
        .summaries
        .iter()
        .find(|summary| summary.workload == workload);
    summary.map_or_else(Vec::new, |summary| {
        summary
            .rows
            .iter()
            .map(|row| {
                report
                    .cells
                    .iter()
                    .filter(|cell| cell.workload == workload && cell.profile == row.profile)
                    .filter_map(|cell| cell.measured().and_then(|m| figure.of(m)))
                    .collect()
            })
            .collect()
    })
}

impl crate::report::Section for MatrixReport {
    fn key(&self) -> &'static str {
        "matrix"
    }

    fn render(&self) -> String {
        self.render_text()
    }
}
