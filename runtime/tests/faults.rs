//! Stress tests under injected faults (feature `fault-injection`; see
//! docs/reliability.md, "Fault injection"): the syscall boundary of both
//! drivers misbehaves on a seeded schedule, and every workload must still
//! resolve each operation exactly once (no hang: a watchdog), free no
//! buffer early and leak none (counting buffers), and lose or duplicate no
//! byte, connection or message (checksums, ids). Injected failures that the
//! runtime does not retry must surface as the injected `io::Error`; the
//! tests retry those (as an application would), count them, and fail if
//! nothing was injected at all.
//!
//! The plan is process-wide: the tests of this file take turns (`SERIAL`).
//! Replay a failure with the `RINGWORK_FAULTS=...` line it prints:
//! `RINGWORK_FAULTS=seed=7,ppm=20000,points=all cargo test -p ringwork
//! --features fault-injection --test faults NAME`.
#![cfg(feature = "fault-injection")]

mod common;

use common::watchdog;
use ringwork::buf::{IoBuf, IoBufMut};
use ringwork::faults::{self, Plan, Point};
use ringwork::io::DriverKind;
use ringwork::net::{TcpListener, TcpStream};
use ringwork::runtime::Builder;
use ringwork::Runtime;
use std::collections::{BTreeMap, HashSet};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One test at a time: the plan and its counters are the process's.
static SERIAL: Mutex<()> = Mutex::new(());

/// Faults per million decisions unless `RINGWORK_FAULTS` says otherwise.
const PPM: u32 = 30_000;

/// The installed plan, for the length of one test: prints it first (so a
/// failure's output holds the line that replays it) and again, with what
/// was injected, if the test panics; clears it at the end.
struct Faults {
    plan: Plan,
    _serial: MutexGuard<'static, ()>,
}

impl Faults {
    fn install(seed: u64, points: &[Point]) -> Faults {
        Faults::install_ppm(seed, PPM, points)
    }

    fn install_ppm(seed: u64, per_million: u32, points: &[Point]) -> Faults {
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let plan = match Plan::from_env() {
            Some(plan) => plan.expect("RINGWORK_FAULTS parses"),
            None => Plan {
                seed,
                per_million,
                points: points.to_vec(),
            },
        };
        println!("fault injection: {plan}");
        faults::install(&plan);
        Faults {
            plan,
            _serial: serial,
        }
    }

    /// Faults injected at `points` since the plan was installed.
    fn injected(&self, points: &[Point]) -> u64 {
        points.iter().map(|&p| faults::injected(p)).sum()
    }

    /// Fails unless something was injected at one of `points` (a test
    /// where nothing fired proves nothing).
    fn assert_fired(&self, points: &[Point]) {
        let report = faults::report();
        println!("injected: {report:?}");
        assert!(
            self.injected(points) > 0,
            "no fault was injected at {points:?} ({report:?}): the test proved nothing"
        );
    }
}

impl Drop for Faults {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "failed under fault injection; replay with {} (injected: {:?})",
                self.plan,
                faults::report()
            );
        }
        faults::clear();
    }
}

/// A two-worker runtime on `kind` (`None` where io_uring is unavailable).
fn runtime(kind: DriverKind) -> Option<Arc<Runtime>> {
    common::build_on(kind, Builder::new_multi_thread().worker_threads(2)).map(Arc::new)
}

/// The points that concern `kind`'s driver, and both drivers' own.
fn points_of(kind: DriverKind, own: &[Point]) -> Vec<Point> {
    let mut points = match kind {
        DriverKind::Uring => vec![Point::Enter, Point::OpError],
        _ => vec![Point::EpollWait, Point::Spurious, Point::EventfdFull],
    };
    points.extend_from_slice(own);
    points
}

/// Errors the plan injects, by errno (and the blocking pool's sentence
/// for a thread that could not start).
fn is_injected(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EINTR | libc::EAGAIN | libc::ECANCELED | libc::ECONNABORTED | libc::EMFILE)
    ) || err
        .to_string()
        .starts_with("could not start a blocking thread")
}

/// Injected errors seen by the workload, by their text.
#[derive(Default)]
struct Surfaced(Mutex<BTreeMap<String, usize>>);

