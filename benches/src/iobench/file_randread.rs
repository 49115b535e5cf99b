//! `file_randread`: 4 KiB reads at random 4 KiB-aligned offsets of a test
//! file, 32 in flight, on ringwork (`ringwork::fs::File::read_at` from 32
//! tasks) on its io_uring driver (`IORING_OP_READ`) and on its epoll driver
//! (where `read_at` is a `pread` on ringwork's blocking pool), and on tokio
//! (32 tasks, each read a `std::os::unix::fs::FileExt::read_at` inside
//! `tokio::task::spawn_blocking` — what `tokio::fs` does internally, but
//! with the caller's aligned buffer, which `O_DIRECT` needs and
//! `tokio::fs::File`'s own buffer cannot guarantee).
//!
//! The file is written once per benchmark run in a fresh directory under the
//! system temp dir and removed at the end (also on error). It is opened with
//! `O_DIRECT` when the file system accepts it, so reads reach the (virtio)
//! disk; if `O_DIRECT` fails with `EINVAL`, reads go through the page cache
//! (where the freshly written file sits) and the report says so.
//!
//! Every block starts with its block number and ends with its complement:
//! each read is checked against the offset it asked for, and a run must read
//! exactly its count of whole blocks.

use super::aligned::{AlignedBuf, ALIGN};
use super::sys::{self, ProcessCpuClock};
use super::{rotate, IoSettings};
use crate::runner::Watchdog;
use crate::stats::Summary;
use serde::Serialize;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes per read (and per block of the file).
pub const BLOCK: usize = 4096;
/// Reads in flight at once.
pub const IN_FLIGHT: usize = 32;

/// The peers of `file_randread`, in column order; the last is the
/// reference of the ratios.
pub const PEERS: [&str; 3] = ["ringwork-uring", "ringwork-epoll", "tokio"];

/// Index of tokio, the reference, in [`PEERS`].
const TOKIO: usize = 2;

/// How big `file_randread` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FileConfig {
    /// Size of the test file in bytes.
    pub file_bytes: u64,
    /// Reads per run.
    pub reads: usize,
    /// Measured rounds (after one warm-up run per peer).
    pub rounds: usize,
}

impl FileConfig {
    /// The size in words, for `list` and the table.
    pub fn size(&self) -> String {
        format!(
            "{} x 4 KiB random reads, QD{IN_FLIGHT}, {} MiB file",
            self.reads,
            self.file_bytes >> 20
        )
    }
}

/// One run of one peer.
#[derive(Debug, Clone, Serialize)]
pub struct FileRun {
    /// The peer.
    pub peer: &'static str,
    /// 0 for the warm-up, else the round number.
    pub round: usize,
    /// Reads per second.
    pub iops: f64,
    /// Wall time of the reads, in seconds.
    pub seconds: f64,
    /// CPU time of the whole benchmark process (every thread: the runtime's
    /// workers, tokio's blocking threads, io_uring's kernel workers) during
    /// the run, per read, in microseconds.
    pub cpu_us_per_read: f64,
    /// CPU used by every other user-space process during the run over its
    /// wall time (1.0 = one core): competition on a shared machine.
    pub other_cpu_share: f64,
}

