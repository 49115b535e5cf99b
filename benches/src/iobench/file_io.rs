//! The matrix's file jobs: 4 KiB random reads or random writes at a fixed
//! depth on `file_randread`'s test file, and a log — sequential 4 KiB
//! appends to a fresh file, each followed by `fdatasync` — run on a
//! ringwork runtime, a tokio runtime or plain threads, every operation
//! timed.
//!
//! What each peer does for one operation:
//!
//! | peer | random read / write | log append + sync |
//! | --- | --- | --- |
//! | ringwork | `File::read_at` / `write_at` (`READ_FIXED` / `WRITE_FIXED` with registered buffers) from `depth` tasks: `IORING_OP_READ`/`WRITE` on io_uring, `pread`/`pwrite` on the blocking pool on epoll | `File::write_all_at` then `File::sync_data` (`IORING_OP_WRITE` + `IORING_OP_FSYNC` with `IORING_FSYNC_DATASYNC`) |
//! | tokio | `spawn_blocking(pread / pwrite)` from `depth` tasks, into 4096-aligned buffers (`O_DIRECT` needs them; `tokio::fs::File`'s own buffer cannot promise it) | `tokio::fs::File::write_all` then `sync_data`: two trips to the blocking pool |
//! | threads | `depth` threads, blocking `pread` / `pwrite` | one thread, `write_all_at` then `sync_data` |
//!
//! Checks: every block read is checked against its offset (its first and
//! last 8 bytes, `file_randread::check_block`). A write puts a whole block
//! that says which block it is *and which job wrote it* (a generation
//! number), keeping the block number first and its complement last so that
//! later reads of the file still check; after the job, [`verify_writes`]
//! reads back a sample of the written blocks (or log records, and the
//! log's length) and compares every byte.

use super::aligned::AlignedBuf;
use super::file_randread::{check_block, BLOCK};
use std::fs;
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes per log record (one append).
pub const LOG_RECORD: usize = 4096;

/// Blocks or records read back after a write job.
pub const VERIFY_SAMPLE: usize = 256;

/// What a file job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOp {
    /// 4 KiB reads at random block-aligned offsets of the test file.
    RandRead,
    /// 4 KiB writes at random block-aligned offsets of the test file.
    RandWrite,
    /// 4 KiB appends to a fresh log file, each followed by `fdatasync`
    /// before the next (depth 1).
    SyncLog,
}

/// A file job: the operation and how many are in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileJob {
    /// The operation.
    pub op: FileOp,
    /// Operations in flight at once (tasks or threads).
    pub depth: usize,
}

impl FileJob {
    /// Random reads, `depth` in flight.
    pub const fn randread(depth: usize) -> FileJob {
        FileJob {
            op: FileOp::RandRead,
            depth,
        }
    }

    /// Random writes, `depth` in flight.
    pub const fn randwrite(depth: usize) -> FileJob {
        FileJob {
            op: FileOp::RandWrite,
            depth,
        }
    }

    /// The log: appends each followed by `fdatasync`, one at a time.
    pub const fn sync_log() -> FileJob {
        FileJob {
            op: FileOp::SyncLog,
            depth: 1,
        }
    }

    /// The job in words ("4 KiB random writes, QD32").
    pub fn words(&self) -> String {
        match self.op {
            FileOp::RandRead => format!("4 KiB random reads, QD{}", self.depth),
            FileOp::RandWrite => format!("4 KiB random writes, QD{}", self.depth),
            FileOp::SyncLog => {
                "4 KiB sequential appends to a fresh log file (page cache), each followed by \
                 fdatasync before the next"
                    .to_owned()
            }
        }
    }

    /// The name of one operation in units ("read", "write", "append+sync").
    pub fn unit(&self) -> &'static str {
        match self.op {
            FileOp::RandRead => "read",
            FileOp::RandWrite => "write",
            FileOp::SyncLog => "append+sync",
        }
    }
}

/// One run of a job: the offsets its operations use, in the order they
/// are taken, and the generation its writes carry.
#[derive(Debug, Clone)]
pub struct FilePlan {
    /// The job.
    pub job: FileJob,
    /// Byte offset of every operation.
    pub offsets: Arc<Vec<u64>>,
    /// Written into every block or record, so that a read-back tells this
    /// run's writes from an earlier run's.
    pub generation: u64,
}

