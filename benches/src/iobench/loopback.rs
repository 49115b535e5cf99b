//! The "two speeds" probe of BENCHMARKING.md: cross-core loopback traffic on
//! this machine runs in a fast or a slow mode that switches every few tens of
//! seconds, for every server at once. A short ping-pong over a UNIX socket
//! pair between two threads pinned to the two cores tells which mode the
//! machine is in (~210k round trips/s fast, ~90k slow).

use super::sys;
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::{Duration, Instant};

/// How long one probe runs.
pub const PROBE_DURATION: Duration = Duration::from_millis(150);

/// Default round trips per second at or above which a probe says "fast":
/// the midpoint of the documented ~210k (fast) and ~90k (slow), measured on
/// the project's AMD EPYC machine kind; `compare --fast-threshold` sets
/// another for a machine whose two speeds lie elsewhere.
pub const FAST_THRESHOLD: f64 = 150_000.0;

/// The loopback mode a probe (or a run between two probes) saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// At or above the threshold ([`FAST_THRESHOLD`] by default).
    Fast,
    /// Below it.
    Slow,
    /// The probes before and after a run disagree: the mode switched during
    /// the run.
    Mixed,
}

impl Mode {
    /// The mode of one probe's rate.
    pub fn of_rate(round_trips_per_sec: f64, threshold: f64) -> Mode {
        if round_trips_per_sec >= threshold {
            Mode::Fast
        } else {
            Mode::Slow
        }
    }

    /// The mode of a run from the probes before and after it.
    pub fn between(before: f64, after: f64, threshold: f64) -> Mode {
        match (
            Mode::of_rate(before, threshold),
            Mode::of_rate(after, threshold),
        ) {
            (Mode::Fast, Mode::Fast) => Mode::Fast,
            (Mode::Slow, Mode::Slow) => Mode::Slow,
            _ => Mode::Mixed,
        }
    }

    /// One letter for tables: F, S or M.
    pub fn letter(self) -> char {
        match self {
            Mode::Fast => 'F',
            Mode::Slow => 'S',
            Mode::Mixed => 'M',
        }
    }
}

/// Runs one probe: round trips of one byte per second between a thread on
/// CPU `cpu_a` and one on CPU `cpu_b`.
pub fn probe(cpu_a: usize, cpu_b: usize) -> io::Result<f64> {
    let (mut near, mut far) = UnixStream::pair()?;
    let echo = thread::Builder::new()
        .name("loopback-probe-echo".to_owned())
        .spawn(move || -> io::Result<()> {
            sys::pin_current_thread(cpu_b)?;
            let mut byte = [0u8; 1];
            loop {
                far.read_exact(&mut byte)?;
                if byte[0] == 0 {
                    return Ok(());
                }
                far.write_all(&byte)?;
            }
        })?;
    let pinged = (|| -> io::Result<f64> {
        sys::pin_current_thread(cpu_a)?;
        let mut byte = [0u8; 1];
        let start = Instant::now();
        let mut round_trips: u64 = 0;
        loop {
            near.write_all(&[1])?;
            near.read_exact(&mut byte)?;
            if byte[0] != 1 {
                return Err(io::Error::other("loopback probe: wrong byte echoed"));
            }
            round_trips += 1;
            if round_trips % 64 == 0 && start.elapsed() >= PROBE_DURATION {
                break;
            }
        }
        Ok(round_trips as f64 / start.elapsed().as_secs_f64())
    })();
    // Stop the echo thread whatever happened (it also stops on EOF).
    let _ = near.write_all(&[0]);
    drop(near);
    let echoed = echo
        .join()
        .map_err(|_| io::Error::other("loopback probe: echo thread panicked"))?;
    let rate = pinged?;
    echoed?;
    Ok(rate)
}

/// Runs [`probe`] on a fresh thread, so that the pinning does not stick to
/// the caller.
pub fn probe_on_fresh_thread(cpu_a: usize, cpu_b: usize) -> io::Result<f64> {
    thread::Builder::new()
        .name("loopback-probe".to_owned())
        .spawn(move || probe(cpu_a, cpu_b))?
        .join()
        .map_err(|_| io::Error::other("loopback probe thread panicked"))?
}
