//! `ringwork-bench`: runs the workloads side by side on ringwork and its
//! peers and prints a table of times and ratios (see `ringwork-bench compare
//! --help`).

use clap::{Args, Parser, Subcommand};
use ringwork_bench::busy_worker;
use ringwork_bench::iobench::{self, server::ServerKind, IoSettings};
use ringwork_bench::machine::MachineInfo;
use ringwork_bench::matrix::{self, profile as matrix_profile, MatrixOptions};
use ringwork_bench::peer::{default_peers, PeerSettings};
use ringwork_bench::report::Report;
use ringwork_bench::runner::{self, CompareSettings, RuntimeLifetime};
use ringwork_bench::soak;
use ringwork_bench::workloads::time::{self as timers, TimerSettings};
use ringwork_bench::workloads::{self, Scale, Workload};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// `compare --only`'s name of the reduced matrix.
const MATRIX_NAME: &str = "matrix";

/// Fewer rounds than this give ranges that say little.
const RECOMMENDED_MIN_ROUNDS: usize = 5;

#[derive(Debug, Parser)]
#[command(name = "ringwork-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the workloads on every peer, interleaved round by round, and print
    /// the median times and the median ringwork/tokio ratio with its range.
    Compare(CompareArgs),
    /// The kernel-feature matrix: ringwork under each io_uring profile (and
    /// its peers) x the echo and accept workloads, interleaved rounds, CPU
    /// per operation as a ratio to the epoll profile; tables on stdout,
    /// report.md, report.json and an SVG chart per workload in --out.
    Matrix(MatrixArgs),
    /// A long mixed workload on the io_uring and epoll drivers at once,
    /// checked as it runs; fails on a wrong result, a panic, a hang, or a
    /// resource (RSS, fds, threads) growing without bound.
    #[command(long_about = ringwork_bench::soak::HELP)]
    Soak(SoakArgs),
    /// List the workloads and their sizes.
    List {
        /// Show the `--quick` sizes.
        #[arg(long)]
        quick: bool,
    },
    /// Run one echo server of `tcp_echo` (used by `compare` in a child
    /// process): prints `ready <port> <description>`, serves on 127.0.0.1
    /// until standard input closes.
    #[command(hide = true)]
    Serve(ServeArgs),
    /// Run one timer workload once in this fresh process (used by `compare`
    /// in a child process, so that peak RSS is the run's own): prints
    /// `result <json>`.
    #[command(hide = true)]
    TimerRun {
        /// The request, as JSON (see `workloads::time::ChildRequest`).
        #[arg(long)]
        request: String,
    },
}

#[derive(Debug, Args)]
struct SoakArgs {
    /// Seconds to run (at least 10: the growth criterion judges thirds of
    /// one-second samples).
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u64).range(soak::MIN_SECS..=soak::MAX_SECS))]
    secs: u64,

    /// uring, epoll, or both (two runtimes in this process, one per driver).
    #[arg(long, default_value = "both", value_parser = soak::Drivers::parse)]
    driver: soak::Drivers,

    /// Worker threads of each runtime.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    workers: u32,

    /// Seed of the workload's choices and of the runtimes' schedulers
    /// (decimal or 0x-hex; default: the clock). Timing still varies.
    #[arg(long, value_parser = parse_seed)]
    seed: Option<u64>,

    /// Inject a fault to show that the checks catch it (the run must
    /// fail): corrupt, lose, duplicate, leak-fds, leak-memory, hang, panic.
    #[arg(long, hide = true, value_parser = soak::Fault::parse)]
    inject: Option<soak::Fault>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// ringwork-uring, ringwork-uring-nocoop, ringwork-epoll, tokio, floor
    /// or std-threads.
    #[arg(long)]
    peer: String,

    /// Worker threads (ringwork and tokio; the floor has one thread).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    workers: u32,

    /// Pin every thread of the server to this CPU.
    #[arg(long)]
    cpu: Option<usize>,

    /// The skewed workload's heavy connections, `HEAVY:COMPUTE_US:SIZE`:
    /// connections numbered below HEAVY spin COMPUTE_US of CPU per message
    /// of SIZE bytes (see `iobench::server::Skew`).
    #[arg(long, value_parser = iobench::server::Skew::parse)]
    skew: Option<iobench::server::Skew>,

    /// The idle-connections service: echo, waiting for each read in the
    /// server's lowest-memory way (see `iobench::idle_conns`).
    #[arg(long, conflicts_with = "skew")]
    idle: bool,

    /// The bulk service: after the client's 8-byte hello, send messages of
    /// this many bytes until it goes away (see `iobench::bulk`).
    #[arg(long, value_name = "BYTES", conflicts_with_all = ["skew", "idle"],
          value_parser = clap::value_parser!(u64).range(8..))]
    bulk: Option<u64>,

    /// The HTTP service: hyper's HTTP/1.1 server answering every request
    /// with a hello (ringwork's and tokio's servers; see `iobench::http`).
    #[arg(long, conflicts_with_all = ["skew", "idle", "bulk"])]
    http: bool,
}

