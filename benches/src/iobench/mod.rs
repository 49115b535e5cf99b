//! The I/O workloads: `tcp_echo` (loopback TCP echo against ringwork on its
//! io_uring driver, ringwork on its epoll driver, tokio and a hand-written
//! io_uring floor, each server in a pinned child process) and
//! `file_randread` (4 KiB random reads, 32 in flight, ringwork on io_uring
//! and on epoll against tokio), and `skewed` (echo where a few connections
//! cost 200 us of CPU per message: the plain ones' p99, see `skewed.rs`).
//!
//! They do not fit the scheduler workloads' mould (one timed closure per
//! peer): `tcp_echo` measures a server's CPU time at a fixed offered rate in
//! another process, and `file_randread` needs a test file that outlives the
//! runs. So they have their own drivers here, with the same method — peers
//! interleaved within each round, the first peer rotating, ratios taken per
//! round and summarised by their median and min–max — and the same
//! [`Watchdog`] against hangs. Their tables are printed after the scheduler
//! table, and their numbers go into the `--json` file under `io`.

/// Read buffer of every echo server's connections, in bytes (`server.rs`,
/// and the floor's).
pub const ECHO_BUFFER: usize = 16 * 1024;

pub mod accept_storm;
pub mod aligned;
pub mod bulk;
pub mod file_io;
pub mod file_randread;
pub mod floor;
pub mod floor_multishot;
pub mod http;
pub mod idle_conns;
pub mod loadgen;
pub mod loopback;
pub mod server;
pub mod services;
pub mod skewed;
pub mod sys;
pub mod syscount;
pub mod tcp_echo;

use crate::runner::Watchdog;
use crate::stats::Summary;
use crate::table::{format_range, format_table};
use crate::workloads::Scale;
use file_randread::{FileConfig, FileResults};
use serde::Serialize;
use std::fmt::Write as _;
use std::io;
use std::time::Duration;
use tcp_echo::{format_size, EchoConfig, EchoResults};

/// The I/O workloads' names, in report order.
pub const NAMES: [&str; 4] = [
    "tcp_echo",
    "file_randread",
    skewed::NAME,
    accept_storm::NAME,
];

/// How the I/O workloads are run.
#[derive(Debug, Clone)]
pub struct IoSettings {
    /// Worker threads of the ringwork and tokio runtimes.
    pub workers: usize,
    /// Measured rounds.
    pub rounds: usize,
    /// A run taking longer than this is a hang (the process exits, status 3).
    pub hang_timeout: Duration,
    /// Print a line per run on standard error.
    pub show_progress: bool,
    /// Seed of ringwork's scheduler choices (`--seed`); `None`: each
    /// runtime takes `RINGWORK_SEED` or the clock.
    pub ringwork_seed: Option<u64>,
    /// `tcp_echo`'s open-loop rate (messages per second over all
    /// connections); `None`: [`default_rate`].
    pub rate: Option<u64>,
    /// Loopback probe rate (round trips/s) from which a `tcp_echo` run
    /// counts as fast ([`loopback::FAST_THRESHOLD`] by default).
    pub fast_threshold: f64,
}

/// Default measured rounds of the I/O workloads at `scale` (`--rounds`
/// overrides it).
pub fn default_rounds(scale: Scale) -> usize {
    match scale {
        Scale::Full => 7,
        Scale::Quick => 3,
    }
}

/// Default offered rate of `tcp_echo`'s open loop at `scale`, messages per
/// second over all connections (`--rate` overrides it).
///
/// Not the 100k of BENCHMARKING.md's examples: on the Intel machine this was
/// written on (loopback probes ~75k round trips/s, below the documented
/// fast mode), every server needed 7–10 us of CPU per message, i.e. 70–98 %
/// of its core at 100k msgs/s — saturation, where queueing and batching
/// change what is measured. At 50k they stay near half a core.
pub fn default_rate(scale: Scale) -> u64 {
    match scale {
        Scale::Full => 50_000,
        Scale::Quick => 25_000,
    }
}

