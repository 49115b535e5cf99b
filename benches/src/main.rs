//! `ringwork-bench`: runs the workloads side by side on ringwork and its
//! peers and prints a table of times and ratios (see `ringwork-bench compare
//! --help`).

use clap::{Args, Parser, Subcommand};
use ringwork_bench::machine::MachineInfo;
use ringwork_bench::peer::{default_peers, PeerSettings};
use ringwork_bench::report::Report;
use ringwork_bench::runner::{self, CompareSettings, RuntimeLifetime};
use ringwork_bench::workloads::{self, Scale, Workload};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

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
    /// List the workloads and their sizes.
    List {
        /// Show the `--quick` sizes.
        #[arg(long)]
        quick: bool,
    },
}

#[derive(Debug, Args)]
struct CompareArgs {
    /// Smaller workloads and 5 rounds by default: a quick look, not a result.
    #[arg(long)]
    quick: bool,

    /// Measured rounds per workload [default: 7, or 5 with --quick].
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
    /// (default: RINGWORK_SEED or the clock, per runtime).
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Compare(args) => compare(args),
        Command::List { quick } => {
            list(if quick { Scale::Quick } else { Scale::Full });
            Ok(())
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
}

fn compare(args: CompareArgs) -> Result<(), String> {
    let started = Instant::now();
    let scale = if args.quick {
        Scale::Quick
    } else {
        Scale::Full
    };
    let workloads = select_workloads(workloads::all(scale), &args.only)?;
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

    eprintln!(
        "ringwork-bench: {} workload(s) x {} peers x (1 warm-up + {rounds} rounds)",
        workloads.len(),
        peers.len()
    );
    let results = runner::compare(&peers, &workloads, &settings).map_err(|err| err.to_string())?;
    let report = Report::new(machine, &peers, scale, &settings, &results);

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

/// The workloads named in `only` (all of them when it is empty), in report
/// order; an unknown name is an error listing the known ones.
fn select_workloads(
    all: Vec<Box<dyn Workload>>,
    only: &[String],
) -> Result<Vec<Box<dyn Workload>>, String> {
    let known: Vec<&str> = all.iter().map(|workload| workload.name()).collect();
    if let Some(unknown) = only.iter().find(|name| !known.contains(&name.as_str())) {
        return Err(format!(
            "unknown workload {unknown:?}; known: {}",
            known.join(", ")
        ));
    }
    Ok(all
        .into_iter()
        .filter(|workload| only.is_empty() || only.iter().any(|name| name == workload.name()))
        .collect())
}

/// A `u64` in decimal or `0x`-prefixed hexadecimal, as ringwork prints seeds.
fn parse_seed(text: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|err| format!("{text:?} is not a u64 in decimal or 0x-hex: {err}"))
}
