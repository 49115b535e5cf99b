//! `tcp_echo`: echo servers on ringwork (on its io_uring driver, and the same
//! server on its epoll driver), tokio and a hand-written io_uring loop (the
//! floor), each in a child process pinned to one CPU, driven by a
//! single-threaded epoll client pinned to the other (see [`super::loadgen`]
//! and [`super::server`]).
//!
//! One run = one fresh server process: connect every client connection, a
//! closed-loop phase (messages per second: reported, but on this machine the
//! client is the ceiling), then an open-loop phase at a fixed offered rate
//! over which the server's CPU time is read — the figure that separates the
//! servers: CPU time per echoed message — with p50/p99 latency from each
//! message's intended send time. A run that loses, corrupts or adds a byte
//! fails the benchmark.
//!
//! Rounds interleave the servers (the first one rotates each round) for
//! every message size, and a 150 ms loopback probe before and after each run
//! labels it fast or slow (BENCHMARKING.md's "two speeds"); ratios are taken
//! per round and summarised over all rounds and over the fast ones.

use super::loadgen::{Client, CpuSample};
use super::loopback::{self, Mode};
use super::server::{Ready, ServerKind, Service};
use super::{rotate, sys, syscount, IoSettings};
use crate::runner::Watchdog;
use crate::stats::Summary;
use serde::Serialize;
use std::io::{self, BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Where the servers run.
pub const SERVER_CPU: usize = 0;
/// Where the load generator runs.
pub const CLIENT_CPU: usize = 1;
/// A round is "quiet" when, in each of its runs, other user-space processes
/// used less CPU than this share of one core.
pub const QUIET_OTHER_CPU: f64 = 0.10;
/// How long a child server may take to say it is ready, and to exit.
const CHILD_TIMEOUT: Duration = Duration::from_secs(10);

/// How big `tcp_echo` is.
#[derive(Debug, Clone, Serialize)]
pub struct EchoConfig {
    /// Client connections.
    pub connections: usize,
    /// Message sizes, one table row each.
    pub sizes: Vec<usize>,
    /// Closed loop: unmeasured lead-in, then the measured window.
    pub closed_warm: Duration,
    /// See `closed_warm`.
    pub closed_measure: Duration,
    /// Open loop: offered messages per second, over all connections.
    pub rate: u64,
    /// Open loop: unmeasured lead-in, then the measured window.
    pub open_warm: Duration,
    /// See `open_warm`.
    pub open_measure: Duration,
    /// Measured rounds.
    pub rounds: usize,
}

impl EchoConfig {
    /// The size in words, for `list` and the table.
    pub fn size(&self) -> String {
        let sizes: Vec<String> = self.sizes.iter().map(|&size| format_size(size)).collect();
        format!(
            "{} conns, {} messages, open loop at {} msgs/s",
            self.connections,
            sizes.join(" and "),
            self.rate
        )
    }
}

/// "100 B" or "1 KiB".
pub fn format_size(bytes: usize) -> String {
    if bytes >= 1024 && bytes % 1024 == 0 {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}

/// One run: one server, one message size.
#[derive(Debug, Clone, Serialize)]
pub struct EchoRun {
    /// The server.
    pub peer: &'static str,
    /// Message size in bytes.
    pub size: usize,
    /// The round (from 1).
    pub round: usize,
    /// The server's description of itself (for ringwork, with its seed).
    pub server: String,
    /// Loopback probe before the run, round trips per second.
    pub probe_before: f64,
    /// Loopback probe after the run.
    pub probe_after: f64,
    /// The mode the two probes agree on, or `mixed`.
    pub mode: Mode,
    /// Whether echoes completed inside the CPU window. A run starved of CPU
    /// by other processes may see none (the client or the server did not run
    /// during the window): its per-message figures are then NaN and it is
    /// left out of the summaries. Its echoes were still all checked.
    pub valid: bool,
    /// Closed loop: echoes per second.
    pub closed_msgs_per_sec: f64,
    /// Open loop: offered messages per second.
    pub offered_rate: u64,
    /// Open loop: echoes completed in the CPU window.
    pub completed_in_window: u64,
    /// Length of the CPU window in seconds.
    pub window_secs: f64,
    /// Server CPU (process CPU clock) per echoed message, microseconds.
    pub cpu_us_per_msg: f64,
    /// The same from `/proc/<pid>/stat` utime + stime (10 ms ticks: coarse).
    pub stat_cpu_us_per_msg: f64,
    /// Server CPU over the window divided by its length (1.0 = one core busy).
    pub server_cpu_share: f64,
    /// Latency percentiles in microseconds.
    pub p50_us: f64,
    /// See `p50_us`.
    pub p99_us: f64,
    /// See `p50_us`.
    pub max_us: f64,
    /// Largest delay of a send behind its schedule, microseconds.
    pub max_send_lag_us: f64,
    /// CPU used by every other user-space process during the run (from the
    /// server's start to its stop), over the run's wall time: 1.0 is one
    /// core busy with something else — on a shared machine, a sign that the
    /// run competed for the CPUs.
    pub other_cpu_share: f64,
}

/// A ratio over the rounds: all of them, and the fast ones only.
#[derive(Debug, Clone, Serialize)]
pub struct EchoRatio {
    /// Message size in bytes.
    pub size: usize,
    /// What is divided, e.g. "cpu_per_msg ringwork/tokio".
    pub what: String,
    /// Per round (rounds with an invalid run are left out).
    pub per_round: Vec<f64>,
    /// Per round, whether every run of the round was fast.
    pub round_fast: Vec<bool>,
    /// Over all rounds.
    pub all: Summary,
    /// Over the fast rounds (`None`: there were none).
    pub fast: Option<Summary>,
    /// Per round, whether other processes stayed under
    /// [`QUIET_OTHER_CPU`] in every run of the round.
    pub round_quiet: Vec<bool>,
    /// Over the quiet rounds (`None`: there were none).
    pub quiet: Option<Summary>,
}

/// Per size and server: medians over the rounds.
#[derive(Debug, Clone, Serialize)]
pub struct EchoSummary {
    /// Message size in bytes.
    pub size: usize,
    /// The server.
    pub peer: &'static str,
    /// Closed loop echoes per second.
    pub closed_msgs_per_sec: Summary,
    /// CPU per message (process CPU clock), microseconds.
    pub cpu_us_per_msg: Summary,
    /// CPU per message from `/proc/<pid>/stat`, microseconds.
    pub stat_cpu_us_per_msg: Summary,
    /// p50 latency, microseconds.
    pub p50_us: Summary,
    /// p99 latency, microseconds.
    pub p99_us: Summary,
}

/// Everything `tcp_echo` measured.
#[derive(Debug, Clone, Serialize)]
pub struct EchoResults {
    /// The sizes and durations.
    pub config: EchoConfig,
    /// Loopback probe rate (round trips/s) from which a probe says fast.
    pub fast_threshold: f64,
    /// Each server's own description (from its `ready` line).
    pub servers: Vec<(&'static str, String)>,
    /// Every run, in the order they ran.
    pub runs: Vec<EchoRun>,
    /// Medians per size and server.
    pub summaries: Vec<EchoSummary>,
    /// Ratios per size.
    pub ratios: Vec<EchoRatio>,
}

/// The ratios reported, as (numerator, denominator, metric).
///
/// ringwork-epoll/tokio compares two epoll servers: the project's goal
/// (issue "epoll driver in every I/O workload") is that ratio within 10 %
/// ([`EPOLL_GOAL`]).
pub const RATIOS: [(ServerKind, ServerKind, Metric); 8] = [
    (ServerKind::RingworkUring, ServerKind::Tokio, Metric::Cpu),
    (
        ServerKind::RingworkUringNoCoop,
        ServerKind::Tokio,
        Metric::Cpu,
    ),
    (ServerKind::RingworkEpoll, ServerKind::Tokio, Metric::Cpu),
    (
        ServerKind::RingworkUring,
        ServerKind::RingworkEpoll,
        Metric::Cpu,
    ),
    (ServerKind::RingworkUring, ServerKind::Floor, Metric::Cpu),
    (ServerKind::Tokio, ServerKind::Floor, Metric::Cpu),
    (
        ServerKind::RingworkUring,
        ServerKind::Tokio,
        Metric::ClosedLoop,
    ),
    (
        ServerKind::RingworkEpoll,
        ServerKind::Tokio,
        Metric::ClosedLoop,
    ),
];

/// The goal noted in the issue: ringwork-epoll's CPU per message at most
/// this multiple of tokio's (both are epoll servers).
pub const EPOLL_GOAL: f64 = 1.10;

/// The ratio the goal is about, as named in [`EchoRatio::what`].
pub fn epoll_goal_ratio_name() -> String {
    ratio_name(ServerKind::RingworkEpoll, ServerKind::Tokio, Metric::Cpu)
}

fn ratio_name(numerator: ServerKind, denominator: ServerKind, metric: Metric) -> String {
    format!(
        "{} {}/{}",
        metric.name(),
        numerator.name(),
        denominator.name()
    )
}

/// What a ratio divides.
#[derive(Debug, Clone, Copy)]
pub enum Metric {
    /// Server CPU per echoed message (open loop).
    Cpu,
    /// Closed-loop messages per second.
    ClosedLoop,
}

impl Metric {
    fn of(self, run: &EchoRun) -> f64 {
        match self {
            Metric::Cpu => run.cpu_us_per_msg,
            Metric::ClosedLoop => run.closed_msgs_per_sec,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Metric::Cpu => "CPU/msg",
            Metric::ClosedLoop => "closed-loop msgs/s",
        }
    }
}

/// Runs `tcp_echo`.
pub fn run(
    config: EchoConfig,
    settings: &IoSettings,
    watchdog: &Watchdog,
) -> io::Result<EchoResults> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        return Err(io::Error::other(format!(
            "tcp_echo pins the servers to CPU {SERVER_CPU} and the client to CPU {CLIENT_CPU}: \
             it needs 2 CPUs, this process may use {cpus}"
        )));
    }
    let mut servers: Vec<(&'static str, String)> = Vec::new();
    let mut runs = Vec::new();
    for round in 1..=config.rounds {
        for &size in &config.sizes {
            let order = rotate(ServerKind::ALL.len(), round - 1);
            let mut probe = loopback::probe_on_fresh_thread(SERVER_CPU, CLIENT_CPU)?;
            for &index in &order {
                let kind = ServerKind::ALL[index];
                let label = format!("round {round}/{}, {}", config.rounds, format_size(size));
                let _watched = watchdog.watch(format!(
                    "tcp_echo on {} ({label}) has not finished after {:.0} s: the server or \
                     the client looks hung. Rerun it alone with `ringwork-bench compare \
                     --only tcp_echo`",
                    kind.name(),
                    settings.hang_timeout.as_secs_f64()
                ));
                let (measured, description) =
                    run_once(kind, size, &config, settings).map_err(|err| {
                        io::Error::new(
                            err.kind(),
                            format!("tcp_echo on {} ({label}): {err}", kind.name()),
                        )
                    })?;
                let after = loopback::probe_on_fresh_thread(SERVER_CPU, CLIENT_CPU)?;
                if !servers.iter().any(|(name, _)| *name == kind.name()) {
                    let mut shown = description.clone();
                    let ringwork =
                        matches!(kind, ServerKind::RingworkUring | ServerKind::RingworkEpoll);
                    if ringwork && settings.ringwork_seed.is_none() {
                        shown.push_str(" (seed of its first run; every run's is in --json)");
                    }
                    servers.push((kind.name(), shown));
                }
                let mut run = measured.into_run(
                    kind.name(),
                    size,
                    round,
                    probe,
                    after,
                    settings.fast_threshold,
                );
                run.server = description;
                if settings.show_progress {
                    eprintln!(
                        "  {:<20} {:<10} {:<22} {} {:>8.0} msgs/s closed, {:>6.2} us/msg CPU, \
                         p50 {:.0} us p99 {:.0} us, other processes {:.0}% CPU",
                        "tcp_echo",
                        kind.name(),
                        label,
                        run.mode.letter(),
                        run.closed_msgs_per_sec,
                        run.cpu_us_per_msg,
                        run.p50_us,
                        run.p99_us,
                        run.other_cpu_share * 100.0
                    );
                }
                runs.push(run);
                probe = after;
            }
        }
    }
    servers.sort_by_key(|(name, _)| ServerKind::ALL.iter().position(|kind| kind.name() == *name));
    let summaries = summarise(&config, &runs);
    let ratios = ratios(&config, &runs);
    Ok(EchoResults {
        config,
        fast_threshold: settings.fast_threshold,
        servers,
        runs,
        summaries,
        ratios,
    })
}

/// What one run measured, before the probes are known.
pub(crate) struct Measured {
    pub(crate) closed_msgs_per_sec: f64,
    pub(crate) offered_rate: u64,
    pub(crate) completed_in_window: u64,
    pub(crate) window: Duration,
    pub(crate) cpu: Duration,
    pub(crate) stat_cpu: Duration,
    /// The server's context switches in the window (every thread).
    pub(crate) switches: u64,
    /// Sorted.
    pub(crate) latencies_ns: Vec<u64>,
    pub(crate) max_send_lag: Duration,
    pub(crate) other_cpu_share: f64,
}

impl Measured {
    /// Server CPU per echo completed in the window, microseconds (NaN when
    /// none completed).
    pub(crate) fn cpu_us_per_msg(&self) -> f64 {
        if self.completed_in_window == 0 {
            f64::NAN
        } else {
            self.cpu.as_secs_f64() * 1e6 / self.completed_in_window as f64
        }
    }

    /// Server context switches per echo completed in the window (NaN when
    /// none completed).
    pub(crate) fn switches_per_msg(&self) -> f64 {
        if self.completed_in_window == 0 {
            f64::NAN
        } else {
            self.switches as f64 / self.completed_in_window as f64
        }
    }

    /// The `p` quantile (0..1) of the open loop's latencies, microseconds.
    pub(crate) fn latency_us(&self, p: f64) -> f64 {
        let index = ((self.latencies_ns.len() as f64 * p) as usize)
            .min(self.latencies_ns.len().saturating_sub(1));
        self.latencies_ns
            .get(index)
            .map_or(f64::NAN, |&ns| ns as f64 / 1e3)
    }

    fn into_run(
        self,
        peer: &'static str,
        size: usize,
        round: usize,
        probe_before: f64,
        probe_after: f64,
        fast_threshold: f64,
    ) -> EchoRun {
        let per_msg = |cpu: Duration| {
            if self.completed_in_window == 0 {
                f64::NAN
            } else {
                cpu.as_secs_f64() * 1e6 / self.completed_in_window as f64
            }
        };
        let percentile = |p: f64| self.latency_us(p);
        EchoRun {
            peer,
            size,
            round,
            server: String::new(),
            probe_before,
            probe_after,
            mode: Mode::between(probe_before, probe_after, fast_threshold),
            valid: self.completed_in_window > 0,
            closed_msgs_per_sec: self.closed_msgs_per_sec,
            offered_rate: self.offered_rate,
            completed_in_window: self.completed_in_window,
            window_secs: self.window.as_secs_f64(),
            cpu_us_per_msg: per_msg(self.cpu),
            stat_cpu_us_per_msg: per_msg(self.stat_cpu),
            server_cpu_share: self.cpu.as_secs_f64() / self.window.as_secs_f64(),
            p50_us: percentile(0.50),
            p99_us: percentile(0.99),
            max_us: self
                .latencies_ns
                .last()
                .map_or(f64::NAN, |&ns| ns as f64 / 1e3),
            max_send_lag_us: self.max_send_lag.as_secs_f64() * 1e6,
            other_cpu_share: self.other_cpu_share,
        }
    }
}

/// A child server process, killed if still running when dropped.
pub(crate) struct ServerProcess {
    child: Child,
}

/// Where a child server's standard error lines go once it is ready (its
/// lines before that are kept for the error of a server that fails to
/// start).
pub(crate) type StderrSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Lines of a child's standard error kept for the error message of a
/// server that fails to start.
const KEPT_STDERR_LINES: usize = 8;

impl ServerProcess {
    /// Starts `ringwork-bench serve` (pinned to `cpu` if given, serving
    /// `service`) and waits for its `ready` line.
    pub(crate) fn start(
        kind: ServerKind,
        workers: usize,
        seed: Option<u64>,
        cpu: Option<usize>,
        service: Service,
    ) -> io::Result<(ServerProcess, Ready)> {
        let forward: StderrSink = Arc::new(|line: &str| eprintln!("{line}"));
        ServerProcess::start_with_env(kind, workers, seed, cpu, service, &[], forward)
    }

    /// [`start`](ServerProcess::start) with `env` set on the child (after
    /// removing `RINGWORK_DRIVER` and `RINGWORK_URING`, so that only `env`
    /// chooses them). The child's standard error is read by a thread:
    /// before the `ready` line, its lines are kept, and a server that exits
    /// instead of saying it is ready fails with their last ones as the
    /// error; after, each line goes to `forward`.
    pub(crate) fn start_with_env(
        kind: ServerKind,
        workers: usize,
        seed: Option<u64>,
        cpu: Option<usize>,
        service: Service,
        env: &[(&str, &str)],
        forward: StderrSink,
    ) -> io::Result<(ServerProcess, Ready)> {
        let exe = std::env::current_exe()?;
        let mut command = Command::new(exe);
        if let Some(seed) = seed {
            // ringwork's builder takes its seed from here when none is set.
            command.env("RINGWORK_SEED", format!("{seed:#x}"));
        }
        command
            .env_remove("RINGWORK_DRIVER")
            .env_remove("RINGWORK_URING")
            .envs(env.iter().copied());
        command
            .arg("serve")
            .arg("--peer")
            .arg(kind.name())
            .arg("--workers")
            .arg(workers.to_string());
        if let Some(cpu) = cpu {
            command.arg("--cpu").arg(cpu.to_string());
        }
        command.args(service.args());
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let process = ServerProcess { child };
        let kept: Arc<Mutex<(bool, Vec<String>)>> = Arc::new(Mutex::new((false, Vec::new())));
        let kept_by_reader = kept.clone();
        thread::Builder::new()
            .name("serve-stderr".to_owned())
            .spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { return };
                    let mut kept = kept_by_reader.lock().unwrap_or_else(|e| e.into_inner());
                    if kept.0 {
                        drop(kept);
                        forward(&line);
                    } else {
                        if kept.1.len() == KEPT_STDERR_LINES {
                            kept.1.remove(0);
                        }
                        kept.1.push(line);
                    }
                }
            })?;
        let (tx, rx) = mpsc::channel();
        thread::Builder::new()
            .name("serve-ready".to_owned())
            .spawn(move || {
                let mut line = String::new();
                let res = BufReader::new(stdout).read_line(&mut line).map(|_| line);
                let _ = tx.send(res);
            })?;
        let line = match rx.recv_timeout(CHILD_TIMEOUT) {
            Ok(line) => line?,
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the server did not say it was ready within {CHILD_TIMEOUT:?}"),
                ))
            }
        };
        if line.is_empty() {
            // Its standard error closes when it exits: give the reader a
            // moment to take the last lines.
            let deadline = Instant::now() + Duration::from_millis(500);
            let mut process = process;
            while process.child.try_wait()?.is_none() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
            thread::sleep(Duration::from_millis(20));
            let said = kept.lock().unwrap_or_else(|e| e.into_inner()).1.join("\n");
            return Err(io::Error::other(if said.is_empty() {
                "the server exited before saying it was ready".to_owned()
            } else {
                said
            }));
        }
        let early = {
            let mut kept = kept.lock().unwrap_or_else(|e| e.into_inner());
            kept.0 = true;
            std::mem::take(&mut kept.1)
        };
        for line in early {
            eprintln!("{line}");
        }
        let ready = Ready::parse(&line).ok_or_else(|| {
            io::Error::other(format!(
                "the server printed {line:?} instead of `ready <port> ...`"
            ))
        })?;
        Ok((process, ready))
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes the server's standard input (it exits on that) and waits for
    /// it; an exit status other than success is an error.
    pub(crate) fn stop(mut self) -> io::Result<()> {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + CHILD_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return if status.success() {
                    Ok(())
                } else {
                    Err(io::Error::other(format!("the server exited with {status}")))
                };
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the server did not exit when its standard input closed",
                ));
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One run on a fresh server process; returns the measurements and the
/// server's description.
fn run_once(
    kind: ServerKind,
    size: usize,
    config: &EchoConfig,
    settings: &IoSettings,
) -> io::Result<(Measured, String)> {
    let (server, ready) = ServerProcess::start(
        kind,
        settings.workers,
        settings.ringwork_seed,
        Some(SERVER_CPU),
        Service::Echo,
    )?;
    let measured = measure(server, ready.addr, size, config)?;
    Ok((measured, ready.description))
}

