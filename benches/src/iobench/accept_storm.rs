//! `accept_storm`: connect, echo 64 bytes, close — as fast as a handful of
//! clients can — against the echo servers of `server.rs`: ringwork on
//! io_uring with the multishot accept (the default) and with single-shot
//! accepts, ringwork on epoll, and tokio. Each server is a fresh child
//! process pinned to CPU 0; the client threads are pinned to CPU 1. The
//! figures: connections per second (client-bound on this machine, as
//! tcp_echo's closed loop is) and the server's CPU time per connection,
//! which is what separates the accept paths. Every echo is checked.

use super::server::{ServerKind, Service};
use super::tcp_echo::{ServerProcess, CLIENT_CPU, SERVER_CPU};
use super::{rotate, sys, IoSettings};
use crate::runner::Watchdog;
use crate::stats::Summary;
use crate::table::{format_range, format_table};
use crate::workloads::Scale;
use serde::Serialize;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The workload's name, as `--only` takes it.
pub const NAME: &str = "accept_storm";

/// The servers, in column order.
pub const SERVERS: [ServerKind; 4] = [
    ServerKind::RingworkUring,
    ServerKind::RingworkUringSingleAccept,
    ServerKind::RingworkEpoll,
    ServerKind::Tokio,
];

/// Bytes echoed per connection.
const MESSAGE: usize = 64;

/// What the workload runs.
#[derive(Debug, Clone, Serialize)]
pub struct StormConfig {
    /// Client threads, each connecting again as soon as its last
    /// connection closed.
    pub clients: usize,
    /// Unmeasured start.
    pub warm: Duration,
    /// Measured window.
    pub measure: Duration,
    /// Measured rounds.
    pub rounds: usize,
}

impl StormConfig {
    /// The workload at `scale`.
    pub fn new(scale: Scale, rounds: usize) -> StormConfig {
        let (warm, measure) = match scale {
            Scale::Full => (Duration::from_millis(200), Duration::from_secs(1)),
            Scale::Quick => (Duration::from_millis(100), Duration::from_millis(400)),
        };
        StormConfig {
            clients: 8,
            warm,
            measure,
            rounds,
        }
    }

    /// The size in words.
    pub fn size(&self) -> String {
        format!(
            "{} client threads: connect, echo {MESSAGE} B, close, for {:.1} s",
            self.clients,
            self.measure.as_secs_f64()
        )
    }
}

/// One run.
#[derive(Debug, Clone, Serialize)]
pub struct StormRun {
    /// The server's name.
    pub peer: &'static str,
    /// From 1.
    pub round: usize,
    /// Connections completed (echo checked, closed) per second.
    pub conns_per_sec: f64,
    /// Server CPU (user + sys, all threads) per connection, microseconds.
    pub cpu_us_per_conn: f64,
}

/// A ratio of two servers' figures, per round, summarised.
#[derive(Debug, Clone, Serialize)]
pub struct StormRatio {
    /// E.g. "CPU/conn ringwork-uring/tokio".
    pub name: String,
    /// Over the rounds.
    pub summary: Summary,
}