/// `tcp_echo`'s sizes at `scale`, with `rate` (or the default) for the open
/// loop.
pub fn echo_config(scale: Scale, rounds: usize, rate: Option<u64>) -> EchoConfig {
    let rate = rate.unwrap_or_else(|| default_rate(scale));
    let ms = Duration::from_millis;
    match scale {
        Scale::Full => EchoConfig {
            connections: 100,
            sizes: vec![100, 1024],
            closed_warm: ms(100),
            closed_measure: ms(500),
            rate,
            open_warm: ms(200),
            open_measure: ms(1000),
            rounds,
        },
        Scale::Quick => EchoConfig {
            connections: 100,
            sizes: vec![100, 1024],
            closed_warm: ms(50),
            closed_measure: ms(250),
            rate,
            open_warm: ms(100),
            open_measure: ms(400),
            rounds,
        },
    }
}

/// `file_randread`'s sizes at `scale`.
pub fn file_config(scale: Scale, rounds: usize) -> FileConfig {
    match scale {
        Scale::Full => FileConfig {
            file_bytes: 256 << 20,
            reads: 200_000,
            rounds,
        },
        Scale::Quick => FileConfig {
            file_bytes: 64 << 20,
            reads: 40_000,
            rounds,
        },
    }
}

/// (name, size) of every I/O workload at `scale`, for `list`.
pub fn list(scale: Scale) -> Vec<(&'static str, String)> {
    let rounds = default_rounds(scale);
    vec![
        (NAMES[0], echo_config(scale, rounds, None).size()),
        (NAMES[1], file_config(scale, rounds).size()),
        (NAMES[2], skewed::SkewedConfig::new(scale, rounds).size()),
        (
            NAMES[3],
            accept_storm::StormConfig::new(scale, rounds).size(),
        ),
    ]
}

/// The peer order of round `round` (from 0): the first peer rotates.
pub fn rotate(peers: usize, round: usize) -> Vec<usize> {
    (0..peers)
        .map(|position| (position + round) % peers)
        .collect()
}

/// What the I/O workloads measured.
#[derive(Debug, Clone, Serialize)]
pub struct IoReport {
    /// Measured rounds of each I/O workload.
    pub rounds: usize,
    /// `tcp_echo`, if it ran.
    pub tcp_echo: Option<EchoResults>,
    /// `file_randread`, if it ran.
    pub file_randread: Option<FileResults>,
    /// `skewed`, if it ran.
    pub skewed: Option<skewed::SkewedResults>,
    /// `accept_storm`, if it ran.
    pub accept_storm: Option<accept_storm::StormResults>,
}

/// Runs the I/O workloads named in `selected`.
pub fn run(selected: &[&str], scale: Scale, settings: &IoSettings) -> io::Result<IoReport> {
    let watchdog = Watchdog::start(settings.hang_timeout);
    let tcp_echo = if selected.contains(&NAMES[0]) {
        Some(tcp_echo::run(
            echo_config(scale, settings.rounds, settings.rate),
            settings,
            &watchdog,
        )?)
    } else {
        None
    };
    let file_randread = if selected.contains(&NAMES[1]) {
        Some(file_randread::run(
            file_config(scale, settings.rounds),
            settings,
            &watchdog,
        )?)
    } else {
        None
    };
    let skewed = if selected.contains(&NAMES[2]) {
        Some(skewed::run(
            skewed::SkewedConfig::new(scale, settings.rounds),
            settings,
            &watchdog,
        )?)
    } else {
        None
    };
    let accept_storm = if selected.contains(&NAMES[3]) {
        Some(accept_storm::run(
            accept_storm::StormConfig::new(scale, settings.rounds),
            settings,
            &watchdog,
        )?)
    } else {
        None
    };
    Ok(IoReport {
        rounds: settings.rounds,
        tcp_echo,
        file_randread,
        skewed,
        accept_storm,
    })
}

impl crate::report::Section for IoReport {
    fn key(&self) -> &'static str {
        "io"
    }

    fn render(&self) -> String {
        IoReport::render(self)
    }
}