/// Drives the started `server` (listening on `addr`) through both phases
/// with messages of `size` bytes, then stops it.
pub(crate) fn measure(
    server: ServerProcess,
    addr: std::net::SocketAddr,
    size: usize,
    config: &EchoConfig,
) -> io::Result<Measured> {
    measure_counted(
        server,
        addr,
        config,
        move |addr, connections| Client::connect(addr, connections, size),
        None,
    )
    .map(|(measured, _)| measured)
}

/// [`measure`] with the client `connect` opens (`config.connections` of
/// them to the address): the echo's, or another protocol's (`Client::
/// connect_http`). `config.sizes` is not used.
pub(crate) fn measure_with(
    server: ServerProcess,
    addr: std::net::SocketAddr,
    config: &EchoConfig,
    connect: impl FnOnce(std::net::SocketAddr, usize) -> io::Result<Client> + Send + 'static,
) -> io::Result<Measured> {
    measure_counted(server, addr, config, connect, None).map(|(measured, _)| measured)
}

/// [`measure_with`], first counting, when `count` names perf's events, the
/// server's system calls and io_uring traffic per message: in an open loop
/// of its own at the same rate (a third of the measured window after half
/// the warm-up), before the closed loop, with perf attached once the client
/// has connected and gone before anything else is measured (see
/// `syscount`: counting slows every system call). The counts' `Err` says
/// why they are missing; the cell goes on without them.
pub(crate) fn measure_counted(
    server: ServerProcess,
    addr: std::net::SocketAddr,
    config: &EchoConfig,
    connect: impl FnOnce(std::net::SocketAddr, usize) -> io::Result<Client> + Send + 'static,
    count: Option<&syscount::PerfEvents>,
) -> io::Result<(Measured, Option<Result<syscount::PerOp, String>>)> {
    let pid = server.pid();
    let count = count.cloned();
    let ours = [std::process::id(), pid];
    let other_before = sys::other_processes_cpu(&ours)?;
    let started = Instant::now();
    let clock = sys::ProcessCpuClock::of(pid)?;
    let config = config.clone();
    let generator = thread::Builder::new()
        .name("tcp-echo-client".to_owned())
        .spawn(
            move || -> io::Result<(Measured, Option<Result<syscount::PerOp, String>>)> {
                sys::pin_current_thread(CLIENT_CPU)?;
                sys::set_timer_slack(1)?;
                let mut client = connect(addr, config.connections)?;
                let counted = match &count {
                    Some(events) => Some(count_per_message(&mut client, pid, events, &config)?),
                    None => None,
                };
                let closed = client.closed_loop(config.closed_warm, config.closed_measure)?;
                let mut sample = || -> io::Result<CpuSample> {
                    Ok(CpuSample {
                        clock: clock.read()?,
                        stat: sys::proc_stat_cpu(pid)?,
                        switches: sys::context_switches(pid)?,
                    })
                };
                let open = client.open_loop(
                    config.rate,
                    config.open_warm,
                    config.open_measure,
                    &mut sample,
                )?;
                client.finish()?;
                let measured = Measured {
                    closed_msgs_per_sec: closed.msgs_per_sec,
                    offered_rate: open.offered_rate,
                    completed_in_window: open.completed_in_window,
                    window: open.window,
                    cpu: open.cpu_end.clock.saturating_sub(open.cpu_start.clock),
                    stat_cpu: open.cpu_end.stat.saturating_sub(open.cpu_start.stat),
                    switches: open
                        .cpu_end
                        .switches
                        .saturating_sub(open.cpu_start.switches),
                    latencies_ns: open.latencies_ns,
                    max_send_lag: open.max_send_lag,
                    other_cpu_share: 0.0,
                };
                Ok((measured, counted))
            },
        )?;
    let measured = generator
        .join()
        .map_err(|_| io::Error::other("the load generator panicked"))?;
    let other = sys::other_processes_cpu(&ours)?.saturating_sub(other_before);
    let other_cpu_share = other.as_secs_f64() / started.elapsed().as_secs_f64();
    let measured = measured.map(|(measured, counted)| {
        (
            Measured {
                other_cpu_share,
                ..measured
            },
            counted,
        )
    });
    // Stop the server whether or not the client succeeded; the client's
    // error comes first.
    let stopped = server.stop();
    let measured = measured?;
    stopped?;
    Ok(measured)
}