impl Surfaced {
    /// Records `err` if it is an injected one; any other error fails the
    /// test, naming `what`.
    fn tolerate(&self, what: &str, err: io::Error) {
        assert!(is_injected(&err), "{what}: unexpected error {err:?}");
        *self
            .0
            .lock()
            .unwrap()
            .entry(format!("{what}: {err}"))
            .or_default() += 1;
    }

    /// How many surfaced errors had `errno`.
    fn count(&self, errno: i32) -> usize {
        let text = io::Error::from_raw_os_error(errno).to_string();
        let errors = self.0.lock().unwrap();
        let of_errno = errors.iter().filter(|(key, _)| key.ends_with(&text));
        of_errno.map(|(_, n)| n).sum()
    }
}

impl std::fmt::Debug for Surfaced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0.lock().unwrap())
    }
}

/// A buffer that counts its creations and drops: every one must be dropped
/// exactly once, after the runtime let go of it. A buffer made with a
/// [`Graveyard`] is not freed when dropped: its whole capacity is filled
/// with a canary and kept, so a kernel write after the drop (a buffer freed
/// before its operation's final completion) shows when the graveyard is
/// checked.
struct CountingBuf {
    data: Vec<u8>,
    live: Arc<AtomicUsize>,
    graveyard: Option<Arc<Graveyard>>,
}

impl CountingBuf {
    fn new(data: Vec<u8>, live: &Arc<AtomicUsize>) -> CountingBuf {
        live.fetch_add(1, Ordering::SeqCst);
        CountingBuf {
            data,
            live: live.clone(),
            graveyard: None,
        }
    }

    fn kept(data: Vec<u8>, live: &Arc<AtomicUsize>, graveyard: &Arc<Graveyard>) -> CountingBuf {
        let mut buf = CountingBuf::new(data, live);
        buf.graveyard = Some(graveyard.clone());
        buf
    }
}

impl Drop for CountingBuf {
    fn drop(&mut self) {
        if let Some(graveyard) = &self.graveyard {
            let mut data = std::mem::take(&mut self.data);
            let capacity = data.capacity();
            data.clear();
            data.resize(capacity, CANARY); // within capacity: no new allocation
            graveyard.0.lock().unwrap().push(data);
        }
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

const CANARY: u8 = 0xdd;

/// Dropped buffers, kept with a canary (see [`CountingBuf`]).
#[derive(Default)]
struct Graveyard(Mutex<Vec<Vec<u8>>>);

impl Graveyard {
    /// Fails if anything wrote into a buffer after it was dropped; returns
    /// how many were checked.
    fn check(&self) -> usize {
        let buffers = self.0.lock().unwrap();
        for (i, buf) in buffers.iter().enumerate() {
            let written = buf.iter().filter(|&&b| b != CANARY).count();
            assert_eq!(written, 0, "buffer {i} was written after it was dropped");
        }
        buffers.len()
    }
}

// SAFETY: forwards to the inner `Vec`, whose heap storage is stable.
unsafe impl IoBuf for CountingBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.data.stable_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.data.bytes_init()
    }
    fn bytes_total(&self) -> usize {
        self.data.bytes_total()
    }
}

// SAFETY: forwards to the inner `Vec`.
unsafe impl IoBufMut for CountingBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.data.stable_mut_ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        // SAFETY: forwarded precondition.
        unsafe { self.data.set_init(pos) }
    }
}

/// xorshift64*: the workload's own seeded randomness.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn fnv(state: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(state, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// Writes all of `data`, one `write` at a time (short writes advance),
/// retrying injected errors: nothing is lost or sent twice.
async fn write_all(stream: &TcpStream, data: &[u8], live: &Arc<AtomicUsize>, surfaced: &Surfaced) {
    let mut at = 0;
    while at < data.len() {
        let buf = CountingBuf::new(data[at..].to_vec(), live);
        let (res, _buf) = stream.write(buf).await;
        match res {
            Ok(0) => panic!("write returned 0 with {} bytes left", data.len() - at),
            Ok(n) => at += n,
            Err(err) => surfaced.tolerate("write", err),
        }
    }
}