#[derive(Debug, Args)]
struct MatrixArgs {
    /// Shorter windows, 2 rounds and the main rows (unless --profiles names
    /// them): a quick look (under 2 minutes).
    #[arg(long)]
    quick: bool,

    /// Rows to run (comma-separated; default all, or with --quick the main
    /// ones; `all`: every row; the epoll baseline is always added). See
    /// --list.
    #[arg(long, value_delimiter = ',', value_name = "NAME[,NAME]")]
    profiles: Vec<String>,

    /// Columns to run (comma-separated; default: echo_64, echo_16k,
    /// accept_storm, file_randread; `all` for every one). See --list.
    #[arg(long, value_delimiter = ',', value_name = "NAME[,NAME]")]
    workloads: Vec<String>,

    /// Where report.md, report.json and the charts go.
    #[arg(long, value_name = "DIR", default_value = "target/ringwork-report")]
    out: PathBuf,

    /// Rounds [default: 7, or 2 with --quick].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: Option<u32>,

    /// Worker threads of the multi-thread servers.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    workers: u32,

    /// Fix the seed of ringwork's scheduler in every server (decimal or
    /// 0x-hex).
    #[arg(long, value_parser = parse_seed)]
    seed: Option<u64>,

    /// Seconds after which a cell counts as hung (the process exits, status 3).
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    hang_timeout: u64,

    /// Loopback probe rate (round trips/s) from which a cell counts as fast.
    #[arg(long, default_value_t = iobench::loopback::FAST_THRESHOLD, value_name = "RT_PER_SEC")]
    fast_threshold: f64,

    /// Print the profiles and workloads and exit.
    #[arg(long)]
    list: bool,
}

#[derive(Debug, Args)]
struct CompareArgs {
    /// Smaller workloads and 5 rounds by default: a quick look, not a result.
    #[arg(long)]
    quick: bool,

    /// Measured rounds per workload [default: 7, or 5 with --quick (the
    /// scheduler, sync and timer workloads); for the I/O workloads 7, or 3
    /// with --quick].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: Option<u32>,

    /// Worker threads of every runtime.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    workers: u32,

    /// Run only these workloads (comma-separated names; see `list`).
    #[arg(long, value_delimiter = ',', value_name = "NAME[,NAME]")]
    only: Vec<String>,

    /// Also write every number (per-round times and ratios, medians, ranges,
    /// machine) to this file as JSON.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,

    /// Fix the seed of ringwork's scheduler choices, decimal or 0x-hex
    /// (default: RINGWORK_SEED or the clock, per runtime); the I/O
    /// workloads' ringwork runtimes (and tcp_echo's server processes) too.
    #[arg(long, value_parser = parse_seed)]
    seed: Option<u64>,

    /// Build a fresh runtime for every run instead of one per (peer,
    /// workload) reused across rounds.
    #[arg(long)]
    fresh_runtime_per_run: bool,

    /// Seconds after which a single run counts as hung: the process then says
    /// which run it was and exits with status 3.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    hang_timeout: u64,

