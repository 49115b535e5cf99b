//! [`Builder`]: every runtime setting, validated in one place.

use super::{BufRingConfig, Handle, Runtime, RuntimeFlavor, UringConfig};
use crate::driver::{self, handoff::Monitor, DriverConfig};
use crate::io::DriverKind;
use crate::scheduler::{self, rng, Callback, Config, Shared, WorkerParts, MAX_WORKERS};
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Default `global_queue_interval`: ticks between forced injector checks.
const DEFAULT_GLOBAL_QUEUE_INTERVAL: u32 = 61;
/// Default `event_interval`: ticks between non-blocking driver harvests.
const DEFAULT_EVENT_INTERVAL: u32 = 61;
/// Largest accepted interval: beyond this, injected tasks or I/O events could
/// wait for an unbounded stretch of local work.
pub(crate) const MAX_INTERVAL: u32 = 1 << 16;
/// Consecutive LIFO-slot polls before the slot's task yields its turn.
const MAX_LIFO_POLLS: u32 = 3;
/// Smallest accepted worker stack: the loop, a task poll and a panic unwind
/// need more than the platform minimum.
pub(crate) const MIN_STACK_SIZE: usize = 64 * 1024;

/// Configures and builds a [`Runtime`].
///
/// ```
/// use std::time::Duration;
///
/// let runtime = ringwork::runtime::Builder::new_multi_thread()
///     .worker_threads(2)
///     .thread_name("my-server-worker")
///     .seed(7)
///     .build()?;
/// assert_eq!(runtime.handle().num_workers(), 2);
/// assert_eq!(runtime.block_on(async { 6 * 7 }), 42);
/// runtime.shutdown_timeout(Duration::from_secs(1));
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Invalid settings are reported by [`build`](Builder::build) as
/// `io::ErrorKind::InvalidInput`, never by a panic:
///
/// ```
/// let err = ringwork::runtime::Builder::new_multi_thread()
///     .worker_threads(0)
///     .build()
///     .unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
/// ```
///
/// The environment sets defaults that explicit calls override:
/// `RINGWORK_DRIVER=auto|uring|epoll`, `RINGWORK_SEED`, and
/// `RINGWORK_URING`, a comma-separated list of io_uring settings
/// (`coop_taskrun`, `defer_taskrun`, `multishot_accept`, `bufring`,
/// `submit_all`, `no_sqarray`, `register_ring_fd`, `auto` (see
/// [`uring_best_effort`](Builder::uring_best_effort)), each alone to turn it on or with a leading `-` to turn it off;
/// `bufring=ENTRIESxSIZE[xPER_SOCKET]`; `send_zc=MIN_BYTES`, `-send_zc`;
/// `fixed_buffers=COUNTxSIZE`, `-fixed_buffers`; `fixed_files[=SLOTS]`
/// (1024 slots by default), `-fixed_files`;
/// `sqpoll=IDLE_MS`, `-sqpoll`;
/// `entries=N`), e.g. `RINGWORK_URING=-multishot_accept,defer_taskrun`. An
/// unknown name or a bad value makes `build` fail with `InvalidInput`
/// naming it.
pub struct Builder {
    flavor: RuntimeFlavor,
    worker_threads: Option<usize>,
    thread_name: Arc<dyn Fn() -> String + Send + Sync>,
    thread_stack_size: Option<usize>,
    on_thread_start: Option<Callback>,
    on_thread_stop: Option<Callback>,
    seed: Option<u64>,
    start_paused: bool,
    /// `None`: from `RINGWORK_DEBUG`.
    debug: Option<bool>,
    slow_poll: Duration,
    global_queue_interval: u32,
    event_interval: u32,
    enable_io: bool,
    driver: Option<DriverKind>,
    uring: ringwork_uring::Config,
    /// The io_uring settings chosen here (they win over `RINGWORK_URING`).
    uring_set: crate::io::driver::UringSet,
    /// Registered buffers: count and size.
    fixed_buffers: Option<(u16, usize)>,
    max_blocking_threads: usize,
    thread_keep_alive: Duration,
}

/// Default `slow_poll_threshold` (asyncio's `slow_callback_duration` is
/// 100 ms too).
const DEFAULT_SLOW_POLL: Duration = Duration::from_millis(100);

