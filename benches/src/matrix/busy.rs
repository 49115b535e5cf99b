//! The matrix's `busy_worker_*` columns: `busy_worker`'s rounds (a
//! neighbour's 50 ms timer and socket read while the worker they were
//! registered on is blocked for 300 ms, the other worker idle) on a runtime
//! built in this process for the profile, as `files.rs` builds its
//! runtimes. The figure is how late the read completed (the timer's
//! lateness beside it), median over the cell's counted rounds.
//!
//! Only multi-thread runtimes apply: ringwork's profiles and tokio-mt.
//! tokio-ct has one thread (blocking it blocks the neighbour by
//! construction) and the floor and std-threads have no scheduler to block.

use super::files::ringwork_runtime;
use super::profile::Profile;
use super::report::{not_available_reason, Measurement};
use crate::busy_worker::{self, Blocker, Lateness};
use crate::iobench::server::ServerKind;
use crate::iobench::sys::ProcessCpuClock;
use crate::stats::Summary;
use crate::workloads::Scale;
use std::io;
use std::time::Duration;

/// Counted rounds per cell at `scale`.
pub(crate) fn rounds_per_cell(scale: Scale) -> usize {
    match scale {
        Scale::Full => 3,
        Scale::Quick => 2,
    }
}

/// One cell: `rounds_per_cell` counted rounds with `blocker` on a runtime
/// built for `profile`. `Err` holds the `n/a` text.
pub(crate) fn run_cell(
    profile: &Profile,
    blocker: Blocker,
    scale: Scale,
    workers: usize,
    seed: Option<u64>,
) -> Result<(Measurement, String), String> {
    let io_err = |err: io::Error| not_available_reason(&err.to_string());
    if workers < 2 {
        return Err("busy_worker needs 2 workers (one blocked, one idle)".to_owned());
    }
    let counted = rounds_per_cell(scale);
    let clock = ProcessCpuClock::of(std::process::id()).map_err(io_err)?;
    let before = clock.read().map_err(io_err)?;
    let (rounds, void, description) = match profile.server {
        ServerKind::RingworkEnv => {
            let runtime = ringwork_runtime(profile, workers, seed).map_err(io_err)?;
            let description = match runtime.handle().driver_kind() {
                Some(ringwork::io::DriverKind::Epoll) => "ringwork, driver epoll",
                Some(ringwork::io::DriverKind::Uring) => "ringwork, driver io_uring",
                _ => "ringwork, driver unknown",
            };
            profile.check_driver(description)?;
            let (rounds, void) = busy_worker::counted_rounds(counted, || {
                busy_worker::ringwork_round(&runtime, blocker)
            })
            .map_err(io_err)?;
            (rounds, void, description.to_owned())
        }
        ServerKind::Tokio => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .enable_all()
                .build()
                .map_err(io_err)?;
            let (rounds, void) = busy_worker::counted_rounds(counted, || {
                busy_worker::tokio_round(&runtime, blocker)
            })
            .map_err(io_err)?;
            (rounds, void, "tokio multi_thread".to_owned())
        }
        ServerKind::TokioCurrentThread | ServerKind::RingworkCurrentThread => {
            return Err("one thread: blocking it blocks the neighbour by construction".to_owned())
        }
        _ => return Err(format!("{} has no scheduler to block", profile.name)),
    };
    let cpu = clock.read().map_err(io_err)?.saturating_sub(before);
    if rounds.is_empty() {
        return Err(format!(
            "the neighbour never ran on the blocked worker ({void} void rounds)"
        ));
    }
    let median_ms = |of: fn(&Lateness) -> Duration| {
        let samples: Vec<f64> = rounds.iter().map(|r| of(r).as_secs_f64() * 1e3).collect();
        Summary::of(&samples).map(|s| s.median)
    };
    Ok((
        Measurement {
            read_late_ms: median_ms(|r| r.read),
            timer_late_ms: median_ms(|r| r.timer),
            ..Measurement::new(
                cpu.as_secs_f64() * 1e6 / (rounds.len() + void) as f64,
                void as f64,
            )
        },
        description,
    ))
}