/// Everything `file_randread` measured.
#[derive(Debug, Clone, Serialize)]
pub struct FileResults {
    /// The sizes.
    pub config: FileConfig,
    /// "O_DIRECT" or why the page cache was used instead.
    pub access: String,
    /// How each peer issues the reads.
    pub peer_descriptions: Vec<(&'static str, String)>,
    /// Every measured run, round by round (run order inside a round).
    pub runs: Vec<FileRun>,
    /// Per round, the peers in the order they ran.
    pub run_order: Vec<Vec<&'static str>>,
    /// Median and range of each peer's IOPS.
    pub iops: Vec<(&'static str, Summary)>,
    /// Median and range of each peer's CPU time per read (microseconds).
    pub cpu_us_per_read: Vec<(&'static str, Summary)>,
    /// Per ringwork peer, its IOPS over tokio's.
    pub ratios: Vec<FileRatio>,
}

/// One peer's IOPS over tokio's, per round and summarised.
#[derive(Debug, Clone, Serialize)]
pub struct FileRatio {
    /// The peer measured.
    pub numerator: &'static str,
    /// The reference (tokio).
    pub denominator: &'static str,
    /// Per round (above 1: the numerator did more reads per second).
    pub per_round: Vec<f64>,
    /// Median and range of those ratios.
    pub summary: Summary,
}

/// The test file and its directory, removed on drop.
pub(crate) struct TestFile {
    dir: PathBuf,
    pub(crate) path: PathBuf,
    pub(crate) blocks: u64,
}

impl TestFile {
    pub(crate) fn create(bytes: u64) -> io::Result<TestFile> {
        let dir = std::env::temp_dir().join(format!(
            "ringwork-bench-randread-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.subsec_nanos())
        ));
        fs::create_dir(&dir)?;
        let file = TestFile {
            path: dir.join("data"),
            dir,
            blocks: bytes / BLOCK as u64,
        };
        let mut out = io::BufWriter::with_capacity(1 << 20, fs::File::create(&file.path)?);
        let mut block = vec![0u8; BLOCK];
        for number in 0..file.blocks {
            fill_block(&mut block, number);
            out.write_all(&block)?;
        }
        out.into_inner()
            .map_err(|err| err.into_error())?
            .sync_all()?;
        Ok(file)
    }
}

impl Drop for TestFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
        let _ = fs::remove_dir(&self.dir);
    }
}

fn fill_block(block: &mut [u8], number: u64) {
    for (index, byte) in block.iter_mut().enumerate() {
        *byte = (index as u64 ^ number.wrapping_mul(0x9e37_79b9)) as u8;
    }
    block[..8].copy_from_slice(&number.to_le_bytes());
    block[BLOCK - 8..].copy_from_slice(&(!number).to_le_bytes());
}

/// Checks one block read at `offset`.
pub(crate) fn check_block(data: &[u8], offset: u64) -> io::Result<()> {
    let number = offset / BLOCK as u64;
    let ok = data.len() == BLOCK
        && data[..8] == number.to_le_bytes()
        && data[BLOCK - 8..] == (!number).to_le_bytes();
    if ok {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "the {}-byte read at offset {offset} does not hold block {number}",
            data.len()
        )))
    }
}

/// Whether this file can be opened and read with `O_DIRECT`; `Err` with the
/// reason when it cannot (an error other than `EINVAL` is a real error).
pub(crate) fn probe_direct(path: &Path) -> io::Result<Result<(), String>> {
    let file = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    {
        Ok(file) => file,
        Err(err) if err.raw_os_error() == Some(libc::EINVAL) => {
            return Ok(Err(format!("opening with O_DIRECT failed: {err}")))
        }
        Err(err) => return Err(err),
    };
    let mut buf = AlignedBuf::zeroed(BLOCK);
    match file.read_at(buf.whole_mut(), 0) {
        Ok(_) => Ok(Ok(())),
        Err(err) if err.raw_os_error() == Some(libc::EINVAL) => {
            Ok(Err(format!("reading with O_DIRECT failed: {err}")))
        }
        Err(err) => Err(err),
    }
}

/// The offsets of one run: `reads` random block-aligned offsets from a
/// xorshift generator seeded per run (different for every run, so that no
/// run reads blocks a previous run just warmed in some cache).
pub(crate) fn offsets(reads: usize, blocks: u64, seed: u64) -> Arc<Vec<u64>> {
    let mut state = seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1;
    Arc::new(
        (0..reads)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % blocks) * BLOCK as u64
            })
            .collect(),
    )
}

