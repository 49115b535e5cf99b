//! `idle_conns` (a matrix column): what 10,000 idle connections, each with a
//! read pending, cost a server in memory — issue 13's goal "server RSS ≤
//! tokio's".
//!
//! The client (this process, one thread pinned to the client CPU) opens the
//! connections in batches, sends one small message on each and checks its
//! echo — so that every connection's read path, and whatever buffer it
//! reads into, has been used once — then leaves them all idle. After a
//! settle time it reads the server process's `VmRSS` (`/proc/PID/status`)
//! and compares it with the `VmRSS` the server had when it said it was
//! ready, before any connection. Then it resets every connection
//! (`SO_LINGER` 0: no `TIME_WAIT` left behind for the next cell) and stops
//! the server.
//!
//! Each server waits in its idiomatic lowest-memory way ([`Service::Idle`]):
//!
//! - ringwork: `recv_buf()`, which holds no buffer while it waits. With a
//!   provided-buffer ring (a profile with `bufring`), one multishot `RECV`
//!   is armed and the kernel picks a ring buffer only when data arrives.
//!   Without one, it waits for readability (`POLL_ADD`, or epoll readiness)
//!   and allocates its 16 KiB heap buffer after. (`read(Vec)`, the echo
//!   workloads' read, holds its buffer in the pending operation: 16 KiB per
//!   idle connection.)
//! - monoio: `read(Vec)` of 16 KiB (its owned-buffer read; the pending
//!   `RECV` holds the buffer).
//! - tokio: `readable().await`, then `try_read` into a buffer allocated only
//!   then — a readiness server holds no buffer while idle.
//! - std-threads: a blocking `read` on a thread per connection.
//! - the floor: its echo loop's RECV into the connection's buffer; the
//!   multishot floor: its armed multishot RECV, no buffer held.
//!
//! Each server says which in its `ready` line, after [`PENDING_PREFIX`]
//! (the servers' side of the workload is in `services.rs`).
//!
//! [`Service::Idle`]: super::server::Service::Idle

use super::loadgen::EchoStream;
use super::services::PENDING_PREFIX;
use super::sys;
use super::tcp_echo::{ServerProcess, CLIENT_CPU};
use crate::workloads::Scale;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

/// Longest a connect or an echo may take.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Connections opened, then given their message, per batch.
const BATCH: usize = 256;

/// What the workload runs.
#[derive(Debug, Clone)]
pub struct IdleConfig {
    /// Connections held open.
    pub connections: usize,
    /// Bytes of the one message each connection echoes.
    pub size: usize,
    /// How long every connection stays idle before the RSS is read.
    pub settle: Duration,
}

impl IdleConfig {
    /// The workload at `scale`: 10,000 connections either way (the figure
    /// is per connection at that count); a shorter settle with `--quick`.
    pub fn new(scale: Scale) -> IdleConfig {
        IdleConfig {
            connections: 10_000,
            size: 64,
            settle: match scale {
                Scale::Full => Duration::from_secs(1),
                Scale::Quick => Duration::from_millis(500),
            },
        }
    }
}

/// What one cell measured.
#[derive(Debug, Clone)]
pub struct IdleMeasured {
    /// Server `VmRSS` when ready, KiB.
    pub idle_rss_kib: u64,
    /// Server `VmRSS` with every connection idle, KiB.
    pub rss_kib: u64,
    /// Connections held.
    pub connections: usize,
    /// Server CPU from the first connect to the last echo, per connection,
    /// microseconds.
    pub cpu_us_per_conn: f64,
    /// Connections set up (connected and echoed once) per second.
    pub conns_per_sec: f64,
}

impl IdleMeasured {
    /// `(rss - idle_rss) / connections`, KiB.
    pub fn rss_per_conn_kib(&self) -> f64 {
        (self.rss_kib as f64 - self.idle_rss_kib as f64) / self.connections as f64
    }
}

/// How the server said its idle read is pending (from its description).
pub fn pending_read(description: &str) -> Option<String> {
    description
        .split_once(PENDING_PREFIX)
        .map(|(_, how)| how.trim().to_owned())
}

