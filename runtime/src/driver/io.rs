//! The I/O driver of each thread's stack: choosing and setting up the
//! drivers of a runtime (`choose`, `for_block_on`), and [`DriverPark`],
//! which plugs one into the `Park` seam — the worker parks inside
//! `io_uring_enter` or `epoll_wait`, and other threads wake it through the
//! driver's eventfd unparker.
//!
//! # Choosing the driver
//!
//! `DriverKind::Auto` (the default) sets up io_uring and falls back to epoll
//! only when io_uring is *unavailable* — `ENOSYS`, `EPERM`/`EACCES` (seccomp,
//! `kernel.io_uring_disabled`), or a required opcode missing — never on a
//! resource error such as `ENOMEM`, which `build()` reports. The reason is
//! kept (`Handle::driver_fallback_reason`) and logged once as a `tracing`
//! warning. `DriverKind::Uring` where io_uring cannot work is a `build()`
//! error naming the cause. `RINGWORK_DRIVER=auto|uring|epoll` overrides the
//! default (not an explicit `Builder::driver`).

use super::park::{Park, Unpark};
use crate::context::{self, IoAccess, ThreadDriver};
use crate::io::DriverKind;
use ringwork_epoll::Reactor;
use ringwork_uring::{Driver, UnstartedDriver};
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Flushes and parks this thread's driver (either kind).
fn park_current(timeout: Option<Duration>) -> Option<io::Result<()>> {
    context::with_io(|io| match io {
        IoAccess::Driver(ThreadDriver::Uring(driver)) => Some(driver.park(timeout)),
        IoAccess::Driver(ThreadDriver::Epoll(reactor)) => Some(reactor.park(timeout).map(drop)),
        _ => None,
    })
}

/// A driver made on the builder thread, started on its owner.
pub(crate) enum UnstartedThreadDriver {
    Uring(Box<UnstartedDriver>),
    Epoll(Reactor),
}

impl UnstartedThreadDriver {
    fn unparker(&self) -> Arc<dyn Unpark> {
        match self {
            UnstartedThreadDriver::Uring(d) => Arc::new(UringUnparker(d.unparker())),
            UnstartedThreadDriver::Epoll(r) => Arc::new(EpollUnparker(r.unparker())),
        }
    }

    fn start(self) -> io::Result<ThreadDriver> {
        Ok(match self {
            UnstartedThreadDriver::Uring(d) => ThreadDriver::Uring(Box::new(d.start()?)),
            UnstartedThreadDriver::Epoll(r) => ThreadDriver::Epoll(r),
        })
    }
}

/// A thread's `Park`: it sleeps inside its I/O driver.
pub(crate) struct DriverPark {
    unstarted: Option<UnstartedThreadDriver>,
    guard: Option<context::IoGuard>,
    /// The started driver while suspended (`Park::suspend`): out of the
    /// thread's context, still owning every operation in flight.
    suspended: Option<ThreadDriver>,
    unparker: Arc<dyn Unpark>,
    io_stats: Option<super::IoStats>,
    /// Set if the driver could not be started on its thread; the thread then
    /// sleeps in short naps instead (no I/O possible there).
    start_error: Option<io::Error>,
}

// SAFETY: before `enter`, a `DriverPark` holds only the unstarted driver (an
// `UnstartedDriver`, `Send` by its own argument, or a `Reactor`, `Send`) and
// the `Send + Sync` unparker; `enter` and everything after run on the one
// thread that owns it, and neither the guard nor a suspended driver leaves
// that thread (a suspended current-thread core is kept in that thread's
// thread-local storage, `scheduler/current_thread.rs`).
unsafe impl Send for DriverPark {}

impl DriverPark {
    pub(crate) fn new(driver: UnstartedThreadDriver) -> DriverPark {
        DriverPark {
            unparker: driver.unparker(),
            io_stats: match &driver {
                UnstartedThreadDriver::Uring(d) => Some(super::IoStats(d.stats())),
                UnstartedThreadDriver::Epoll(_) => None,
            },
            unstarted: Some(driver),
            guard: None,
            suspended: None,
            start_error: None,
        }
    }