/// Default `max_blocking_threads`.
const DEFAULT_MAX_BLOCKING_THREADS: usize = 512;
/// Default `thread_keep_alive` of blocking-pool threads.
const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

impl Builder {
    /// A builder for the multi-threaded, work-stealing runtime with default
    /// settings: one worker per available CPU, names `ringwork-worker`.
    pub fn new_multi_thread() -> Builder {
        Builder {
            flavor: RuntimeFlavor::MultiThread,
            worker_threads: None,
            thread_name: Arc::new(|| "ringwork-worker".to_owned()),
            thread_stack_size: None,
            on_thread_start: None,
            on_thread_stop: None,
            seed: None,
            start_paused: false,
            debug: None,
            slow_poll: DEFAULT_SLOW_POLL,
            global_queue_interval: DEFAULT_GLOBAL_QUEUE_INTERVAL,
            event_interval: DEFAULT_EVENT_INTERVAL,
            enable_io: true,
            driver: None,
            uring: ringwork_uring::Config::default(),
            uring_set: Default::default(),
            fixed_buffers: None,
            max_blocking_threads: DEFAULT_MAX_BLOCKING_THREADS,
            thread_keep_alive: DEFAULT_KEEP_ALIVE,
        }
    }

    /// A builder for the current-thread runtime: no worker threads; the
    /// thread inside [`Runtime::block_on`] runs the future and every task,
    /// and parks in the runtime's own I/O driver (one ring or epoll
    /// instance) and timer wheel. Blocking-pool jobs still run on their own
    /// threads. Tasks make progress only while some `block_on` runs.
    ///
    /// The first `block_on` binds the runtime to its thread (the ring belongs
    /// to it); `block_on` on another thread afterwards panics saying so.
    /// Drop the runtime on that thread too: dropped elsewhere, its tasks are
    /// dropped at once but its driver is taken down only when the bound
    /// thread next runs a current-thread `block_on`, or exits.
    ///
    /// ```
    /// let runtime = ringwork::runtime::Builder::new_current_thread().build()?;
    /// let here = std::thread::current().id();
    /// let ran_on = runtime.block_on(async {
    ///     ringwork::spawn(async { std::thread::current().id() }).await.unwrap()
    /// });
    /// assert_eq!(ran_on, here);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new_current_thread() -> Builder {
        let mut builder = Builder::new_multi_thread();
        builder.flavor = RuntimeFlavor::CurrentThread;
        builder
    }

    /// Most threads of the blocking pool (`spawn_blocking`) alive at once
    /// (default 512; at least 1). Jobs beyond it wait for a free thread.
    pub fn max_blocking_threads(&mut self, count: usize) -> &mut Builder {
        self.max_blocking_threads = count;
        self
    }

    /// How long an idle blocking-pool thread waits for work before it exits
    /// (default 10 s).
    pub fn thread_keep_alive(&mut self, duration: Duration) -> &mut Builder {
        self.thread_keep_alive = duration;
        self
    }

    /// Whether the runtime has an I/O driver (default `true`). Without one,
    /// workers park on a condition variable and I/O operations return an
    /// error; useful for pure-computation runtimes and scheduler benchmarks.
    pub fn enable_io(&mut self, enable: bool) -> &mut Builder {
        self.enable_io = enable;
        self
    }

    /// Which I/O driver to use (default [`DriverKind::Auto`]; the
    /// environment variable `RINGWORK_DRIVER` overrides the default, not an
    /// explicit choice made here).
    pub fn driver(&mut self, kind: DriverKind) -> &mut Builder {
        self.driver = Some(kind);
        self
    }

    /// Submission queue entries of each io_uring (default 256; 1..=32768).
    pub fn uring_entries(&mut self, entries: u32) -> &mut Builder {
        self.uring.entries = entries;
        self.uring_set.entries = true;
        self
    }

    /// `IORING_SETUP_SQPOLL` with this idle time in milliseconds (`None`,
    /// the default, turns it off). A kernel thread then polls each ring.
    pub fn uring_sqpoll(&mut self, idle_ms: Option<u32>) -> &mut Builder {
        self.uring.sqpoll_idle_ms = idle_ms;
        self.uring_set.sqpoll = true;
        self
    }

    /// `IORING_SETUP_COOP_TASKRUN` (default on).
    pub fn uring_coop_taskrun(&mut self, enable: bool) -> &mut Builder {
        self.uring.coop_taskrun = enable;
        self.uring_set.coop_taskrun = true;
        self
    }

    /// Listeners accept with one multishot `ACCEPT` each
    /// (`IORING_ACCEPT_MULTISHOT`, Linux 5.19+; default on where the kernel
    /// has it, see `Handle::uring_features().multishot_accept`): the kernel
    /// posts every connection to it, and `accept` takes them in order.
    /// Off: one `ACCEPT` per call (after a non-blocking `accept4` attempt).
    /// The epoll driver ignores it.
    pub fn uring_multishot_accept(&mut self, enable: bool) -> &mut Builder {
        self.uring.multishot_accept = enable;
        self.uring_set.multishot_accept = true;
        self
    }

    /// A provided buffer ring per worker ring (`IORING_REGISTER_PBUF_RING`,
    /// Linux 5.19+; multishot receive 6.0+): `Some(sizes)` turns it on,
    /// `None` (the default) off. Stream sockets read on a worker then keep
    /// one multishot `RECV` armed, and the kernel fills a ring buffer as data
    /// arrives: no SQE per read, and no buffer pinned by an idle
    /// connection's pending read. [`TcpStream::recv_buf`] hands the buffer
    /// over without a copy; `read(buf)` copies out of it. See
    /// [`BufRingConfig`] for the sizes and the per-socket cap, and
    /// `Handle::uring_features().buf_ring`. Sizes it cannot take are
    /// `InvalidInput` from `build()` (tested); a registration the kernel
    /// refuses is a `build()` error carrying the kernel's error and naming
    /// the setting (not exercised by a test: this kernel accepted every
    /// ring tried). The epoll driver ignores this.
    ///
    /// [`TcpStream::recv_buf`]: crate::net::TcpStream::recv_buf
    pub fn uring_buf_ring(&mut self, sizes: Option<BufRingConfig>) -> &mut Builder {
        self.uring.buf_ring = sizes;
        self.uring_set.buf_ring = true;
        self
    }

    /// Every io_uring setting at once, from a typed options struct (the
    /// fields of [`UringConfig`]); each counts as set explicitly, so
    /// `RINGWORK_URING` changes none of them. Settings the kernel refuses
    /// make `build()` fail, naming the cause.
    pub fn uring_config(&mut self, config: UringConfig) -> &mut Builder {
        self.uring = config;
        self.fixed_buffers = None;
        self.uring_set = crate::io::driver::UringSet::all();
        self
    }

    /// A pool of `count` registered buffers of `size` bytes
    /// (`IORING_REGISTER_BUFFERS`), registered with every ring of the
    /// runtime (`None`, the default: none). Take buffers with
    /// `Handle::fixed_buffers()`; [`File::read_fixed_at`] and
    /// [`File::write_fixed_at`] then skip the kernel's per-operation page
    /// pinning, and so does a zero-copy socket send of a `FixedBuf` or a
    /// slice of one (see [`uring_send_zc`](Builder::uring_send_zc)).
    /// `IoMetrics::fixed_buffer_ops` counts the operations that named a
    /// registered buffer. Registration pins the memory (once per ring): a refusal
    /// (`RLIMIT_MEMLOCK`) is a `build()` error naming the limit; bad sizes
    /// are `InvalidInput`. On epoll the pool is plain memory.
    ///
    /// [`File::read_fixed_at`]: crate::fs::File::read_fixed_at
    /// [`File::write_fixed_at`]: crate::fs::File::write_fixed_at
    pub fn uring_fixed_buffers(&mut self, pool: Option<(u16, usize)>) -> &mut Builder {
        self.fixed_buffers = pool;
        self.uring_set.fixed_buffers = true;
        self
    }

    /// `IORING_SETUP_SUBMIT_ALL` (Linux 5.18+, default off): a batch of
    /// submissions goes on past an SQE that fails to submit. A kernel
    /// without it makes `build()` fail with `Unsupported`, naming the flag.
    pub fn uring_submit_all(&mut self, enable: bool) -> &mut Builder {
        self.uring.submit_all = enable;
        self.uring_set.submit_all = true;
        self
    }

    /// `IORING_SETUP_NO_SQARRAY` (Linux 6.6+, default off): no
    /// submission-queue index array. A kernel without it makes `build()`
    /// fail with `Unsupported`, naming the flag.
    pub fn uring_no_sqarray(&mut self, enable: bool) -> &mut Builder {
        self.uring.no_sqarray = enable;
        self.uring_set.no_sqarray = true;
        self
    }

    /// A fixed-file table of `slots` per worker ring
    /// (`IORING_REGISTER_FILES2`, sparse, Linux 5.19+; `None`, the default:
    /// none). A socket is registered in the table of the worker ring where
    /// its first operation is submitted; operations submitted on that ring
    /// then name its slot (`IOSQE_FIXED_FILE`: no descriptor lookup and
    /// reference count per operation), and operations on other workers'
    /// rings use the descriptor (`IoMetrics::fixed_file_fallbacks`). A full
    /// table leaves new sockets unregistered (`fixed_file_table_full`).
    /// Closing a registered socket asks its ring's owner to clear the slot,
    /// which it does on its next turn; the connection closes then. A table
    /// larger than `RLIMIT_NOFILE` or a kernel without sparse tables is a
    /// `build()` error naming it. The epoll driver ignores this.
    pub fn uring_fixed_files(&mut self, slots: Option<u32>) -> &mut Builder {
        self.uring.fixed_files = slots;
        self.uring_set.fixed_files = true;
        self
    }

    /// What to do with an io_uring feature asked for that the kernel or
    /// the limits refuse (a setup flag, the provided buffer ring,
    /// registered buffers, zero-copy send, the registered ring fd):
    /// `false` (the default) makes `build()` fail with an error naming the
    /// cause and the setting to change; `true` ("auto",
    /// `RINGWORK_URING=auto`) leaves it off and the runtime starts;
    /// `Handle::uring_feature_states` then says, for each feature, whether
    /// it is on and why the others are off (the refusal). The epoll driver
    /// ignores this.
    pub fn uring_best_effort(&mut self, enable: bool) -> &mut Builder {
        self.uring.best_effort = enable;
        self.uring_set.best_effort = true;
        self
    }

    /// Registers each worker's ring fd with the worker's thread
    /// (`IORING_REGISTER_RING_FDS`, Linux 5.18+; default off) so that its
    /// `io_uring_enter` calls pass the registered index
    /// (`IORING_ENTER_REGISTERED_RING`) and the kernel skips the
    /// descriptor lookup of each. `IoMetrics::registered_enters` counts the
    /// enters made that way. A kernel without it makes `build()` fail with
    /// `Unsupported`, naming it; a thread that already holds 16 registered
    /// rings (the kernel's per-thread limit) enters the new one by its
    /// descriptor (`IoMetrics::ring_fd_refused`). The epoll driver ignores
    /// this.
    pub fn uring_register_ring_fd(&mut self, enable: bool) -> &mut Builder {
        self.uring.register_ring_fd = enable;
        self.uring_set.register_ring_fd = true;
        self
    }

    /// Sends of at least `min_bytes` go through `IORING_OP_SEND_ZC` (Linux
    /// 6.0+; `None`, the default: plain sends): the kernel sends from the
    /// buffer without copying where the device allows, and the send's
    /// future finishes when the kernel has let go of the buffer. UDP
    /// datagrams of at least `min_bytes` go as `IORING_OP_SENDMSG_ZC`
    /// (6.1+) the same way. Loopback
    /// always copies (`IoMetrics::zc_copied` counts it). A kernel without
    /// the opcode makes `build()` fail, naming it; the epoll driver ignores
    /// this.
    pub fn uring_send_zc(&mut self, min_bytes: Option<u32>) -> &mut Builder {
        self.uring.send_zc_threshold = min_bytes;
        self.uring_set.send_zc = true;
        self
    }

    /// `IORING_SETUP_DEFER_TASKRUN | SINGLE_ISSUER` (default off).
    pub fn uring_defer_taskrun(&mut self, enable: bool) -> &mut Builder {
        self.uring.defer_taskrun = enable;
        self.uring_set.defer_taskrun = true;
        self
    }

    /// Number of worker threads (default: `std::thread::available_parallelism`).
    /// Must be at least 1.
    pub fn worker_threads(&mut self, count: usize) -> &mut Builder {
        self.worker_threads = Some(count);
        self
    }

    /// The name of every worker thread. (Blocking-pool threads are named
    /// `ringwork-blocking-N`, N counting up from 0.)
    pub fn thread_name(&mut self, name: impl Into<String>) -> &mut Builder {
        let name = name.into();
        self.thread_name = Arc::new(move || name.clone());
        self
    }

    /// A function producing each worker thread's name (not used for
    /// blocking-pool threads; see [`thread_name`](Builder::thread_name)).
    pub fn thread_name_fn(
        &mut self,
        f: impl Fn() -> String + Send + Sync + 'static,
    ) -> &mut Builder {
        self.thread_name = Arc::new(f);
        self
    }

    /// Stack size of worker and blocking-pool threads in bytes (at least 64
    /// KiB).
    pub fn thread_stack_size(&mut self, bytes: usize) -> &mut Builder {
        self.thread_stack_size = Some(bytes);
        self
    }

    /// Runs `f` on each worker thread when it starts, before any task.
    pub fn on_thread_start(&mut self, f: impl Fn() + Send + Sync + 'static) -> &mut Builder {
        self.on_thread_start = Some(Arc::new(f));
        self
    }

    /// Runs `f` on each worker thread when it stops, after its last task.
    pub fn on_thread_stop(&mut self, f: impl Fn() + Send + Sync + 'static) -> &mut Builder {
        self.on_thread_stop = Some(Arc::new(f));
        self
    }

    /// Seeds every random choice the scheduler makes (which worker a thief
    /// tries first), so a run can be replayed. Without it, the environment
    /// variable `RINGWORK_SEED` is used if set, else a seed from the clock;
    /// [`Handle::seed`] tells which seed a runtime uses.
    pub fn seed(&mut self, seed: u64) -> &mut Builder {
        self.seed = Some(seed);
        self
    }

    /// Debug mode (asyncio's `set_debug`), default off, or on when the
    /// environment has `RINGWORK_DEBUG=1`: every task's poll is timed and
    /// one that takes at least [`slow_poll_threshold`](Builder::slow_poll_threshold)
    /// is reported (a `tracing` warning naming the task, its spawn site and
    /// the worker, and `WorkerMetrics::slow_polls`); a task that panics
    /// with nobody left to see it (its `JoinHandle` dropped unread) is
    /// reported too; [`Handle::dump`] shows when each task was last polled.
    /// Off, it costs a branch per poll.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let runtime = ringwork::runtime::Builder::new_multi_thread()
    ///     .debug(true)
    ///     .slow_poll_threshold(Duration::from_millis(10))
    ///     .build()?;
    /// runtime.block_on(async {
    ///     // Blocks its worker for 20 ms in one poll: reported.
    ///     ringwork::spawn(async { std::thread::sleep(Duration::from_millis(20)) })
    ///         .await
    ///         .unwrap();
    /// });
    /// // Counted just after the poll returns, which may be a moment after
    /// // the task's JoinHandle resolved.
    /// let slow = || -> u64 { runtime.metrics().workers.iter().map(|w| w.slow_polls).sum() };
    /// let start = std::time::Instant::now();
    /// while slow() == 0 && start.elapsed() < Duration::from_secs(5) {
    ///     std::thread::sleep(Duration::from_millis(1));
    /// }
    /// assert!(slow() >= 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn debug(&mut self, on: bool) -> &mut Builder {
        self.debug = Some(on);
        self
    }

    /// How long a poll may take before debug mode reports it (default
    /// 100 ms; at least 1 µs).
    pub fn slow_poll_threshold(&mut self, threshold: Duration) -> &mut Builder {
        self.slow_poll = threshold;
        self
    }

    /// Starts the runtime with its clock paused (see
    /// [`time::pause`](crate::time::pause)): for tests full of timers. Only
    /// a current-thread runtime has a clock that can pause; on a
    /// multi-thread builder `build` fails with `InvalidInput`.
    pub fn start_paused(&mut self, paused: bool) -> &mut Builder {
        self.start_paused = paused;
        self
    }

    /// Every `interval` ticks a worker takes work from the shared injector
    /// before its own queue, so tasks scheduled from outside the runtime are
    /// not starved by local work. Default 61; accepted range 1..=65536.
    pub fn global_queue_interval(&mut self, interval: u32) -> &mut Builder {
        self.global_queue_interval = interval;
        self
    }

    /// Every `interval` ticks a worker harvests I/O and timer events without
    /// blocking, even while tasks are ready. Default 61; accepted range
    /// 1..=65536.
    pub fn event_interval(&mut self, interval: u32) -> &mut Builder {
        self.event_interval = interval;
        self
    }

    /// Validates the settings, starts the worker threads and returns the
    /// runtime. Errors (`InvalidInput` for bad settings, the OS error when a
    /// thread cannot be created) leave no thread behind.
    pub fn build(&mut self) -> io::Result<Runtime> {
        #[cfg(feature = "fault-injection")]
        crate::faults::install_from_env()?;
        #[cfg_attr(loom, allow(unused_mut))]
        let (shared, mut parts, monitor) = self.build_scheduler()?;
        #[cfg(not(loom))]
        if self.flavor == RuntimeFlavor::CurrentThread {
            // No thread, and no monitor: one thread drives everything, as
            // the flavor promises (a busy task holds up its neighbours).
            let core = scheduler::current_thread::Core::new(parts.pop().expect("one worker"));
            if self.start_paused {
                shared.clock().start_paused();
            }
            return Ok(Runtime::current_thread(
                Handle::from_shared(shared),
                core,
                monitor,
            ));
        }
        let mut threads = Vec::with_capacity(parts.len());
        for part in parts {
            let shared_for_thread = shared.clone();
            let runtime = Handle::from_shared(shared.clone()).as_context();
            let spawned = crate::loom::thread::spawn_named(
                (self.thread_name)(),
                self.thread_stack_size,
                move || scheduler::run_worker(shared_for_thread, part, runtime),
            );
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(err) => {
                    // Stop the workers already started; they exit once
                    // unparked, and the parts not started are dropped here.
                    shared.shutdown();
                    for thread in threads {
                        let _ = thread.join();
                    }
                    shared.drain_injector();
                    return Err(io::Error::new(
                        err.kind(),
                        format!("failed to spawn ringwork worker thread: {err}"),
                    ));
                }
            }
        }
        // The monitor that drives a stuck worker's driver (`handoff.rs`).
        // Without it the runtime still works, as before it existed; a
        // thread limit that refuses it is not worth failing `build` for.
        // (Not under loom: the scheduler models leave it out, see
        // `build_scheduler`.)
        if cfg!(loom) {
        } else if let Err(err) = monitor.start("ringwork-monitor".to_owned()) {
            tracing::warn!(error = %err, "could not start ringwork's monitor thread; a busy worker's timers and I/O wait for it");
        }
        Ok(Runtime::from_parts(
            Handle::from_shared(shared),
            threads,
            monitor,
        ))
    }

    /// Validates the settings and builds the scheduler's shared state and
    /// one set of parts per worker, without starting any thread.
    pub(crate) fn build_scheduler(
        &mut self,
    ) -> io::Result<(crate::loom::sync::Arc<Shared>, Vec<WorkerParts>, Monitor)> {
        let workers = match (self.flavor, self.worker_threads) {
            (RuntimeFlavor::CurrentThread, None | Some(1)) => 1,
            (RuntimeFlavor::CurrentThread, Some(n)) => {
                return Err(invalid(format!(
                    "worker_threads({n}) does not apply to a current_thread runtime: it runs \
                     on the thread that calls block_on (use new_multi_thread for {n} workers)"
                )))
            }
            (RuntimeFlavor::MultiThread, Some(n)) => n,
            (RuntimeFlavor::MultiThread, None) => {
                std::thread::available_parallelism().map_or(1, |n| n.get())
            }
        };
        if workers == 0 {
            return Err(invalid("worker_threads must be at least 1, got 0"));
        }
        if workers > MAX_WORKERS {
            return Err(invalid(format!(
                "worker_threads must be at most {MAX_WORKERS}, got {workers}"
            )));
        }
        if self.start_paused && self.flavor != RuntimeFlavor::CurrentThread {
            return Err(invalid(
                "start_paused(true) needs a current_thread runtime (Builder::new_current_thread): \
                 a multi-thread runtime's clock cannot pause",
            ));
        }
        if self.slow_poll < Duration::from_micros(1) {
            return Err(invalid(format!(
                "slow_poll_threshold must be at least 1 µs, got {:?}",
                self.slow_poll
            )));
        }
        let debug = match self.debug {
            Some(on) => on,
            None => debug_from_env()?,
        };
        check_interval("global_queue_interval", self.global_queue_interval)?;
        check_interval("event_interval", self.event_interval)?;
        if let Some(size) = self.thread_stack_size {
            if size < MIN_STACK_SIZE {
                return Err(invalid(format!(
                    "thread_stack_size must be at least {MIN_STACK_SIZE} bytes, got {size}"
                )));
            }
        }
        if self.max_blocking_threads == 0 {
            return Err(invalid("max_blocking_threads must be at least 1, got 0"));
        }
        let seed = match self.seed {
            Some(seed) => seed,
            None => seed_from_env()?.unwrap_or_else(rng::entropy_seed),
        };

        let io = if self.enable_io {
            Some(match self.driver {
                Some(kind) => kind,
                None => DriverKind::from_env()?.unwrap_or_default(),
            })
        } else {
            None
        };
        let mut uring = self.uring.clone();
        if let Some((count, size)) = self.fixed_buffers {
            uring.fixed_buffers = Some(ringwork_uring::SharedFixedBuffers(
                ringwork_uring::FixedBuffers::new(count, size)?,
            ));
        }
        crate::io::driver::apply_uring_env(&mut uring, self.uring_set)?;
        let stacks = driver::build(&DriverConfig { io, uring }, workers)?;
        let config = Config {
            flavor: self.flavor,
            debug: debug.then_some(scheduler::DebugConfig {
                slow_poll: self.slow_poll,
            }),
            global_queue_interval: self.global_queue_interval,
            event_interval: self.event_interval,
            max_lifo_polls: MAX_LIFO_POLLS,
            seed,
            on_thread_start: self.on_thread_start.clone(),
            on_thread_stop: self.on_thread_stop.clone(),
            driver: stacks.info,
        };
        let blocking = crate::blocking::Pool::new(crate::blocking::PoolConfig {
            max_threads: self.max_blocking_threads,
            keep_alive: self.thread_keep_alive,
            stack_size: self.thread_stack_size,
        });
        let (shared, parts) = scheduler::create(config, blocking, stacks.parks);
        Ok((shared, parts, stacks.monitor))
    }
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

