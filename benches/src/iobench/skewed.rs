//! `skewed`: the load work stealing exists for. 100 echo connections, of
//! which the first 10 are heavy (the server spins 200 us of CPU per message
//! before echoing it) and the rest plain; an open loop at a rate that
//! leaves a core mostly free; the figure is the **plain connections' p99**:
//! how long a cheap request waits behind an expensive one that happens to
//! share its thread.
//!
//! The servers (`server.rs`, with a [`Skew`]) are ringwork on both drivers,
//! tokio (multi-thread) and a thread per connection (`std-threads`: the
//! kernel's scheduler, the reference for "the free core is used"), each a
//! fresh child process per run, **not pinned**: the server's threads may
//! run on every core, as a server's would. The load generator is one
//! unpinned thread of this process. Rounds interleave the servers, the
//! first rotating; ratios are per round (ringwork / tokio, ringwork /
//! std-threads), summarised by median and range. Every echoed byte is
//! checked (`loadgen`).

use super::loadgen::{Client, CpuSample};
use super::server::{ServerKind, Service, Skew};
use super::tcp_echo::ServerProcess;
use super::{rotate, sys, IoSettings};
use crate::runner::Watchdog;
use crate::stats::Summary;
use crate::table::{format_range, format_table};
use crate::workloads::Scale;
use serde::Serialize;
use std::fmt::Write as _;
use std::io;
use std::thread;
use std::time::Duration;

/// The workload's name, as `--only` takes it.
pub const NAME: &str = "skewed";

/// What the workload runs.
#[derive(Debug, Clone, Serialize)]
pub struct SkewedConfig {
    /// Connections in all.
    pub connections: usize,
    /// How many of them are heavy.
    pub heavy: usize,
    /// CPU a heavy connection's message costs the server.
    pub compute: Duration,
    /// Bytes per message.
    pub size: usize,
    /// Offered rate, messages per second over all connections.
    pub rate: u64,
    /// Unmeasured start of the open loop.
    pub warm: Duration,
    /// Measured window.
    pub measure: Duration,
    /// A closed loop before the open one (unmeasured lead-in, measured
    /// window), or none (`compare`'s `skewed`).
    pub closed: Option<(Duration, Duration)>,
    /// Measured rounds.
    pub rounds: usize,
}

impl SkewedConfig {
    /// The workload at `scale`, with `rounds` rounds.
    pub fn new(scale: Scale, rounds: usize) -> SkewedConfig {
        let (warm, measure) = match scale {
            Scale::Full => (Duration::from_millis(500), Duration::from_secs(3)),
            Scale::Quick => (Duration::from_millis(300), Duration::from_millis(1500)),
        };
        SkewedConfig {
            connections: 100,
            heavy: 10,
            compute: Duration::from_micros(200),
            size: 64,
            rate: 20_000,
            warm,
            measure,
            closed: None,
            rounds,
        }
    }

    /// The skew the server is asked for.
    pub fn skew(&self) -> Skew {
        Skew {
            heavy: self.heavy as u64,
            compute: self.compute,
            size: self.size,
        }
    }

    /// The size in words, for `list` and the table's title.
    pub fn size(&self) -> String {
        format!(
            "{} conns ({} heavy: {} us CPU per message), {} B messages, open loop at {} msgs/s",
            self.connections,
            self.heavy,
            self.compute.as_micros(),
            self.size,
            self.rate
        )
    }

    /// CPU the heavy connections ask for, in cores (the rest of the load
    /// is the echo itself and the client).
    pub fn heavy_cores(&self) -> f64 {
        let heavy_rate = self.rate as f64 * self.heavy as f64 / self.connections as f64;
        heavy_rate * self.compute.as_secs_f64()
    }
}

