//! `ringwork-bench soak`: a long mixed workload on the io_uring and epoll
//! drivers at once (a runtime each, in one process), checked as it runs,
//! with the process's RSS, open fds and threads sampled every second and
//! judged for growth at the end. See [`HELP`] for what it does and when it
//! fails; `docs/reliability.md` for where it sits in the suite.
//!
//! The lanes (each a task on each runtime, looping until the end):
//! `echo` and `churn` (`net.rs`), `timers`, `channels` and `blocking`
//! (`tasks.rs`), `files` (`files.rs`). Checkers are in [`check`], the growth
//! criterion in [`growth`], shared counters and the failure list in
//! [`context`].

pub mod check;
pub mod context;
mod files;
pub mod growth;
mod net;
mod tasks;

pub use context::Fault;
use context::{Ctx, Failures, Op, LANE_HANG};
use growth::{Sample, Slack, Verdict};
use ringwork::io::DriverKind;
use ringwork::runtime::Builder;
use ringwork::Runtime;
use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The command's long help: what runs and every way it fails.
pub const HELP: &str = "\
Runs a mixed workload for --secs seconds on ringwork's io_uring and epoll \
drivers at once (one runtime per driver in this process, --workers workers \
each; --driver picks one), on loopback only:
  echo      8 connections writing checksummed, numbered frames (0-64 KiB) \
that the server echoes; one read in four (client and server) under a \
timeout of at most 2 ms that often cancels it; reconnects every 20-400 frames
  churn     4 connectors: connect, 8-byte id, acknowledgement, close (one in \
five closes at once); the server accepts under timeouts of at most 2 ms
  timers    sleeps of 0-20 ms, sleeps cut short by a timeout, a reset \
sleep, 10 s sleeps in tasks that are aborted
  channels  3 producers into a bounded mpsc, received under cancelling \
timeouts; oneshots received under cancelling timeouts; sends to dropped \
receivers
  files     write 64 KiB - 1 MiB to a temp file, read it back (some reads \
started and dropped first), fs::write / fs::read
  blocking  bursts of 1-4 spawn_blocking jobs returning a checksum