/// What [`measure_closed`] measured: a closed loop at saturation.
#[derive(Debug, Clone)]
pub(crate) struct ClosedMeasured {
    /// Echoes completed per second in the window.
    pub(crate) msgs_per_sec: f64,
    /// Server CPU (process clock) per echo completed in the window,
    /// microseconds (the window's CPU includes the drain of the last
    /// echoes in flight, at most one per connection).
    pub(crate) cpu_us_per_msg: f64,
    /// Latencies (ns, from each message's send to its echo's end) of the
    /// messages sent in the window, sorted.
    pub(crate) latencies_ns: Vec<u64>,
}

impl ClosedMeasured {
    /// The `p` quantile (0..1) of the latencies, microseconds.
    pub(crate) fn latency_us(&self, p: f64) -> f64 {
        let Some(last) = self.latencies_ns.len().checked_sub(1) else {
            return f64::NAN;
        };
        let index = ((self.latencies_ns.len() as f64 * p) as usize).min(last);
        self.latencies_ns[index] as f64 / 1e3
    }
}

/// Drives the started `server` with a closed loop alone (one message in
/// flight per connection, sent as soon as the last one's echo is back):
/// `warm` unmeasured, then `measure` counted, the server's CPU clock read
/// at the window's edges; then stops it.
pub(crate) fn measure_closed(
    server: ServerProcess,
    addr: std::net::SocketAddr,
    size: usize,
    connections: usize,
    warm: Duration,
    measure: Duration,
) -> io::Result<ClosedMeasured> {
    let clock = sys::ProcessCpuClock::of(server.pid())?;
    let generator = thread::Builder::new()
        .name("closed-loop-client".to_owned())
        .spawn(move || -> io::Result<ClosedMeasured> {
            sys::pin_current_thread(CLIENT_CPU)?;
            sys::set_timer_slack(1)?;
            let mut client = Client::connect(addr, connections, size)?;
            client.closed_loop(Duration::ZERO, warm)?;
            let before = clock.read()?;
            let closed = client.closed_loop_timed(Duration::ZERO, measure)?;
            let cpu = clock.read()?.saturating_sub(before);
            client.finish()?;
            let echoes = closed.msgs_per_sec * measure.as_secs_f64();
            Ok(ClosedMeasured {
                msgs_per_sec: closed.msgs_per_sec,
                cpu_us_per_msg: cpu.as_secs_f64() * 1e6 / echoes,
                latencies_ns: closed.latencies_ns,
            })
        })?;
    let measured = generator
        .join()
        .map_err(|_| io::Error::other("the load generator panicked"))?;
    let stopped = server.stop();
    let measured = measured?;
    stopped?;
    Ok(measured)
}