impl FilePlan {
    /// `ops` operations of `job`: random block offsets of a file of
    /// `blocks` blocks from `seed` (the log: records `0..ops` in order).
    pub fn new(job: FileJob, ops: usize, blocks: u64, seed: u64, generation: u64) -> FilePlan {
        let offsets = match job.op {
            FileOp::RandRead | FileOp::RandWrite => {
                super::file_randread::offsets(ops, blocks, seed)
            }
            FileOp::SyncLog => Arc::new((0..ops as u64).map(|i| i * LOG_RECORD as u64).collect()),
        };
        FilePlan {
            job,
            offsets,
            generation,
        }
    }

    /// What the block or record at `offset` holds once this plan wrote it.
    pub fn expected(&self, offset: u64) -> Vec<u8> {
        let (size, number) = match self.job.op {
            FileOp::SyncLog => (LOG_RECORD, offset / LOG_RECORD as u64),
            _ => (BLOCK, offset / BLOCK as u64),
        };
        let mut data = vec![0u8; size];
        fill_written(&mut data, number, self.generation);
        data
    }
}

/// A written block or record: `number` (block number, or record index) in
/// the first 8 bytes, `generation` in the next 8, `!number` in the last 8
/// (so a written block still passes `check_block`), a pattern of both
/// between.
pub fn fill_written(data: &mut [u8], number: u64, generation: u64) {
    let mix = number.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ generation.wrapping_mul(0xc2b2_ae35);
    for (index, byte) in data.iter_mut().enumerate() {
        *byte = (index as u64 ^ mix ^ (mix >> 29)) as u8;
    }
    let len = data.len();
    data[..8].copy_from_slice(&number.to_le_bytes());
    data[8..16].copy_from_slice(&generation.to_le_bytes());
    data[len - 8..].copy_from_slice(&(!number).to_le_bytes());
}

/// A job's outcome: how long its operations took, each and in all.
#[derive(Debug, Clone)]
pub struct JobRun {
    /// From the first operation's start to the last one's end.
    pub elapsed: Duration,
    /// Every operation's latency (issue to completion; the log's: write
    /// plus sync), nanoseconds, sorted.
    pub latencies_ns: Vec<u64>,
}

impl JobRun {
    fn new(elapsed: Duration, per_task: Vec<Vec<u64>>, expected: usize) -> io::Result<JobRun> {
        let mut latencies_ns: Vec<u64> = per_task.into_iter().flatten().collect();
        if latencies_ns.len() != expected {
            return Err(io::Error::other(format!(
                "{} file operations done, {expected} asked for",
                latencies_ns.len()
            )));
        }
        latencies_ns.sort_unstable();
        Ok(JobRun {
            elapsed,
            latencies_ns,
        })
    }

    /// Operations done.
    pub fn ops(&self) -> usize {
        self.latencies_ns.len()
    }

    /// The `q` quantile of the latencies (nearest rank), microseconds.
    pub fn latency_us(&self, q: f64) -> f64 {
        if self.latencies_ns.is_empty() {
            return f64::NAN;
        }
        let rank = ((q * self.latencies_ns.len() as f64).ceil() as usize)
            .clamp(1, self.latencies_ns.len());
        self.latencies_ns[rank - 1] as f64 / 1e3
    }
}

/// Opens the job's file the `std` way (the threads' and tokio's random
/// jobs): the test file for reading or writing with `flags`, or a fresh
/// log (page cache, whatever `flags` says).
fn open_std(path: &Path, flags: libc::c_int, op: FileOp) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    match op {
        FileOp::RandRead => options.read(true).custom_flags(flags),
        FileOp::RandWrite => options.write(true).custom_flags(flags),
        FileOp::SyncLog => options.write(true).create(true).truncate(true),
    };
    options.open(path)
}