    /// How another thread may drive this driver for a busy owner (the
    /// monitor of `handoff.rs`).
    pub(crate) fn io_turn(&self) -> super::handoff::IoTurn {
        match &self.unstarted {
            Some(UnstartedThreadDriver::Uring(d)) => super::handoff::IoTurn::Uring(d.reaper()),
            Some(UnstartedThreadDriver::Epoll(r)) => super::handoff::IoTurn::Epoll(r.handle()),
            None => super::handoff::IoTurn::None,
        }
    }

    /// A park for the calling thread, started at once (`block_on`).
    pub(crate) fn started_here(driver: UnstartedThreadDriver) -> DriverPark {
        let mut park = DriverPark::new(driver);
        park.enter();
        park
    }
}

impl Park for DriverPark {
    fn enter(&mut self) {
        if let Some(unstarted) = self.unstarted.take() {
            match unstarted.start() {
                Ok(driver) => self.guard = Some(context::install_io(driver)),
                Err(err) => self.start_error = Some(err),
            }
        }
    }

    fn exit(&mut self) {
        // Dropping the guard shuts the driver down on this thread (as does
        // dropping a suspended driver: outside the context, like the guard
        // does it).
        self.guard = None;
        self.suspended = None;
    }

    fn suspend(&mut self) {
        if let Some(guard) = self.guard.take() {
            self.suspended = guard.suspend();
        }
    }

    fn resume(&mut self) {
        if let Some(driver) = self.suspended.take() {
            self.guard = Some(context::install_io(driver));
        }
    }

    fn flush(&mut self) {
        crate::io::driver::with_uring(|driver| {
            let _ = driver.flush();
        });
    }

    fn park(&mut self, timeout: Option<Duration>) {
        match park_current(timeout) {
            Some(Ok(())) => {}
            // An error the drivers do not retry (a kernel bug), or no driver
            // (start failed): do not spin, do not die.
            Some(Err(_)) | None => std::thread::sleep(
                timeout
                    .unwrap_or(Duration::from_millis(1))
                    .min(Duration::from_millis(1)),
            ),
        }
    }

    fn unparker(&self) -> Arc<dyn Unpark> {
        self.unparker.clone()
    }

    fn io_stats(&self) -> Option<super::IoStats> {
        self.io_stats.clone()
    }
}

impl fmt::Debug for DriverPark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DriverPark")
            .field("started", &self.guard.is_some())
            .field("start_error", &self.start_error)
            .finish()
    }
}

struct UringUnparker(ringwork_uring::Unparker);

impl Unpark for UringUnparker {
    fn unpark(&self) {
        self.0.unpark();
    }
}

struct EpollUnparker(ringwork_epoll::Unparker);

impl Unpark for EpollUnparker {
    fn unpark(&self) {
        self.0.unpark();
    }
}

/// The result of choosing a driver for a runtime.
pub(crate) struct Chosen {
    pub(crate) kind: DriverKind,
    pub(crate) drivers: Vec<UnstartedThreadDriver>,
    pub(crate) fallback_reason: Option<String>,
    pub(crate) features: Option<ringwork_uring::Features>,
}