/// Runs `file_randread`.
pub fn run(
    config: FileConfig,
    settings: &IoSettings,
    watchdog: &Watchdog,
) -> io::Result<FileResults> {
    let file = TestFile::create(config.file_bytes)?;
    let (flags, access) = match probe_direct(&file.path)? {
        Ok(()) => (libc::O_DIRECT, "O_DIRECT (reads reach the disk)".to_owned()),
        Err(reason) => (
            0,
            format!("page cache: {reason}; the freshly written file is cached"),
        ),
    };
    let uring = build_ringwork(settings, ringwork::io::DriverKind::Uring)?;
    let epoll = build_ringwork(settings, ringwork::io::DriverKind::Epoll)?;
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.workers)
        .build()?;
    let peer_descriptions = vec![
        (
            PEERS[0],
            format!(
                "ringwork, {} workers, seed {:#x}, driver io_uring (checked): {IN_FLIGHT} \
                 tasks, each awaiting File::read_at (io_uring READ) into a 4096-aligned buffer",
                settings.workers,
                uring.handle().seed()
            ),
        ),
        (
            PEERS[1],
            format!(
                "ringwork, {} workers, seed {:#x}, driver epoll (checked): {IN_FLIGHT} tasks, \
                 each awaiting File::read_at (pread on ringwork's blocking pool) into a \
                 4096-aligned buffer",
                settings.workers,
                epoll.handle().seed()
            ),
        ),
        (
            PEERS[2],
            format!(
                "tokio multi_thread, {} workers, no I/O or time driver (only its blocking pool \
                 is used): {IN_FLIGHT} tasks, each awaiting spawn_blocking(std \
                 FileExt::read_at) into a 4096-aligned buffer",
                settings.workers
            ),
        ),
    ];

    let own_cpu = ProcessCpuClock::of(std::process::id())?;
    let one_run = |peer: usize, round: usize| -> io::Result<FileRun> {
        let seed = (round as u64) * 16 + peer as u64 + 1;
        let offsets = offsets(config.reads, file.blocks, seed);
        let label = if round == 0 {
            "warm-up".to_owned()
        } else {
            format!("round {round}/{}", config.rounds)
        };
        let _watched = watchdog.watch(format!(
            "file_randread on {}, {label}, has not finished after {:.0} s: the runtime \
             looks hung. Rerun it alone with `ringwork-bench compare --only file_randread`",
            PEERS[peer],
            settings.hang_timeout.as_secs_f64()
        ));
        let ours = [std::process::id()];
        let other_before = sys::other_processes_cpu(&ours)?;
        let started = Instant::now();
        let cpu_before = own_cpu.read()?;
        let elapsed = match peer {
            0 => run_ringwork(&uring, &file.path, flags, offsets)?,
            1 => run_ringwork(&epoll, &file.path, flags, offsets)?,
            _ => run_tokio(&tokio, &file.path, flags, offsets)?,
        };
        let cpu = own_cpu.read()?.saturating_sub(cpu_before);
        let other = sys::other_processes_cpu(&ours)?.saturating_sub(other_before);
        let other_cpu_share = other.as_secs_f64() / started.elapsed().as_secs_f64();
        let run = FileRun {
            peer: PEERS[peer],
            round,
            iops: config.reads as f64 / elapsed.as_secs_f64(),
            seconds: elapsed.as_secs_f64(),
            cpu_us_per_read: cpu.as_secs_f64() * 1e6 / config.reads as f64,
            other_cpu_share,
        };
        if settings.show_progress {
            eprintln!(
                "  {:<20} {:<10} {:<12} {:>10.0} IOPS, {:.2} us CPU/read, other processes {:.0}% CPU",
                "file_randread",
                run.peer,
                label,
                run.iops,
                run.cpu_us_per_read,
                run.other_cpu_share * 100.0
            );
        }
        Ok(run)
    };

    for peer in 0..PEERS.len() {
        one_run(peer, 0)?;
    }
    let mut runs = Vec::new();
    let mut run_order = Vec::new();
    let mut per_round: Vec<Vec<f64>> = vec![Vec::new(); PEERS.len()];
    for round in 1..=config.rounds {
        let order = rotate(PEERS.len(), round - 1);
        let mut iops = [0.0; PEERS.len()];
        for &peer in &order {
            let run = one_run(peer, round)?;
            iops[peer] = run.iops;
            runs.push(run);
        }
        run_order.push(order.iter().map(|&peer| PEERS[peer]).collect());
        for (peer, ratios) in per_round.iter_mut().enumerate() {
            ratios.push(iops[peer] / iops[TOKIO]);
        }
    }
    drop(file);
    uring.shutdown_timeout(Duration::from_secs(5));
    epoll.shutdown_timeout(Duration::from_secs(5));
    tokio.shutdown_timeout(Duration::from_secs(5));
    let ratios = per_round
        .into_iter()
        .enumerate()
        .filter(|&(peer, _)| peer != TOKIO)
        .map(|(peer, per_round)| FileRatio {
            numerator: PEERS[peer],
            denominator: PEERS[TOKIO],
            summary: Summary::of(&per_round).expect("measured rounds"),
            per_round,
        })
        .collect();

    let per_peer = |metric: fn(&FileRun) -> f64| -> Vec<(&'static str, Summary)> {
        PEERS
            .iter()
            .map(|&peer| {
                let samples: Vec<f64> = runs
                    .iter()
                    .filter(|run| run.peer == peer)
                    .map(metric)
                    .collect();
                (peer, Summary::of(&samples).expect("measured rounds"))
            })
            .collect()
    };
    let iops = per_peer(|run| run.iops);
    let cpu_us_per_read = per_peer(|run| run.cpu_us_per_read);
    Ok(FileResults {
        config,
        access,
        peer_descriptions,
        runs,
        run_order,
        iops,
        cpu_us_per_read,
        ratios,
    })
}