Every second it prints RSS (VmRSS), open fds (/proc/self/fd) and threads (Threads of /proc/self/status, which counts the kernel's io_uring io-wq workers, iou-wrk-*, too; their number is shown apart).

It FAILS (exit status 1, each failure printed) if:
  - a check fails: an echoed frame lost, duplicated, corrupted or out of \
order; a churn acknowledgement wrong or a connection delivered twice; a \
timer early; an mpsc message lost, duplicated or reordered; a oneshot value \
wrong; a file or blocking-job checksum wrong; any I/O error;
  - anything panics (a panic hook counts them), or a task is cancelled \
unasked;
  - an operation hangs: any single operation takes over 15 s, a lane \
completes no unit of work for 30 s, or the lanes do not stop within 30 s of \
the end (a hang the runtime's own timers cannot report ends the process \
with status 3);
  - the workload did not exercise something it claims to (a counter other \
than early closes is 0 for a driver);
  - the process's open fds are not back to where they were before the \
runtimes were built, within 5 s of shutting them down;
  - a resource grew without bound: the median of the last third of the \
samples exceeds the median of the middle third by more than the slack \
(fds +16; threads +8, since the blocking pool's size follows its load, \
its threads retiring after 10 s idle, and the kernel's io-wq workers come \
and go; RSS +25 % or +16 MiB, whichever is more). The first third \
is warm-up and is not judged. A steady leak is caught once \
rate x secs/3 exceeds the slack: in 60 s, about 0.8 fds/s or 0.8 MiB/s; \
in 30 minutes, 0.027 fds/s or 27 KiB/s.";

/// Fewest seconds: the growth criterion needs three samples per third.
pub const MIN_SECS: u64 = growth::MIN_SAMPLES as u64 + 1;
/// Most seconds (30 days): beyond any soak anyone runs; keeps the
/// arithmetic far from overflow.
pub const MAX_SECS: u64 = 30 * 24 * 3600;

/// Allowed growth of `VmRSS` (KiB): +16 MiB or +25 %.
pub const RSS_SLACK: Slack = Slack {
    absolute: 16.0 * 1024.0,
    relative: 0.25,
};
/// Allowed growth of open fds.
pub const FD_SLACK: Slack = Slack {
    absolute: 16.0,
    relative: 0.0,
};
/// Allowed growth of threads (the blocking pool's size varies with load,
/// each thread lingering 10 s once idle; the kernel's io-wq workers come
/// and go). See docs/reliability.md, "What the soak found", for a pool that
/// stays at its peak under a trickle of jobs.
pub const THREAD_SLACK: Slack = Slack {
    absolute: 8.0,
    relative: 0.0,
};

/// How long the lanes have to stop after the end.
const STOP_BOUND: Duration = Duration::from_secs(30);
/// How long the fds have to come back to the baseline after shutdown.
const FD_SETTLE: Duration = Duration::from_secs(5);

/// The lanes every runtime runs.
const LANES: [&str; 6] = ["echo", "churn", "timers", "channels", "files", "blocking"];

/// Which drivers to soak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drivers {
    /// io_uring only.
    Uring,
    /// epoll only.
    Epoll,
    /// Both at once, a runtime each.
    Both,
}

impl Drivers {
    /// Parses `uring`, `epoll` or `both`.
    pub fn parse(text: &str) -> Result<Drivers, String> {
        match text {
            "uring" | "io_uring" => Ok(Drivers::Uring),
            "epoll" => Ok(Drivers::Epoll),
            "both" => Ok(Drivers::Both),
            other => Err(format!("{other:?}: expected uring, epoll or both")),
        }
    }

    fn kinds(self) -> Vec<(&'static str, DriverKind)> {
        let uring = ("uring", DriverKind::Uring);
        let epoll = ("epoll", DriverKind::Epoll);
        match self {
            Drivers::Uring => vec![uring],
            Drivers::Epoll => vec![epoll],
            Drivers::Both => vec![uring, epoll],
        }
    }
}

/// A soak's settings.
#[derive(Clone, Debug)]
pub struct SoakOptions {
    /// Seconds to run, [`MIN_SECS`]..=[`MAX_SECS`].
    pub secs: u64,
    /// Which drivers.
    pub drivers: Drivers,
    /// Worker threads per runtime.
    pub workers: usize,
    /// Seed of the workload's choices (and of each runtime's scheduler).
    pub seed: u64,
    /// A fault to inject (the soak must then fail).
    pub inject: Option<Fault>,
}

/// Panics anywhere in the process since the soak started.
static PANICS: AtomicU64 = AtomicU64::new(0);

/// One runtime under soak.
struct Soaked {
    runtime: Runtime,
    ctx: Arc<Ctx>,
    lanes: Vec<(&'static str, ringwork::JoinHandle<()>)>,
}

/// Runs the soak, printing a line per second and a summary; `Err` lists
/// every failure.
pub fn run(options: &SoakOptions) -> Result<(), String> {
    if !(MIN_SECS..=MAX_SECS).contains(&options.secs) {
        return Err(format!(
            "--secs {}: must be {MIN_SECS}..={MAX_SECS} (the growth criterion needs at \
             least {} one-second samples)",
            options.secs,
            growth::MIN_SAMPLES
        ));
    }
    if options.workers == 0 {
        return Err("--workers must be at least 1".to_owned());
    }
    count_panics();
    let temp_dir = std::env::temp_dir().join(format!("ringwork-soak-{}", std::process::id()));
    std::fs::create_dir_all(&temp_dir)
        .map_err(|err| format!("creating {}: {err}", temp_dir.display()))?;
    let result = soak(options, &temp_dir);
    let _ = std::fs::remove_dir_all(&temp_dir);
    result
}

fn soak(options: &SoakOptions, temp_dir: &std::path::Path) -> Result<(), String> {
    let baseline_fds = fd_table();
    let failures = Arc::new(Failures::default());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();

    let mut soaked = Vec::new();
    for (name, kind) in options.drivers.kinds() {
        let runtime = Builder::new_multi_thread()
            .worker_threads(options.workers)
            .driver(kind)
            .thread_name(format!("soak-{name}"))
            .seed(options.seed)
            .build()
            .map_err(|err| format!("building the {name} runtime: {err}"))?;
        if runtime.handle().driver_kind() != Some(kind) {
            return Err(format!(
                "the {name} runtime runs on {:?}",
                runtime.handle().driver_kind()
            ));
        }
        let ctx = Arc::new(Ctx::new(
            name,
            &LANES,
            started,
            stop.clone(),
            failures.clone(),
            temp_dir.to_owned(),
            options.inject,
        ));
        let lanes = LANES
            .iter()
            .enumerate()
            .map(|(index, &lane)| {
                // The same seed per lane on every driver: the same workload.
                let rng = check::Rng::new(options.seed ^ ((index as u64 + 1) * 0x9e37_79b9));
                let future = lane_future(lane, ctx.clone(), rng);
                let ctx = ctx.clone();
                let handle = runtime.spawn(async move {
                    let result = future.await;
                    if let Some(lane) = ctx.lane(lane) {
                        lane.finish();
                    }
                    if let Err(err) = result {
                        ctx.failures.record(format!("{} {lane}: {err}", ctx.driver));
                    }
                });
                (lane, handle)
            })
            .collect();
        soaked.push(Soaked {
            runtime,
            ctx,
            lanes,
        });
    }
    let names: Vec<_> = soaked.iter().map(|s| s.ctx.driver).collect();
    if let Some(fault) = options.inject {
        println!("soak: injecting {fault:?}: this run must fail");
    }
    println!(
        "soak: {} s on {} ({} workers each), seed {:#x}, lanes {}",
        options.secs,
        names.join(" + "),
        options.workers,
        options.seed,
        LANES.join(", ")
    );

    let samples = sample_until(options.secs, started, &soaked, &failures);
    stop.store(true, Ordering::Relaxed);
    println!(
        "soak: stopping after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let stopped = stop_all(soaked, &failures);

    if !failures.any() {
        check_fds_back(&baseline_fds, &failures);
    }
    let verdicts = judge_samples(&samples);
    for (what, verdict) in &verdicts {
        if verdict.grew() {
            failures.record(format!("{what} grew without bound: {verdict}"));
        }
    }
    if !failures.any() {
        for ctx in &stopped {
            for op in Op::ALL {
                if op.required() && ctx.get(op) == 0 {
                    failures.record(format!(
                        "{}: no {} in {} s: the workload did not exercise them",
                        ctx.driver,
                        op.name(),
                        options.secs
                    ));
                }
            }
        }
    }
    let panics = PANICS.load(Ordering::Relaxed);
    if panics > 0 {
        failures.record(format!("{panics} panic(s) during the soak (printed above)"));
    }
    print_summary(&stopped, &samples, &verdicts, started.elapsed());

    let list = failures.list();
    if list.is_empty() {
        println!("soak: PASSED");
        Ok(())
    } else {
        Err(format!(
            "soak FAILED ({} failure(s)):\n  {}",
            list.len(),
            list.join("\n  ")
        ))
    }
}

type LaneFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

fn lane_future(lane: &str, ctx: Arc<Ctx>, rng: check::Rng) -> LaneFuture {
    match lane {
        "echo" => Box::pin(net::echo_lane(ctx, rng)),
        "churn" => Box::pin(net::churn_lane(ctx, rng)),
        "timers" => Box::pin(tasks::timers_lane(ctx, rng)),
        "channels" => Box::pin(tasks::channels_lane(ctx, rng)),
        "files" => Box::pin(files::files_lane(ctx, rng)),
        "blocking" => Box::pin(tasks::blocking_lane(ctx, rng)),
        other => unreachable!("no lane {other}"),
    }
}

/// Installs (once) a panic hook that counts panics, then reports them as
/// before.
fn count_panics() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::Relaxed);
            previous(info);
        }));
    });
}