/// Reads exactly `len` bytes, retrying injected errors; `None` at the end
/// of the stream before any byte.
async fn read_exact(
    stream: &TcpStream,
    len: usize,
    live: &Arc<AtomicUsize>,
    surfaced: &Surfaced,
) -> Option<Vec<u8>> {
    let mut got = Vec::with_capacity(len);
    while got.len() < len {
        let buf = CountingBuf::new(Vec::with_capacity(len - got.len()), live);
        let (res, buf) = stream.read(buf).await;
        match res {
            Ok(0) if got.is_empty() => return None,
            Ok(0) => panic!("end of stream after {} of {len} bytes", got.len()),
            Ok(n) => got.extend_from_slice(&buf.data[..n]),
            Err(err) => surfaced.tolerate("read", err),
        }
    }
    Some(got)
}

/// Connects, retrying injected errors.
async fn connect(addr: std::net::SocketAddr, surfaced: &Surfaced) -> TcpStream {
    loop {
        match TcpStream::connect(addr).await {
            Ok(stream) => return stream,
            Err(err) => surfaced.tolerate("connect", err),
        }
    }
}

/// Accepts, retrying injected errors (`EMFILE` after a short pause, as a
/// server should).
async fn accept(listener: &TcpListener, surfaced: &Surfaced) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => return stream,
            Err(err) => {
                let emfile = err.raw_os_error() == Some(libc::EMFILE);
                surfaced.tolerate("accept", err);
                if emfile {
                    ringwork::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
    }
}

/// The checksummed echo under faults: `conns` clients each send `messages`
/// messages of 1 B – 16 KiB and check every echoed byte; every buffer is
/// dropped once by the end.
fn echo(rt: &Arc<Runtime>, seed: u64, conns: usize, messages: usize) -> Arc<Surfaced> {
    let live = Arc::new(AtomicUsize::new(0));
    let surfaced = Arc::new(Surfaced::default());
    let (l, s) = (live.clone(), surfaced.clone());
    let rt2 = rt.clone();
    let (sent, echoed) = watchdog(Duration::from_secs(120), move || {
        rt2.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (sl, ss) = (l.clone(), s.clone());
            let server = ringwork::spawn(async move {
                let mut echoes = Vec::new();
                for _ in 0..conns {
                    let stream = accept(&listener, &ss).await;
                    let (l, s) = (sl.clone(), ss.clone());
                    echoes.push(ringwork::spawn(async move {
                        let mut bytes = 0;
                        loop {
                            let buf = CountingBuf::new(Vec::with_capacity(4096), &l);
                            let (res, buf) = stream.read(buf).await;
                            match res {
                                Ok(0) => return bytes,
                                Ok(n) => {
                                    bytes += n;
                                    write_all(&stream, &buf.data[..n], &l, &s).await;
                                }
                                Err(err) => s.tolerate("server read", err),
                            }
                        }
                    }));
                }
                let mut total = 0;
                for echo in echoes {
                    total += echo.await.unwrap();
                }
                total
            });
            let clients: Vec<_> = (0..conns)
                .map(|c| {
                    let (l, s) = (l.clone(), s.clone());
                    ringwork::spawn(async move {
                        let mut rng = Rng::new(seed ^ c as u64);
                        let stream = connect(addr, &s).await;
                        let (mut out, mut back, mut bytes) = (FNV_START, FNV_START, 0);
                        for m in 0..messages {
                            let len = 1 + rng.below(16 << 10) as usize;
                            let msg = rng.bytes(len);
                            out = fnv(out, &msg);
                            write_all(&stream, &msg, &l, &s).await;
                            let reply = read_exact(&stream, len, &l, &s)
                                .await
                                .unwrap_or_else(|| panic!("conn {c} msg {m}: closed"));
                            back = fnv(back, &reply);
                            assert_eq!(out, back, "conn {c} msg {m}: echoed bytes differ");
                            bytes += len;
                        }
                        stream.shutdown(std::net::Shutdown::Write).unwrap();
                        bytes
                    })
                })
                .collect();
            let mut sent = 0;
            for client in clients {
                sent += client.await.unwrap();
            }
            (sent, server.await.unwrap())
        })
    });
    assert_eq!(sent, echoed, "the server echoed what the clients sent");
    assert!(sent > 0);
    // Every operation resolved (the futures above all returned), so every
    // buffer is back and dropped: one drop per creation, none early (an
    // early free would have shown as a wrong byte or a crash).
    assert_eq!(live.load(Ordering::SeqCst), 0, "buffers not dropped");
    surfaced
}

