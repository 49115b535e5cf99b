//! The runtime: [`Runtime`], its [`Builder`] and [`Handle`].

mod builder;

pub use crate::driver::IoMetrics;
pub use crate::scheduler::metrics::{RuntimeMetrics, WorkerMetrics, POLL_TIME_BUCKETS};
pub use builder::Builder;

pub use crate::scheduler::RuntimeFlavor;
pub use ringwork_uring::{
    BufRingConfig, Config as UringConfig, FeatureState, FixedBuffers, SharedFixedBuffers,
};

use crate::context::{self, RuntimeContext};
use crate::coop;
use crate::driver::{
    self,
    park::{Park, Unpark},
};
use crate::loom::sync::Arc;
use crate::loom::thread::JoinHandle as ThreadHandle;
use crate::scheduler::Shared;
use crate::task_core::JoinHandle;
use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::pin::pin;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// A multi-threaded, work-stealing runtime.
///
/// Dropping it shuts it down: every live task's future is dropped on a
/// worker, tasks never started report [`JoinError::is_cancelled`], and the
/// worker threads are joined. [`shutdown_timeout`](Runtime::shutdown_timeout)
/// bounds the wait. Dropped inside one of its own
/// [`spawn_blocking`](Runtime::spawn_blocking) jobs, it waits for everything
/// but that job's thread.
///
/// [`JoinError::is_cancelled`]: crate::task::JoinError::is_cancelled
pub struct Runtime {
    handle: Handle,
    /// The one worker of a current-thread runtime (`None`: multi-thread).
    #[cfg(not(loom))]
    core: Option<std::sync::Arc<crate::scheduler::current_thread::Core>>,
    threads: Vec<ThreadHandle<()>>,
    /// Drives a stuck worker's driver (`handoff.rs`); stopped at shutdown.
    monitor: crate::driver::handoff::Monitor,
    /// `shutdown_timeout`/`shutdown_background` already ran: `Drop` must not
    /// wait again.
    shut_down: bool,
}

impl Runtime {
    /// A runtime with default settings (one worker per CPU).
    ///
    /// Equivalent to `Builder::new_multi_thread().build()`.
    pub fn new() -> io::Result<Runtime> {
        Builder::new_multi_thread().build()
    }

    pub(crate) fn from_parts(
        handle: Handle,
        threads: Vec<ThreadHandle<()>>,
        monitor: crate::driver::handoff::Monitor,
    ) -> Runtime {
        Runtime {
            handle,
            #[cfg(not(loom))]
            core: None,
            threads,
            monitor,
            shut_down: false,
        }
    }

    #[cfg(not(loom))]
    pub(crate) fn current_thread(
        handle: Handle,
        core: std::sync::Arc<crate::scheduler::current_thread::Core>,
        monitor: crate::driver::handoff::Monitor,
    ) -> Runtime {
        Runtime {
            handle,
            core: Some(core),
            threads: Vec::new(),
            monitor,
            shut_down: false,
        }
    }