/// The counting phase of [`measure_counted`]: perf attached to `pid`, an
/// open loop at the configured rate whose window perf counts, perf
/// stopped. `Err` inside: perf failed (the client's own errors are the
/// outer one).
fn count_per_message(
    client: &mut Client,
    pid: u32,
    events: &syscount::PerfEvents,
    config: &EchoConfig,
) -> io::Result<Result<syscount::PerOp, String>> {
    let mut session = match syscount::PerfSession::attach(pid, events) {
        Ok(session) => session,
        Err(err) => return Ok(Err(format!("perf: {err}"))),
    };
    let mut edges = 0;
    let mut perf_error = None;
    let open = client.open_loop(
        config.rate,
        config.open_warm / 2,
        config.open_measure / 3,
        &mut || {
            let res = if edges == 0 {
                session.enable()
            } else {
                session.disable()
            };
            edges += 1;
            if let Err(err) = res {
                perf_error.get_or_insert(err);
            }
            Ok(CpuSample {
                clock: Duration::ZERO,
                stat: Duration::ZERO,
                switches: 0,
            })
        },
    )?;
    if let Some(err) = perf_error {
        return Ok(Err(format!("perf: {err}")));
    }
    if open.completed_in_window == 0 {
        return Ok(Err("no echo completed in the counting window".to_owned()));
    }
    Ok(session
        .finish()
        .map(|counts| counts.per(open.completed_in_window))
        .map_err(|err| format!("perf: {err}")))
}