#[test]
fn checksummed_echo_survives_injected_faults_on_both_drivers() {
    for kind in [DriverKind::Uring, DriverKind::Epoll] {
        let points = points_of(kind, &[Point::Short, Point::Accept, Point::TimerLate]);
        let faults = Faults::install(0xec40, &points);
        let Some(rt) = runtime(kind) else { continue };
        let surfaced = echo(&rt, faults.plan.seed, 64, 40);
        drop(rt);
        println!("{kind:?}: surfaced {surfaced:?}");
        faults.assert_fired(&points);
        assert!(faults.injected(&[Point::Short]) > 0, "no short transfer");
    }
}

#[test]
fn a_file_copy_survives_injected_faults_on_both_drivers() {
    const LEN: usize = 2 << 20;
    const CHUNK: usize = 16 << 10;
    for kind in [DriverKind::Uring, DriverKind::Epoll] {
        let points = points_of(kind, &[Point::Short, Point::BlockingThread]);
        let faults = Faults::install_ppm(0xf11e, 100_000, &points);
        let Some(rt) = runtime(kind) else { continue };
        let dir = common::TempDir::new("faults-copy");
        let (src, dst) = (dir.join("src"), dir.join("dst"));
        let data = Rng::new(faults.plan.seed).bytes(LEN);
        std::fs::write(&src, &data).unwrap();
        let live = Arc::new(AtomicUsize::new(0));
        let surfaced = Arc::new(Surfaced::default());
        let (l, s, d) = (live.clone(), surfaced.clone(), dst.clone());
        let rt2 = rt.clone();
        watchdog(Duration::from_secs(120), move || {
            rt2.block_on(async move {
                let open = |path: std::path::PathBuf, create: bool| {
                    let s = s.clone();
                    async move {
                        loop {
                            let file = if create {
                                ringwork::fs::File::create(&path).await
                            } else {
                                ringwork::fs::File::open(&path).await
                            };
                            match file {
                                Ok(file) => return file,
                                Err(err) => s.tolerate("open", err),
                            }
                        }
                    }
                };
                let from = open(src, false).await;
                let to = open(d, true).await;
                let mut at = 0;
                while at < LEN {
                    let want = CHUNK.min(LEN - at);
                    let buf = CountingBuf::new(Vec::with_capacity(want), &l);
                    let (res, buf) = from.read_at(buf, at as u64).await;
                    let n = match res {
                        Ok(n) => n,
                        Err(err) => {
                            s.tolerate("read_at", err);
                            continue;
                        }
                    };
                    assert!(n > 0, "end of file at {at} of {LEN}");
                    // Positional writes: a retry rewrites the same bytes.
                    let mut done = 0;
                    while done < n {
                        let chunk = CountingBuf::new(buf.data[done..n].to_vec(), &l);
                        match to.write_at(chunk, (at + done) as u64).await {
                            (Ok(w), _) => done += w,
                            (Err(err), _) => s.tolerate("write_at", err),
                        }
                    }
                    at += n;
                }
                loop {
                    match to.sync_all().await {
                        Ok(()) => break,
                        Err(err) => s.tolerate("sync_all", err),
                    }
                }
            })
        });
        drop(rt);
        assert_eq!(live.load(Ordering::SeqCst), 0, "buffers not dropped");
        let copied = std::fs::read(&dst).unwrap();
        assert_eq!(copied.len(), LEN);
        assert!(copied == data, "the copy differs from the source");
        println!("{kind:?}: surfaced {surfaced:?}");
        faults.assert_fired(&points);
    }
}

