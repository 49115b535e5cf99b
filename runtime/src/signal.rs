//! Unix signals as futures: [`ctrl_c`] and [`unix::signal`].
//!
//! ```no_run
//! # ringwork::Runtime::new().unwrap().block_on(async {
//! use ringwork::signal::unix::{signal, SignalKind};
//!
//! let mut hangups = signal(SignalKind::hangup())?;
//! while hangups.recv().await.is_some() {
//!     println!("SIGHUP: reloading the configuration");
//! }
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```
//!
//! # How it works
//!
//! The first listener of a signal installs a handler for it through
//! `signal-hook-registry` (which chains to any handler installed before).
//! The handler does only what is safe in a signal handler: it sets the
//! signal's flag and writes a byte to a non-blocking pipe. One thread per
//! process (named `ringwork-signal`, started with the first listener) wakes
//! on the pipe and, for each signal whose flag is set, bumps its delivery
//! count in a [`crate::sync::watch`]
//! channel, which wakes every listener of that signal, on any runtime and
//! either I/O driver.
//!
//! # Delivery
//!
//! - Every listener of a signal sees each delivery made after it was
//!   created (`recv` returns once per delivery it has not seen yet).
//! - Deliveries that arrive before a listener calls `recv` again coalesce
//!   into one: the kernel itself merges pending standard signals, and a
//!   listener keeps only "something arrived since you last looked".
//! - Once a signal has had a listener, the handler stays installed for the
//!   life of the process (as in tokio): the signal's default action (for
//!   SIGINT, ending the process) no longer happens, listener or not.
//! - Signals that cannot be handled safely (`SIGKILL`, `SIGSTOP`, `SIGILL`,
//!   `SIGFPE`, `SIGSEGV`, `SIGBUS`) are an `InvalidInput` error.

use crate::sync::watch;
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, OnceLock};

/// Waits for `SIGINT` (Ctrl-C in a terminal) once.
///
/// The handler is installed when this is called, not when the future is
/// first polled: a `SIGINT` that arrives in between is seen.
pub fn ctrl_c() -> impl std::future::Future<Output = io::Result<()>> + Send {
    let signal = unix::signal(unix::SignalKind::interrupt());
    async move {
        signal?.recv().await;
        Ok(())
    }
}

/// Unix signals by kind.
pub mod unix {
    use super::{registry, watch};
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A signal number, with constructors for the common ones.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct SignalKind(libc::c_int);

    impl SignalKind {
        /// Any signal by number (see `signal(7)`).
        pub const fn from_raw(signum: libc::c_int) -> SignalKind {
            SignalKind(signum)
        }
        /// The signal's number.
        pub const fn as_raw(self) -> libc::c_int {
            self.0
        }
        /// `SIGINT`: interrupt from the terminal (Ctrl-C).
        pub const fn interrupt() -> SignalKind {
            SignalKind(libc::SIGINT)
        }
        /// `SIGTERM`: polite termination request.
        pub const fn terminate() -> SignalKind {
            SignalKind(libc::SIGTERM)
        }
        /// `SIGHUP`: the terminal hung up; servers reload on it.
        pub const fn hangup() -> SignalKind {
            SignalKind(libc::SIGHUP)
        }
        /// `SIGQUIT`: quit from the terminal.
        pub const fn quit() -> SignalKind {
            SignalKind(libc::SIGQUIT)
        }
        /// `SIGUSR1`.
        pub const fn user_defined1() -> SignalKind {
            SignalKind(libc::SIGUSR1)
        }
        /// `SIGUSR2`.
        pub const fn user_defined2() -> SignalKind {
            SignalKind(libc::SIGUSR2)
        }
        /// `SIGCHLD`: a child process changed state.
        pub const fn child() -> SignalKind {
            SignalKind(libc::SIGCHLD)
        }
        /// `SIGWINCH`: the terminal window was resized.
        pub const fn window_change() -> SignalKind {
            SignalKind(libc::SIGWINCH)
        }
        /// `SIGPIPE`: a write to a pipe or socket nobody reads.
        pub const fn pipe() -> SignalKind {
            SignalKind(libc::SIGPIPE)
        }
        /// `SIGALRM`.
        pub const fn alarm() -> SignalKind {
            SignalKind(libc::SIGALRM)
        }
    }

    /// A listener for one signal (see the [module documentation](super)).
    pub struct Signal {
        state: State,
    }

    type Waiting = Pin<Box<dyn Future<Output = (watch::Receiver<u64>, bool)> + Send>>;

    enum State {
        Idle(watch::Receiver<u64>),
        /// A wait in progress: it owns the receiver and gives it back.
        Waiting(Waiting),
        /// Only while a poll moves between the two.
        Moving,
    }

    /// Starts listening for `kind`: installs the process's handler for it
    /// the first time. Errors: a signal that cannot be handled
    /// (`InvalidInput`), or the handler or the process's signal thread
    /// could not be set up.
    pub fn signal(kind: SignalKind) -> io::Result<Signal> {
        Ok(Signal {
            state: State::Idle(registry::listen(kind.0)?),
        })
    }

    impl Signal {
        /// Waits for the next delivery (deliveries since the last `recv`
        /// coalesce into one). Always `Some` — the handler is never
        /// removed — so a `while let` loop runs until dropped.
        ///
        /// Cancel safe: a delivery that arrives while a dropped `recv`
        /// waited is returned by the next one.
        pub async fn recv(&mut self) -> Option<()> {
            std::future::poll_fn(|cx| self.poll_recv(cx)).await
        }

        /// Polls for the next delivery (as [`recv`](Signal::recv)).
        pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
            loop {
                match std::mem::replace(&mut self.state, State::Moving) {
                    State::Idle(mut deliveries) => {
                        self.state = State::Waiting(Box::pin(async move {
                            let ok = deliveries.changed().await.is_ok();
                            (deliveries, ok)
                        }));
                    }
                    State::Waiting(mut wait) => match wait.as_mut().poll(cx) {
                        Poll::Ready((deliveries, ok)) => {
                            self.state = State::Idle(deliveries);
                            return Poll::Ready(ok.then_some(()));
                        }
                        Poll::Pending => {
                            self.state = State::Waiting(wait);
                            return Poll::Pending;
                        }
                    },
                    State::Moving => unreachable!("a poll left the signal between states"),
                }
            }
        }
    }

    impl futures_core::Stream for Signal {
        type Item = ();

        fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
            self.get_mut().poll_recv(cx)
        }
    }

    impl std::fmt::Debug for Signal {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Signal")
                .field("waiting", &matches!(self.state, State::Waiting(_)))
                .finish()
        }
    }

    use std::future::Future;
}

/// The process-wide part: the pipe, the thread, one channel per signal.
mod registry {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    struct Registry {
        /// The handlers' end of the pipe (non-blocking, close-on-exec).
        write: OwnedFd,
        /// Per signal number: set by the handler, cleared by the thread;
        /// and the channel of its delivery count.
        signals: Mutex<HashMap<libc::c_int, Listeners>>,
    }

    /// One signal's pending flag and delivery-count channel.
    type Listeners = (Arc<AtomicBool>, watch::Sender<u64>);

    /// Set once setup succeeded; a failed setup (no descriptor or thread
    /// to spare) is retried by the next listener.
    static REGISTRY: OnceLock<&'static Registry> = OnceLock::new();
    static STARTING: Mutex<()> = Mutex::new(());

    /// Signals `signal-hook-registry` refuses, and the ones a handler
    /// could not return from safely.
    const FORBIDDEN: [libc::c_int; 6] = [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGILL,
        libc::SIGFPE,
        libc::SIGSEGV,
        libc::SIGBUS,
    ];

    fn registry() -> io::Result<&'static Registry> {
        if let Some(registry) = REGISTRY.get() {
            return Ok(registry);
        }
        let _starting = STARTING.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(registry) = REGISTRY.get() {
            return Ok(registry);
        }
        let registry = Registry::start()
            .map_err(|err| io::Error::new(err.kind(), format!("signal setup failed: {err}")))?;
        let _ = REGISTRY.set(registry);
        Ok(registry)
    }

    pub(super) fn listen(signum: libc::c_int) -> io::Result<watch::Receiver<u64>> {
        if FORBIDDEN.contains(&signum) || !(1..=libc::SIGRTMAX()).contains(&signum) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("signal {signum} cannot be listened for"),
            ));
        }
        let registry = registry()?;
        let mut signals = registry.signals.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, sender)) = signals.get(&signum) {
            return Ok(sender.subscribe());
        }
        let (sender, receiver) = watch::channel(0u64);
        let pending = Arc::new(AtomicBool::new(false));
        let flag = pending.clone();
        let write = registry.write.as_raw_fd();
        let action = move || {
            // The flag says which signal came, even if the pipe is full of
            // other signals' wake-ups. `Release`: pairs with the thread's
            // `swap(Acquire)` after its read.
            flag.store(true, Ordering::Release);
            let byte = 1u8;
            // SAFETY: `write(2)` is async-signal-safe; the buffer is a live
            // byte; the descriptor lives for the process (the registry is
            // leaked). A full pipe (EAGAIN) already holds a wake-up, and
            // the thread then finds this signal's flag set.
            unsafe { libc::write(write, (&byte as *const u8).cast(), 1) };
        };
        // SAFETY: the action only stores to an atomic and calls `write(2)`,
        // both async-signal-safe; it allocates nothing and takes no lock.
        unsafe { signal_hook_registry::register(signum, action) }.map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("installing a handler for signal {signum}: {err}"),
            )
        })?;
        signals.insert(signum, (pending, sender));
        Ok(receiver)
    }

    impl Registry {
        fn start() -> io::Result<&'static Registry> {
            let mut fds = [0 as RawFd; 2];
            // SAFETY: `fds` has room for the two descriptors pipe2 writes.
            if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: pipe2 returned two fresh descriptors nothing else owns.
            let read = unsafe { OwnedFd::from_raw_fd(fds[0]) };
            // SAFETY: as above, the second one.
            let write = unsafe { OwnedFd::from_raw_fd(fds[1]) };
            // The reading end blocks: the thread sleeps in `read`.
            // SAFETY: F_SETFL on a descriptor we own.
            if unsafe { libc::fcntl(read.as_raw_fd(), libc::F_SETFL, 0) } != 0 {
                return Err(io::Error::last_os_error());
            }
            // Leaked: handlers hold its pipe for the life of the process.
            let registry: &'static Registry = Box::leak(Box::new(Registry {
                write,
                signals: Mutex::new(HashMap::new()),
            }));
            std::thread::Builder::new()
                .name("ringwork-signal".to_owned())
                .spawn(move || deliver(registry, read))?;
            Ok(registry)
        }
    }

    /// The signal thread: every wake-up, each signal whose flag is set had
    /// a delivery.
    fn deliver(registry: &'static Registry, read: OwnedFd) {
        let mut buf = [0u8; 128];
        loop {
            // SAFETY: `buf` is live and as long as passed.
            let n = unsafe { libc::read(read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return;
            }
            if n == 0 {
                return;
            }
            let signals = registry.signals.lock().unwrap_or_else(|p| p.into_inner());
            for (pending, sender) in signals.values() {
                // `Acquire`: pairs with the handler's `Release` store.
                if pending.swap(false, Ordering::Acquire) {
                    sender.send_modify(|count| *count += 1);
                }
            }
        }
    }
}