/// One run: one server, one round.
#[derive(Debug, Clone, Serialize)]
pub struct SkewedRun {
    /// The server's name.
    pub peer: &'static str,
    /// From 1.
    pub round: usize,
    /// The server's own description of itself.
    pub server: String,
    /// Plain connections' latency percentiles, microseconds.
    pub plain_p50_us: f64,
    /// See `plain_p50_us`.
    pub plain_p99_us: f64,
    /// See `plain_p50_us`.
    pub plain_p999_us: f64,
    /// Heavy connections' p99, microseconds.
    pub heavy_p99_us: f64,
    /// Echoes completed in the window, all connections.
    pub completed: u64,
    /// Server CPU over the window, in cores (1.0 = one core busy).
    pub server_cores: f64,
    /// The most a message left after its intended time (a late generator).
    pub max_send_lag_us: f64,
    /// CPU time the hypervisor took from this machine during the run
    /// (`/proc/stat` steal, all CPUs), per second of the run: 1.0 = one
    /// core's worth. A run with steal measured a noisy neighbour too.
    pub steal_share: f64,
}

/// A ratio of plain p99s, per round, summarised.
#[derive(Debug, Clone, Serialize)]
pub struct SkewedRatio {
    /// E.g. "ringwork-uring/tokio".
    pub name: String,
    /// Over the rounds.
    pub summary: Summary,
}

/// What the workload measured.
#[derive(Debug, Clone, Serialize)]
pub struct SkewedResults {
    /// What ran.
    pub config: SkewedConfig,
    /// Every run.
    pub runs: Vec<SkewedRun>,
    /// Plain p99 ratios of each ringwork server to tokio and to
    /// std-threads.
    pub ratios: Vec<SkewedRatio>,
}

/// Runs the workload.
pub fn run(
    config: SkewedConfig,
    settings: &IoSettings,
    watchdog: &Watchdog,
) -> io::Result<SkewedResults> {
    let skew = config.skew();
    let kinds = ServerKind::SKEWED;
    let mut runs = Vec::new();
    for round in 1..=config.rounds {
        for index in rotate(kinds.len(), round - 1) {
            let kind = kinds[index];
            let label = format!("round {round}/{}", config.rounds);
            let _watched = watchdog.watch(format!(
                "skewed on {} ({label}) has not finished after {:.0} s: the server or the \
                 client looks hung. Rerun it alone with `ringwork-bench compare --only skewed`",
                kind.name(),
                settings.hang_timeout.as_secs_f64()
            ));
            let run = run_once(kind, round, skew, &config, settings).map_err(|err| {
                io::Error::new(
                    err.kind(),
                    format!("skewed on {} ({label}): {err}", kind.name()),
                )
            })?;
            if settings.show_progress {
                eprintln!(
                    "  {:<20} {:<14} {:<12} plain p50 {:>6.0} us p99 {:>6.0} us p999 {:>6.0} \
                     us, heavy p99 {:>6.0} us, server {:.2} cores, steal {:.2} cores",
                    NAME,
                    kind.name(),
                    label,
                    run.plain_p50_us,
                    run.plain_p99_us,
                    run.plain_p999_us,
                    run.heavy_p99_us,
                    run.server_cores,
                    run.steal_share
                );
            }
            runs.push(run);
        }
    }
    let ratios = ratios(&runs, config.rounds);
    Ok(SkewedResults {
        config,
        runs,
        ratios,
    })
}

fn run_once(
    kind: ServerKind,
    round: usize,
    skew: Skew,
    config: &SkewedConfig,
    settings: &IoSettings,
) -> io::Result<SkewedRun> {
    let (server, ready) = ServerProcess::start(
        kind,
        settings.workers,
        settings.ringwork_seed,
        None,
        Service::Skewed(skew),
    )?;
    let measured = measure(server, ready.addr, config)?;
    Ok(SkewedRun {
        peer: kind.name(),
        round,
        server: ready.description,
        plain_p50_us: measured.plain_p50_us,
        plain_p99_us: measured.plain_p99_us,
        plain_p999_us: measured.plain_p999_us,
        heavy_p99_us: measured.heavy_p99_us,
        completed: measured.completed,
        server_cores: measured.server_cores,
        max_send_lag_us: measured.max_send_lag_us,
        steal_share: measured.steal_share,
    })
}