#[test]
fn an_accept_storm_loses_and_duplicates_no_connection_under_injected_faults() {
    const CLIENTS: u64 = 400;
    for kind in [DriverKind::Uring, DriverKind::Epoll] {
        let points = points_of(kind, &[Point::Accept, Point::Short]);
        let faults = Faults::install(0xacce, &points);
        let Some(rt) = runtime(kind) else { continue };
        let live = Arc::new(AtomicUsize::new(0));
        let surfaced = Arc::new(Surfaced::default());
        let (l, s) = (live.clone(), surfaced.clone());
        let rt2 = rt.clone();
        let ids = watchdog(Duration::from_secs(120), move || {
            rt2.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let clients: Vec<_> = (0..CLIENTS)
                    .map(|id| {
                        let (l, s) = (l.clone(), s.clone());
                        ringwork::spawn(async move {
                            let stream = connect(addr, &s).await;
                            write_all(&stream, &id.to_le_bytes(), &l, &s).await;
                        })
                    })
                    .collect();
                let mut readers = Vec::new();
                for _ in 0..CLIENTS {
                    let stream = accept(&listener, &s).await;
                    let (l, s) = (l.clone(), s.clone());
                    readers.push(ringwork::spawn(async move {
                        let id = read_exact(&stream, 8, &l, &s).await.expect("an id");
                        u64::from_le_bytes(id.try_into().unwrap())
                    }));
                }
                for client in clients {
                    client.await.unwrap();
                }
                let mut ids = Vec::new();
                for reader in readers {
                    ids.push(reader.await.unwrap());
                }
                ids
            })
        });
        drop(rt);
        let distinct: HashSet<_> = ids.iter().copied().collect();
        assert_eq!(ids.len() as u64, CLIENTS);
        assert_eq!(distinct.len() as u64, CLIENTS, "a connection came twice");
        assert_eq!(live.load(Ordering::SeqCst), 0, "buffers not dropped");
        println!("{kind:?}: surfaced {surfaced:?}");
        faults.assert_fired(&points);
        assert!(faults.injected(&[Point::Accept]) > 0, "no accept fault");
    }
}

#[test]
fn timers_fire_once_and_never_early_under_injected_faults() {
    const SLEEPS: u64 = 2000;
    for kind in [DriverKind::Uring, DriverKind::Epoll] {
        let points = points_of(kind, &[Point::TimerLate]);
        // Late timers cost at most 5 ms each: often, so that they fire.
        let faults = Faults::install_ppm(0x7173, 200_000, &points);
        let Some(rt) = runtime(kind) else { continue };
        let seed = faults.plan.seed;
        let rt2 = rt.clone();
        let (fired, cut) = watchdog(Duration::from_secs(60), move || {
            rt2.block_on(async move {
                let tasks: Vec<_> = (0..SLEEPS)
                    .map(|i| {
                        ringwork::spawn(async move {
                            let mut rng = Rng::new(seed ^ i);
                            let sleep = Duration::from_micros(rng.below(20_000));
                            let start = Instant::now();
                            if i % 3 == 0 && sleep >= Duration::from_millis(4) {
                                // Under a timeout at least 3 ms shorter: the
                                // timeout wins unless a late wake-up finds
                                // both due (the inner future is polled
                                // first); neither is ever early.
                                let limit = sleep - Duration::from_millis(3);
                                let r =
                                    ringwork::time::timeout(limit, ringwork::time::sleep(sleep))
                                        .await;
                                let elapsed = start.elapsed();
                                assert!(elapsed >= limit, "{i}: timeout early");
                                if r.is_ok() {
                                    assert!(elapsed >= sleep, "{i}: sleep fired early");
                                    return (1, 0);
                                }
                                return (0, 1);
                            }
                            ringwork::time::sleep(sleep).await;
                            assert!(start.elapsed() >= sleep, "{i}: sleep fired early");
                            (1, 0)
                        })
                    })
                    .collect();
                let (mut fired, mut cut) = (0, 0);
                for task in tasks {
                    let (f, c) = task.await.unwrap();
                    fired += f;
                    cut += c;
                }
                (fired, cut)
            })
        });
        drop(rt);
        assert_eq!(fired + cut, SLEEPS, "every timer resolved once");
        faults.assert_fired(&points);
    }
}

#[test]
fn channels_with_cancelled_receives_lose_no_message_under_injected_faults() {
    const PRODUCERS: u64 = 4;
    const MESSAGES: u64 = 3000;
    for kind in [DriverKind::Uring, DriverKind::Epoll] {
        let points = points_of(kind, &[Point::TimerLate]);
        let faults = Faults::install_ppm(0xc4a7, 200_000, &points);
        let Some(rt) = runtime(kind) else { continue };
        let seed = faults.plan.seed;
        let rt2 = rt.clone();
        let (received, timeouts) = watchdog(Duration::from_secs(60), move || {
            rt2.block_on(async move {
                let (tx, mut rx) = ringwork::sync::mpsc::channel::<(u64, u64)>(8);
                for p in 0..PRODUCERS {
                    let tx = tx.clone();
                    ringwork::spawn(async move {
                        let mut rng = Rng::new(seed ^ p);
                        for m in 0..MESSAGES {
                            tx.send((p, m)).await.unwrap();
                            if rng.below(64) == 0 {
                                ringwork::time::sleep(Duration::from_micros(rng.below(500))).await;
                            }
                        }
                    });
                }
                drop(tx);
                let mut next = vec![0; PRODUCERS as usize];
                let (mut received, mut timeouts) = (0, 0);
                let mut rng = Rng::new(seed);
                loop {
                    let wait = Duration::from_micros(rng.below(200));
                    match ringwork::time::timeout(wait, rx.recv()).await {
                        Err(_) => timeouts += 1,
                        Ok(None) => break,
                        Ok(Some((p, m))) => {
                            assert_eq!(m, next[p as usize], "producer {p}: lost or repeated");
                            next[p as usize] += 1;
                            received += 1;
                        }
                    }
                }
                (received, timeouts)
            })
        });
        drop(rt);
        assert_eq!(received, PRODUCERS * MESSAGES);
        println!("{kind:?}: {timeouts} receives cancelled by their timeout");
        faults.assert_fired(&points);
    }
}