fn runs_of<'a>(
    runs: &'a [EchoRun],
    size: usize,
    kind: ServerKind,
) -> impl Iterator<Item = &'a EchoRun> + 'a {
    runs.iter()
        .filter(move |run| run.size == size && run.peer == kind.name())
}

/// Median and range of the samples that are numbers (NaN: an invalid run);
/// all NaN when none is.
fn summary(samples: impl Iterator<Item = f64>) -> Summary {
    let samples: Vec<f64> = samples.filter(|sample| !sample.is_nan()).collect();
    Summary::of(&samples).unwrap_or(Summary {
        median: f64::NAN,
        min: f64::NAN,
        max: f64::NAN,
    })
}

fn summarise(config: &EchoConfig, runs: &[EchoRun]) -> Vec<EchoSummary> {
    let mut out = Vec::new();
    for &size in &config.sizes {
        for kind in ServerKind::ALL {
            out.push(EchoSummary {
                size,
                peer: kind.name(),
                closed_msgs_per_sec: summary(
                    runs_of(runs, size, kind).map(|r| r.closed_msgs_per_sec),
                ),
                cpu_us_per_msg: summary(runs_of(runs, size, kind).map(|r| r.cpu_us_per_msg)),
                stat_cpu_us_per_msg: summary(
                    runs_of(runs, size, kind).map(|r| r.stat_cpu_us_per_msg),
                ),
                p50_us: summary(runs_of(runs, size, kind).map(|r| r.p50_us)),
                p99_us: summary(runs_of(runs, size, kind).map(|r| r.p99_us)),
            });
        }
    }
    out
}