/// A ringwork runtime on I/O driver `driver`, checked: one that runs on
/// another driver than its column says is an error, not a measurement.
fn build_ringwork(
    settings: &IoSettings,
    driver: ringwork::io::DriverKind,
) -> io::Result<ringwork::Runtime> {
    let mut builder = ringwork::runtime::Builder::new_multi_thread();
    builder.worker_threads(settings.workers).driver(driver);
    if let Some(seed) = settings.ringwork_seed {
        builder.seed(seed);
    }
    let runtime = builder.build()?;
    let in_use = runtime.handle().driver_kind();
    if in_use != Some(driver) {
        return Err(io::Error::other(format!(
            "file_randread asked ringwork for the {driver:?} driver, its handle says {in_use:?}"
        )));
    }
    Ok(runtime)
}

pub(crate) fn run_ringwork(
    runtime: &ringwork::Runtime,
    path: &Path,
    flags: libc::c_int,
    offsets: Arc<Vec<u64>>,
) -> io::Result<Duration> {
    runtime.block_on(async {
        let file = Arc::new(
            ringwork::fs::OpenOptions::new()
                .read(true)
                .custom_flags(flags)
                .open(path)
                .await?,
        );
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        // With registered buffers (a profile's `fixed_buffers`), every
        // task reads into one of them with READ_FIXED.
        let pool = runtime.handle().fixed_buffers();
        let tasks: Vec<_> = (0..IN_FLIGHT)
            .map(|_| {
                let (file, offsets, next) = (file.clone(), offsets.clone(), next.clone());
                let pool = pool.clone();
                ringwork::spawn(async move {
                    let next_offset = || offsets.get(next.fetch_add(1, Ordering::Relaxed)).copied();
                    let mut done = 0usize;
                    if let Some(pool) = pool {
                        let mut buf = pool.get().await;
                        while let Some(offset) = next_offset() {
                            let (res, returned) = file.read_fixed_at(buf, offset).await;
                            buf = returned;
                            res?;
                            check_block(buf.as_slice(), offset)?;
                            done += 1;
                        }
                    } else {
                        let mut buf = AlignedBuf::zeroed(BLOCK);
                        while let Some(offset) = next_offset() {
                            buf.clear();
                            let (res, returned) = file.read_at(buf, offset).await;
                            buf = returned;
                            res?;
                            check_block(buf.as_slice(), offset)?;
                            done += 1;
                        }
                    }
                    Ok::<usize, io::Error>(done)
                })
            })
            .collect();
        let mut total = 0;
        for task in tasks {
            total += task
                .await
                .map_err(|err| io::Error::other(format!("a read task failed: {err}")))??;
        }
        let elapsed = start.elapsed();
        check_total(total, offsets.len())?;
        Ok(elapsed)
    })
}