    /// tcp_echo: loopback probe rate (UNIX socket pair ping-pong between the
    /// two CPUs, round trips/s) from which a run counts as "fast"; the
    /// default is the midpoint of BENCHMARKING.md's ~210k fast / ~90k slow.
    #[arg(long, default_value_t = iobench::loopback::FAST_THRESHOLD, value_name = "RT_PER_SEC")]
    fast_threshold: f64,

    /// tcp_echo: offered rate of the open loop, messages per second over all
    /// connections [default: 50000, or 25000 with --quick].
    #[arg(long, value_name = "MSGS_PER_SEC", value_parser = clap::value_parser!(u64).range(100..))]
    rate: Option<u64>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Compare(args) => compare(args),
        Command::Matrix(args) => run_matrix(args),
        Command::Soak(args) => run_soak(args),
        Command::List { quick } => {
            list(if quick { Scale::Quick } else { Scale::Full });
            Ok(())
        }
        Command::Serve(args) => serve(args),
        Command::TimerRun { request } => {
            timers::child_main(&request).map(|line| println!("{line}"))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ringwork-bench: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn list(scale: Scale) {
    for workload in workloads::all(scale) {
        println!("{:<20} {}", workload.name(), workload.size());
    }
    for workload in timers::workloads(scale) {
        println!("{:<20} {}", workload.name(), workload.size());
    }
    for (name, size) in iobench::list(scale) {
        println!("{name:<20} {size}");
    }
    println!(
        "{:<20} a {} ms block, 20 rounds (5 with --quick) per runtime and blocker",
        busy_worker::NAME,
        busy_worker::BLOCKED.as_millis()
    );
    println!(
        "{MATRIX_NAME:<20} the reduced kernel-feature matrix: {} x {} (all of it: \
         `ringwork-bench matrix`)",
        matrix_profile::COMPARE_PROFILES.join(", "),
        matrix_profile::COMPARE_WORKLOADS.join(", ")
    );
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let kind = ServerKind::from_name(&args.peer).ok_or_else(|| {
        format!(
            "unknown server {:?}; known: {}",
            args.peer,
            ServerKind::names()
        )
    })?;
    let service = match (args.skew, args.idle, args.bulk) {
        _ if args.http => iobench::server::Service::Http,
        (Some(skew), _, _) => iobench::server::Service::Skewed(skew),
        (None, true, _) => iobench::server::Service::Idle,
        (None, false, Some(size)) => iobench::server::Service::Bulk(size as usize),
        (None, false, None) => iobench::server::Service::Echo,
    };
    iobench::server::serve(kind, args.workers as usize, args.cpu, service)
        .map_err(|err| format!("serve {}: {err}", kind.name()))
}

fn compare(args: CompareArgs) -> Result<(), String> {
    let started = Instant::now();
    let scale = if args.quick {
        Scale::Quick
    } else {
        Scale::Full
    };
    let (workloads, timers_selected, io_selected) =
        select_workloads(workloads::all(scale), &args.only)?;
    let busy_worker_selected =
        args.only.is_empty() || args.only.iter().any(|n| n == busy_worker::NAME);
    let matrix_selected = args.only.is_empty() || args.only.iter().any(|n| n == MATRIX_NAME);
    let rounds = args.rounds.map_or(
        match scale {
            Scale::Full => 7,
            Scale::Quick => RECOMMENDED_MIN_ROUNDS,
        },
        |rounds| rounds as usize,
    );
    if rounds < RECOMMENDED_MIN_ROUNDS {
        eprintln!(
            "ringwork-bench: warning: {rounds} rounds; use at least {RECOMMENDED_MIN_ROUNDS} \
             for ranges that mean something"
        );
    }
    let settings = CompareSettings {
        rounds,
        peer_settings: PeerSettings {
            workers: args.workers as usize,
            ringwork_seed: args.seed,
        },
        runtime_lifetime: if args.fresh_runtime_per_run {
            RuntimeLifetime::PerRun
        } else {
            RuntimeLifetime::PerWorkload
        },
        hang_timeout: Duration::from_secs(args.hang_timeout.max(1)),
        show_progress: true,
    };
    let machine = MachineInfo::detect();
    let peers = default_peers();

    let io_settings = IoSettings {
        workers: args.workers as usize,
        rounds: args
            .rounds
            .map_or(iobench::default_rounds(scale), |rounds| rounds as usize),
        hang_timeout: settings.hang_timeout,
        show_progress: true,
        fast_threshold: args.fast_threshold,
        rate: args.rate,
        ringwork_seed: args.seed,
    };

    let results = if workloads.is_empty() {
        Vec::new()
    } else {
        eprintln!(
            "ringwork-bench: {} workload(s) x {} peers x (1 warm-up + {rounds} rounds)",
            workloads.len(),
            peers.len()
        );
        runner::compare(&peers, &workloads, &settings).map_err(|err| err.to_string())?
    };
    let mut report = Report::new(machine, &peers, scale, &settings, &results);
    if !timers_selected.is_empty() {
        eprintln!(
            "ringwork-bench: timer workload(s) {} x {} peers x (1 warm-up + {rounds} rounds), \
             a child process per run",
            timers_selected.join(", "),
            peers.len()
        );
        let timer_settings = TimerSettings {
            workers: args.workers as usize,
            rounds,
            ringwork_seed: args.seed,
            hang_timeout: settings.hang_timeout,
            show_progress: true,
        };
        let timers = timers::run(&timers_selected, scale, &timer_settings)
            .map_err(|err| format!("timer workloads: {err}"))?;
        report = report.with(&timers);
    }
    if !io_selected.is_empty() {
        eprintln!(
            "ringwork-bench: I/O workload(s) {} x {} rounds",
            io_selected.join(", "),
            io_settings.rounds
        );
        let io = iobench::run(&io_selected, scale, &io_settings)
            .map_err(|err| format!("I/O workloads: {err}"))?;
        report = report.with(&io);
    }

    if matrix_selected {
        let options = MatrixOptions {
            scale,
            rounds: io_settings.rounds,
            profiles: matrix_profile::select_profiles(&names(&matrix_profile::COMPARE_PROFILES))?,
            workloads: matrix_profile::select_workloads(&names(
                &matrix_profile::COMPARE_WORKLOADS,
            ))?,
            workers: args.workers as usize,
            ringwork_seed: args.seed,
            hang_timeout: settings.hang_timeout,
            fast_threshold: args.fast_threshold,
            command: "compare (reduced matrix)".to_owned(),
            show_progress: true,
        };
        eprintln!(
            "ringwork-bench: reduced matrix {} x {} x {} rounds (the whole one: \
             `ringwork-bench matrix`)",
            matrix_profile::COMPARE_PROFILES.join(", "),
            matrix_profile::COMPARE_WORKLOADS.join(", "),
            options.rounds
        );
        let matrix_started = Instant::now();
        let report_matrix = matrix::run(&options).map_err(|err| format!("matrix: {err}"))?;
        eprintln!(
            "ringwork-bench: reduced matrix took {:.1} s",
            matrix_started.elapsed().as_secs_f64()
        );
        report = report.with(&report_matrix);
    }

    if busy_worker_selected {
        let rounds = args.rounds.map_or(
            match scale {
                Scale::Full => 20,
                Scale::Quick => 5,
            },
            |r| r as usize,
        );
        eprintln!(
            "ringwork-bench: busy_worker x 4 peers x 3 blockers x {rounds} rounds (~{:.0} s)",
            rounds as f64 * 12.0 * 0.45
        );
        let busy = busy_worker::run(rounds, args.workers as usize)
            .map_err(|err| format!("busy_worker: {err}"))?;
        report = report.with(&busy);
    }

    print!("{}", report.render());
    println!("(whole run: {:.1} s)", started.elapsed().as_secs_f64());
    if let Some(path) = &args.json {
        report
            .write_json(path)
            .map_err(|err| format!("writing {}: {err}", path.display()))?;
        eprintln!("ringwork-bench: wrote {}", path.display());
    }
    Ok(())
}

/// The workloads a `compare` runs: scheduler and sync workloads (the
/// runner's), then timer workloads and I/O workloads (by name).
type Selection = (Vec<Box<dyn Workload>>, Vec<&'static str>, Vec<&'static str>);

/// The scheduler, sync, timer and I/O workloads named in `only` (all of them
/// when it is empty), in report order; an unknown name is an error listing
/// the known ones.
fn select_workloads(all: Vec<Box<dyn Workload>>, only: &[String]) -> Result<Selection, String> {
    let mut known: Vec<&str> = all.iter().map(|workload| workload.name()).collect();
    known.extend(timers::NAMES);
    known.extend(iobench::NAMES);
    known.push(busy_worker::NAME);
    known.push(MATRIX_NAME);
    if let Some(unknown) = only.iter().find(|name| !known.contains(&name.as_str())) {
        return Err(format!(
            "unknown workload {unknown:?}; known: {}",
            known.join(", ")
        ));
    }
    let selected = |name: &str| only.is_empty() || only.iter().any(|only| only == name);
    let timers = timers::NAMES
        .into_iter()
        .filter(|name| selected(name))
        .collect();
    let io = iobench::NAMES
        .into_iter()
        .filter(|name| selected(name))
        .collect();
    Ok((
        all.into_iter()
            .filter(|workload| selected(workload.name()))
            .collect(),
        timers,
        io,
    ))
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|name| (*name).to_owned()).collect()
}

fn run_matrix(args: MatrixArgs) -> Result<(), String> {
    if args.list {
        for profile in matrix_profile::PROFILES {
            println!("{:<24} {}", profile.name, profile.what);
            if !profile.env_words().is_empty() {
                println!("{:<24} {}", "", profile.env_words());
            }
        }
        println!();
        let scale = if args.quick {
            Scale::Quick
        } else {
            Scale::Full
        };
        let rounds = args
            .rounds
            .map_or(matrix::default_rounds(scale), |rounds| rounds as usize);
        for workload in matrix_profile::WORKLOADS {
            println!(
                "{:<24} {}{}: {}",
                workload.name,
                workload.headline_name(),
                if workload.default {
                    ""
                } else {
                    " [not in the default set: name it, or --workloads all]"
                },
                matrix::describe(workload, scale, rounds)
            );
        }
        return Ok(());
    }
    let scale = if args.quick {
        Scale::Quick
    } else {
        Scale::Full
    };
    let options = MatrixOptions {
        scale,
        rounds: args
            .rounds
            .map_or(matrix::default_rounds(scale), |rounds| rounds as usize),
        profiles: if args.quick && args.profiles.is_empty() {
            matrix_profile::select_profiles(&names(&matrix_profile::QUICK_PROFILES))?
        } else {
            matrix_profile::select_profiles(&args.profiles)?
        },
        workloads: matrix_profile::select_workloads(&args.workloads)?,
        workers: args.workers as usize,
        ringwork_seed: args.seed,
        hang_timeout: Duration::from_secs(args.hang_timeout.max(1)),
        fast_threshold: args.fast_threshold,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        show_progress: true,
    };
    eprintln!(
        "ringwork-bench: matrix {} profiles x {} workloads x {} rounds",
        options.profiles.len(),
        options.workloads.len(),
        options.rounds
    );
    let report = matrix::run(&options).map_err(|err| format!("matrix: {err}"))?;
    print!("{}", report.render_text());
    let written = matrix::write_outputs(&report, &args.out)
        .map_err(|err| format!("writing {}: {err}", args.out.display()))?;
    for path in written {
        eprintln!("ringwork-bench: wrote {}", path.display());
    }
    println!("(whole run: {:.1} s)", report.wall_secs);
    Ok(())
}

fn run_soak(args: SoakArgs) -> Result<(), String> {
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as u64)
    });
    soak::run(&soak::SoakOptions {
        secs: args.secs,
        drivers: args.driver,
        workers: args.workers as usize,
        seed,
        inject: args.inject,
    })
}

/// A `u64` in decimal or `0x`-prefixed hexadecimal, as ringwork prints seeds.
fn parse_seed(text: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|err| format!("{text:?} is not a u64 in decimal or 0x-hex: {err}"))
}