#[test]
fn blocking_jobs_whose_thread_cannot_start_fail_clearly_and_the_pool_recovers() {
    const JOBS: u64 = 300;
    for kind in [DriverKind::Uring, DriverKind::Epoll] {
        let points = vec![Point::BlockingThread];
        // One thread start in three fails; threads idle for 1 ms stop, so
        // each round starts new ones.
        let faults = Faults::install_ppm(0xb10c, 330_000, &points);
        let Some(rt) = common::build_on(
            kind,
            Builder::new_multi_thread()
                .worker_threads(2)
                .thread_keep_alive(Duration::from_millis(1)),
        )
        .map(Arc::new) else {
            continue;
        };
        let rt2 = rt.clone();
        let (ran, refused) = watchdog(Duration::from_secs(60), move || {
            rt2.block_on(async move {
                let (mut ran, mut refused) = (0, 0);
                for round in 0..JOBS / 10 {
                    let jobs: Vec<_> = (0..10)
                        .map(|j| ringwork::task::spawn_blocking(move || round * 10 + j))
                        .collect();
                    for (j, job) in jobs.into_iter().enumerate() {
                        match job.await {
                            Ok(v) => {
                                assert_eq!(v, round * 10 + j as u64);
                                ran += 1;
                            }
                            Err(err) => {
                                assert!(err.is_cancelled(), "{err:?}");
                                refused += 1;
                            }
                        }
                    }
                    // Idle threads stop; new ones must start again.
                    ringwork::time::sleep(Duration::from_millis(5)).await;
                }
                (ran, refused)
            })
        });
        drop(rt);
        println!("{kind:?}: {ran} jobs ran, {refused} refused");
        assert_eq!(ran + refused, JOBS, "every job resolved once");
        assert!(ran > 0, "the pool never recovered");
        faults.assert_fired(&points);
    }
}

#[test]
fn a_bad_plan_in_the_environment_is_a_named_error() {
    assert!(Plan::parse("seed=1,points=enter+nonsense")
        .unwrap_err()
        .contains("nonsense"));
    let plan = Plan::parse("seed=9,ppm=5,points=short+accept").unwrap();
    assert_eq!(plan.points, vec![Point::Short, Point::Accept]);
    assert_eq!(
        Plan::parse(&plan.to_string()["RINGWORK_FAULTS=".len()..]),
        Ok(plan)
    );
}

