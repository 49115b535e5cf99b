//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod capture;

use ringwork::runtime::Builder;
use ringwork::Runtime;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// A runtime with `workers` workers and a fixed seed.
pub fn runtime(workers: usize) -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(workers)
        .seed(0x5eed)
        .build()
        .expect("runtime builds")
}

/// Runs `f` on its own thread; a run longer than `limit` is a hang and fails
/// the test (the stuck thread is left behind).
#[track_caller]
pub fn watchdog<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(value) => {
            thread.join().expect("test thread");
            value
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The closure panicked: re-raise its panic here.
            match thread.join() {
                Err(payload) => std::panic::resume_unwind(payload),
                Ok(()) => unreachable!("sender dropped without a value or a panic"),
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("hang: the test did not finish within {limit:?}")
        }
    }
}

/// Counts how many times values holding it are dropped.
#[derive(Clone, Default)]
pub struct DropCounter(Arc<AtomicUsize>);

impl DropCounter {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn token(&self) -> DropToken {
        DropToken(self.0.clone())
    }
    pub fn drops(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Increments its counter when dropped.
pub struct DropToken(Arc<AtomicUsize>);

impl Drop for DropToken {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A future that stays pending forever, storing its waker for the test.
pub struct PendingForever {
    pub waker_slot: Arc<std::sync::Mutex<Option<Waker>>>,
}

impl Future for PendingForever {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        *self.waker_slot.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A one-shot gate: `open()` from anywhere; `wait().await` until opened.
#[derive(Clone, Default)]
pub struct Gate(Arc<std::sync::Mutex<(bool, Vec<Waker>)>>);

impl Gate {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn open(&self) {
        let wakers = {
            let mut state = self.0.lock().unwrap();
            state.0 = true;
            std::mem::take(&mut state.1)
        };
        for waker in wakers {
            waker.wake();
        }
    }

    pub fn is_open(&self) -> bool {
        self.0.lock().unwrap().0
    }

    pub async fn wait(&self) {
        std::future::poll_fn(|cx| {
            let mut state = self.0.lock().unwrap();
            if state.0 {
                Poll::Ready(())
            } else {
                state.1.push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

/// Blocks a plain thread on a future (for awaiting handles outside a runtime).
pub fn block_on_plain<F: Future>(future: F) -> F::Output {
    futures_executor::block_on(future)
}

/// Whether this kernel's io_uring supports `opcode`; if not, prints why the
/// calling test is skipped (so a missing opcode is visible, not a silent pass).
pub fn require_opcode(opcode: u8, name: &str) -> bool {
    if std::env::var("RINGWORK_DRIVER").as_deref() == Ok("epoll") {
        return true; // the epoll driver needs no io_uring opcode
    }
    match ringwork_uring::probe() {
        Ok(Ok(features)) if features.supports(opcode) => true,
        Ok(Ok(_)) => {
            println!("skipped: no IORING_OP_{name} on this kernel");
            false
        }
        Ok(Err(unavailable)) => {
            println!("skipped: io_uring unavailable ({unavailable})");
            false
        }
        Err(err) => panic!("io_uring probe failed: {err}"),
    }
}

/// Skips the calling test (returns early) unless every listed opcode exists.
#[macro_export]
macro_rules! require_opcodes {
    ($($op:ident),+ $(,)?) => {
        $(
            if !common::require_opcode(ringwork_uring::io_uring::opcode::$op::CODE, stringify!($op)) {
                return;
            }
        )+
    };
}

/// Runs `body` once on a runtime of each I/O driver this machine offers
/// (io_uring when available, and epoll), naming the driver on failure.
pub fn for_each_driver(workers: usize, body: impl Fn(&Runtime)) {
    use ringwork::io::DriverKind;
    for kind in [DriverKind::Uring, DriverKind::Epoll] {
        let rt = match Builder::new_multi_thread()
            .worker_threads(workers)
            .driver(kind)
            .build()
        {
            Ok(rt) => rt,
            Err(err) if kind == DriverKind::Uring => {
                println!("skipped on io_uring: {err}");
                continue;
            }
            Err(err) => panic!("epoll runtime: {err}"),
        };
        assert_eq!(rt.handle().driver_kind(), Some(kind));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&rt)));
        if let Err(payload) = result {
            eprintln!("failed on the {kind:?} driver");
            std::panic::resume_unwind(payload);
        }
    }
}

/// Builds `builder` on driver `kind`: `None` (and a line saying so) where
/// io_uring is unavailable; a panic if epoll fails.
pub fn build_on(kind: ringwork::io::DriverKind, builder: &mut Builder) -> Option<Runtime> {
    match builder.driver(kind).build() {
        Ok(rt) => Some(rt),
        Err(err) if kind == ringwork::io::DriverKind::Uring => {
            println!("skipped on io_uring: {err}");
            None
        }
        Err(err) => panic!("epoll runtime: {err}"),
    }
}

/// A small provided buffer ring (64 buffers of 4 KiB, at most 8 unread per
/// socket), so tests reach its limits.
pub fn small_buf_ring() -> ringwork::runtime::BufRingConfig {
    ringwork::runtime::BufRingConfig {
        entries: 64,
        buf_size: 4096,
        per_socket: 8,
    }
}

/// Like [`for_each_driver`], and on io_uring once with each accept and
/// receive path: the multishot accept (the default), single-shot accepts
/// (`Builder::uring_multishot_accept(false)`), and the multishot accept with
/// multishot receives into provided buffers ([`small_buf_ring`]).
pub fn for_each_accept_path(workers: usize, body: impl Fn(&Runtime)) {
    use ringwork::io::DriverKind;
    for (kind, multishot, buf_ring) in [
        (DriverKind::Uring, true, None),
        (DriverKind::Uring, false, None),
        (DriverKind::Uring, true, Some(small_buf_ring())),
        (DriverKind::Epoll, true, None),
    ] {
        let rt = match Builder::new_multi_thread()
            .worker_threads(workers)
            .driver(kind)
            .uring_multishot_accept(multishot)
            .uring_buf_ring(buf_ring)
            .build()
        {
            Ok(rt) => rt,
            Err(err) if kind == DriverKind::Uring => {
                println!("skipped on io_uring: {err}");
                continue;
            }
            Err(err) => panic!("epoll runtime: {err}"),
        };
        if kind == DriverKind::Uring {
            let features = rt.handle().uring_features().expect("an io_uring runtime");
            // Where the kernel has it the switch decides; elsewhere the
            // feature is off whatever was asked.
            assert!(!features.multishot_accept || multishot);
        }
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&rt)));
        if let Err(payload) = result {
            eprintln!(
                "failed on {kind:?} with multishot accept {multishot}, buffer ring {buf_ring:?}"
            );
            std::panic::resume_unwind(payload);
        }
    }
}

/// A directory of its own under the system temp dir, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    /// A fresh, empty directory named after the test binary, `tag`, the
    /// process and a counter.
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("ringwork-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).expect("create temp dir");
        TempDir(path)
    }

    /// A path inside the directory.
    pub fn join(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }

    /// A path in this directory exactly `len` bytes long.
    pub fn path_of_len(&self, len: usize) -> std::path::PathBuf {
        let base = self.0.as_os_str().len() + 1;
        assert!(len > base, "temp dir path too long for this test");
        self.join(&"s".repeat(len - base))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls `future` once with a waker that records whether it was woken.
pub fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>, woken: &WakeFlag) -> Poll<F::Output> {
    let waker = woken.waker();
    future.poll(&mut Context::from_waker(&waker))
}

/// A waker that counts its wake-ups.
#[derive(Clone, Default)]
pub struct WakeFlag(Arc<AtomicUsize>);

impl WakeFlag {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn waker(&self) -> Waker {
        Waker::from(Arc::new(WakeCount(self.0.clone())))
    }
    /// Wake-ups since the last call.
    pub fn take(&self) -> usize {
        self.0.swap(0, Ordering::SeqCst)
    }
}

struct WakeCount(Arc<AtomicUsize>);

impl std::task::Wake for WakeCount {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A pipe: `(read end, write end)` as `std::fs::File`s, close-on-exec.
/// (`std::io::pipe` needs Rust 1.87; the crate declares 1.85.)
pub fn pipe() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let mut fds = [-1; 2];
    // SAFETY: `pipe2` writes two descriptors into the two-element array,
    // which lives across the call.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: `pipe2` succeeded: `fds[0]` is a new descriptor, ours.
    let reader = unsafe { std::fs::File::from_raw_fd(fds[0]) };
    // SAFETY: as above, for `fds[1]`.
    let writer = unsafe { std::fs::File::from_raw_fd(fds[1]) };
    (reader, writer)
}

/// Deterministic, varied bytes (xorshift), for byte-exact transfer checks.
pub fn pattern(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_u32;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Descriptors this process has open.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// What each open descriptor is, for a failure message.
pub fn fd_list() -> String {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let target = std::fs::read_link(entry.path())
            .map(|t| t.display().to_string())
            .unwrap_or_else(|_| "?".to_owned());
        out.push(format!("{}={target}", entry.file_name().to_string_lossy()));
    }
    out.join(" ")
}

/// Waits (up to `limit`) for `count()` to come back to `baseline`: what a
/// drop releases may close a moment later, when the kernel's last
/// completion for it is reaped.
pub fn settle(baseline: usize, limit: Duration, count: impl Fn() -> usize) -> usize {
    let deadline = std::time::Instant::now() + limit;
    while count() != baseline && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    count()
}

/// Runs the future `f` makes as a task on a fresh two-worker runtime,
/// failing after 30 s.
pub fn run<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    watchdog(Duration::from_secs(30), move || {
        let rt = runtime(2);
        rt.block_on(async move { ringwork::spawn(f()).await.unwrap() });
    });
}

/// Reads a std socket until the server closes (or resets it); what it sent.
pub fn read_until_closed(stream: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(err) => panic!("waiting for the server to close: {err}"),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}