/// One operation of a random job on a `std` file (blocking), with `buf`.
fn blocking_op(
    file: &fs::File,
    plan: &FilePlan,
    buf: &mut AlignedBuf,
    offset: u64,
) -> io::Result<()> {
    match plan.job.op {
        FileOp::RandRead => {
            let n = file.read_at(buf.whole_mut(), offset)?;
            buf.set_len(n);
            check_block(buf.as_slice(), offset)
        }
        FileOp::RandWrite => {
            let written = file.write_at(buf.as_slice(), offset)?;
            check_written_len(written, BLOCK, offset)
        }
        FileOp::SyncLog => {
            file.write_all_at(buf.as_slice(), offset)?;
            file.sync_data()
        }
    }
}

/// Fills `buf` with what the job writes at `offset` (nothing for reads).
fn prepare(buf: &mut AlignedBuf, plan: &FilePlan, offset: u64) {
    if plan.job.op != FileOp::RandRead {
        let expected = plan.expected(offset);
        buf.whole_mut()[..expected.len()].copy_from_slice(&expected);
        buf.set_len(expected.len());
    }
}

fn check_written_len(written: usize, wanted: usize, offset: u64) -> io::Result<()> {
    if written == wanted {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "a write at offset {offset} wrote {written} of {wanted} bytes"
        )))
    }
}

/// The size of every buffer of a job.
fn buf_size(op: FileOp) -> usize {
    match op {
        FileOp::SyncLog => LOG_RECORD,
        _ => BLOCK,
    }
}

/// Runs `plan` on `depth` plain threads of this process.
pub fn run_threads(path: &Path, flags: libc::c_int, plan: &FilePlan) -> io::Result<JobRun> {
    let file = Arc::new(open_std(path, flags, plan.job.op)?);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..plan.job.depth)
        .map(|index| {
            let (file, next, plan) = (file.clone(), next.clone(), plan.clone());
            std::thread::Builder::new()
                .name(format!("file-job-{index}"))
                .spawn(move || -> io::Result<Vec<u64>> {
                    let mut buf = AlignedBuf::zeroed(buf_size(plan.job.op));
                    let mut latencies = Vec::new();
                    while let Some(&offset) = plan.offsets.get(next.fetch_add(1, Ordering::Relaxed))
                    {
                        prepare(&mut buf, &plan, offset);
                        let began = Instant::now();
                        blocking_op(&file, &plan, &mut buf, offset)?;
                        latencies.push(began.elapsed().as_nanos() as u64);
                    }
                    Ok(latencies)
                })
        })
        .collect::<io::Result<_>>()?;
    let mut per_task = Vec::new();
    for thread in threads {
        per_task.push(
            thread
                .join()
                .map_err(|_| io::Error::other("a file thread panicked"))??,
        );
    }
    JobRun::new(start.elapsed(), per_task, plan.offsets.len())
}

/// Runs `plan` on `runtime` (tokio: the blocking pool does the I/O).
pub fn run_tokio(
    runtime: &tokio::runtime::Runtime,
    path: &Path,
    flags: libc::c_int,
    plan: &FilePlan,
) -> io::Result<JobRun> {
    if plan.job.op == FileOp::SyncLog {
        return runtime.block_on(tokio_log(path, plan));
    }
    let file = Arc::new(open_std(path, flags, plan.job.op)?);
    runtime.block_on(async {
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let tasks: Vec<_> = (0..plan.job.depth)
            .map(|_| {
                let (file, next, plan) = (file.clone(), next.clone(), plan.clone());
                tokio::spawn(async move {
                    let mut buf = AlignedBuf::zeroed(BLOCK);
                    let mut latencies = Vec::new();
                    while let Some(&offset) = plan.offsets.get(next.fetch_add(1, Ordering::Relaxed))
                    {
                        prepare(&mut buf, &plan, offset);
                        let began = Instant::now();
                        let (file, plan) = (file.clone(), plan.clone());
                        let (res, returned) = tokio::task::spawn_blocking(move || {
                            let res = blocking_op(&file, &plan, &mut buf, offset);
                            (res, buf)
                        })
                        .await
                        .map_err(|err| io::Error::other(format!("a blocking op failed: {err}")))?;
                        buf = returned;
                        res?;
                        latencies.push(began.elapsed().as_nanos() as u64);
                    }
                    Ok::<_, io::Error>(latencies)
                })
            })
            .collect();
        let mut per_task = Vec::new();
        for task in tasks {
            per_task.push(
                task.await
                    .map_err(|err| io::Error::other(format!("a file task failed: {err}")))??,
            );
        }
        JobRun::new(start.elapsed(), per_task, plan.offsets.len())
    })
}