impl IoReport {
    /// The I/O tables, as printed after the scheduler table.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Some(echo) = &self.tcp_echo {
            render_echo(echo, &mut out);
        }
        if let Some(file) = &self.file_randread {
            render_file(file, &mut out);
        }
        if let Some(skewed) = &self.skewed {
            skewed.render(&mut out);
        }
        if let Some(storm) = &self.accept_storm {
            storm.render(&mut out);
        }
        out
    }
}

fn render_echo(echo: &EchoResults, out: &mut String) {
    let config = &echo.config;
    // `writeln!` into a `String` cannot fail.
    let _ = writeln!(out, "\ntcp_echo: {}", config.size());
    let _ = writeln!(
        out,
        "pinning:   each server is a child process (`ringwork-bench serve`) with all its \
         threads pinned to CPU {}; the load generator (1 thread, raw epoll, TCP_NODELAY) is \
         pinned to CPU {}",
        tcp_echo::SERVER_CPU,
        tcp_echo::CLIENT_CPU
    );
    for (name, description) in &echo.servers {
        let _ = writeln!(out, "server:    {name}: {description}");
    }
    let _ = writeln!(
        out,
        "method:    per run a fresh server; closed loop {:.2} s after {:.2} s; open loop at \
         {} msgs/s ({} per connection per s), {:.2} s measured after {:.2} s; CPU/msg = \
         server process CPU clock (user+sys, all threads) over the open-loop window / echoes \
         completed in it; latency from each message's intended send time; {} rounds, \
         servers interleaved (first rotates), ratio per round",
        config.closed_measure.as_secs_f64(),
        config.closed_warm.as_secs_f64(),
        config.rate,
        config.rate / config.connections as u64,
        config.open_measure.as_secs_f64(),
        config.open_warm.as_secs_f64(),
        config.rounds
    );
    let _ = writeln!(
        out,
        "loopback:  a {} ms ping-pong over a UNIX socket pair between CPU {} and CPU {} before \
         and after every run; a run is F(ast) when both probes reach {:.0}k round trips/s, \
         S(low) when neither does, M(ixed) otherwise; a round is fast when all its runs are\n\
         other CPU: the most CPU any run of the round saw other user-space processes use \
         (100 = one core), a sign of competition on a shared machine; a round is quiet when \
         it stays under {:.0} in every run",
        loopback::PROBE_DURATION.as_millis(),
        tcp_echo::SERVER_CPU,
        tcp_echo::CLIENT_CPU,
        echo.fast_threshold / 1e3,
        tcp_echo::QUIET_OTHER_CPU * 100.0
    );

    // Per round: one row per (round, size), one column per server.
    let kinds = server::ServerKind::ALL;
    let initial = |kind: server::ServerKind| match kind {
        server::ServerKind::RingworkUring => 'U',
        server::ServerKind::RingworkUringNoCoop => 'N',
        server::ServerKind::RingworkUringSingleAccept => '1',
        server::ServerKind::RingworkEpoll => 'E',
        server::ServerKind::RingworkEnv => 'R',
        server::ServerKind::RingworkCompatTokio => 'K',
        server::ServerKind::RingworkCompatFutures => 'Q',
        server::ServerKind::RingworkCurrentThread => 'r',
        server::ServerKind::Tokio => 'T',
        server::ServerKind::TokioCurrentThread => 'C',
        server::ServerKind::Floor => 'F',
        server::ServerKind::FloorMultishot => 'M',
        server::ServerKind::Monoio => 'O',
        server::ServerKind::StdThreads => 'S',
    };
    let legend: Vec<String> = kinds
        .iter()
        .map(|&kind| format!("{} = {}", initial(kind), kind.name()))
        .collect();
    let _ = writeln!(
        out,
        "\nper round: server CPU us per echoed message, each prefixed by the loopback mode of \
         its run (F/S/M; the probe rates are in --json); order: the servers in the order they \
         ran ({}); columns uring and epoll are ringwork-uring and ringwork-epoll",
        legend.join(", ")
    );
    let mut header = vec!["round".to_owned(), "size".to_owned(), "order".to_owned()];
    header.extend(kinds.iter().map(|kind| kind.short_name().to_owned()));
    header.extend([
        "uring/tokio".to_owned(),
        "epoll/tokio".to_owned(),
        "round mode".to_owned(),
        "other CPU %".to_owned(),
    ]);
    let mut rows = vec![header];
    for round in 1..=config.rounds {
        for &size in &config.sizes {
            let in_round: Vec<&tcp_echo::EchoRun> = echo
                .runs
                .iter()
                .filter(|run| run.round == round && run.size == size)
                .collect();
            if in_round.is_empty() {
                continue;
            }
            let run_of = |kind: server::ServerKind| {
                in_round.iter().find(|run| run.peer == kind.name()).copied()
            };
            let order: String = in_round
                .iter()
                .filter_map(|run| server::ServerKind::from_name(run.peer))
                .map(initial)
                .collect();
            let mut row = vec![round.to_string(), format_size(size), order];
            row.extend(kinds.iter().map(|&kind| {
                run_of(kind).map_or_else(String::new, |run| {
                    if run.valid {
                        format!("{} {:.2}", run.mode.letter(), run.cpu_us_per_msg)
                    } else {
                        format!("{} invalid", run.mode.letter())
                    }
                })
            }));
            let ratio = |a: server::ServerKind, b: server::ServerKind| match (run_of(a), run_of(b))
            {
                (Some(a), Some(b)) if !(a.cpu_us_per_msg / b.cpu_us_per_msg).is_nan() => {
                    format!("{:.2}", a.cpu_us_per_msg / b.cpu_us_per_msg)
                }
                _ => "-".to_owned(),
            };
            row.push(ratio(
                server::ServerKind::RingworkUring,
                server::ServerKind::Tokio,
            ));
            row.push(ratio(
                server::ServerKind::RingworkEpoll,
                server::ServerKind::Tokio,
            ));
            let fast = in_round.iter().all(|run| run.mode == loopback::Mode::Fast);
            row.push(if fast { "fast" } else { "not fast" }.to_owned());
            let other = in_round
                .iter()
                .map(|run| run.other_cpu_share)
                .fold(0.0, f64::max);
            row.push(format!("{:.0}", other * 100.0));
            rows.push(row);
        }
    }
    out.push_str(&format_table(&rows, 3));
    let invalid = echo.runs.iter().filter(|run| !run.valid).count();
    if invalid > 0 {
        let _ = writeln!(
            out,
            "{invalid} run(s) completed no echo inside their CPU window (starved of CPU by \
             other processes; all their echoes were still checked): left out of the summaries"
        );
    }

    // Medians per server.
    let mut rows = vec![vec![
        "size".to_owned(),
        "server".to_owned(),
        "closed-loop msgs/s".to_owned(),
        "CPU us/msg [min-max]".to_owned(),
        "CPU us/msg (stat ticks)".to_owned(),
        "p50 us".to_owned(),
        "p99 us".to_owned(),
    ]];
    for summary in &echo.summaries {
        rows.push(vec![
            format_size(summary.size),
            summary.peer.to_owned(),
            format!("{:.0}", summary.closed_msgs_per_sec.median),
            format_range(&summary.cpu_us_per_msg),
            format!("{:.2}", summary.stat_cpu_us_per_msg.median),
            format!("{:.0}", summary.p50_us.median),
            format!("{:.0}", summary.p99_us.median),
        ]);
    }
    let _ = writeln!(out);
    out.push_str(&format_table(&rows, 2));

    // Ratios.
    let mut rows = vec![vec![
        "size".to_owned(),
        "ratio".to_owned(),
        "all rounds median [min-max]".to_owned(),
        "fast rounds median [min-max]".to_owned(),
        "quiet rounds median [min-max]".to_owned(),
    ]];
    for ratio in &echo.ratios {
        let subset = |flags: &[bool], summary: &Option<Summary>, what: &str| {
            let count = flags.iter().filter(|&&flag| flag).count();
            match summary {
                Some(summary) => format!("{} ({count} of {})", format_range(summary), flags.len()),
                None => format!("no {what} round (0 of {})", flags.len()),
            }
        };
        rows.push(vec![
            format_size(ratio.size),
            ratio.what.clone(),
            format_range(&ratio.all),
            subset(&ratio.round_fast, &ratio.fast, "fast"),
            subset(&ratio.round_quiet, &ratio.quiet, "quiet"),
        ]);
    }
    let _ = writeln!(out);
    out.push_str(&format_table(&rows, 2));
    render_epoll_goal(echo, out);
    let _ = writeln!(
        out,
        "\nCPU/msg ratios below 1: the first server used less CPU per echoed message than the \
         second; closed-loop msgs/s is capped by the single-threaded client on this machine \
         and does not rank fast servers; differences under ~10 % are unresolved here \
         (BENCHMARKING.md)."
    );
}