/// io_uring operations completed with `-EINTR` or `-EAGAIN` must be retried
/// (at once, or once the descriptor is ready), as the epoll driver retries
/// `EINTR` and waits out `EAGAIN`: a caller of an async read never sees
/// `Interrupted` or `WouldBlock`. (It did on io_uring for `recv`, `send`,
/// `read_at`, `write_at` and `connect`: the errors came back as is.)
/// `-ECANCELED` is not retried: it surfaces as itself.
#[test]
fn io_uring_operations_completed_with_eintr_or_eagain_are_retried_not_surfaced() {
    let points = [Point::OpError];
    let faults = Faults::install_ppm(0xe1a7, 100_000, &points);
    let Some(rt) = runtime(DriverKind::Uring) else {
        return;
    };
    let surfaced = echo(&rt, faults.plan.seed, 16, 20);
    let dir = common::TempDir::new("faults-retry");
    let path = dir.join("file");
    let live = Arc::new(AtomicUsize::new(0));
    let (s, l) = (surfaced.clone(), live.clone());
    let rt2 = rt.clone();
    watchdog(Duration::from_secs(60), move || {
        rt2.block_on(async move {
            let file = loop {
                let mut options = ringwork::fs::File::options();
                options.read(true).write(true).create(true);
                match options.open(&path).await {
                    Ok(file) => break file,
                    Err(err) => s.tolerate("create", err),
                }
            };
            for i in 0..200u64 {
                let data = vec![i as u8; 512];
                let mut done = 0;
                while done < 512 {
                    let chunk = CountingBuf::new(data[done..].to_vec(), &l);
                    match file.write_at(chunk, i * 512 + done as u64).await {
                        (Ok(n), _) => done += n,
                        (Err(err), _) => s.tolerate("write_at", err),
                    }
                }
                loop {
                    let buf = CountingBuf::new(Vec::with_capacity(512), &l);
                    match file.read_at(buf, i * 512).await {
                        (Ok(n), buf) => {
                            assert_eq!(&buf.data[..n], &data[..n]);
                            break;
                        }
                        (Err(err), _) => s.tolerate("read_at", err),
                    }
                }
            }
        })
    });
    drop(rt);
    assert_eq!(live.load(Ordering::SeqCst), 0, "buffers not dropped");
    println!("surfaced {surfaced:?}");
    faults.assert_fired(&points);
    assert_eq!(
        surfaced.count(libc::EINTR),
        0,
        "EINTR surfaced: {surfaced:?}"
    );
    assert_eq!(
        surfaced.count(libc::EAGAIN),
        0,
        "EAGAIN surfaced: {surfaced:?}"
    );
    assert!(
        surfaced.count(libc::ECANCELED) > 0,
        "ECANCELED surfaces as itself"
    );
}

/// `io_uring_setup` failing with `EPERM` (seccomp, `io_uring_disabled`):
/// `Auto` runs on epoll and says why; a forced io_uring is a `build()`
/// error naming it.
#[test]
fn io_uring_setup_eperm_falls_back_to_epoll_or_is_a_named_error() {
    let faults = Faults::install_ppm(0, 0, &[]);
    if runtime(DriverKind::Uring).is_none() {
        return;
    }
    // Every setup fails, as under a seccomp filter (with an optional flag
    // asked for, the driver also tries without it before it gives up).
    faults::fail_uring_setups(libc::EPERM, u32::MAX);
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .driver(DriverKind::Auto)
        .build()
        .expect("Auto falls back");
    assert_eq!(rt.handle().driver_kind(), Some(DriverKind::Epoll));
    let reason = rt.handle().driver_fallback_reason().expect("a reason");
    assert!(reason.contains("EPERM"), "{reason}");
    drop(rt);

    let err = Builder::new_multi_thread()
        .worker_threads(2)
        .driver(DriverKind::Uring)
        .build()
        .expect_err("a forced io_uring does not fall back");
    assert!(err.to_string().contains("EPERM"), "{err}");
    assert!(faults::uring_setups_failed() >= 2);
    drop(faults);
}

/// The multishot accept and the multishot receive (provided buffers) end
/// with a final completion; one with `-EINTR` or `-EAGAIN` must be armed
/// again, as `-ECANCELED` is, not surface from `accept` or `read` (they
/// did: the multishot paths do not go through the single-shot retry).
#[test]
fn multishot_accepts_and_receives_ended_by_eintr_or_eagain_are_armed_again() {
    const ROUNDS: usize = 60;
    let points = [Point::OpError];
    let faults = Faults::install_ppm(0x3a17, 400_000, &points);
    let Some(rt) = common::build_on(
        DriverKind::Uring,
        Builder::new_multi_thread()
            .worker_threads(2)
            .uring_multishot_accept(true)
            .uring_buf_ring(Some(common::small_buf_ring())),
    )
    .map(Arc::new) else {
        return;
    };
    let features = rt.handle().uring_features().expect("an io_uring runtime");
    if !features.multishot_accept || !features.buf_ring {
        println!("skipped: no multishot accept or buffer ring on this kernel");
        return;
    }
    let surfaced = Arc::new(Surfaced::default());
    let live = Arc::new(AtomicUsize::new(0));
    let (s, l) = (surfaced.clone(), live.clone());
    let rt2 = rt.clone();
    watchdog(Duration::from_secs(60), move || {
        rt2.block_on(async move {
            for round in 0..ROUNDS {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let (ss, sl) = (s.clone(), l.clone());
                // On a worker: the multishot accept and receive are armed
                // only there.
                let server = ringwork::spawn(async move {
                    let stream = accept(&listener, &ss).await;
                    let got = read_exact(&stream, 1000, &sl, &ss).await.expect("data");
                    write_all(&stream, &got, &sl, &ss).await;
                });
                let stream = connect(addr, &s).await;
                let msg = vec![round as u8; 1000];
                write_all(&stream, &msg, &l, &s).await;
                let back = read_exact(&stream, 1000, &l, &s).await.expect("echo");
                assert!(back == msg, "round {round}: echoed bytes differ");
                server.await.unwrap();
            }
        })
    });
    let metrics = rt.metrics();
    drop(rt);
    println!("surfaced {surfaced:?}; {metrics:?}");
    assert_eq!(live.load(Ordering::SeqCst), 0, "buffers not dropped");
    faults.assert_fired(&points);
    assert_eq!(
        surfaced.count(libc::EINTR),
        0,
        "EINTR surfaced: {surfaced:?}"
    );
    assert_eq!(
        surfaced.count(libc::EAGAIN),
        0,
        "EAGAIN surfaced: {surfaced:?}"
    );
}