/// The log on `tokio::fs::File`: what a tokio user writes.
async fn tokio_log(path: &Path, plan: &FilePlan) -> io::Result<JobRun> {
    use tokio::io::AsyncWriteExt;
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .await?;
    let mut latencies = Vec::with_capacity(plan.offsets.len());
    let start = Instant::now();
    for &offset in plan.offsets.iter() {
        let record = plan.expected(offset);
        let began = Instant::now();
        file.write_all(&record).await?;
        file.sync_data().await?;
        latencies.push(began.elapsed().as_nanos() as u64);
    }
    JobRun::new(start.elapsed(), vec![latencies], plan.offsets.len())
}

/// A task's buffer on ringwork: a registered one when the runtime has a
/// pool (`RINGWORK_URING=fixed_buffers=...`), else an aligned heap one.
enum TaskBuf {
    Aligned(AlignedBuf),
    Fixed(ringwork::buf::FixedBuf),
}

impl TaskBuf {
    fn data(&self) -> &[u8] {
        match self {
            TaskBuf::Aligned(buf) => buf.as_slice(),
            TaskBuf::Fixed(buf) => buf.as_slice(),
        }
    }

    fn fill(&mut self, content: &[u8]) {
        match self {
            TaskBuf::Aligned(buf) => {
                buf.whole_mut()[..content.len()].copy_from_slice(content);
                buf.set_len(content.len());
            }
            TaskBuf::Fixed(buf) => {
                buf.fill_from(content);
            }
        }
    }

    async fn io_at(
        self,
        file: &ringwork::fs::File,
        offset: u64,
        write: bool,
    ) -> (io::Result<usize>, TaskBuf) {
        match (self, write) {
            (TaskBuf::Aligned(mut buf), false) => {
                buf.clear();
                let (res, buf) = file.read_at(buf, offset).await;
                (res, TaskBuf::Aligned(buf))
            }
            (TaskBuf::Aligned(buf), true) => {
                let (res, buf) = file.write_at(buf, offset).await;
                (res, TaskBuf::Aligned(buf))
            }
            (TaskBuf::Fixed(buf), false) => {
                let (res, buf) = file.read_fixed_at(buf, offset).await;
                (res, TaskBuf::Fixed(buf))
            }
            (TaskBuf::Fixed(buf), true) => {
                let (res, buf) = file.write_fixed_at(buf, offset).await;
                (res, TaskBuf::Fixed(buf))
            }
        }
    }
}

