//! The matrix's file columns: `iobench::file_io`'s jobs — 4 KiB random
//! reads (`file_randread` at QD32, `file_randread_qd1`) and random writes
//! (`file_randwrite_qd1`, `file_randwrite_qd32`) on one test file,
//! `O_DIRECT` when the file system takes it, and the log
//! (`file_fsync_log`: 4 KiB appends to a fresh file, `fdatasync` after
//! each) — run in this process on a runtime (or threads) built for the
//! profile; every read checked, every write job's blocks read back in part
//! and compared. fio's io_uring engine with the same pattern and depth is
//! the reference, when `fio` is on `PATH` (run after all cells: its writes
//! replace the file's checked blocks).
//!
//! Files need no server process: a ringwork profile's runtime is built here
//! with the profile's `RINGWORK_DRIVER` and `RINGWORK_URING` set for the
//! duration of `Builder::build` (the only place the runtime reads them) and
//! restored right after. The figure is this process's CPU time per read
//! (workers, blocking-pool threads, io_uring's kernel workers) — the matrix's
//! other threads sleep meanwhile.

use super::profile::Profile;
use super::report::{not_available_reason, Measurement};
use crate::iobench::file_io::{self, FilePlan, LOG_RECORD};
pub(crate) use crate::iobench::file_io::{FileJob, FileOp};
use crate::iobench::file_randread::{self, TestFile, BLOCK};
use crate::iobench::server::ServerKind;
use crate::iobench::sys::ProcessCpuClock;
use crate::workloads::Scale;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The test file and how it is read.
pub(crate) struct FileBench {
    file: TestFile,
    flags: libc::c_int,
    /// "O_DIRECT" or why the page cache is used.
    pub(crate) access: String,
    /// Size of the file in bytes.
    pub(crate) file_bytes: u64,
    /// Sizes of the cells.
    scale: Scale,
    /// Cells run so far: each cell's writes carry its number.
    generation: AtomicU64,
}

/// File size and reads per cell at `scale`.
pub(crate) fn sizes(scale: Scale) -> (u64, usize) {
    match scale {
        Scale::Full => (256 << 20, 200_000),
        Scale::Quick => (64 << 20, 40_000),
    }
}

/// Sets environment variables until dropped, then restores them.
struct EnvGuard {
    saved: Vec<(&'static str, Option<std::ffi::OsString>)>,
}

impl EnvGuard {
    /// Sets `RINGWORK_DRIVER` and `RINGWORK_URING` to `env`'s values (unset
    /// when `env` has none).
    fn set(env: &[(&'static str, &'static str)]) -> EnvGuard {
        let keys = ["RINGWORK_DRIVER", "RINGWORK_URING"];
        let saved = keys
            .iter()
            .map(|&key| (key, std::env::var_os(key)))
            .collect();
        for key in keys {
            match env.iter().find(|(name, _)| *name == key) {
                Some((_, value)) => std::env::set_var(key, value),
                None => std::env::remove_var(key),
            }
        }
        EnvGuard { saved }
    }
}

impl Drop for EnvGuard {
    fn drop(&mut self) {
        for (key, value) in &self.saved {
            match value {
                Some(value) => std::env::set_var(key, value),
                None => std::env::remove_var(key),
            }
        }
    }
}

/// A ringwork runtime in this process with `profile`'s `RINGWORK_DRIVER`
/// and `RINGWORK_URING` (set only while it is built).
pub(crate) fn ringwork_runtime(
    profile: &Profile,
    workers: usize,
    seed: Option<u64>,
) -> io::Result<ringwork::Runtime> {
    let _env = EnvGuard::set(&profile.env());
    let mut builder = if profile.server == ServerKind::RingworkCurrentThread {
        ringwork::runtime::Builder::new_current_thread()
    } else {
        let mut builder = ringwork::runtime::Builder::new_multi_thread();
        builder.worker_threads(workers);
        builder
    };
    if let Some(seed) = seed {
        builder.seed(seed);
    }
    builder.build()
}

impl FileBench {
    /// Writes the test file and checks whether `O_DIRECT` works on it.
    pub(crate) fn create(scale: Scale) -> io::Result<FileBench> {
        let (file_bytes, _) = sizes(scale);
        let file = TestFile::create(file_bytes)?;
        let (flags, access) = match file_randread::probe_direct(&file.path)? {
            Ok(()) => (libc::O_DIRECT, "O_DIRECT".to_owned()),
            Err(reason) => (0, format!("page cache ({reason})")),
        };
        Ok(FileBench {
            file,
            flags,
            access,
            file_bytes,
            scale,
            generation: AtomicU64::new(0),
        })
    }