    /// A cloneable handle to this runtime.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Spawns a task onto the workers; see [`Handle::spawn`].
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs `future` to completion on the calling thread, while the workers
    /// run spawned tasks; returns its output. Inside it,
    /// [`crate::spawn`] and [`Handle::current`] refer to this runtime.
    ///
    /// # Panics
    ///
    /// When called from a thread that already drives a ringwork runtime (a
    /// worker thread, or inside another `block_on`): that would stall the
    /// tasks the thread is responsible for, so it is refused with a message
    /// that says so instead of risking a deadlock.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        if context::is_driving() {
            panic!("{NESTED_BLOCK_ON}");
        }
        #[cfg(not(loom))]
        if let Some(core) = &self.core {
            return core.block_on(&self.handle.shared, self.handle.as_context(), future);
        }
        let _driving = context::enter_driving(self.handle.as_context());
        // This thread gets its own driver stack for the duration of the
        // call (its own I/O driver and timer wheel), taken down at the end:
        // in-flight operations are cancelled and their completions awaited,
        // and timers still armed re-arm on the thread that polls them next.
        let mut park = EnteredPark(driver::for_block_on(self.handle.shared.driver_info()));
        let waker = Waker::from(std::sync::Arc::new(BlockOnWaker(park.0.unparker())));
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        loop {
            if let Poll::Ready(output) = coop::budget(|| future.as_mut().poll(&mut cx)) {
                return output;
            }
            park.0.park(None);
        }
    }

    /// Runs `f` on the blocking pool; see
    /// [`task::spawn_blocking`](crate::task::spawn_blocking).
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle.spawn_blocking(f)
    }

    /// Makes this runtime current on this thread until the guard drops, so
    /// that [`crate::spawn`] works from code that is not a task.
    pub fn enter(&self) -> EnterGuard<'_> {
        self.handle.enter()
    }

    /// A snapshot of the scheduler's counters.
    pub fn metrics(&self) -> RuntimeMetrics {
        self.handle.metrics()
    }

    /// Shuts down, waiting at most `timeout` for the workers to drop every
    /// task and exit. Workers still busy after that (a task stuck in a
    /// blocking call) are left to finish in the background.
    pub fn shutdown_timeout(mut self, timeout: Duration) {
        self.shutdown_inner(Some(Instant::now() + timeout));
    }

    /// Shuts down without waiting for the workers.
    pub fn shutdown_background(mut self) {
        self.shutdown_inner(Some(Instant::now()));
    }

    fn shutdown_inner(&mut self, deadline: Option<Instant>) {
        if std::mem::replace(&mut self.shut_down, true) {
            return;
        }
        let shared = &self.handle.shared;
        shared.shutdown();
        // At most one tick: the monitor does not wait for the workers.
        self.monitor.stop();
        // Dropped from inside one of its own tasks (or any thread driving
        // it: a worker, `block_on`), waiting could deadlock: let the workers
        // finish in the background. A blocking-pool thread waits like any
        // other thread, except for itself (see `blocking::Pool::shutdown`).
        let deadline = if context::is_driving() {
            Some(Instant::now())
        } else {
            deadline
        };
        // A current-thread runtime's worker exits here, unless it is bound
        // to another thread (which takes its driver down later): then
        // there is nothing to wait for.
        #[cfg(not(loom))]
        let deadline = match &self.core {
            Some(core) if !core.shutdown(shared, self.handle.as_context()) => Some(Instant::now()),
            _ => deadline,
        };
        let threads = std::mem::take(&mut self.threads);
        if shared.wait_for_workers(deadline) {
            for thread in threads {
                let _ = thread.join();
            }
        }
        // Queued blocking jobs are cancelled; running ones are waited for
        // until the same deadline.
        shared.blocking.shutdown(deadline);
        // Otherwise the `JoinHandle`s drop here, detaching the threads; the
        // last worker to exit drains the injector (see `worker_exited`).
        // Draining now as well is safe: every task is completed by shutdown.
        shared.drain_injector();
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown_inner(None);
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("handle", &self.handle)
            .finish()
    }
}

/// Calls `exit` on drop (also on unwind), so the thread's timer wheel and
/// driver are always taken down at the end of `block_on`.
struct EnteredPark<P: Park>(P);

impl<P: Park> Drop for EnteredPark<P> {
    fn drop(&mut self) {
        self.0.exit();
    }
}

/// Wakes a `block_on` thread through its parker.
struct BlockOnWaker(std::sync::Arc<dyn Unpark>);