pub(crate) fn run_tokio(
    runtime: &tokio::runtime::Runtime,
    path: &Path,
    flags: libc::c_int,
    offsets: Arc<Vec<u64>>,
) -> io::Result<Duration> {
    let file = Arc::new(
        fs::OpenOptions::new()
            .read(true)
            .custom_flags(flags)
            .open(path)?,
    );
    runtime.block_on(async {
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let tasks: Vec<_> = (0..IN_FLIGHT)
            .map(|_| {
                let (file, offsets, next) = (file.clone(), offsets.clone(), next.clone());
                tokio::spawn(async move {
                    let mut buf = AlignedBuf::zeroed(BLOCK);
                    let mut done = 0usize;
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&offset) = offsets.get(index) else {
                            return Ok::<usize, io::Error>(done);
                        };
                        let file = file.clone();
                        let (res, returned) = tokio::task::spawn_blocking(move || {
                            let res = file.read_at(buf.whole_mut(), offset);
                            (res, buf)
                        })
                        .await
                        .map_err(|err| {
                            io::Error::other(format!("a blocking read failed: {err}"))
                        })?;
                        buf = returned;
                        buf.set_len(res?);
                        check_block(buf.as_slice(), offset)?;
                        done += 1;
                    }
                })
            })
            .collect();
        let mut total = 0;
        for task in tasks {
            total += task
                .await
                .map_err(|err| io::Error::other(format!("a read task failed: {err}")))??;
        }
        let elapsed = start.elapsed();
        check_total(total, offsets.len())?;
        Ok(elapsed)
    })
}

fn check_total(done: usize, expected: usize) -> io::Result<()> {
    if done == expected {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "file_randread: {done} reads done, {expected} asked for"
        )))
    }
}

/// Unused-alignment guard: the block size must be a multiple of the buffer
/// alignment for `O_DIRECT` offsets and lengths to be valid.
const _: () = assert!(BLOCK % ALIGN == 0);

#[cfg(test)]
mod tests {
    use super::{check_block, fill_block, run, FileConfig, BLOCK};
    use crate::iobench::IoSettings;
    use crate::runner::Watchdog;
    use std::time::Duration;

    #[test]
    fn a_block_checks_only_at_its_own_offset() {
        let mut block = vec![0u8; BLOCK];
        fill_block(&mut block, 7);
        assert!(check_block(&block, 7 * BLOCK as u64).is_ok());
        assert!(check_block(&block, 8 * BLOCK as u64).is_err());
        assert!(check_block(&block[..BLOCK - 1], 7 * BLOCK as u64).is_err());
    }

    #[test]
    fn every_peer_reads_and_checks_every_block_and_the_file_is_removed() {
        let settings = IoSettings {
            workers: 2,
            rounds: 1,
            hang_timeout: Duration::from_secs(60),
            show_progress: false,
            fast_threshold: 150_000.0,
            rate: None,
            ringwork_seed: Some(7),
        };
        let config = FileConfig {
            file_bytes: 1 << 20,
            reads: 2_000,
            rounds: 1,
        };
        let watchdog = Watchdog::start(settings.hang_timeout);
        let results = run(config, &settings, &watchdog).unwrap();
        assert_eq!(results.runs.len(), 3);
        assert!(results.runs.iter().all(|run| run.iops > 0.0));
        let leftovers = std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|entry| {
                entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with(&format!("ringwork-bench-randread-{}-", std::process::id()))
            })
            .count();
        assert_eq!(leftovers, 0, "the test file's directory was not removed");
    }
}
