//! The runtimes under comparison ("peers") and the API workloads use.
//!
//! A [`Peer`] is one entry in a list: a name, a one-line description of its
//! configuration, and a function that builds it. Adding a configuration (say
//! ringwork on epoll next to ringwork on io_uring) means adding an entry to
//! [`default_peers`] — and, for a new kind of runtime, a variant to
//! [`PeerRuntime`] plus implementations of [`SchedulerRuntime`],
//! [`TimerRuntime`] and [`SyncRuntime`].
//!
//! The peers are built like for like: ringwork's workers always carry an I/O
//! driver and a timer wheel, so tokio is built with `enable_all()` (its I/O
//! and time drivers) rather than as a bare scheduler.
//!
//! [`SchedulerRuntime`] is the handful of operations the scheduler workloads
//! need (spawn from outside, spawn from inside, yield, block on);
//! [`TimerRuntime`] adds the two the timer workloads need (`sleep_until`,
//! `timeout`); [`SyncRuntime`] the channels, mutex and semaphore the sync
//! workloads need. Workloads are generic over them, so the very same code
//! runs on every peer.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::io;
use std::time::{Duration, Instant};

/// The operations a scheduler workload needs from a runtime.
///
/// Implemented for every kind of runtime in [`PeerRuntime`]; workloads are
/// written once, generic over this trait.
pub trait SchedulerRuntime: 'static {
    /// Why a spawned task produced no output (it panicked or was cancelled).
    type JoinError: Error + Send + 'static;

    /// Awaits a spawned task's output.
    type JoinHandle<T: Send + 'static>: Future<Output = Result<T, Self::JoinError>>
        + Send
        + Unpin
        + 'static;

    /// Runs `future` to completion on the calling thread while the workers run
    /// the spawned tasks.
    fn block_on<F: Future>(&self, future: F) -> F::Output;

    /// Spawns a task from any thread, typically from outside the runtime.
    fn spawn<F>(&self, future: F) -> Self::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// Spawns a task on the runtime the calling thread belongs to: from a
    /// task, this is the "local" spawn path.
    fn spawn_current<F>(future: F) -> Self::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// Lets the other ready tasks run before the calling task continues.
    fn yield_now() -> impl Future<Output = ()> + Send;
}

impl SchedulerRuntime for ringwork::Runtime {
    type JoinError = ringwork::task::JoinError;
    type JoinHandle<T: Send + 'static> = ringwork::JoinHandle<T>;

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        ringwork::Runtime::block_on(self, future)
    }

    fn spawn<F>(&self, future: F) -> ringwork::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        ringwork::Runtime::spawn(self, future)
    }

    fn spawn_current<F>(future: F) -> ringwork::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        ringwork::spawn(future)
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        ringwork::task::yield_now()
    }
}

impl SchedulerRuntime for tokio::runtime::Runtime {
    type JoinError = tokio::task::JoinError;
    type JoinHandle<T: Send + 'static> = tokio::task::JoinHandle<T>;

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        tokio::runtime::Runtime::block_on(self, future)
    }

    fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        tokio::runtime::Runtime::spawn(self, future)
    }

    fn spawn_current<F>(future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        tokio::spawn(future)
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        tokio::task::yield_now()
    }
}

/// The timer operations the timer workloads need, on top of
/// [`SchedulerRuntime`]: each runtime's own `sleep_until` and `timeout`,
/// called directly (no wrapper future), so that what is measured is the
/// runtime's timer.
pub trait TimerRuntime: SchedulerRuntime {
    /// Why a `timeout` ran out.
    type Elapsed: fmt::Debug + Send + 'static;

    /// Completes at `deadline`, never before (the runtime's `sleep_until`).
    fn sleep_until(deadline: Instant) -> impl Future<Output = ()> + Send;

    /// Runs `future` for at most `duration` (the runtime's `timeout`).
    fn timeout<F: Future + Send>(
        duration: Duration,
        future: F,
    ) -> impl Future<Output = Result<F::Output, Self::Elapsed>> + Send;
}