    /// Operations of one cell of `job`.
    pub(crate) fn ops(&self, job: FileJob) -> usize {
        job_ops(self.scale, job)
    }

    /// How `job` reaches the disk here, in words.
    pub(crate) fn access_of(&self, job: FileJob) -> String {
        match job.op {
            FileOp::SyncLog => "a fresh log file through the page cache, fdatasync after each \
                                append"
                .to_owned(),
            _ => format!("{} of a {} MiB file", self.access, self.file_bytes >> 20),
        }
    }

    /// One cell: `job` on a runtime (or threads) built for `profile`,
    /// then, for writes, the read-back. `Err` holds the `n/a` text.
    pub(crate) fn run_cell(
        &self,
        profile: &Profile,
        job: FileJob,
        round: usize,
        workers: usize,
        seed: Option<u64>,
    ) -> Result<(Measurement, String), String> {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let plan = FilePlan::new(
            job,
            self.ops(job),
            self.file.blocks,
            7919 * round as u64 + generation,
            generation,
        );
        // The log is a fresh file per cell, removed after it.
        let log = (job.op == FileOp::SyncLog).then(|| RemoveOnDrop(self.log_path(generation)));
        let path = log.as_ref().map_or(&self.file.path, |log| &log.0);
        let clock = ProcessCpuClock::of(std::process::id()).map_err(|err| err.to_string())?;
        let io_err = |err: io::Error| not_available_reason(&err.to_string());
        let (run, cpu, description) = match profile.server {
            ServerKind::RingworkEnv | ServerKind::RingworkCurrentThread => {
                let runtime = ringwork_runtime(profile, workers, seed).map_err(io_err)?;
                let driver = runtime.handle().driver_kind();
                let description = ringwork_description(driver, job);
                profile.check_driver(&description)?;
                let before = clock.read().map_err(io_err)?;
                let run =
                    file_io::run_ringwork(&runtime, path, self.flags, &plan).map_err(io_err)?;
                let cpu = clock.read().map_err(io_err)?.saturating_sub(before);
                (run, cpu, description)
            }
            ServerKind::Tokio | ServerKind::TokioCurrentThread => {
                let runtime = if profile.server == ServerKind::Tokio {
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(workers)
                        .build()
                } else {
                    tokio::runtime::Builder::new_current_thread().build()
                }
                .map_err(io_err)?;
                let before = clock.read().map_err(io_err)?;
                let run = file_io::run_tokio(&runtime, path, self.flags, &plan).map_err(io_err)?;
                let cpu = clock.read().map_err(io_err)?.saturating_sub(before);
                let description = match job.op {
                    FileOp::SyncLog => {
                        "tokio: tokio::fs::File write_all + sync_data (each a \
                                        blocking-pool trip)"
                    }
                    _ => "tokio: spawn_blocking(pread/pwrite) per operation",
                };
                (run, cpu, description.to_owned())
            }
            ServerKind::StdThreads => {
                let before = clock.read().map_err(io_err)?;
                let run = file_io::run_threads(path, self.flags, &plan).map_err(io_err)?;
                let cpu = clock.read().map_err(io_err)?.saturating_sub(before);
                (
                    run,
                    cpu,
                    format!(
                        "{} thread(s), blocking pread/pwrite (+ fdatasync for the log)",
                        job.depth
                    ),
                )
            }
            _ => {
                return Err(format!(
                    "{} is an echo server: it has no file variant",
                    profile.name
                ))
            }
        };
        file_io::verify_writes(path, self.flags, &plan)
            .map_err(|err| format!("read-back after the writes: {err}"))?;
        let ops = run.ops() as f64;
        Ok((
            Measurement {
                p50_us: Some(run.latency_us(0.50)),
                p99_us: Some(run.latency_us(0.99)),
                p999_us: Some(run.latency_us(0.999)),
                server_cpu_share: Some(cpu.as_secs_f64() / run.elapsed.as_secs_f64()),
                ..Measurement::new(
                    cpu.as_secs_f64() * 1e6 / ops,
                    ops / run.elapsed.as_secs_f64(),
                )
            },
            description,
        ))
    }