fn check_interval(name: &str, value: u32) -> io::Result<()> {
    if value == 0 || value > MAX_INTERVAL {
        return Err(invalid(format!(
            "{name} must be between 1 and {MAX_INTERVAL} ticks, got {value}"
        )));
    }
    Ok(())
}

/// `RINGWORK_DEBUG`: `1`/`true` on, `0`/`false`/unset off.
fn debug_from_env() -> io::Result<bool> {
    let Some(raw) = std::env::var_os("RINGWORK_DEBUG") else {
        return Ok(false);
    };
    match raw.to_string_lossy().trim() {
        "1" | "true" => Ok(true),
        "0" | "false" | "" => Ok(false),
        other => Err(invalid(format!(
            "RINGWORK_DEBUG must be 1, true, 0 or false, got {other:?}"
        ))),
    }
}

/// `RINGWORK_SEED`: decimal or `0x`-prefixed hexadecimal `u64`.
fn seed_from_env() -> io::Result<Option<u64>> {
    let Some(raw) = std::env::var_os("RINGWORK_SEED") else {
        return Ok(None);
    };
    let text = raw.to_string_lossy();
    let text = text.trim();
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse::<u64>(),
    };
    parsed.map(Some).map_err(|_| {
        invalid(format!(
            "RINGWORK_SEED must be a u64 (decimal or 0x-hex), got {text:?}"
        ))
    })
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("flavor", &self.flavor)
            .field("worker_threads", &self.worker_threads)
            .field("thread_stack_size", &self.thread_stack_size)
            .field("seed", &self.seed)
            .field("start_paused", &self.start_paused)
            .field("debug", &self.debug)
            .field("slow_poll_threshold", &self.slow_poll)
            .field("global_queue_interval", &self.global_queue_interval)
            .field("event_interval", &self.event_interval)
            .field("enable_io", &self.enable_io)
            .field("driver", &self.driver)
            .field("uring", &self.uring)
            .field("max_blocking_threads", &self.max_blocking_threads)
            .field("thread_keep_alive", &self.thread_keep_alive)
            .finish_non_exhaustive()
    }
}