/// Runs `plan` on a ringwork `runtime` (built by the caller for a
/// profile); random jobs use its registered buffers when it has them.
pub fn run_ringwork(
    runtime: &ringwork::Runtime,
    path: &Path,
    flags: libc::c_int,
    plan: &FilePlan,
) -> io::Result<JobRun> {
    let pool = match plan.job.op {
        FileOp::SyncLog => None,
        _ => runtime
            .handle()
            .fixed_buffers()
            .filter(|pool| pool.buf_size() >= BLOCK),
    };
    runtime.block_on(async {
        let mut options = ringwork::fs::OpenOptions::new();
        match plan.job.op {
            FileOp::RandRead => options.read(true).custom_flags(flags),
            FileOp::RandWrite => options.write(true).custom_flags(flags),
            FileOp::SyncLog => options.write(true).create(true).truncate(true),
        };
        let file = Arc::new(options.open(path).await?);
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let tasks: Vec<_> = (0..plan.job.depth)
            .map(|_| {
                let (file, next, plan, pool) =
                    (file.clone(), next.clone(), plan.clone(), pool.clone());
                ringwork::spawn(async move {
                    let mut buf = match pool {
                        Some(pool) => TaskBuf::Fixed(pool.get().await),
                        None => TaskBuf::Aligned(AlignedBuf::zeroed(buf_size(plan.job.op))),
                    };
                    let mut latencies = Vec::new();
                    while let Some(&offset) = plan.offsets.get(next.fetch_add(1, Ordering::Relaxed))
                    {
                        let write = plan.job.op != FileOp::RandRead;
                        if write {
                            buf.fill(&plan.expected(offset));
                        }
                        let began = Instant::now();
                        let (res, returned) = buf.io_at(&file, offset, write).await;
                        buf = returned;
                        let n = res?;
                        match plan.job.op {
                            FileOp::RandRead => check_block(buf.data(), offset)?,
                            FileOp::RandWrite => check_written_len(n, BLOCK, offset)?,
                            FileOp::SyncLog => {
                                // A short append is finished by a second
                                // write (buffered: whole records go in one).
                                if n < LOG_RECORD {
                                    let rest = buf.data()[n..].to_vec();
                                    let (res, _) = file.write_all_at(rest, offset + n as u64).await;
                                    res?;
                                }
                                file.sync_data().await?;
                            }
                        }
                        latencies.push(began.elapsed().as_nanos() as u64);
                    }
                    Ok::<_, io::Error>(latencies)
                })
            })
            .collect();
        let mut per_task = Vec::new();
        for task in tasks {
            per_task.push(
                task.await
                    .map_err(|err| io::Error::other(format!("a file task failed: {err}")))??,
            );
        }
        JobRun::new(start.elapsed(), per_task, plan.offsets.len())
    })
}

/// The offsets [`verify_writes`] reads back: up to [`VERIFY_SAMPLE`]
/// spread evenly over the plan, always with its last, without repeats.
pub fn verify_sample(plan: &FilePlan) -> Vec<u64> {
    let offsets = &plan.offsets;
    if offsets.is_empty() {
        return Vec::new();
    }
    let step = offsets.len().div_ceil(VERIFY_SAMPLE).max(1);
    let mut sample: Vec<u64> = offsets.iter().step_by(step).copied().collect();
    sample.push(offsets[offsets.len() - 1]);
    sample.sort_unstable();
    sample.dedup();
    sample
}