/// Samples every second until `secs` have passed or something failed;
/// watches the lanes' heartbeats and the panic count meanwhile.
fn sample_until(
    secs: u64,
    started: Instant,
    soaked: &[Soaked],
    failures: &Failures,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut reported_hung = Vec::new();
    for tick in 1..=secs {
        let next = started + Duration::from_secs(tick);
        // Sleep in short steps, to stop soon after a failure.
        while Instant::now() < next && !failures.any() {
            std::thread::sleep((next - Instant::now()).min(Duration::from_millis(100)));
        }
        if failures.any() {
            break;
        }
        match Sample::now(tick) {
            Ok(sample) => {
                let ops: Vec<String> = soaked
                    .iter()
                    .map(|s| format!("{} {}", s.ctx.driver, s.ctx.total()))
                    .collect();
                println!(
                    "soak {tick:>6}s  rss {:>7.1} MiB  fds {:>4}  threads {:>3} (io-wq {:>2})  ops {}",
                    sample.rss_kib as f64 / 1024.0,
                    sample.fds,
                    sample.threads,
                    sample.io_wq,
                    ops.join(", ")
                );
                let _ = std::io::stdout().flush();
                samples.push(sample);
            }
            Err(err) => failures.record(format!("sampling /proc/self: {err}")),
        }
        for s in soaked {
            let now = s.ctx.now_ms();
            for lane in s.ctx.lanes() {
                let silent = lane.silent_for(now);
                let key = (s.ctx.driver, lane.name);
                if silent > LANE_HANG && !reported_hung.contains(&key) {
                    reported_hung.push(key);
                    failures.record(format!(
                        "{} {}: no progress for {} s (hung)",
                        s.ctx.driver,
                        lane.name,
                        silent.as_secs()
                    ));
                }
            }
        }
        let panics = PANICS.load(Ordering::Relaxed);
        if panics > 0 {
            failures.record(format!("{panics} panic(s) (printed above)"));
        }
    }
    samples
}