fn ratios(config: &EchoConfig, runs: &[EchoRun]) -> Vec<EchoRatio> {
    let mut out = Vec::new();
    for &size in &config.sizes {
        for (numerator, denominator, metric) in RATIOS {
            let mut per_round = Vec::new();
            let mut round_fast = Vec::new();
            let mut round_quiet = Vec::new();
            let mut fast = Vec::new();
            let mut quiet = Vec::new();
            for round in 1..=config.rounds {
                let in_round: Vec<&EchoRun> = runs
                    .iter()
                    .filter(|run| run.size == size && run.round == round)
                    .collect();
                let find = |kind: ServerKind| in_round.iter().find(|run| run.peer == kind.name());
                let (Some(top), Some(bottom)) = (find(numerator), find(denominator)) else {
                    continue;
                };
                let ratio = metric.of(top) / metric.of(bottom);
                if ratio.is_nan() {
                    // An invalid run: the round has no ratio.
                    continue;
                }
                let all_fast = in_round.iter().all(|run| run.mode == Mode::Fast);
                let all_quiet = in_round
                    .iter()
                    .all(|run| run.other_cpu_share < QUIET_OTHER_CPU);
                per_round.push(ratio);
                round_fast.push(all_fast);
                round_quiet.push(all_quiet);
                if all_fast {
                    fast.push(ratio);
                }
                if all_quiet {
                    quiet.push(ratio);
                }
            }
            out.push(EchoRatio {
                size,
                what: ratio_name(numerator, denominator, metric),
                all: summary(per_round.iter().copied()),
                fast: Summary::of(&fast),
                quiet: Summary::of(&quiet),
                per_round,
                round_fast,
                round_quiet,
            });
        }
    }
    out
}
