//! `bulk_*` (matrix columns): the server sends large messages as fast as
//! the client takes them, on a few connections — where sends are big
//! enough for `IORING_OP_SEND_ZC` (the `uring-send-zc` profile's threshold
//! is 16 KiB).
//!
//! Protocol ([`Service::Bulk`]): the client sends its connection number (8
//! bytes, little-endian); the server then sends message after message of
//! the configured size — the byte stream of `loadgen::EchoStream` for that
//! connection: a header with the connection and the message number, then a
//! filler that depends on the connection — until the client goes away (a
//! reset or a broken pipe ends the connection quietly). The server builds
//! the message once and only rewrites its 8-byte header between sends.
//!
//! The client is a thread per connection pinned to the client CPU, each
//! checking every byte it reads; the figures are bytes per second in a
//! window (GB/s) and the server's CPU per MiB delivered in it.
//!
//! On loopback, `SEND_ZC` never avoids the copy: the kernel copies the
//! pages into the receiver's socket and the notification says so
//! (`IORING_NOTIF_USAGE_ZC_COPIED`), so only the zero-copy path's overhead
//! is measured here.
//!
//! [`Service::Bulk`]: super::server::Service::Bulk

use super::loadgen::EchoStream;
use super::sys;
use super::tcp_echo::{ServerProcess, CLIENT_CPU};
use crate::workloads::Scale;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// What the workload runs.
#[derive(Debug, Clone)]
pub struct BulkConfig {
    /// Connections, each read by its own client thread.
    pub connections: usize,
    /// Bytes per message.
    pub size: usize,
    /// Unmeasured start.
    pub warm: Duration,
    /// Measured window.
    pub measure: Duration,
}

impl BulkConfig {
    /// The workload at `scale` with messages of `size` bytes.
    pub fn new(scale: Scale, size: usize) -> BulkConfig {
        let (warm, measure) = match scale {
            Scale::Full => (Duration::from_millis(200), Duration::from_secs(1)),
            Scale::Quick => (Duration::from_millis(100), Duration::from_millis(300)),
        };
        BulkConfig {
            connections: 4,
            size,
            warm,
            measure,
        }
    }
}

/// What one cell measured.
#[derive(Debug, Clone, Copy)]
pub struct BulkMeasured {
    /// Bytes delivered (read and checked) per second in the window, 1e9.
    pub gb_per_sec: f64,
    /// Server CPU in the window per MiB delivered in it, microseconds.
    pub cpu_us_per_mib: f64,
}

/// Drives the started `server` (listening on `addr`, serving bulk messages
/// of `config.size`) and stops it.
pub(crate) fn measure(
    server: ServerProcess,
    addr: SocketAddr,
    config: &BulkConfig,
) -> io::Result<BulkMeasured> {
    let clock = sys::ProcessCpuClock::of(server.pid())?;
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for id in 0..config.connections {
        let (received, stop, size) = (received.clone(), stop.clone(), config.size);
        let stream = TcpStream::connect(addr)
            .map_err(|err| io::Error::new(err.kind(), format!("connection {id}: {err}")))?;
        readers.push(
            thread::Builder::new()
                .name(format!("bulk-client-{id}"))
                .spawn(move || read_and_check(stream, id as u64, size, &received, &stop))?,
        );
    }
    let sample = || -> io::Result<(u64, Duration, Instant)> {
        Ok((
            // Relaxed: a counter read for a rate; the window's ends are the
            // instants taken here, a few hundred nanoseconds apart.
            received.load(Ordering::Relaxed),
            clock.read()?,
            Instant::now(),
        ))
    };
    thread::sleep(config.warm);
    let start = sample();
    thread::sleep(config.measure);
    let end = sample();
    // Relaxed: the readers only need to see it eventually; joining them
    // orders everything after.
    stop.store(true, Ordering::Relaxed);
    let mut failure = None;
    for reader in readers {
        let result = reader
            .join()
            .map_err(|_| io::Error::other("a bulk client thread panicked"))
            .and_then(|result| result);
        if let Err(err) = result {
            failure.get_or_insert(err);
        }
    }
    let stopped = server.stop();
    if let Some(err) = failure {
        return Err(err);
    }
    stopped?;
    let ((bytes0, cpu0, at0), (bytes1, cpu1, at1)) = (start?, end?);
    let bytes = bytes1.saturating_sub(bytes0);
    if bytes == 0 {
        return Err(io::Error::other("no byte arrived in the measured window"));
    }
    let window = at1.duration_since(at0).as_secs_f64();
    let cpu = cpu1.saturating_sub(cpu0).as_secs_f64();
    Ok(BulkMeasured {
        gb_per_sec: bytes as f64 / window / 1e9,
        cpu_us_per_mib: cpu * 1e6 / (bytes as f64 / f64::from(1u32 << 20)),
    })
}

/// One client connection: hello, then read and check until told to stop;
/// then close with a reset (the server's send fails and it ends the
/// connection).
fn read_and_check(
    mut stream: TcpStream,
    id: u64,
    size: usize,
    received: &AtomicU64,
    stop: &AtomicBool,
) -> io::Result<()> {
    sys::pin_current_thread(CLIENT_CPU)?;
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    stream.write_all(&id.to_le_bytes())?;
    let mut expected = EchoStream::receiving(id, size);
    let mut buf = vec![0u8; 256 * 1024];
    // Relaxed: see `measure`.
    while !stop.load(Ordering::Relaxed) {
        let n = stream
            .read(&mut buf)
            .map_err(|err| io::Error::new(err.kind(), format!("connection {id}: read: {err}")))?;
        if n == 0 {
            return Err(io::Error::other(format!(
                "connection {id}: the server closed it"
            )));
        }
        expected.check(&buf[..n])?;
        // Relaxed: a counter, see `measure`.
        received.fetch_add(n as u64, Ordering::Relaxed);
    }
    super::idle_conns::reset_on_close(&stream)
}
