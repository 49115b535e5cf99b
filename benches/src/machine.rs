//! What the numbers were measured on: CPUs, kernel, the source revision and
//! the compiler. Every field degrades to "unknown" rather than failing: a
//! report without a CPU model is still a report.

use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// Written as the value of any field that could not be found out.
const UNKNOWN: &str = "unknown";

/// The machine and build a report was measured on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineInfo {
    /// CPUs this process may use (`std::thread::available_parallelism`).
    pub cpus: Option<usize>,
    /// The first "model name" of `/proc/cpuinfo`.
    pub cpu_model: String,
    /// The kernel release (`/proc/sys/kernel/osrelease`, else `uname -r`).
    pub kernel: String,
    /// `git rev-parse --short HEAD` of the benchmarks' source tree, with
    /// "-dirty" when `git status --porcelain` lists anything.
    pub git_revision: String,
    /// `rustc --version` of the compiler that built the benchmarks.
    pub rustc: String,
    /// When the measurement started, in seconds since the Unix epoch.
    pub started_unix_secs: u64,
}

impl MachineInfo {
    /// Finds out everything it can about this machine and build.
    pub fn detect() -> MachineInfo {
        MachineInfo {
            cpus: std::thread::available_parallelism().ok().map(|n| n.get()),
            cpu_model: cpu_model().unwrap_or_else(|| UNKNOWN.to_owned()),
            kernel: kernel_release().unwrap_or_else(|| UNKNOWN.to_owned()),
            git_revision: git_revision().unwrap_or_else(|| UNKNOWN.to_owned()),
            rustc: env!("RINGWORK_BENCH_RUSTC_VERSION").to_owned(),
            started_unix_secs: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_secs()),
        }
    }
}

fn cpu_model() -> Option<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_owned())
    })
}

fn kernel_release() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|release| release.trim().to_owned())
        .filter(|release| !release.is_empty())
        .or_else(|| command_output("uname", &["-r"], None))
}

/// The revision of the tree the benchmarks were built from (or, if that tree
/// is gone, of the current directory).
fn git_revision() -> Option<String> {
    let source_tree = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = source_tree.is_dir().then_some(source_tree);
    let revision = command_output("git", &["rev-parse", "--short", "HEAD"], dir)?;
    // `--no-optional-locks`: a status must not refresh the index, so that a
    // benchmark never races a commit being made in the same tree.
    let status = command_output(
        "git",
        &["--no-optional-locks", "status", "--porcelain"],
        dir,
    )?;
    Some(if status.is_empty() {
        revision
    } else {
        format!("{revision}-dirty")
    })
}

/// The trimmed standard output of a command that succeeded.
fn command_output(program: &str, args: &[&str], dir: Option<&Path>) -> Option<String> {
    let mut command = Command::new(program);
    command.args(args);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let output = command.output().ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8(output.stdout)
        .ok()
        .map(|text| text.trim().to_owned())
}
