//! The thread-local I/O driver: each worker thread, and each thread inside
//! `block_on`, owns one — an io_uring [`Driver`], or an epoll [`Reactor`]
//! where io_uring is unavailable. An operation runs on the driver of the
//! thread that first polls it; its completion (or readiness) wakes the task
//! wherever it runs by then.
//!
//! [`DriverPark`] plugs either into the scheduler's `Park` seam: the worker
//! parks inside `io_uring_enter` or `epoll_wait`, and other threads wake it
//! through the driver's eventfd unparker.
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

use crate::io::op::{OpCode, Submitted, UringOp};
use crate::scheduler::park::{Park, Unpark};
use ringwork_epoll::Reactor;
use ringwork_uring::{Driver, Op, UnstartedDriver};
use std::cell::RefCell;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// One thread's I/O driver.
pub(crate) enum ThreadDriver {
    Uring(Box<Driver>),
    Epoll(Reactor),
}

crate::loom::thread_local! {
    static CURRENT: RefCell<Option<ThreadDriver>> = RefCell::new(None);
}

/// Which I/O driver a runtime uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DriverKind {
    /// io_uring when this kernel and sandbox allow it, else epoll (with the
    /// reason kept in `Handle::driver_fallback_reason`).
    #[default]
    Auto,
    /// io_uring, or an error from `build()` naming why it cannot be used.
    Uring,
    /// epoll readiness with non-blocking syscalls; regular files go to the
    /// blocking pool.
    Epoll,
}

impl DriverKind {
    /// Reads `RINGWORK_DRIVER` (`auto`, `uring` or `epoll`); `None` if unset.
    pub(crate) fn from_env() -> io::Result<Option<DriverKind>> {
        let Some(value) = std::env::var_os("RINGWORK_DRIVER") else {
            return Ok(None);
        };
        match value.to_string_lossy().trim() {
            "auto" | "" => Ok(Some(DriverKind::Auto)),
            "uring" | "io_uring" => Ok(Some(DriverKind::Uring)),
            "epoll" => Ok(Some(DriverKind::Epoll)),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("RINGWORK_DRIVER must be auto, uring or epoll, got {other:?}"),
            )),
        }
    }
}

/// A handle to register descriptors with this thread's epoll reactor.
pub(crate) fn epoll_handle() -> Option<ringwork_epoll::Handle> {
    CURRENT
        .try_with(|current| match current.try_borrow().ok()?.as_ref()? {
            ThreadDriver::Epoll(reactor) => Some(reactor.handle()),
            ThreadDriver::Uring(_) => None,
        })
        .ok()
        .flatten()
}

/// Submits `op` on this thread's io_uring, or hands it back to be run on
/// this thread's epoll reactor (one look at the thread's driver either way).
pub(crate) fn submit_or_epoll<O: OpCode>(op: O) -> Submitted<O> {
    // The operation stays here until a driver takes it, so that every
    // failure can hand it back.
    let mut pending = Some(op);
    let attempt = CURRENT.try_with(|current| {
        let mut op = pending.take().expect("taken once");
        match current.try_borrow_mut() {
            Ok(mut driver) => match driver.as_mut() {
                Some(ThreadDriver::Uring(driver)) => {
                    if let Some(result) = op.try_before_submit(driver.features()) {
                        return Submitted::Finished(op, result);
                    }
                    let stash_owner = op.stash_owner().cloned();
                    // SAFETY: `OpCode`'s contract: the SQE points only into
                    // the operation, which the driver keeps unmoved until
                    // the final completion, and the operation keeps every
                    // descriptor it names open.
                    match unsafe { driver.submit(op, UringOp::<O>::ORPHAN, O::sqe) } {
                        Ok(submitted) => Submitted::Uring(UringOp::new(submitted, stash_owner)),
                        Err((err, op)) => Submitted::Finished(op, Err(err)),
                    }
                }
                Some(ThreadDriver::Epoll(_)) => Submitted::Epoll(op),
                None => Submitted::Finished(op, Err(no_driver())),
            },
            // Re-entered from inside the driver (a waker submitting I/O):
            // not supported; the operation comes back with the error.
            Err(_) => Submitted::Finished(
                op,
                Err(io::Error::other("I/O submitted from inside the I/O driver")),
            ),
        }
    });
    match attempt {
        Ok(submitted) => submitted,
        // The thread is exiting and its thread-locals are gone.
        Err(_) => Submitted::Finished(
            pending
                .take()
                .expect("not taken when the thread-local is gone"),
            Err(io::Error::other(
                "I/O submitted while the thread is exiting",
            )),
        ),
    }
}