/// Waits for every lane to stop, then shuts the runtimes down. A hang here
/// that the runtimes' own timers cannot report ends the process.
fn stop_all(soaked: Vec<Soaked>, failures: &Arc<Failures>) -> Vec<Arc<Ctx>> {
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let limit = STOP_BOUND * soaked.len() as u32 + Duration::from_secs(30);
    std::thread::Builder::new()
        .name("soak-stop-watchdog".to_owned())
        .spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(limit) {
                eprintln!(
                    "ringwork-bench: soak: FAILURE: the runtimes did not stop within {} s \
                     of the end (hung; their timers do not fire)",
                    limit.as_secs()
                );
                std::process::exit(3);
            }
        })
        .expect("spawning a thread");
    let mut contexts = Vec::new();
    for s in soaked {
        let driver = s.ctx.driver;
        s.runtime.block_on(async {
            // One deadline for all of this runtime's lanes.
            let deadline = ringwork::time::Instant::now() + STOP_BOUND;
            for (lane, handle) in s.lanes {
                match ringwork::time::timeout_at(deadline, handle).await {
                    Err(_) => failures.record(format!(
                        "{driver} {lane}: did not stop within {} s of the end (hung)",
                        STOP_BOUND.as_secs()
                    )),
                    Ok(Err(err)) if err.is_panic() => {
                        failures.record(format!("{driver} {lane}: the lane panicked"))
                    }
                    Ok(Err(err)) => {
                        failures.record(format!("{driver} {lane}: the lane was cancelled: {err}"))
                    }
                    Ok(Ok(())) => {}
                }
            }
        });
        s.runtime.shutdown_timeout(Duration::from_secs(10));
        contexts.push(s.ctx);
    }
    let _ = done_tx.send(());
    contexts
}