/// Drives the started `server` (listening on `addr`) as the module says,
/// then stops it.
pub(crate) fn measure(
    server: ServerProcess,
    addr: SocketAddr,
    config: &IdleConfig,
) -> io::Result<IdleMeasured> {
    let pid = server.pid();
    let clock = sys::ProcessCpuClock::of(pid)?;
    // The runtime's threads have started and parked by now.
    thread::sleep(Duration::from_millis(100));
    let idle_rss_kib = sys::vm_rss_kib(pid)?;
    let config = config.clone();
    let client = thread::Builder::new()
        .name("idle-conns-client".to_owned())
        .spawn(move || -> io::Result<IdleMeasured> {
            sys::pin_current_thread(CLIENT_CPU)?;
            let limit = sys::raise_nofile_limit()?;
            if (limit as usize) < config.connections + 64 {
                return Err(io::Error::other(format!(
                    "RLIMIT_NOFILE's hard limit is {limit}: {} connections do not fit",
                    config.connections
                )));
            }
            let cpu_before = clock.read()?;
            let started = Instant::now();
            let streams = open_and_echo(addr, &config)?;
            let set_up = started.elapsed();
            let cpu = clock.read()?.saturating_sub(cpu_before);
            thread::sleep(config.settle);
            let rss_kib = sys::vm_rss_kib(pid)?;
            for stream in &streams {
                reset_on_close(stream)?;
            }
            drop(streams);
            Ok(IdleMeasured {
                idle_rss_kib,
                rss_kib,
                connections: config.connections,
                cpu_us_per_conn: cpu.as_secs_f64() * 1e6 / config.connections as f64,
                conns_per_sec: config.connections as f64 / set_up.as_secs_f64(),
            })
        })?;
    let measured = client
        .join()
        .map_err(|_| io::Error::other("the idle-connections client panicked"))?;
    let stopped = server.stop();
    let measured = measured?;
    stopped?;
    Ok(measured)
}

/// Opens `config.connections` connections in batches; on each, sends one
/// message and checks its echo.
fn open_and_echo(addr: SocketAddr, config: &IdleConfig) -> io::Result<Vec<TcpStream>> {
    let mut streams = Vec::with_capacity(config.connections);
    let mut message = vec![0u8; config.size];
    let mut reply = vec![0u8; config.size];
    while streams.len() < config.connections {
        let first = streams.len();
        let batch = BATCH.min(config.connections - first);
        let mut echoes = Vec::with_capacity(batch);
        for id in first..first + batch {
            let stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|err| {
                io::Error::new(err.kind(), format!("connection {id} of {}: {err}", addr))
            })?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(TIMEOUT))?;
            let mut echo = EchoStream::new(id as u64, config.size);
            echo.next_message(&mut message);
            (&stream).write_all(&message)?;
            echoes.push(echo);
            streams.push(stream);
        }
        for (offset, echo) in echoes.iter_mut().enumerate() {
            let id = first + offset;
            (&streams[id]).read_exact(&mut reply).map_err(|err| {
                io::Error::new(
                    err.kind(),
                    format!("connection {id}: waiting for the echo of its message: {err}"),
                )
            })?;
            if echo.check(&reply)? != 1 {
                return Err(io::Error::other(format!(
                    "connection {id}: the echo did not complete its message"
                )));
            }
        }
    }
    Ok(streams)
}

/// Makes closing `stream` send a reset (`SO_LINGER` on, 0 s), so that 10,000
/// closes leave no `TIME_WAIT` behind.
pub(crate) fn reset_on_close(stream: &TcpStream) -> io::Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the option value is a live `linger` of the size passed; the
    // descriptor is open for the call.
    let res = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    sys::check(res).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pending_read_is_what_follows_the_prefix() {
        let description = format!("tokio multi_thread, 2 workers; {PENDING_PREFIX}readable()");
        assert_eq!(pending_read(&description).as_deref(), Some("readable()"));
        assert_eq!(pending_read("floor: one thread"), None);
        let measured = IdleMeasured {
            idle_rss_kib: 1000,
            rss_kib: 21_000,
            connections: 10_000,
            cpu_us_per_conn: 1.0,
            conns_per_sec: 1.0,
        };
        assert_eq!(measured.rss_per_conn_kib(), 2.0);
    }
}