/// Drops an unfinished operation: on the ring's owner thread its
/// `ASYNC_CANCEL` is submitted at once; elsewhere (or from inside the
/// driver) the owner is asked through its remote queue, as `Op`'s `Drop`
/// does.
pub(crate) fn cancel<R: Send + 'static>(op: Op<R>) {
    let mut op = Some(op);
    let _ = CURRENT.try_with(|current| {
        if let Ok(mut driver) = current.try_borrow_mut() {
            if let Some(ThreadDriver::Uring(driver)) = driver.as_mut() {
                // An error leaves the request queued for the next flush.
                let _ = driver.cancel(op.take().expect("taken once"));
            }
        }
    });
    drop(op);
}

pub(crate) fn no_driver() -> io::Error {
    io::Error::other(
        "no ringwork I/O driver on this thread: poll I/O futures from a ringwork task or inside \
         `Runtime::block_on` of a runtime built with I/O enabled",
    )
}

/// Runs `f` with this thread's io_uring driver, if it has one.
pub(crate) fn with_uring<T>(f: impl FnOnce(&mut Driver) -> T) -> Option<T> {
    CURRENT
        .try_with(|current| match current.try_borrow_mut().ok()?.as_mut()? {
            ThreadDriver::Uring(driver) => Some(f(driver)),
            ThreadDriver::Epoll(_) => None,
        })
        .ok()
        .flatten()
}

/// Flushes and parks this thread's driver (either kind).
fn park_current(timeout: Option<Duration>) -> Option<io::Result<()>> {
    CURRENT
        .try_with(|current| {
            Some(match current.try_borrow_mut().ok()?.as_mut()? {
                ThreadDriver::Uring(driver) => driver.park(timeout),
                ThreadDriver::Epoll(reactor) => reactor.park(timeout).map(drop),
            })
        })
        .ok()
        .flatten()
}

/// Installs `driver` as this thread's driver until the guard drops; the
/// driver is then shut down (io_uring: in-flight operations are cancelled and
/// their completions awaited).
pub(crate) struct DriverGuard {
    _not_send: std::marker::PhantomData<*const ()>,
}

pub(crate) fn install(driver: ThreadDriver) -> DriverGuard {
    CURRENT.with(|current| {
        let prev = current.borrow_mut().replace(driver);
        debug_assert!(prev.is_none(), "a thread has one driver at a time");
    });
    DriverGuard {
        _not_send: std::marker::PhantomData,
    }
}

impl Drop for DriverGuard {
    fn drop(&mut self) {
        let driver = CURRENT
            .try_with(|current| current.borrow_mut().take())
            .ok()
            .flatten();
        drop(driver);
    }
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
    guard: Option<DriverGuard>,
    unparker: Arc<dyn Unpark>,
    /// Set if the driver could not be started on its thread; the thread then
    /// sleeps in short naps instead (no I/O possible there).
    start_error: Option<io::Error>,
}

// SAFETY: before `enter`, a `DriverPark` holds only the unstarted driver (an
// `UnstartedDriver`, `Send` by its own argument, or a `Reactor`, `Send`) and
// the `Send + Sync` unparker; `enter` and everything after run on the one
// thread that owns it, and the guard never leaves that thread.
unsafe impl Send for DriverPark {}

impl DriverPark {
    pub(crate) fn new(driver: UnstartedThreadDriver) -> DriverPark {
        DriverPark {
            unparker: driver.unparker(),
            unstarted: Some(driver),
            guard: None,
            start_error: None,
        }
    }

    /// How another thread may drive this driver for a busy owner (the
    /// monitor of `handoff.rs`).
    pub(crate) fn io_turn(&self) -> crate::handoff::IoTurn {
        match &self.unstarted {
            Some(UnstartedThreadDriver::Uring(d)) => crate::handoff::IoTurn::Uring(d.reaper()),
            Some(UnstartedThreadDriver::Epoll(r)) => crate::handoff::IoTurn::Epoll(r.handle()),
            None => crate::handoff::IoTurn::None,
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
                Ok(driver) => self.guard = Some(install(driver)),
                Err(err) => self.start_error = Some(err),
            }
        }
    }

    fn exit(&mut self) {
        // Dropping the guard shuts the driver down on this thread.
        self.guard = None;
    }

    fn flush(&mut self) {
        with_uring(|driver| {
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
    let features = drivers[0].features().clone();
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
        _ => Driver::new_unstarted(uring)
            .ok()
            .map(|d| UnstartedThreadDriver::Uring(Box::new(d))),
    }
}