impl Wake for BlockOnWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// A cloneable reference to a runtime, usable from any thread.
///
/// A handle does not keep the runtime running: after the [`Runtime`] is
/// dropped, tasks spawned through a handle are cancelled at once.
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl Handle {
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Handle {
        Handle { shared }
    }

    /// The handle of the runtime this thread is in (a worker, inside
    /// `block_on`, or under [`Runtime::enter`]).
    ///
    /// # Panics
    /// Outside any runtime; use [`Handle::try_current`] to get an error instead.
    #[track_caller]
    pub fn current() -> Handle {
        match Handle::try_current() {
            Ok(handle) => handle,
            Err(err) => panic!("{err}"),
        }
    }

    /// The current runtime's handle, or an error outside any runtime.
    pub fn try_current() -> Result<Handle, TryCurrentError> {
        Handle::with_current(|handle| handle.cloned()).ok_or(TryCurrentError(()))
    }

    /// Spawns `future` as a task on the runtime's workers and returns its
    /// [`JoinHandle`]. Works from any thread. If the runtime has shut down, the
    /// task is dropped at once and its handle yields a cancelled
    /// [`JoinError`](crate::task::JoinError).
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Shared::spawn(&self.shared, future, std::panic::Location::caller(), None)
    }

    /// `spawn` with a name (`task::Builder`).
    pub(crate) fn spawn_named<F>(
        &self,
        future: F,
        spawned_at: &'static std::panic::Location<'static>,
        name: Option<std::sync::Arc<str>>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Shared::spawn(&self.shared, future, spawned_at, name)
    }

    /// Runs `f` on the runtime's blocking pool; see
    /// [`task::spawn_blocking`](crate::task::spawn_blocking).
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        crate::blocking::Pool::spawn(&self.shared.blocking, self.as_context(), f)
    }

    /// A snapshot of every live task of the runtime (not the blocking
    /// pool's jobs): id, name, spawn site, state, and in debug mode
    /// ([`Builder::debug`]) its poll count and how long since its last poll
    /// started. Its `Display` is a table, oldest poll first.
    ///
    /// ```
    /// let runtime = ringwork::Runtime::new()?;
    /// runtime.block_on(async {
    ///     let _stuck = ringwork::task::Builder::new()
    ///         .name("waits-forever")
    ///         .spawn(std::future::pending::<()>())?;
    ///     let dump = ringwork::Handle::current().dump();
    ///     assert!(dump.tasks.iter().any(|t| t.name.as_deref() == Some("waits-forever")));
    ///     println!("{dump}");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn dump(&self) -> Dump {
        let now = std::time::Instant::now();
        let mut tasks = Vec::new();
        self.shared.owned_for_each(|task| {
            let debug = task.debug();
            tasks.push(TaskDump {
                id: task.id(),
                name: debug.and_then(|d| d.name.as_deref()).map(str::to_owned),
                spawned_at: task.spawned_at(),
                state: task.state_name(),
                polls: debug
                    .filter(|d| d.debug)
                    .map(|d| d.polls.load(std::sync::atomic::Ordering::Relaxed)),
                since_last_poll: debug
                    .filter(|d| d.debug)
                    .and_then(|d| d.last_polled())
                    .map(|at| now.saturating_duration_since(at)),
                poll_time: debug.filter(|d| d.debug).map(|d| {
                    Duration::from_nanos(d.poll_nanos.load(std::sync::atomic::Ordering::Relaxed))
                }),
                longest_poll: debug.filter(|d| d.debug).map(|d| {
                    Duration::from_nanos(
                        d.longest_poll_nanos
                            .load(std::sync::atomic::Ordering::Relaxed),
                    )
                }),
            });
        });
        // Longest without a poll first: what a stuck program shows first.
        tasks.sort_by(|a, b| {
            b.since_last_poll
                .cmp(&a.since_last_poll)
                .then(a.id.cmp(&b.id))
        });
        Dump { tasks }
    }

    /// Makes this runtime current on this thread until the guard drops.
    pub fn enter(&self) -> EnterGuard<'_> {
        EnterGuard {
            _guard: context::set_runtime(self.as_context()),
            _handle: PhantomData,
        }
    }

    /// A snapshot of the scheduler's counters.
    pub fn metrics(&self) -> RuntimeMetrics {
        self.shared.metrics()
    }

    /// Which scheduler the runtime has.
    pub fn runtime_flavor(&self) -> RuntimeFlavor {
        self.shared.flavor()
    }

    /// Number of workers: worker threads, or 1 for a current-thread
    /// runtime (the thread in `block_on`).
    pub fn num_workers(&self) -> usize {
        self.shared.num_workers()
    }

    /// The seed of the scheduler's random choices (see [`Builder::seed`]).
    pub fn seed(&self) -> u64 {
        self.shared.seed()
    }

    /// The I/O driver the runtime uses (`Uring` or `Epoll`), `None` if built
    /// without I/O.
    pub fn driver_kind(&self) -> Option<crate::io::DriverKind> {
        self.shared.driver_info().map(|io| io.kind)
    }

    /// Why `DriverKind::Auto` chose epoll (e.g. "io_uring_setup failed with
    /// EPERM: ..."), `None` if it did not fall back.
    pub fn driver_fallback_reason(&self) -> Option<&str> {
        self.shared.driver_info()?.fallback_reason.as_deref()
    }

    /// The io_uring features and opcodes of the workers' rings, `None` if the
    /// runtime does not use io_uring.
    pub fn uring_features(&self) -> Option<ringwork_uring::Features> {
        self.shared.driver_info()?.features.clone()
    }

    /// Every optional io_uring feature of this runtime's rings: on or off,
    /// and why (asked for or not, the kernel lacks it). `None` on epoll.
    /// A feature asked for and refused makes `build()` fail instead,
    /// naming the cause.
    pub fn uring_feature_states(&self) -> Option<Vec<ringwork_uring::FeatureState>> {
        let info = self.shared.driver_info()?;
        Some(info.features.as_ref()?.states(&info.uring))
    }

    /// The pool of registered buffers (`Builder::uring_fixed_buffers`), if
    /// the runtime has one (on epoll too: there it is plain memory).
    pub fn fixed_buffers(&self) -> Option<crate::buf::FixedBufPool> {
        let pool = self.shared.driver_info()?.uring.fixed_buffers.clone()?;
        Some(crate::buf::FixedBufPool(pool.0))
    }
}