/// One line per message size on the goal: ringwork-epoll's CPU per
/// message within [`tcp_echo::EPOLL_GOAL`] of tokio's, judged on the fast
/// rounds when there are any (else on all rounds, and said so).
fn render_epoll_goal(echo: &EchoResults, out: &mut String) {
    let name = tcp_echo::epoll_goal_ratio_name();
    let goal = tcp_echo::EPOLL_GOAL;
    let _ = writeln!(
        out,
        "\ngoal (issue): ringwork-epoll within {:.0} % of tokio on tcp_echo, both epoll \
         servers, i.e. {name} <= {goal:.2}",
        (goal - 1.0) * 100.0
    );
    for ratio in echo.ratios.iter().filter(|ratio| ratio.what == name) {
        let (summary, which) = match &ratio.fast {
            Some(fast) => (*fast, "fast rounds"),
            None => (ratio.all, "all rounds (none was fast)"),
        };
        let verdict = if summary.median.is_nan() {
            "no valid round".to_owned()
        } else if summary.max <= goal {
            "met in every round".to_owned()
        } else if summary.min > goal {
            "missed in every round".to_owned()
        } else if summary.median <= goal {
            "met at the median, not in every round".to_owned()
        } else {
            "missed at the median, met in some rounds".to_owned()
        };
        let _ = writeln!(
            out,
            "           {}: {} over {which}: {verdict}",
            format_size(ratio.size),
            format_range(&summary)
        );
    }
}

