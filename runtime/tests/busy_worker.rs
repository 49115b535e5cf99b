//! A worker stuck in one long poll does not strand its neighbours: timers
//! and I/O that a task registered on that worker complete while it is
//! blocked, driven by someone else (docs/architecture.md, "Nothing is
//! stranded behind a busy worker").

mod common;

use common::{for_each_driver, watchdog};
use ringwork::net::TcpListener;
use ringwork::sync::oneshot;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

const BLOCKED: Duration = Duration::from_millis(300);
const DUE: Duration = Duration::from_millis(50);
/// Generous: the test asserts that the work completes while the worker is
/// blocked (a stranded timer is ≈ 250 ms late); `ringwork-bench compare
/// --only busy_worker` measures the lateness.
const BOUND: Duration = Duration::from_millis(150);

/// The neighbour: a 50 ms sleep and a read, both first polled in one poll,
/// which then tells the blocker (through `ready`) on which thread that was.
struct Neighbour<S, R> {
    sleep: Option<Pin<Box<S>>>,
    read: Option<Pin<Box<R>>>,
    slept_at: Option<Instant>,
    read_at: Option<Instant>,
    ready: Option<(
        oneshot::Sender<std::thread::ThreadId>,
        std::sync::mpsc::Sender<Instant>,
    )>,
}

impl<S: Future<Output = ()>, R: Future> Future for Neighbour<S, R> {
    type Output = (Instant, Instant);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(Instant, Instant)> {
        let this = &mut *self;
        if let Some(sleep) = &mut this.sleep {
            if sleep.as_mut().poll(cx).is_ready() {
                this.slept_at = Some(Instant::now());
                this.sleep = None;
            }
        }
        if let Some(read) = &mut this.read {
            if read.as_mut().poll(cx).is_ready() {
                this.read_at = Some(Instant::now());
                this.read = None;
            }
        }
        if let Some((ready, started)) = this.ready.take() {
            // Both are registered on this thread now; the peer writes 50 ms
            // from here.
            let _ = started.send(Instant::now());
            let _ = ready.send(std::thread::current().id());
        }
        match (this.slept_at, this.read_at) {
            (Some(s), Some(r)) => Poll::Ready((s, r)),
            _ => Poll::Pending,
        }
    }
}

/// How the worker is kept busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blocker {
    /// A blocking call (the thread sleeps in the kernel).
    Sleep,
    /// CPU-bound, entering the kernel for nothing.
    Spin,
    /// CPU-bound after the worker flushed the neighbour's read to the
    /// kernel (a 2 ms sleep parks it first): on io_uring the read's
    /// completion is then posted by the busy thread's own task work.
    SpinSubmitted,
}

impl Blocker {
    fn block(self) {
        match self {
            Blocker::Sleep => std::thread::sleep(BLOCKED),
            Blocker::Spin | Blocker::SpinSubmitted => {
                let start = Instant::now();
                let mut x = 0u64;
                while start.elapsed() < BLOCKED {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                }
            }
        }
    }
}

/// One round; `None` if the neighbour did not land on the blocked worker.
fn round(rt: &ringwork::Runtime, blocker: Blocker) -> Option<(Duration, Duration)> {
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let stream = rt.block_on(listener.accept()).unwrap().0;
    let (started_tx, started_rx) = std::sync::mpsc::channel::<Instant>();
    let writer = std::thread::spawn(move || {
        let start = started_rx.recv().unwrap();
        std::thread::sleep((start + DUE).saturating_duration_since(Instant::now()));
        let wrote = Instant::now();
        peer.write_all(b"x").unwrap();
        (wrote, peer)
    });
    let (result, on_blocked_worker) = rt
        .block_on(rt.spawn(async move {
            let (go_tx, go_rx) = oneshot::channel::<()>();
            let (ready_tx, ready_rx) = oneshot::channel();
            let neighbour = ringwork::spawn(async move {
                go_rx.await.unwrap();
                // Woken by the blocker: runs next on the blocker's worker (its
                // LIFO slot, which nobody steals).
                Neighbour {
                    sleep: Some(Box::pin(ringwork::time::sleep(DUE))),
                    read: Some(Box::pin(async move { stream.read(vec![0u8; 8]).await })),
                    slept_at: None,
                    read_at: None,
                    ready: Some((ready_tx, started_tx)),
                }
                .await
            });
            go_tx.send(()).unwrap();
            let neighbour_thread = ready_rx.await.unwrap();
            if blocker == Blocker::SpinSubmitted {
                ringwork::time::sleep(Duration::from_millis(2)).await;
            }
            let same = neighbour_thread == std::thread::current().id();
            // A CPU-heavy request, or a blocking call that should have gone to
            // `spawn_blocking`.
            blocker.block();
            (neighbour.await.unwrap(), same)
        }))
        .unwrap();
    let (wrote, _peer) = writer.join().unwrap();
    let (slept_at, read_at) = result;
    on_blocked_worker.then(|| {
        // The sleep was due 50 ms after its first poll, the instant the
        // writer slept until before writing (within microseconds).
        (
            slept_at.saturating_duration_since(wrote),
            read_at.saturating_duration_since(wrote),
        )
    })
}

/// Two rounds in which the neighbour shared the blocked worker (up to 20
/// tries: it lands elsewhere when the other worker steals it first).
fn assert_not_stranded(rt: &ringwork::Runtime, blocker: Blocker) {
    let reaped_elsewhere = || -> u64 {
        rt.metrics()
            .workers
            .iter()
            .filter_map(|w| w.io)
            .map(|io| io.reaped_elsewhere)
            .sum()
    };
    let reaped_before = reaped_elsewhere();
    let mut measured = 0;
    for _ in 0..20 {
        let Some((timer_late, read_late)) = round(rt, blocker) else {
            continue;
        };
        measured += 1;
        println!(
            "{:?}, {blocker:?}: timer {timer_late:?}, read {read_late:?} late",
            rt.handle().driver_kind()
        );
        assert!(
            timer_late < BOUND && read_late < BOUND,
            "the neighbour waited for the worker blocked by {blocker:?}: timer \
             {timer_late:?}, read {read_late:?} late ({BLOCKED:?} blocked)"
        );
        if measured == 2 {
            break;
        }
    }
    assert!(
        measured > 0,
        "the neighbour never ran on the worker blocked by {blocker:?}"
    );
    // On io_uring the read's completion was reaped by the monitor, and the
    // worker's counters say so.
    if rt.handle().driver_kind() == Some(ringwork::io::DriverKind::Uring) {
        assert!(
            reaped_elsewhere() > reaped_before,
            "no completion was reaped for the blocked worker"
        );
    }
}

#[test]
fn a_worker_in_a_blocking_call_does_not_strand_its_neighbours_timer_and_read() {
    watchdog(Duration::from_secs(120), || {
        for_each_driver(2, |rt| assert_not_stranded(rt, Blocker::Sleep))
    });
}

#[test]
fn a_cpu_bound_worker_does_not_strand_its_neighbours_timer_and_read() {
    watchdog(Duration::from_secs(120), || {
        for_each_driver(2, |rt| assert_not_stranded(rt, Blocker::Spin))
    });
}

/// On io_uring with `COOP_TASKRUN` (the default) the read's completion
/// needs the busy thread's task work: the monitor interrupts it
/// (`membarrier`) so that it is posted.
#[test]
fn a_cpu_bound_worker_that_submitted_its_neighbours_read_does_not_strand_it() {
    watchdog(Duration::from_secs(120), || {
        for_each_driver(2, |rt| assert_not_stranded(rt, Blocker::SpinSubmitted))
    });
}
