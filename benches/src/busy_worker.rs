//! `busy_worker`: how late a neighbour's timer and socket read complete
//! while the worker they were registered on is stuck in one long poll.
//!
//! Each round, on a runtime with 2 workers: task X wakes task Y, which runs
//! next on X's worker (the LIFO slot, which neither runtime lets others
//! steal) and there first polls a 50 ms sleep and a read on a loopback TCP
//! socket; Y then wakes X, which runs next on the same worker and blocks it
//! for 300 ms — sleeping (`std::thread::sleep`: a blocking call that should
//! have gone to `spawn_blocking`) or spinning (a CPU-heavy request). A peer
//! thread writes the socket's byte 50 ms after Y's first poll. The other
//! worker is idle throughout. Lateness = when Y saw each complete, minus the
//! write instant (when both were due). A round where Y's first poll did not
//! run on X's thread is not counted (and repeated).
//!
//! Peers: ringwork on io_uring and on epoll, and tokio, 2 workers each,
//! interleaved round by round (the first of each round rotating).

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The workload's name, as `--only` accepts it.
pub const NAME: &str = "busy_worker";

/// How long X blocks its worker.
pub const BLOCKED: Duration = Duration::from_millis(300);
/// When the neighbour's timer and read are due.
pub const DUE: Duration = Duration::from_millis(50);

/// How X blocks its worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocker {
    /// A blocking syscall (`nanosleep`).
    Sleep,
    /// A CPU-bound loop.
    Spin,
    /// A CPU-bound loop that starts after the worker has submitted the
    /// neighbour's read to the kernel (X first sleeps 2 ms, so the worker
    /// parks and flushes): the read's completion then needs the busy
    /// thread's task work (io_uring), which `COOP_TASKRUN` defers to the
    /// next timer tick.
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

    /// Its name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Blocker::Sleep => "blocking call",
            Blocker::Spin => "CPU-bound",
            Blocker::SpinSubmitted => "CPU-bound, read submitted",
        }
    }
}

/// A runtime under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// ringwork on io_uring.
    RingworkUring,
    /// ringwork on io_uring without `COOP_TASKRUN`.
    RingworkUringNoCoop,
    /// ringwork on epoll.
    RingworkEpoll,
    /// tokio, multi-thread.
    Tokio,
}

impl Peer {
    /// Every peer, in table order.
    pub const ALL: [Peer; 4] = [
        Peer::RingworkUring,
        Peer::RingworkUringNoCoop,
        Peer::RingworkEpoll,
        Peer::Tokio,
    ];

    /// Its name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Peer::RingworkUring => "ringwork-uring",
            Peer::RingworkUringNoCoop => "ringwork-uring, COOP_TASKRUN off",
            Peer::RingworkEpoll => "ringwork-epoll",
            Peer::Tokio => "tokio",
        }
    }
}

/// One measured round: how late the timer and the read completed.
#[derive(Clone, Copy, Debug)]
pub struct Lateness {
    /// The 50 ms sleep.
    pub timer: Duration,
    /// The socket read.
    pub read: Duration,
}

/// The neighbour: a sleep and a read, both first polled in one poll, which
/// then reports on which thread that was and when.
struct Neighbour<S, R> {
    sleep: Option<Pin<Box<S>>>,
    read: Option<Pin<Box<R>>>,
    slept_at: Option<Instant>,
    read_at: Option<Instant>,
    first_poll: Option<std::sync::mpsc::Sender<FirstPoll>>,
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
        if let Some(first_poll) = this.first_poll.take() {
            let _ = first_poll.send((std::thread::current().id(), Instant::now()));
        }
        match (this.slept_at, this.read_at) {
            (Some(s), Some(r)) => Poll::Ready((s, r)),
            _ => Poll::Pending,
        }
    }
}

/// A connected loopback pair: the std end (the peer's) and the server end.
fn socket_pair() -> std::io::Result<(std::net::TcpStream, std::net::TcpStream)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let peer = std::net::TcpStream::connect(listener.local_addr()?)?;
    let (server, _) = listener.accept()?;
    Ok((peer, server))
}

/// Where and when the neighbour first polled.
type FirstPoll = (std::thread::ThreadId, Instant);

/// The peer: writes one byte `DUE` after the neighbour's first poll;
/// returns the write instant and the neighbour's first-poll thread.
fn spawn_writer(
    mut peer: std::net::TcpStream,
) -> (
    std::sync::mpsc::Sender<FirstPoll>,
    std::thread::JoinHandle<(Instant, std::thread::ThreadId)>,
) {
    let (tx, rx) = std::sync::mpsc::channel::<FirstPoll>();
    let writer = std::thread::spawn(move || {
        let (thread, start) = rx.recv().expect("the neighbour polls");
        std::thread::sleep((start + DUE).saturating_duration_since(Instant::now()));
        let wrote = Instant::now();
        peer.write_all(b"x").expect("write");
        // Keep the connection open until the reader has read.
        std::thread::sleep(Duration::from_millis(20));
        (wrote, thread)
    });
    (tx, writer)
}