/// What the workload measured.
#[derive(Debug, Clone, Serialize)]
pub struct StormResults {
    /// What ran.
    pub config: StormConfig,
    /// The servers' descriptions of themselves.
    pub servers: Vec<(&'static str, String)>,
    /// Every run.
    pub runs: Vec<StormRun>,
    /// Per-round ratios.
    pub ratios: Vec<StormRatio>,
}

/// Runs the workload.
pub fn run(
    config: StormConfig,
    settings: &IoSettings,
    watchdog: &Watchdog,
) -> io::Result<StormResults> {
    let mut runs = Vec::new();
    let mut servers: Vec<(&'static str, String)> = Vec::new();
    for round in 1..=config.rounds {
        for index in rotate(SERVERS.len(), round - 1) {
            let kind = SERVERS[index];
            let label = format!("round {round}/{}", config.rounds);
            let _watched = watchdog.watch(format!(
                "accept_storm on {} ({label}) has not finished after {:.0} s. Rerun it alone \
                 with `ringwork-bench compare --only accept_storm`",
                kind.name(),
                settings.hang_timeout.as_secs_f64()
            ));
            let (run, description) = run_once(kind, round, &config, settings).map_err(|err| {
                io::Error::new(
                    err.kind(),
                    format!("accept_storm on {} ({label}): {err}", kind.name()),
                )
            })?;
            if !servers.iter().any(|(name, _)| *name == kind.name()) {
                servers.push((kind.name(), description));
            }
            if settings.show_progress {
                eprintln!(
                    "  {:<20} {:<28} {:<10} {:>8.0} conns/s, {:>6.2} us CPU/conn",
                    NAME,
                    kind.name(),
                    label,
                    run.conns_per_sec,
                    run.cpu_us_per_conn
                );
            }
            runs.push(run);
        }
    }
    let ratios = ratios(&runs, config.rounds);
    Ok(StormResults {
        config,
        servers,
        runs,
        ratios,
    })
}

fn run_once(
    kind: ServerKind,
    round: usize,
    config: &StormConfig,
    settings: &IoSettings,
) -> io::Result<(StormRun, String)> {
    let (server, ready) = ServerProcess::start(
        kind,
        settings.workers,
        settings.ringwork_seed,
        Some(SERVER_CPU),
        Service::Echo,
    )?;
    let storm = measure(server, ready.addr, config)?;
    Ok((
        StormRun {
            peer: kind.name(),
            round,
            conns_per_sec: storm.conns_per_sec,
            cpu_us_per_conn: storm.cpu_us_per_conn,
        },
        ready.description,
    ))
}

/// What one storm against one server measured.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Storm {
    /// Connections completed (echo checked, closed) per second.
    pub(crate) conns_per_sec: f64,
    /// Server CPU per connection, microseconds.
    pub(crate) cpu_us_per_conn: f64,
}

/// Runs the storm against the started `server` (listening on `addr`), then
/// stops it.
pub(crate) fn measure(
    server: ServerProcess,
    addr: SocketAddr,
    config: &StormConfig,
) -> io::Result<Storm> {
    let clock = sys::ProcessCpuClock::of(server.pid())?;
    let stop = Arc::new(AtomicBool::new(false));
    let counting = Arc::new(AtomicBool::new(false));
    let completed = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..config.clients)
        .map(|_| {
            let (stop, counting, completed) = (stop.clone(), counting.clone(), completed.clone());
            thread::Builder::new()
                .name("storm-client".to_owned())
                .spawn(move || -> io::Result<()> {
                    sys::pin_current_thread(CLIENT_CPU)?;
                    while !stop.load(Ordering::Relaxed) {
                        connect_echo_close(addr)?;
                        if counting.load(Ordering::Relaxed) {
                            completed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(())
                })
        })
        .collect::<io::Result<_>>()?;
    thread::sleep(config.warm);
    let cpu_start = clock.read()?;
    let start = Instant::now();
    counting.store(true, Ordering::Relaxed);
    thread::sleep(config.measure);
    counting.store(false, Ordering::Relaxed);
    let window = start.elapsed();
    let cpu = clock.read()?.saturating_sub(cpu_start);
    let done = completed.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let mut failure = None;
    for client in clients {
        match client.join() {
            Ok(Ok(())) => {}
            Ok(Err(err)) => failure = Some(err),
            Err(_) => failure = Some(io::Error::other("a client thread panicked")),
        }
    }
    let stopped = server.stop();
    if let Some(err) = failure {
        return Err(err);
    }
    stopped?;
    if done == 0 {
        return Err(io::Error::other("no connection completed in the window"));
    }
    Ok(Storm {
        conns_per_sec: done as f64 / window.as_secs_f64(),
        cpu_us_per_conn: cpu.as_secs_f64() * 1e6 / done as f64,
    })
}

/// One connection: connect, send a message, check its echo, close.
fn connect_echo_close(addr: SocketAddr) -> io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    let message: [u8; MESSAGE] = std::array::from_fn(|i| i as u8);
    stream.write_all(&message)?;
    let mut echo = [0u8; MESSAGE];
    stream.read_exact(&mut echo)?;
    if echo != message {
        return Err(io::Error::other("the echo differs from the message"));
    }
    Ok(())
}

fn ratios(runs: &[StormRun], rounds: usize) -> Vec<StormRatio> {
    let of = |kind: ServerKind, round: usize, metric: fn(&StormRun) -> f64| {
        runs.iter()
            .find(|run| run.peer == kind.name() && run.round == round)
            .map(metric)
    };
    let cpu: fn(&StormRun) -> f64 = |run| run.cpu_us_per_conn;
    let rate: fn(&StormRun) -> f64 = |run| run.conns_per_sec;
    let pairs = [
        (
            "CPU/conn",
            cpu,
            ServerKind::RingworkUring,
            ServerKind::Tokio,
        ),
        (
            "CPU/conn",
            cpu,
            ServerKind::RingworkUring,
            ServerKind::RingworkUringSingleAccept,
        ),
        (
            "CPU/conn",
            cpu,
            ServerKind::RingworkEpoll,
            ServerKind::Tokio,
        ),
        (
            "conns/s",
            rate,
            ServerKind::RingworkUring,
            ServerKind::Tokio,
        ),
        (
            "conns/s",
            rate,
            ServerKind::RingworkUring,
            ServerKind::RingworkUringSingleAccept,
        ),
    ];
    pairs
        .into_iter()
        .filter_map(|(metric_name, metric, numerator, denominator)| {
            let per_round: Vec<f64> = (1..=rounds)
                .filter_map(|round| {
                    Some(of(numerator, round, metric)? / of(denominator, round, metric)?)
                })
                .collect();
            Some(StormRatio {
                name: format!("{metric_name} {}/{}", numerator.name(), denominator.name()),
                summary: Summary::of(&per_round)?,
            })
        })
        .collect()
}

impl StormResults {
    /// The table, as printed with the other I/O tables.
    pub fn render(&self, out: &mut String) {
        let config = &self.config;
        let _ = writeln!(out, "\naccept_storm: {}", config.size());
        let _ = writeln!(
            out,
            "method:    per run a fresh server pinned to CPU {SERVER_CPU}, client threads \
             (blocking std sockets) pinned to CPU {CLIENT_CPU}; {:.2} s measured after {:.2} s; \
             CPU/conn = server process CPU clock over the window / connections completed in it; \
             {} rounds, servers interleaved (first rotates), ratio per round",
            config.measure.as_secs_f64(),
            config.warm.as_secs_f64(),
            config.rounds
        );
        for (name, description) in &self.servers {
            let _ = writeln!(out, "server:    {name}: {description}");
        }
        let mut rows = vec![vec![
            "server".to_owned(),
            "conns/s median [min-max]".to_owned(),
            "CPU us/conn median [min-max]".to_owned(),
        ]];
        for kind in SERVERS {
            let of = |metric: fn(&StormRun) -> f64, format: fn(&Summary) -> String| {
                let samples: Vec<f64> = self
                    .runs
                    .iter()
                    .filter(|run| run.peer == kind.name())
                    .map(metric)
                    .collect();
                Summary::of(&samples).map_or_else(|| "-".to_owned(), |s| format(&s))
            };
            let whole: fn(&Summary) -> String =
                |s| format!("{:.0} [{:.0}-{:.0}]", s.median, s.min, s.max);
            rows.push(vec![
                kind.name().to_owned(),
                of(|run| run.conns_per_sec, whole),
                of(|run| run.cpu_us_per_conn, format_range),
            ]);
        }
        out.push_str(&format_table(&rows, 1));
        let mut rows = vec![vec!["ratio".to_owned(), "median [min-max]".to_owned()]];
        for ratio in &self.ratios {
            rows.push(vec![ratio.name.clone(), format_range(&ratio.summary)]);
        }
        out.push('\n');
        out.push_str(&format_table(&rows, 1));
        let _ = writeln!(
            out,
            "CPU/conn below 1: the first server spent less CPU per connection; conns/s is \
             bounded by the client threads sharing one CPU"
        );
    }
}