fn render_file(file: &FileResults, out: &mut String) {
    let _ = writeln!(out, "\nfile_randread: {}", file.config.size());
    let _ = writeln!(out, "access:    {}", file.access);
    for (peer, description) in &file.peer_descriptions {
        let _ = writeln!(out, "peer:      {peer}: {description}");
    }
    let _ = writeln!(
        out,
        "method:    1 warm-up run per peer, then {} rounds with the peers interleaved (first \
         rotates); random block offsets differ per run; every block read is checked",
        file.config.rounds
    );
    let mut rows = vec![vec![
        "peer".to_owned(),
        "IOPS median [min-max]".to_owned(),
        "IOPS / tokio median [min-max]".to_owned(),
        "CPU us/read median [min-max]".to_owned(),
    ]];
    for (index, (peer, iops)) in file.iops.iter().enumerate() {
        let ratio = file
            .ratios
            .iter()
            .find(|ratio| ratio.numerator == *peer)
            .map_or_else(
                || "(reference)".to_owned(),
                |ratio| format_range(&ratio.summary),
            );
        let cpu = file
            .cpu_us_per_read
            .get(index)
            .map_or_else(String::new, |(_, cpu)| format_range(cpu));
        rows.push(vec![
            (*peer).to_owned(),
            format!(
                "{:.0}k [{:.0}k-{:.0}k]",
                iops.median / 1e3,
                iops.min / 1e3,
                iops.max / 1e3
            ),
            ratio,
            cpu,
        ]);
    }
    let other = file
        .runs
        .iter()
        .map(|run| run.other_cpu_share)
        .fold(0.0, f64::max);
    let _ = writeln!(out);
    out.push_str(&format_table(&rows, 1));
    let _ = writeln!(
        out,
        "\nIOPS ratio above 1: that peer completed more reads per second than tokio (per-round \
         ratios). CPU us/read: CPU time of the whole benchmark process during a run over its \
         reads. Other user-space processes used at most {:.0} % of a core during a measured \
         run (100 = one core).",
        other * 100.0
    );
}