impl Handle {
    /// Runs `f` with the current runtime's handle, without cloning it.
    pub(crate) fn with_current<T>(f: impl FnOnce(Option<&Handle>) -> T) -> T {
        context::with_runtime(|runtime| {
            f(runtime.and_then(|runtime| runtime.as_any().downcast_ref::<Handle>()))
        })
    }

    /// This handle as the per-thread context holds it.
    pub(crate) fn as_context(&self) -> std::sync::Arc<dyn RuntimeContext> {
        std::sync::Arc::new(self.clone())
    }
}

impl RuntimeContext for Handle {
    fn spawn_blocking_job(
        &self,
        job: Box<dyn FnOnce() + Send>,
    ) -> std::pin::Pin<Box<dyn Future<Output = io::Result<()>> + Send>> {
        let pool = self.shared.blocking.clone();
        let ran = crate::blocking::Pool::spawn(&pool, self.as_context(), job);
        Box::pin(async move {
            match ran.await {
                Ok(()) => Ok(()),
                // These jobs are never aborted: only the pool cancels them.
                Err(_) => Err(pool.cancel_reason()),
            }
        })
    }

    fn arm_timer(
        &self,
        deadline: crate::time::Instant,
        waker: &std::task::Waker,
    ) -> Result<
        Option<(
            Arc<crate::time::driver::TimeDriver>,
            crate::time::wheel::Key,
        )>,
        crate::time::driver::WheelClosed,
    > {
        self.shared.arm_timer(deadline, waker)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Why `block_on` may not run here.
const NESTED_BLOCK_ON: &str = "`block_on` was called on a thread that is already driving a ringwork \
runtime (a worker thread, or inside another `block_on`). Blocking here would stall every task this thread runs. \
`.await` the future instead, or `spawn` it and await its JoinHandle.";

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("workers", &self.num_workers())
            .field("seed", &self.seed())
            .finish()
    }
}

/// Every live task of a runtime ([`Handle::dump`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Dump {
    /// The tasks, longest since their last poll first.
    pub tasks: Vec<TaskDump>,
}

/// One task in a [`Dump`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TaskDump {
    /// Its id.
    pub id: crate::task_core::Id,
    /// Its name (`task::Builder::name`), if it has one.
    pub name: Option<String>,
    /// Where it was spawned.
    pub spawned_at: &'static std::panic::Location<'static>,
    /// "idle" (waiting for a wake-up), "scheduled", "running",
    /// "cancelling" or "complete".
    pub state: &'static str,
    /// Polls so far (debug mode only).
    pub polls: Option<u64>,
    /// Time since its last poll started (debug mode only; `None` also when
    /// never polled).
    pub since_last_poll: Option<Duration>,
    /// Time spent in its polls so far (debug mode only).
    pub poll_time: Option<Duration>,
    /// Its longest poll so far (debug mode only).
    pub longest_poll: Option<Duration>,
}

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} live tasks", self.tasks.len())?;
        for task in &self.tasks {
            write!(
                f,
                "  task {:>6}  {:<10}  {:<24}  {}",
                task.id,
                task.state,
                task.name.as_deref().unwrap_or("-"),
                task.spawned_at
            )?;
            if let (Some(polls), Some(total), Some(longest)) =
                (task.polls, task.poll_time, task.longest_poll)
            {
                write!(f, "  polls {polls} ({total:?} in all, longest {longest:?})")?;
            }
            match task.since_last_poll {
                Some(since) => writeln!(f, "  last polled {since:?} ago")?,
                None if task.polls.is_some() => writeln!(f, "  never polled")?,
                None => writeln!(f)?,
            }
        }
        Ok(())
    }
}

/// Keeps a runtime current on this thread; see [`Runtime::enter`].
#[must_use = "the runtime is current only while the guard lives"]
pub struct EnterGuard<'a> {
    _guard: context::RuntimeGuard,
    _handle: PhantomData<&'a Handle>,
}

impl fmt::Debug for EnterGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}

/// Returned by [`Handle::try_current`] outside any runtime.
#[derive(Debug)]
pub struct TryCurrentError(());

impl fmt::Display for TryCurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "there is no ringwork runtime on this thread: call this from a task, inside \
             `Runtime::block_on`, or under `Runtime::enter`",
        )
    }
}

impl std::error::Error for TryCurrentError {}

impl TryCurrentError {
    pub(crate) fn new() -> TryCurrentError {
        TryCurrentError(())
    }
}