/// After a write job: reads back [`verify_sample`]'s blocks or records
/// (with `flags`, so `O_DIRECT` reads come from the disk, not the page
/// cache) and compares every byte with what the job wrote; for the log,
/// also its length. Returns how many were checked.
pub fn verify_writes(path: &Path, flags: libc::c_int, plan: &FilePlan) -> io::Result<usize> {
    let size = match plan.job.op {
        FileOp::RandRead => return Ok(0),
        FileOp::RandWrite => BLOCK,
        FileOp::SyncLog => LOG_RECORD,
    };
    let flags = if plan.job.op == FileOp::SyncLog {
        0
    } else {
        flags
    };
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)?;
    if plan.job.op == FileOp::SyncLog {
        let len = file.metadata()?.len();
        let wanted = (plan.offsets.len() * LOG_RECORD) as u64;
        if len != wanted {
            return Err(io::Error::other(format!(
                "the log is {len} bytes long after {} appends of {LOG_RECORD}: {wanted} expected",
                plan.offsets.len()
            )));
        }
    }
    let sample = verify_sample(plan);
    let mut buf = AlignedBuf::zeroed(size);
    for &offset in &sample {
        let n = file.read_at(buf.whole_mut(), offset)?;
        buf.set_len(n);
        if buf.as_slice() != plan.expected(offset).as_slice() {
            return Err(io::Error::other(format!(
                "read back at offset {offset}: not what write job {} wrote there ({n} bytes \
                 read)",
                plan.generation
            )));
        }
    }
    Ok(sample.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iobench::file_randread::TestFile;

    fn file(blocks: u64) -> TestFile {
        TestFile::create(blocks * BLOCK as u64).unwrap()
    }

    #[test]
    fn a_written_block_still_checks_as_its_block_and_carries_its_generation() {
        let plan = FilePlan::new(FileJob::randwrite(4), 10, 64, 1, 42);
        let offset = 5 * BLOCK as u64;
        let block = plan.expected(offset);
        assert!(check_block(&block, offset).is_ok());
        assert!(check_block(&block, offset + BLOCK as u64).is_err());
        assert_eq!(block[8..16], 42u64.to_le_bytes());
        let other = FilePlan {
            generation: 43,
            ..plan.clone()
        };
        assert_ne!(other.expected(offset), block);
    }

    #[test]
    fn the_log_appends_records_in_order_and_the_sample_keeps_the_last() {
        let plan = FilePlan::new(FileJob::sync_log(), 1000, 0, 0, 1);
        assert_eq!(plan.offsets[..3], [0, 4096, 8192]);
        let sample = verify_sample(&plan);
        assert!(sample.len() <= VERIFY_SAMPLE + 1, "{}", sample.len());
        assert_eq!(sample.first(), Some(&0));
        assert_eq!(sample.last(), Some(&(999 * LOG_RECORD as u64)));
        assert!(sample.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn threads_write_what_the_read_back_expects_and_a_stale_block_fails_it() {
        let test = file(256);
        let plan = FilePlan::new(FileJob::randwrite(4), 500, test.blocks, 3, 7);
        let run = run_threads(&test.path, 0, &plan).unwrap();
        assert_eq!(run.ops(), 500);
        assert!(verify_writes(&test.path, 0, &plan).unwrap() > 0);
        // The same offsets under another generation were never written.
        let stale = FilePlan {
            generation: 8,
            ..plan.clone()
        };
        let err = verify_writes(&test.path, 0, &stale).unwrap_err();
        assert!(
            err.to_string().contains("not what write job 8 wrote"),
            "{err}"
        );
        // Reads of the rewritten file still check every block.
        let reads = FilePlan::new(FileJob::randread(8), 500, test.blocks, 4, 0);
        assert_eq!(run_threads(&test.path, 0, &reads).unwrap().ops(), 500);
    }

    #[test]
    fn every_peer_appends_the_log_it_is_checked_against() {
        let test = file(1);
        let log = test.path.with_file_name("log");
        let plan = FilePlan::new(FileJob::sync_log(), 40, 0, 0, 9);
        let ringwork = ringwork::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        for peer in 0..3 {
            let run = match peer {
                0 => run_ringwork(&ringwork, &log, 0, &plan),
                1 => run_tokio(&tokio, &log, 0, &plan),
                _ => run_threads(&log, 0, &plan),
            }
            .unwrap();
            assert_eq!(run.ops(), 40);
            assert!(run.latency_us(0.5) <= run.latency_us(0.99));
            assert_eq!(verify_writes(&log, 0, &plan).unwrap(), 40, "peer {peer}");
        }
        // A log one record short fails the length check.
        let longer = FilePlan::new(FileJob::sync_log(), 41, 0, 0, 9);
        assert!(verify_writes(&log, 0, &longer).is_err());
        std::fs::remove_file(&log).unwrap();
    }

    #[test]
    fn ringwork_and_tokio_write_and_read_back_random_blocks() {
        let test = file(128);
        let ringwork = ringwork::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        for (generation, depth) in [(1, 1), (2, 16)] {
            let plan = FilePlan::new(
                FileJob::randwrite(depth),
                300,
                test.blocks,
                generation,
                generation,
            );
            run_ringwork(&ringwork, &test.path, 0, &plan).unwrap();
            verify_writes(&test.path, 0, &plan).unwrap();
            let plan = FilePlan {
                generation: generation + 10,
                ..plan
            };
            run_tokio(&tokio, &test.path, 0, &plan).unwrap();
            verify_writes(&test.path, 0, &plan).unwrap();
        }
        let reads = FilePlan::new(FileJob::randread(16), 300, test.blocks, 5, 0);
        assert_eq!(
            run_ringwork(&ringwork, &test.path, 0, &reads)
                .unwrap()
                .ops(),
            300
        );
    }

    #[test]
    fn latency_quantiles_are_nearest_rank() {
        let run = JobRun::new(Duration::ZERO, vec![vec![4000, 1000], vec![3000, 2000]], 4).unwrap();
        assert_eq!(run.latency_us(0.5), 2.0);
        assert_eq!(run.latency_us(0.99), 4.0);
        assert!(JobRun::new(Duration::ZERO, vec![vec![1]], 2).is_err());
    }
}