impl TimerRuntime for ringwork::Runtime {
    type Elapsed = ringwork::time::Elapsed;

    fn sleep_until(deadline: Instant) -> impl Future<Output = ()> + Send {
        ringwork::time::sleep_until(deadline.into())
    }

    fn timeout<F: Future + Send>(
        duration: Duration,
        future: F,
    ) -> impl Future<Output = Result<F::Output, Self::Elapsed>> + Send {
        ringwork::time::timeout(duration, future)
    }
}

impl TimerRuntime for tokio::runtime::Runtime {
    type Elapsed = tokio::time::error::Elapsed;

    fn sleep_until(deadline: Instant) -> impl Future<Output = ()> + Send {
        tokio::time::sleep_until(tokio::time::Instant::from_std(deadline))
    }

    fn timeout<F: Future + Send>(
        duration: Duration,
        future: F,
    ) -> impl Future<Output = Result<F::Output, Self::Elapsed>> + Send {
        tokio::time::timeout(duration, future)
    }
}

/// The synchronization primitives the sync workloads need, on top of
/// [`SchedulerRuntime`]: each runtime's own bounded `mpsc` channel,
/// `oneshot` channel, `Mutex` and `Semaphore` (`ringwork::sync` and
/// `tokio::sync`), called directly — the wrappers are a few lines each and
/// monomorphised away, so what is measured is the runtime's primitive.
///
/// Locks and permits are taken for the duration of a closure
/// ([`with_lock`](SyncRuntime::with_lock),
/// [`with_permit`](SyncRuntime::with_permit)) rather than returned as
/// guards, which keeps the trait free of guard lifetimes; the closure runs
/// between the acquire and the release, exactly as code holding a guard
/// would.
pub trait SyncRuntime: SchedulerRuntime {
    /// The sending half of a bounded multi-producer channel.
    type MpscSender<T: Send + 'static>: Clone + Send + Sync + 'static;
    /// The receiving half of a bounded multi-producer channel.
    type MpscReceiver<T: Send + 'static>: Send + 'static;
    /// The sending half of a one-value channel.
    type OneshotSender<T: Send + 'static>: Send + 'static;
    /// The receiving half of a one-value channel.
    type OneshotReceiver<T: Send + 'static>: Send + 'static;
    /// An async mutex.
    type Mutex<T: Send + 'static>: Send + Sync + 'static;
    /// A counting semaphore.
    type Semaphore: Send + Sync + 'static;

    /// A bounded channel holding at most `capacity` messages.
    fn mpsc_channel<T: Send + 'static>(
        capacity: usize,
    ) -> (Self::MpscSender<T>, Self::MpscReceiver<T>);

    /// Sends `value`, waiting for room; gives it back if the receiver is
    /// gone.
    fn mpsc_send<T: Send + 'static>(
        sender: &Self::MpscSender<T>,
        value: T,
    ) -> impl Future<Output = Result<(), T>> + Send + '_;

    /// The next message, or `None` once every sender is gone and the
    /// channel is empty.
    fn mpsc_recv<T: Send + 'static>(
        receiver: &mut Self::MpscReceiver<T>,
    ) -> impl Future<Output = Option<T>> + Send + '_;

    /// A one-value channel.
    fn oneshot_channel<T: Send + 'static>() -> (Self::OneshotSender<T>, Self::OneshotReceiver<T>);

    /// Sends the value; gives it back if the receiver is gone.
    fn oneshot_send<T: Send + 'static>(sender: Self::OneshotSender<T>, value: T) -> Result<(), T>;

    /// The value, or `None` if the sender was dropped without sending.
    fn oneshot_recv<T: Send + 'static>(
        receiver: Self::OneshotReceiver<T>,
    ) -> impl Future<Output = Option<T>> + Send;

    /// A mutex holding `value`.
    fn mutex<T: Send + 'static>(value: T) -> Self::Mutex<T>;

    /// Locks `mutex`, runs `critical` on the value, unlocks.
    fn with_lock<'a, T: Send + 'static, R: Send + 'a>(
        mutex: &'a Self::Mutex<T>,
        critical: impl FnOnce(&mut T) -> R + Send + 'a,
    ) -> impl Future<Output = R> + Send + 'a;

    /// A semaphore with `permits` permits.
    fn semaphore(permits: usize) -> Self::Semaphore;

    /// Acquires one permit, runs `critical`, releases the permit.
    ///
    /// # Panics
    ///
    /// If the semaphore was closed (the workloads never close it).
    fn with_permit<'a, R: Send + 'a>(
        semaphore: &'a Self::Semaphore,
        critical: impl FnOnce() -> R + Send + 'a,
    ) -> impl Future<Output = R> + Send + 'a;
}