/// What [`measure`] measured on one server.
#[derive(Debug, Clone)]
pub(crate) struct SkewedMeasured {
    /// Open loop: plain connections' latency percentiles, microseconds.
    pub(crate) plain_p50_us: f64,
    /// See `plain_p50_us`.
    pub(crate) plain_p99_us: f64,
    /// See `plain_p50_us`.
    pub(crate) plain_p999_us: f64,
    /// Open loop: heavy connections' p99, microseconds.
    pub(crate) heavy_p99_us: f64,
    /// Open loop: echoes completed in the window, all connections.
    pub(crate) completed: u64,
    /// Open loop: server CPU per echo completed in the window, microseconds.
    pub(crate) cpu_us_per_msg: f64,
    /// Open loop: server CPU over the window, in cores.
    pub(crate) server_cores: f64,
    /// Open loop: the most a message left after its intended time.
    pub(crate) max_send_lag_us: f64,
    /// Closed loop (if run): echoes per second, all connections.
    pub(crate) closed_msgs_per_sec: Option<f64>,
    /// Closed loop (if run): plain connections' p99, microseconds.
    pub(crate) closed_plain_p99_us: Option<f64>,
    /// Steal over the run, in cores.
    pub(crate) steal_share: f64,
}

/// The `p` quantile (0..1) of `sorted` nanoseconds, in microseconds (NaN
/// when empty).
fn percentile_us(sorted: &[u64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(index).map_or(f64::NAN, |&ns| ns as f64 / 1e3)
}

/// Drives the started `server` (listening on `addr`, serving `config`'s
/// skew) from one unpinned client thread: `config.closed`'s closed loop if
/// any, then the open loop; then stops the server. Shared by `compare`'s
/// `skewed` and the matrix's `skewed_*` columns.
pub(crate) fn measure(
    server: ServerProcess,
    addr: std::net::SocketAddr,
    config: &SkewedConfig,
) -> io::Result<SkewedMeasured> {
    let pid = server.pid();
    let steal_before = sys::steal_time()?;
    let started = std::time::Instant::now();
    let clock = sys::ProcessCpuClock::of(pid)?;
    let (connections, heavy, size, rate) =
        (config.connections, config.heavy, config.size, config.rate);
    let (warm, measure, closed) = (config.warm, config.measure, config.closed);
    let client = thread::Builder::new()
        .name("skewed-client".to_owned())
        .spawn(move || {
            sys::set_timer_slack(1)?;
            let mut client = Client::connect(addr, connections, size)?;
            client.set_heavy(heavy);
            let closed = match closed {
                Some((warm, measure)) => Some(client.closed_loop_timed(warm, measure)?),
                None => None,
            };
            let mut sample = || -> io::Result<CpuSample> {
                Ok(CpuSample {
                    clock: clock.read()?,
                    stat: Duration::ZERO,
                    switches: 0,
                })
            };
            let open = client.open_loop(rate, warm, measure, &mut sample)?;
            client.finish()?;
            Ok::<_, io::Error>((closed, open))
        })?;
    let phases = client
        .join()
        .map_err(|_| io::Error::other("the load generator panicked"))?;
    let stopped = server.stop();
    let (closed, open) = phases?;
    stopped?;
    let steal = sys::steal_time()?.saturating_sub(steal_before);
    let steal_share = steal.as_secs_f64() / started.elapsed().as_secs_f64();
    let cpu = open.cpu_end.clock.saturating_sub(open.cpu_start.clock);
    Ok(SkewedMeasured {
        plain_p50_us: percentile_us(&open.latencies_ns, 0.50),
        plain_p99_us: percentile_us(&open.latencies_ns, 0.99),
        plain_p999_us: percentile_us(&open.latencies_ns, 0.999),
        heavy_p99_us: percentile_us(&open.heavy_latencies_ns, 0.99),
        completed: open.completed_in_window,
        cpu_us_per_msg: if open.completed_in_window == 0 {
            f64::NAN
        } else {
            cpu.as_secs_f64() * 1e6 / open.completed_in_window as f64
        },
        server_cores: cpu.as_secs_f64() / open.window.as_secs_f64(),
        max_send_lag_us: open.max_send_lag.as_secs_f64() * 1e6,
        closed_msgs_per_sec: closed.as_ref().map(|closed| closed.msgs_per_sec),
        closed_plain_p99_us: closed
            .as_ref()
            .map(|closed| percentile_us(&closed.latencies_ns, 0.99)),
        steal_share,
    })
}

/// Plain p99 of `numerator` over `denominator`, per round.
fn ratios(runs: &[SkewedRun], rounds: usize) -> Vec<SkewedRatio> {
    let pairs = [
        (ServerKind::RingworkUring, ServerKind::Tokio),
        (ServerKind::RingworkEpoll, ServerKind::Tokio),
        (ServerKind::RingworkUring, ServerKind::StdThreads),
        (ServerKind::RingworkEpoll, ServerKind::StdThreads),
        (ServerKind::Tokio, ServerKind::StdThreads),
    ];
    let p99 = |kind: ServerKind, round: usize| {
        runs.iter()
            .find(|run| run.peer == kind.name() && run.round == round)
            .map(|run| run.plain_p99_us)
    };
    pairs
        .into_iter()
        .filter_map(|(numerator, denominator)| {
            let per_round: Vec<f64> = (1..=rounds)
                .filter_map(|round| Some(p99(numerator, round)? / p99(denominator, round)?))
                .collect();
            Some(SkewedRatio {
                name: format!("{}/{}", numerator.name(), denominator.name()),
                summary: Summary::of(&per_round)?,
            })
        })
        .collect()
}

impl SkewedResults {
    /// The table, as printed after the other I/O tables.
    pub fn render(&self, out: &mut String) {
        let config = &self.config;
        let _ = writeln!(out, "\nskewed: {}", config.size());
        let _ = writeln!(
            out,
            "method:    per run a fresh server process, not pinned (its threads may use every \
             core), and one unpinned client thread (raw epoll); {:.2} s measured after {:.2} s; \
             the heavy connections ask for {:.2} cores of compute; latency from each message's \
             intended send time; {} rounds, servers interleaved (first rotates), ratio of plain \
             p99s per round",
            config.measure.as_secs_f64(),
            config.warm.as_secs_f64(),
            config.heavy_cores(),
            config.rounds
        );
        let mut seen: Vec<&str> = Vec::new();
        for run in &self.runs {
            if !seen.contains(&run.peer) {
                seen.push(run.peer);
                let _ = writeln!(out, "server:    {}: {}", run.peer, run.server);
            }
        }
        let mut rows = vec![vec![
            "server".to_owned(),
            "plain p50 (us)".to_owned(),
            "plain p99 (us)".to_owned(),
            "plain p999 (us)".to_owned(),
            "heavy p99 (us)".to_owned(),
            "server cores".to_owned(),
            "steal (cores)".to_owned(),
        ]];
        for kind in ServerKind::SKEWED {
            let of = |metric: fn(&SkewedRun) -> f64| {
                let samples: Vec<f64> = self
                    .runs
                    .iter()
                    .filter(|run| run.peer == kind.name())
                    .map(metric)
                    .collect();
                Summary::of(&samples).map_or_else(|| "-".to_owned(), |s| format_us(&s))
            };
            rows.push(vec![
                kind.name().to_owned(),
                of(|run| run.plain_p50_us),
                of(|run| run.plain_p99_us),
                of(|run| run.plain_p999_us),
                of(|run| run.heavy_p99_us),
                of(|run| run.server_cores),
                of(|run| run.steal_share),
            ]);
        }
        out.push_str(&format_table(&rows, 1));
        let mut rows = vec![vec![
            "plain p99 ratio".to_owned(),
            "median [min-max]".to_owned(),
        ]];
        for ratio in &self.ratios {
            rows.push(vec![ratio.name.clone(), format_range(&ratio.summary)]);
        }
        out.push('\n');
        out.push_str(&format_table(&rows, 1));
        let _ = writeln!(
            out,
            "below 1: the first server's plain connections waited less than the second's; \
             cells are median [min-max] over the rounds"
        );
    }
}

/// "median [min-max]" with no decimals above 10, two below.
fn format_us(summary: &Summary) -> String {
    if summary.median >= 10.0 {
        format!(
            "{:.0} [{:.0}-{:.0}]",
            summary.median, summary.min, summary.max
        )
    } else {
        format_range(summary)
    }
}