    /// Where cell `generation`'s log goes (next to the test file, so that
    /// it is on the same file system).
    fn log_path(&self, generation: u64) -> PathBuf {
        self.file.path.with_file_name(format!("log-{generation}"))
    }

    /// fio's io_uring engine with `job`'s pattern and depth on the same
    /// file (the log: a fresh one) for `runtime`: a line for the report, or
    /// why it did not run. Run after every cell: fio's writes replace the
    /// test file's checked blocks.
    pub(crate) fn fio_reference(&self, job: FileJob, runtime: Duration) -> String {
        let log = RemoveOnDrop(self.file.path.with_file_name("fio-log"));
        let path = match job.op {
            FileOp::SyncLog => &log.0,
            _ => &self.file.path,
        };
        let args = fio_args(job, path, self.flags == libc::O_DIRECT, runtime);
        let shown = format!("fio {}", args[2..args.len() - 1].join(" "));
        let output = match Command::new("fio").args(&args).output() {
            Ok(output) => output,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return "fio reference: n/a (fio not installed: apt-get install fio)".to_owned()
            }
            Err(err) => return format!("fio reference: n/a (could not run fio: {err})"),
        };
        if !output.status.success() {
            return format!(
                "fio reference: n/a (`{shown}` failed ({}): {})",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        match parse_fio(&output.stdout, job) {
            Some(fio) => format!("fio reference (`{shown}`): {}", fio.words(job)),
            None => "fio reference: n/a (fio's JSON output had no IOPS)".to_owned(),
        }
    }
}

/// Removes a file when dropped (a cell's log, also on error).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// What a ringwork runtime on `driver` does for `job`'s operations.
fn ringwork_description(driver: Option<ringwork::io::DriverKind>, job: FileJob) -> String {
    let (driver, how) = match (driver, job.op) {
        (Some(ringwork::io::DriverKind::Epoll), FileOp::SyncLog) => (
            "epoll",
            "File::write_all_at + sync_data on the blocking pool",
        ),
        (Some(ringwork::io::DriverKind::Epoll), _) => {
            ("epoll", "File::read_at/write_at on the blocking pool")
        }
        (Some(ringwork::io::DriverKind::Uring), FileOp::SyncLog) => (
            "io_uring",
            "File::write_all_at + sync_data as IORING_OP_WRITE + IORING_OP_FSYNC (DATASYNC)",
        ),
        (Some(ringwork::io::DriverKind::Uring), _) => (
            "io_uring",
            "File::read_at/write_at as IORING_OP_READ/WRITE (READ_FIXED/WRITE_FIXED with \
             registered buffers)",
        ),
        _ => ("unknown", "?"),
    };
    format!("ringwork, driver {driver}: {how}")
}

/// Operations per cell of `job` at `scale`: about the same wall time for
/// every job on this machine's disk (QD32 reads ~60k/s, QD1 reads and
/// writes ~10-20k/s, appends + fdatasync ~3k/s).
pub(crate) fn job_ops(scale: Scale, job: FileJob) -> usize {
    let quick = scale == Scale::Quick;
    match (job.op, job.depth > 1) {
        (FileOp::RandRead, true) => sizes(scale).1,
        (FileOp::RandRead, false) | (FileOp::RandWrite, false) => {
            if quick {
                2_000
            } else {
                20_000
            }
        }
        (FileOp::RandWrite, true) => {
            if quick {
                20_000
            } else {
                100_000
            }
        }
        (FileOp::SyncLog, _) => {
            if quick {
                300
            } else {
                2_000
            }
        }
    }
}

/// fio's command line for `job` on `path` (the test file, or the log to
/// append to) for `runtime`: its io_uring engine at the job's depth and
/// pattern, `O_DIRECT` as the cells had it (the log: page cache and
/// `--fdatasync=1`, appends with `--file_append=1` and no preallocation).
/// The first two and the last argument are left out of the line the report
/// shows.
pub(crate) fn fio_args(job: FileJob, path: &Path, direct: bool, runtime: Duration) -> Vec<String> {
    let mut args = vec![
        format!("--name=matrix-{}", job.unit().replace('+', "-")),
        format!("--filename={}", path.display()),
    ];
    match job.op {
        FileOp::RandRead | FileOp::RandWrite => {
            let rw = if job.op == FileOp::RandRead {
                "randread"
            } else {
                "randwrite"
            };
            args.extend([
                format!("--rw={rw}"),
                format!("--bs={BLOCK}"),
                format!("--direct={}", u8::from(direct)),
                "--invalidate=0".to_owned(),
            ]);
        }
        FileOp::SyncLog => args.extend([
            "--rw=write".to_owned(),
            format!("--bs={LOG_RECORD}"),
            "--direct=0".to_owned(),
            "--file_append=1".to_owned(),
            "--fallocate=none".to_owned(),
            "--size=1g".to_owned(),
            "--fdatasync=1".to_owned(),
        ]),
    }
    args.extend([
        "--ioengine=io_uring".to_owned(),
        format!("--iodepth={}", job.depth),
        // Percentiles of the whole latency (submission to completion), as
        // the cells measure it: fio's default, `clat`, starts after the
        // submitting io_uring_enter, which at QD1 also waited for it.
        "--lat_percentiles=1".to_owned(),
        "--time_based".to_owned(),
        format!("--runtime={}ms", runtime.as_millis()),
        "--output-format=json".to_owned(),
    ]);
    args
}

/// What fio measured.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FioResult {
    /// Reads or writes per second.
    pub(crate) iops: f64,
    /// fio's user + system CPU per operation, microseconds.
    pub(crate) cpu_us: f64,
    /// Latency (fio's `lat`: submission to completion) p50 and p99,
    /// microseconds.
    pub(crate) lat_us: Option<(f64, f64)>,
    /// The log: `fdatasync` latency p50 and p99, microseconds.
    pub(crate) sync_us: Option<(f64, f64)>,
}

impl FioResult {
    fn words(&self, job: FileJob) -> String {
        let mut text = format!(
            "{:.0} {}/s, {:.2} us CPU/{}",
            self.iops,
            if job.op == FileOp::RandRead {
                "reads"
            } else {
                "writes"
            },
            self.cpu_us,
            if job.op == FileOp::RandRead {
                "read"
            } else {
                "write"
            }
        );
        if let Some((p50, p99)) = self.lat_us {
            text.push_str(&format!(", lat p50 {p50:.0} us p99 {p99:.0} us"));
        }
        if let Some((p50, p99)) = self.sync_us {
            text.push_str(&format!(", fdatasync p50 {p50:.0} us p99 {p99:.0} us"));
        }
        text
    }
}

/// fio's JSON output for `job`: its first job's read (or write) IOPS, its
/// user + system CPU percentages per operation, the latency's p50/p99
/// (`--lat_percentiles=1`) and, for the log, the sync latency's.
fn parse_fio(json: &[u8], job: FileJob) -> Option<FioResult> {
    // fio may print warnings before the JSON.
    let text = String::from_utf8_lossy(json);
    let value: serde_json::Value = serde_json::from_str(&text[text.find('{')?..]).ok()?;
    let first = value.get("jobs")?.get(0)?;
    let side = first.get(if job.op == FileOp::RandRead {
        "read"
    } else {
        "write"
    })?;
    let iops = side.get("iops")?.as_f64()?;
    let cpu_percent = first.get("usr_cpu")?.as_f64()? + first.get("sys_cpu")?.as_f64()?;
    let percentiles = |lat: Option<&serde_json::Value>| {
        let table = lat?.get("percentile")?;
        let at = |key: &str| Some(table.get(key)?.as_f64()? / 1e3);
        Some((at("50.000000")?, at("99.000000")?))
    };
    (iops > 0.0).then(|| FioResult {
        iops,
        cpu_us: cpu_percent / 100.0 / iops * 1e6,
        lat_us: percentiles(side.get("lat_ns")),
        sync_us: match job.op {
            FileOp::SyncLog => percentiles(first.get("sync").and_then(|sync| sync.get("lat_ns"))),
            _ => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fio_json_gives_iops_cpu_and_latencies() {
        let json = br#"note: both iodepth >= 1 and synchronous I/O engine are selected
{"fio version": "fio-3.42", "jobs": [{"jobname": "matrix-read",
  "read": {"iops": 100000.0, "bw": 400000,
           "lat_ns": {"percentile": {"50.000000": 11000, "99.000000": 42000}}},
  "write": {"iops": 0.0}, "usr_cpu": 10.0, "sys_cpu": 40.0}]}"#;
        let fio = parse_fio(json, FileJob::randread(32)).unwrap();
        assert_eq!(fio.iops, 100_000.0);
        assert!((fio.cpu_us - 5.0).abs() < 1e-9, "{}", fio.cpu_us);
        assert_eq!(fio.lat_us, Some((11.0, 42.0)));
        assert_eq!(fio.sync_us, None);
        // The write side of a read job is empty: no IOPS, no result.
        assert_eq!(parse_fio(json, FileJob::randwrite(32)), None);
        assert_eq!(parse_fio(b"no json", FileJob::randread(1)), None);
    }

    #[test]
    fn fio_json_of_the_log_gives_the_sync_latency() {
        let json = br#"{"jobs": [{"write": {"iops": 2000.0,
  "lat_ns": {"percentile": {"50.000000": 30000, "99.000000": 90000}}},
  "sync": {"total_ios": 0, "lat_ns": {"percentile": {"50.000000": 270000, "99.000000": 730000}}},
  "usr_cpu": 1.0, "sys_cpu": 9.0}]}"#;
        let fio = parse_fio(json, FileJob::sync_log()).unwrap();
        assert_eq!(fio.sync_us, Some((270.0, 730.0)));
        assert!((fio.cpu_us - 50.0).abs() < 1e-9, "{}", fio.cpu_us);
        let words = fio.words(FileJob::sync_log());
        assert!(words.contains("2000 writes/s"), "{words}");
        assert!(words.contains("fdatasync p50 270 us p99 730 us"), "{words}");
    }