fn lateness(wrote: Instant, (slept_at, read_at): (Instant, Instant)) -> Lateness {
    Lateness {
        timer: slept_at.saturating_duration_since(wrote),
        read: read_at.saturating_duration_since(wrote),
    }
}

/// One round on ringwork; `None` if the neighbour was not on the blocker's
/// thread.
pub fn ringwork_round(
    rt: &ringwork::Runtime,
    blocker: Blocker,
) -> std::io::Result<Option<Lateness>> {
    let (peer, server) = socket_pair()?;
    let (first_poll, writer) = spawn_writer(peer);
    let (times, blocker_thread) = rt
        .block_on(rt.spawn(async move {
            let stream = ringwork::net::TcpStream::from_std(server).expect("wrap");
            let (go_tx, go_rx) = ringwork::sync::oneshot::channel::<()>();
            let (ready_tx, ready_rx) = ringwork::sync::oneshot::channel::<()>();
            let neighbour = ringwork::spawn(async move {
                go_rx.await.expect("go");
                let neighbour = Neighbour {
                    sleep: Some(Box::pin(ringwork::time::sleep(DUE))),
                    read: Some(Box::pin(async move { stream.read(vec![0u8; 8]).await })),
                    slept_at: None,
                    read_at: None,
                    first_poll: Some(first_poll),
                };
                let _ = ready_tx.send(());
                neighbour.await
            });
            go_tx.send(()).expect("go");
            ready_rx.await.expect("ready");
            if blocker == Blocker::SpinSubmitted {
                ringwork::time::sleep(Duration::from_millis(2)).await;
            }
            let me = std::thread::current().id();
            blocker.block();
            (neighbour.await.expect("neighbour"), me)
        }))
        .map_err(std::io::Error::other)?;
    let (wrote, neighbour_thread) = writer.join().expect("writer");
    Ok((neighbour_thread == blocker_thread).then(|| lateness(wrote, times)))
}

/// One round on tokio; `None` if the neighbour was not on the blocker's
/// thread.
pub fn tokio_round(
    rt: &tokio::runtime::Runtime,
    blocker: Blocker,
) -> std::io::Result<Option<Lateness>> {
    let (peer, server) = socket_pair()?;
    let (first_poll, writer) = spawn_writer(peer);
    let (times, blocker_thread) = rt
        .block_on(rt.spawn(async move {
            server.set_nonblocking(true).expect("nonblocking");
            let stream = tokio::net::TcpStream::from_std(server).expect("wrap");
            let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
            let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
            let neighbour = tokio::spawn(async move {
                go_rx.await.expect("go");
                let neighbour = Neighbour {
                    sleep: Some(Box::pin(tokio::time::sleep(DUE))),
                    read: Some(Box::pin(async move {
                        let mut stream = stream;
                        let mut buf = [0u8; 8];
                        tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await
                    })),
                    slept_at: None,
                    read_at: None,
                    first_poll: Some(first_poll),
                };
                let _ = ready_tx.send(());
                neighbour.await
            });
            go_tx.send(()).expect("go");
            ready_rx.await.expect("ready");
            if blocker == Blocker::SpinSubmitted {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let me = std::thread::current().id();
            blocker.block();
            (neighbour.await.expect("neighbour"), me)
        }))
        .map_err(std::io::Error::other)?;
    let (wrote, neighbour_thread) = writer.join().expect("writer");
    Ok((neighbour_thread == blocker_thread).then(|| lateness(wrote, times)))
}

/// The runtimes of one run.
enum Runtime {
    Ringwork(ringwork::Runtime),
    Tokio(tokio::runtime::Runtime),
}

fn build(peer: Peer, workers: usize) -> std::io::Result<Runtime> {
    Ok(match peer {
        Peer::RingworkUring | Peer::RingworkUringNoCoop | Peer::RingworkEpoll => {
            let kind = if peer == Peer::RingworkEpoll {
                ringwork::io::DriverKind::Epoll
            } else {
                ringwork::io::DriverKind::Uring
            };
            Runtime::Ringwork(
                ringwork::runtime::Builder::new_multi_thread()
                    .worker_threads(workers)
                    .driver(kind)
                    .uring_coop_taskrun(peer != Peer::RingworkUringNoCoop)
                    .build()?,
            )
        }
        Peer::Tokio => Runtime::Tokio(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .enable_all()
                .build()?,
        ),
    })
}

/// The measured rounds of one peer and blocker.
#[derive(Clone, Debug)]
pub struct Series {
    /// The runtime.
    pub peer: Peer,
    /// How the worker was blocked.
    pub blocker: Blocker,
    /// One entry per counted round.
    pub rounds: Vec<Lateness>,
    /// Rounds not counted (the neighbour ran elsewhere).
    pub void_rounds: usize,
}

/// Runs `round` until `counted` rounds had the neighbour on the blocker's
/// thread (each tried at most 20 times); returns them and the number of
/// void rounds.
pub fn counted_rounds(
    counted: usize,
    mut round: impl FnMut() -> std::io::Result<Option<Lateness>>,
) -> std::io::Result<(Vec<Lateness>, usize)> {
    let mut rounds = Vec::new();
    let mut void = 0;
    for _ in 0..counted {
        for _ in 0..20 {
            match round()? {
                Some(lateness) => {
                    rounds.push(lateness);
                    break;
                }
                None => void += 1,
            }
        }
    }
    Ok((rounds, void))
}

/// Runs `rounds` counted rounds per peer and blocker, interleaved.
pub fn run(rounds: usize, workers: usize) -> std::io::Result<BusyWorkerReport> {
    let mut series = Vec::new();
    for blocker in [Blocker::Sleep, Blocker::Spin, Blocker::SpinSubmitted] {
        let runtimes: Vec<(Peer, Runtime)> = Peer::ALL
            .iter()
            .map(|&peer| build(peer, workers).map(|rt| (peer, rt)))
            .collect::<std::io::Result<_>>()?;
        let mut results: Vec<Series> = Peer::ALL
            .iter()
            .map(|&peer| Series {
                peer,
                blocker,
                rounds: Vec::new(),
                void_rounds: 0,
            })
            .collect();
        for round in 0..rounds {
            for k in 0..runtimes.len() {
                let i = (round + k) % runtimes.len();
                let (_, rt) = &runtimes[i];
                // Repeat until the neighbour lands on the blocker's worker
                // (bounded: a runtime that never puts it there is reported).
                for _ in 0..20 {
                    let measured = match rt {
                        Runtime::Ringwork(rt) => ringwork_round(rt, blocker)?,
                        Runtime::Tokio(rt) => tokio_round(rt, blocker)?,
                    };
                    match measured {
                        Some(lateness) => {
                            results[i].rounds.push(lateness);
                            break;
                        }
                        None => results[i].void_rounds += 1,
                    }
                }
            }
            eprint!(
                "\rringwork-bench: busy_worker ({}) round {}/{rounds}",
                blocker.name(),
                round + 1
            );
        }
        eprintln!();
        series.extend(results);
    }
    Ok(BusyWorkerReport { series })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

/// The measured series, as a report section (JSON key `busy_worker`).
#[derive(Clone, Debug)]
pub struct BusyWorkerReport {
    /// One series per blocker and peer.
    pub series: Vec<Series>,
}

impl serde::Serialize for BusyWorkerReport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.series.len()))?;
        for s in &self.series {
            let ms = |d: &Duration| d.as_secs_f64() * 1e3;
            seq.serialize_element(&serde_json::json!({
                "blocker": s.blocker.name(),
                "peer": s.peer.name(),
                "void_rounds": s.void_rounds,
                "timer_late_ms": s.rounds.iter().map(|r| ms(&r.timer)).collect::<Vec<_>>(),
                "read_late_ms": s.rounds.iter().map(|r| ms(&r.read)).collect::<Vec<_>>(),
            }))?;
        }
        seq.end()
    }
}