/// Reads dropped by a timeout while faults fire: what a dropped read got
/// reaches the next read (the stash), a dropped read's buffer is freed once
/// its final completion (real or synthesized) came, and the 1 MiB stream
/// arrives byte-exact.
#[test]
fn reads_cancelled_by_timeouts_lose_no_byte_under_injected_faults() {
    const LEN: usize = 1 << 20;
    for kind in [DriverKind::Uring, DriverKind::Epoll] {
        let points = points_of(kind, &[Point::Short, Point::TimerLate]);
        let faults = Faults::install(0xca9c, &points);
        let Some(rt) = runtime(kind) else { continue };
        let seed = faults.plan.seed;
        let live = Arc::new(AtomicUsize::new(0));
        let graveyard = Arc::new(Graveyard::default());
        let surfaced = Arc::new(Surfaced::default());
        let (l, s, g) = (live.clone(), surfaced.clone(), graveyard.clone());
        let rt2 = rt.clone();
        let (sent, got, cancelled) = watchdog(Duration::from_secs(120), move || {
            rt2.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let (wl, ws) = (l.clone(), s.clone());
                let writer = ringwork::spawn(async move {
                    let stream = accept(&listener, &ws).await;
                    let data = Rng::new(seed).bytes(LEN);
                    let mut rng = Rng::new(seed ^ 1);
                    let mut at = 0;
                    while at < LEN {
                        let end = (at + 1 + rng.below(32 << 10) as usize).min(LEN);
                        write_all(&stream, &data[at..end], &wl, &ws).await;
                        at = end;
                        if rng.below(4) == 0 {
                            ringwork::time::sleep(Duration::from_micros(rng.below(300))).await;
                        }
                    }
                    fnv(FNV_START, &data)
                });
                let stream = connect(addr, &s).await;
                let mut rng = Rng::new(seed ^ 2);
                let (mut hash, mut len, mut cancelled) = (FNV_START, 0, 0);
                while len < LEN {
                    let buf = CountingBuf::kept(Vec::with_capacity(8192), &l, &g);
                    let wait = Duration::from_micros(rng.below(400));
                    match ringwork::time::timeout(wait, stream.read(buf)).await {
                        Err(_) => cancelled += 1,
                        Ok((Ok(0), _)) => panic!("end of stream at {len} of {LEN}"),
                        Ok((Ok(n), buf)) => {
                            hash = fnv(hash, &buf.data[..n]);
                            len += n;
                        }
                        Ok((Err(err), _)) => s.tolerate("read", err),
                    }
                }
                (writer.await.unwrap(), hash, cancelled)
            })
        });
        drop(rt);
        assert_eq!(sent, got, "the stream arrived byte-exact");
        assert_eq!(live.load(Ordering::SeqCst), 0, "buffers not dropped");
        let checked = graveyard.check();
        println!(
            "{kind:?}: {cancelled} reads cancelled; {checked} dropped read buffers unwritten after \
             their drop; surfaced {surfaced:?}"
        );
        assert!(cancelled > 0, "no read was cancelled");
        faults.assert_fired(&points);
    }
}