/// Opcodes the runtime's io_uring paths need; a kernel lacking one makes
/// `Auto` fall back to epoll.
const REQUIRED_OPCODES: &[(u8, &str)] = {
    use ringwork_uring::io_uring::opcode;
    &[
        (opcode::Accept::CODE, "ACCEPT"),
        (opcode::Connect::CODE, "CONNECT"),
        (opcode::Recv::CODE, "RECV"),
        (opcode::Send::CODE, "SEND"),
        (opcode::Read::CODE, "READ"),
        (opcode::Write::CODE, "WRITE"),
        (opcode::OpenAt::CODE, "OPENAT"),
        (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
    ]
};

/// Sets up `workers` drivers of the kind asked for (see the module docs).
pub(crate) fn choose(
    kind: DriverKind,
    uring: &ringwork_uring::Config,
    workers: usize,
) -> io::Result<Chosen> {
    let epoll = |reason: Option<String>| -> io::Result<Chosen> {
        let drivers = (0..workers)
            .map(|_| Reactor::new().map(UnstartedThreadDriver::Epoll))
            .collect::<io::Result<_>>()
            .map_err(|err| {
                io::Error::new(
                    err.kind(),
                    format!("failed to set up an epoll reactor: {err}"),
                )
            })?;
        Ok(Chosen {
            kind: DriverKind::Epoll,
            drivers,
            fallback_reason: reason,
            features: None,
        })
    };
    if kind == DriverKind::Epoll {
        return epoll(None);
    }
    let mut drivers = Vec::with_capacity(workers);
    for _ in 0..workers {
        match Driver::new_unstarted(uring) {
            Ok(driver) => drivers.push(driver),
            Err(err) => match ringwork_uring::classify_setup_error(&err) {
                Some(unavailable) if kind == DriverKind::Auto => {
                    let reason = unavailable.to_string();
                    tracing::warn!(reason = %reason, "io_uring unavailable; ringwork falls back to epoll");
                    return epoll(Some(reason));
                }
                Some(unavailable) => {
                    return Err(io::Error::new(
                        io::ErrorKind::Unsupported,
                        format!("io_uring was requested but is unavailable: {unavailable}"),
                    ))
                }
                None => {
                    return Err(io::Error::new(
                        err.kind(),
                        format!("failed to set up an io_uring for a worker: {err}"),
                    ))
                }
            },
        }
    }
    let mut features = drivers[0].features().clone();
    // With `best_effort`, each ring leaves off what it was refused: a
    // refusal on a later ring (the memlock limit reached there) is the
    // runtime's too.
    for (worker, driver) in drivers.iter().enumerate().skip(1) {
        for skipped in &driver.features().skipped {
            if !features.skipped.iter().any(|s| s.name == skipped.name) {
                let mut skipped = skipped.clone();
                skipped.why = format!(
                    "{} (on worker {worker}; the workers before it have it)",
                    skipped.why
                );
                features.skipped.push(skipped);
            }
        }
    }
    if let Some((_, name)) = REQUIRED_OPCODES
        .iter()
        .find(|(code, _)| !features.supports(*code))
    {
        let reason = format!("io_uring lacks IORING_OP_{name}");
        if kind == DriverKind::Auto {
            tracing::warn!(reason = %reason, "io_uring unusable; ringwork falls back to epoll");
            return epoll(Some(reason));
        }
        return Err(io::Error::new(io::ErrorKind::Unsupported, reason));
    }
    Ok(Chosen {
        kind: DriverKind::Uring,
        drivers: drivers
            .into_iter()
            .map(|d| UnstartedThreadDriver::Uring(Box::new(d)))
            .collect(),
        fallback_reason: None,
        features: Some(features),
    })
}

/// A driver for a `block_on` thread of a runtime using `kind`.
pub(crate) fn for_block_on(
    kind: DriverKind,
    uring: &ringwork_uring::Config,
) -> Option<UnstartedThreadDriver> {
    match kind {
        DriverKind::Epoll => Reactor::new().ok().map(UnstartedThreadDriver::Epoll),
        // No fixed-file table: a `block_on` thread drives its ring only
        // while `block_on` runs, and a slot registered there would clear
        // only at its next call.
        _ => Driver::new_unstarted(&ringwork_uring::Config {
            fixed_files: None,
            ..uring.clone()
        })
        .ok()
        .map(|d| UnstartedThreadDriver::Uring(Box::new(d))),
    }
}
