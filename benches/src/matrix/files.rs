//! The matrix's file column, `file_randread`: `file_randread`'s reads (4
//! KiB at random aligned offsets of a test file, 32 in flight, `O_DIRECT`
//! when the file system takes it, every block checked) run in this process
//! on a runtime built for the profile, and fio's io_uring engine at the same
//! depth on the same file as the reference, when `fio` is on `PATH`.
//!
//! Files need no server process: a ringwork profile's runtime is built here
//! with the profile's `RINGWORK_DRIVER` and `RINGWORK_URING` set for the
//! duration of `Builder::build` (the only place the runtime reads them) and
//! restored right after. The figure is this process's CPU time per read
//! (workers, blocking-pool threads, io_uring's kernel workers) — the matrix's
//! other threads sleep meanwhile.

use super::profile::Profile;
use super::report::{not_available_reason, Measurement};
use crate::iobench::file_randread::{self, TestFile, BLOCK, IN_FLIGHT};
use crate::iobench::server::ServerKind;
use crate::iobench::sys::ProcessCpuClock;
use crate::workloads::Scale;
use std::io;
use std::process::Command;
use std::time::Duration;

/// The test file and how it is read.
pub(crate) struct FileBench {
    file: TestFile,
    flags: libc::c_int,
    /// "O_DIRECT" or why the page cache is used.
    pub(crate) access: String,
    /// Reads per cell.
    pub(crate) reads: usize,
    /// Size of the file in bytes.
    pub(crate) file_bytes: u64,
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
        let (file_bytes, reads) = sizes(scale);
        let file = TestFile::create(file_bytes)?;
        let (flags, access) = match file_randread::probe_direct(&file.path)? {
            Ok(()) => (libc::O_DIRECT, "O_DIRECT".to_owned()),
            Err(reason) => (0, format!("page cache ({reason})")),
        };
        Ok(FileBench {
            file,
            flags,
            access,
            reads,
            file_bytes,
        })
    }

    /// One cell: the reads on a runtime built for `profile`. `Err` holds
    /// the `n/a` text.
    pub(crate) fn run_cell(
        &self,
        profile: &Profile,
        round: usize,
        workers: usize,
        seed: Option<u64>,
    ) -> Result<(Measurement, String), String> {
        let offsets = file_randread::offsets(self.reads, self.file.blocks, 7919 * round as u64);
        let clock = ProcessCpuClock::of(std::process::id()).map_err(|err| err.to_string())?;
        let io_err = |err: io::Error| not_available_reason(&err.to_string());
        let (elapsed, cpu, description) = match profile.server {
            ServerKind::RingworkEnv | ServerKind::RingworkCurrentThread => {
                let runtime = ringwork_runtime(profile, workers, seed).map_err(io_err)?;
                let description = match runtime.handle().driver_kind() {
                    Some(ringwork::io::DriverKind::Epoll) => {
                        "ringwork, driver epoll: File::read_at on the blocking pool"
                    }
                    Some(ringwork::io::DriverKind::Uring) => {
                        "ringwork, driver io_uring: File::read_at as IORING_OP_READ"
                    }
                    _ => "ringwork, driver unknown",
                };
                profile.check_driver(description)?;
                let before = clock.read().map_err(io_err)?;
                let elapsed =
                    file_randread::run_ringwork(&runtime, &self.file.path, self.flags, offsets)
                        .map_err(io_err)?;
                let cpu = clock.read().map_err(io_err)?.saturating_sub(before);
                (elapsed, cpu, description.to_owned())
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
                let elapsed =
                    file_randread::run_tokio(&runtime, &self.file.path, self.flags, offsets)
                        .map_err(io_err)?;
                let cpu = clock.read().map_err(io_err)?.saturating_sub(before);
                (
                    elapsed,
                    cpu,
                    "tokio: spawn_blocking(pread) per read".to_owned(),
                )
            }
            _ => {
                return Err(format!(
                    "{} is an echo server: it has no file variant",
                    profile.name
                ))
            }
        };
        Ok((
            Measurement {
                server_cpu_share: Some(cpu.as_secs_f64() / elapsed.as_secs_f64()),
                ..Measurement::new(
                    cpu.as_secs_f64() * 1e6 / self.reads as f64,
                    self.reads as f64 / elapsed.as_secs_f64(),
                )
            },
            description,
        ))
    }

    /// fio's io_uring engine on the same file at the same depth for
    /// `runtime`: a line for the report, or why it did not run.
    pub(crate) fn fio_reference(&self, runtime: Duration) -> String {
        let direct = if self.flags == libc::O_DIRECT { 1 } else { 0 };
        let args = [
            "--name=matrix-randread".to_owned(),
            format!("--filename={}", self.file.path.display()),
            "--rw=randread".to_owned(),
            format!("--bs={BLOCK}"),
            format!("--direct={direct}"),
            "--invalidate=0".to_owned(),
            "--ioengine=io_uring".to_owned(),
            format!("--iodepth={IN_FLIGHT}"),
            "--time_based".to_owned(),
            format!("--runtime={}ms", runtime.as_millis()),
            "--output-format=json".to_owned(),
        ];
        let shown = format!("fio {}", args[2..args.len() - 1].join(" "));
        let output = match Command::new("fio").args(&args).output() {
            Ok(output) => output,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return "fio reference: fio is not on PATH (Debian/Ubuntu: `apt-get install \
                        fio`)"
                    .to_owned()
            }
            Err(err) => return format!("fio reference: could not run fio: {err}"),
        };
        if !output.status.success() {
            return format!(
                "fio reference: `{shown}` failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        match parse_fio(&output.stdout) {
            Some((iops, cpu_us)) => {
                format!("fio reference (`{shown}`): {iops:.0} IOPS, {cpu_us:.2} us CPU/read")
            }
            None => "fio reference: fio's JSON output had no read IOPS".to_owned(),
        }
    }
}

/// (IOPS, CPU microseconds per read) from fio's JSON output: its first
/// job's read IOPS and its user + system CPU percentages.
fn parse_fio(json: &[u8]) -> Option<(f64, f64)> {
    // fio may print warnings before the JSON.
    let text = String::from_utf8_lossy(json);
    let value: serde_json::Value = serde_json::from_str(&text[text.find('{')?..]).ok()?;
    let job = value.get("jobs")?.get(0)?;
    let iops = job.get("read")?.get("iops")?.as_f64()?;
    let cpu_percent = job.get("usr_cpu")?.as_f64()? + job.get("sys_cpu")?.as_f64()?;
    (iops > 0.0).then(|| (iops, cpu_percent / 100.0 / iops * 1e6))
}

#[cfg(test)]
mod tests {
    use super::parse_fio;

    #[test]
    fn fio_json_gives_iops_and_cpu_per_read() {
        let json = br#"note: both iodepth >= 1 and synchronous I/O engine are selected
{"fio version": "fio-3.42", "jobs": [{"jobname": "matrix-randread",
  "read": {"iops": 100000.0, "bw": 400000}, "usr_cpu": 10.0, "sys_cpu": 40.0}]}"#;
        let (iops, cpu_us) = parse_fio(json).unwrap();
        assert_eq!(iops, 100_000.0);
        assert!((cpu_us - 5.0).abs() < 1e-9, "{cpu_us}");
        assert_eq!(parse_fio(b"no json"), None);
    }
}