/// Open fds by number, with what each refers to.
fn fd_table() -> BTreeMap<u64, String> {
    let mut table = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        for entry in entries.flatten() {
            if let Ok(fd) = entry.file_name().to_string_lossy().parse::<u64>() {
                let target = std::fs::read_link(entry.path())
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| "?".to_owned());
                table.insert(fd, target);
            }
        }
    }
    table
}

/// After shutdown, every fd the runtimes opened must be closed.
fn check_fds_back(baseline: &BTreeMap<u64, String>, failures: &Failures) {
    let start = Instant::now();
    loop {
        let now = fd_table();
        // The listing's own directory handle appears in both tables.
        let extra: Vec<String> = now
            .iter()
            .filter(|(fd, _)| !baseline.contains_key(fd))
            .filter(|(_, target)| !target.ends_with("/fd") && target.as_str() != "?")
            .map(|(fd, target)| format!("{fd} -> {target}"))
            .collect();
        if extra.is_empty() {
            return;
        }
        if start.elapsed() > FD_SETTLE {
            let shown = extra.len().min(12);
            let more = if extra.len() > shown {
                format!(" and {} more", extra.len() - shown)
            } else {
                String::new()
            };
            failures.record(format!(
                "{} fd(s) still open {} s after both runtimes shut down: {}{more}",
                extra.len(),
                FD_SETTLE.as_secs(),
                extra[..shown].join(", ")
            ));
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn judge_samples(samples: &[Sample]) -> Vec<(&'static str, Verdict)> {
    let series =
        |f: fn(&Sample) -> u64| -> Vec<f64> { samples.iter().map(|s| f(s) as f64).collect() };
    let mut verdicts = Vec::new();
    let rss_mib = |v: Verdict| Verdict {
        middle: v.middle / 1024.0,
        last: v.last / 1024.0,
        allowed: v.allowed / 1024.0,
    };
    if let Some(v) = growth::judge(&series(|s| s.rss_kib), RSS_SLACK) {
        verdicts.push(("RSS (MiB)", rss_mib(v)));
    }
    if let Some(v) = growth::judge(&series(|s| s.fds), FD_SLACK) {
        verdicts.push(("open fds", v));
    }
    if let Some(v) = growth::judge(&series(|s| s.threads), THREAD_SLACK) {
        verdicts.push(("threads", v));
    }
    verdicts
}

fn print_summary(
    contexts: &[Arc<Ctx>],
    samples: &[Sample],
    verdicts: &[(&'static str, Verdict)],
    elapsed: Duration,
) {
    println!();
    println!("soak summary after {:.1} s:", elapsed.as_secs_f64());
    print!("  {:<24}", "operation");
    for ctx in contexts {
        print!(" {:>14}", ctx.driver);
    }
    println!();
    for op in Op::ALL {
        print!("  {:<24}", op.name());
        for ctx in contexts {
            print!(" {:>14}", ctx.get(op));
        }
        println!();
    }
    print!("  {:<24}", "all operations");
    for ctx in contexts {
        print!(" {:>14}", ctx.total());
    }
    println!();
    if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
        let peak = |f: fn(&Sample) -> u64| samples.iter().map(f).max().unwrap_or(0);
        println!(
            "  RSS MiB   first {:.1}  peak {:.1}  last {:.1}",
            first.rss_kib as f64 / 1024.0,
            peak(|s| s.rss_kib) as f64 / 1024.0,
            last.rss_kib as f64 / 1024.0
        );
        println!(
            "  fds       first {}  peak {}  last {}",
            first.fds,
            peak(|s| s.fds),
            last.fds
        );
        println!(
            "  threads   first {}  peak {}  last {} (of which the kernel's io-wq workers: \
             first {}  peak {}  last {})",
            first.threads,
            peak(|s| s.threads),
            last.threads,
            first.io_wq,
            peak(|s| s.io_wq),
            last.io_wq
        );
    }
    for (what, verdict) in verdicts {
        println!("  growth of {what}: {verdict}");
    }
    if verdicts.is_empty() {
        println!(
            "  growth: not judged ({} samples, fewer than {})",
            samples.len(),
            growth::MIN_SAMPLES
        );
    }
}