impl crate::report::Section for BusyWorkerReport {
    fn key(&self) -> &'static str {
        NAME
    }

    fn render(&self) -> String {
        render(&self.series)
    }
}

/// The table: lateness p50 and max of the timer and the read, per peer and
/// blocker, in milliseconds.
pub fn render(series: &[Series]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "\n### busy_worker: a neighbour's 50 ms timer and socket read while its worker is blocked {} ms (2 workers, the other idle)\n\n",
        BLOCKED.as_millis()
    ));
    out.push_str("| worker blocked by | runtime | rounds | timer late p50 / max (ms) | read late p50 / max (ms) |\n");
    out.push_str("| --- | --- | --- | --- | --- |\n");
    for s in series {
        let mut timer: Vec<Duration> = s.rounds.iter().map(|r| r.timer).collect();
        let mut read: Vec<Duration> = s.rounds.iter().map(|r| r.read).collect();
        timer.sort();
        read.sort();
        out.push_str(&format!(
            "| {} | {} | {} (+{} void) | {} / {} | {} / {} |\n",
            s.blocker.name(),
            s.peer.name(),
            s.rounds.len(),
            s.void_rounds,
            ms(percentile(&timer, 0.5)),
            ms(percentile(&timer, 1.0)),
            ms(percentile(&read, 0.5)),
            ms(percentile(&read, 1.0)),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{counted_rounds, Lateness};
    use std::time::Duration;

    #[test]
    fn void_rounds_are_repeated_and_counted_apart() {
        let late = Lateness {
            timer: Duration::from_millis(1),
            read: Duration::from_millis(2),
        };
        // Every third try lands on the blocked worker.
        let mut tries = 0;
        let (rounds, void) = counted_rounds(2, || {
            tries += 1;
            Ok((tries % 3 == 0).then_some(late))
        })
        .unwrap();
        assert_eq!((rounds.len(), void, tries), (2, 4, 6));
        // A runtime that never puts the neighbour there gives up after 20
        // tries per round.
        let (rounds, void) = counted_rounds(2, || Ok(None)).unwrap();
        assert_eq!((rounds.len(), void), (0, 40));
    }
}