    #[test]
    fn fio_runs_the_cells_pattern_at_their_depth() {
        let path = Path::new("/tmp/x/data");
        let runtime = Duration::from_secs(2);
        let args = fio_args(FileJob::randwrite(32), path, true, runtime);
        for wanted in [
            "--filename=/tmp/x/data",
            "--rw=randwrite",
            "--bs=4096",
            "--direct=1",
            "--invalidate=0",
            "--ioengine=io_uring",
            "--iodepth=32",
            "--lat_percentiles=1",
            "--runtime=2000ms",
        ] {
            assert!(args.iter().any(|arg| arg == wanted), "{wanted} in {args:?}");
        }
        let args = fio_args(FileJob::randread(1), path, false, runtime);
        assert!(args.contains(&"--iodepth=1".to_owned()), "{args:?}");
        assert!(args.contains(&"--direct=0".to_owned()), "{args:?}");
        let args = fio_args(FileJob::sync_log(), path, true, runtime);
        for wanted in [
            "--rw=write",
            "--direct=0",
            "--file_append=1",
            "--fallocate=none",
            "--fdatasync=1",
            "--iodepth=1",
        ] {
            assert!(args.iter().any(|arg| arg == wanted), "{wanted} in {args:?}");
        }
        assert_eq!(
            args.last().map(String::as_str),
            Some("--output-format=json")
        );
    }

    #[test]
    fn every_file_job_gets_operations_at_both_scales() {
        for job in [
            FileJob::randread(1),
            FileJob::randread(32),
            FileJob::randwrite(1),
            FileJob::randwrite(32),
            FileJob::sync_log(),
        ] {
            assert!(job_ops(Scale::Quick, job) > 0);
            assert!(job_ops(Scale::Full, job) >= job_ops(Scale::Quick, job));
        }
    }
}