/// Implements [`SyncRuntime`] for a runtime whose sync module (`$sync`)
/// has tokio's shape — `ringwork::sync` and `tokio::sync` both do, so one
/// body serves both.
macro_rules! sync_runtime {
    ($runtime:ty, $($sync:ident)::+) => {
        impl SyncRuntime for $runtime {
            type MpscSender<T: Send + 'static> = $($sync)::+::mpsc::Sender<T>;
            type MpscReceiver<T: Send + 'static> = $($sync)::+::mpsc::Receiver<T>;
            type OneshotSender<T: Send + 'static> = $($sync)::+::oneshot::Sender<T>;
            type OneshotReceiver<T: Send + 'static> = $($sync)::+::oneshot::Receiver<T>;
            type Mutex<T: Send + 'static> = $($sync)::+::Mutex<T>;
            type Semaphore = $($sync)::+::Semaphore;

            fn mpsc_channel<T: Send + 'static>(
                capacity: usize,
            ) -> (Self::MpscSender<T>, Self::MpscReceiver<T>) {
                $($sync)::+::mpsc::channel(capacity)
            }

            async fn mpsc_send<T: Send + 'static>(
                sender: &Self::MpscSender<T>,
                value: T,
            ) -> Result<(), T> {
                sender.send(value).await.map_err(|err| err.0)
            }

            fn mpsc_recv<T: Send + 'static>(
                receiver: &mut Self::MpscReceiver<T>,
            ) -> impl Future<Output = Option<T>> + Send + '_ {
                receiver.recv()
            }

            fn oneshot_channel<T: Send + 'static>(
            ) -> (Self::OneshotSender<T>, Self::OneshotReceiver<T>) {
                $($sync)::+::oneshot::channel()
            }

            fn oneshot_send<T: Send + 'static>(
                sender: Self::OneshotSender<T>,
                value: T,
            ) -> Result<(), T> {
                sender.send(value)
            }

            async fn oneshot_recv<T: Send + 'static>(
                receiver: Self::OneshotReceiver<T>,
            ) -> Option<T> {
                receiver.await.ok()
            }

            fn mutex<T: Send + 'static>(value: T) -> Self::Mutex<T> {
                $($sync)::+::Mutex::new(value)
            }

            async fn with_lock<'a, T: Send + 'static, R: Send + 'a>(
                mutex: &'a Self::Mutex<T>,
                critical: impl FnOnce(&mut T) -> R + Send + 'a,
            ) -> R {
                let mut guard = mutex.lock().await;
                critical(&mut guard)
            }

            fn semaphore(permits: usize) -> Self::Semaphore {
                $($sync)::+::Semaphore::new(permits)
            }

            async fn with_permit<'a, R: Send + 'a>(
                semaphore: &'a Self::Semaphore,
                critical: impl FnOnce() -> R + Send + 'a,
            ) -> R {
                let _permit = semaphore
                    .acquire()
                    .await
                    .expect("the workloads never close their semaphore");
                critical()
            }
        }
    };
}

sync_runtime!(ringwork::Runtime, ringwork::sync);
sync_runtime!(tokio::runtime::Runtime, tokio::sync);

/// A built runtime of one of the kinds that can be compared.
#[derive(Debug)]
pub enum PeerRuntime {
    /// A ringwork multi-thread runtime.
    Ringwork(ringwork::Runtime),
    /// A tokio multi-thread runtime.
    Tokio(tokio::runtime::Runtime),
}

/// Settings every peer is built with, so that the comparison is like for like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerSettings {
    /// Worker threads of every runtime.
    pub workers: usize,
    /// Seed of ringwork's scheduler choices; `None` leaves it to
    /// `RINGWORK_SEED` or the clock, per runtime.
    pub ringwork_seed: Option<u64>,
}

/// One runtime configuration in the comparison.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Short name, used as a column header and in `--json` output.
    pub name: &'static str,
    /// What exactly is built, for the report's header.
    pub description: &'static str,
    /// Ratios are reported as `peer / reference` for every other peer.
    pub is_reference: bool,
    build: fn(&PeerSettings) -> io::Result<PeerRuntime>,
}

impl Peer {
    /// Builds a fresh runtime of this configuration.
    pub fn build(&self, settings: &PeerSettings) -> io::Result<PeerRuntime> {
        (self.build)(settings).map_err(|err| {
            io::Error::new(err.kind(), format!("building peer {}: {err}", self.name))
        })
    }
}

/// The peers `compare` runs, in column order: ringwork, then tokio as the
/// reference every ratio is taken against.
pub fn default_peers() -> Vec<Peer> {
    vec![
        Peer {
            name: "ringwork",
            description: "ringwork multi-thread runtime, default Builder: an I/O driver per \
                          worker (DriverKind::Auto: io_uring where the kernel allows it, else \
                          epoll; the one in use is named below) and a timer wheel per worker",
            is_reference: false,
            build: build_ringwork,
        },
        Peer {
            name: "tokio",
            description: "tokio multi_thread runtime with enable_all(): its I/O driver (epoll, \
                          via mio) and its time driver",
            is_reference: true,
            build: build_tokio,
        },
    ]
}

fn build_ringwork(settings: &PeerSettings) -> io::Result<PeerRuntime> {
    // The defaults on purpose: I/O enabled, DriverKind::Auto (io_uring here),
    // timers always on.
    let mut builder = ringwork::runtime::Builder::new_multi_thread();
    builder.worker_threads(settings.workers);
    if let Some(seed) = settings.ringwork_seed {
        builder.seed(seed);
    }
    builder.build().map(PeerRuntime::Ringwork)
}

fn build_tokio(settings: &PeerSettings) -> io::Result<PeerRuntime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.workers)
        .enable_all()
        .build()
        .map(PeerRuntime::Tokio)
}

impl PeerRuntime {
    /// The drivers this runtime actually runs besides its scheduler, for the
    /// report: ringwork's from its handle (`Auto` may have fallen back to
    /// epoll, and `RINGWORK_DRIVER` overrides the default), tokio's as built
    /// by [`default_peers`].
    pub fn drivers(&self) -> String {
        match self {
            PeerRuntime::Ringwork(runtime) => {
                let handle = runtime.handle();
                let io = match handle.driver_kind() {
                    Some(ringwork::io::DriverKind::Uring) => "io_uring".to_owned(),
                    Some(ringwork::io::DriverKind::Epoll) => {
                        match handle.driver_fallback_reason() {
                            Some(reason) => format!("epoll (fell back: {reason})"),
                            None => "epoll".to_owned(),
                        }
                    }
                    Some(other) => format!("{other:?}"),
                    None => "none".to_owned(),
                };
                format!("I/O driver {io}, timer wheel per worker")
            }
            PeerRuntime::Tokio(_) => "I/O driver epoll (mio), time driver".to_owned(),
        }
    }
}

impl fmt::Display for PeerRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerRuntime::Ringwork(runtime) => write!(
                f,
                "ringwork ({} workers, seed {:#x}; {})",
                runtime.handle().num_workers(),
                runtime.handle().seed(),
                self.drivers()
            ),
            PeerRuntime::Tokio(runtime) => write!(
                f,
                "tokio ({} workers; {})",
                runtime.metrics().num_workers(),
                self.drivers()
            ),
        }
    }
}
