//! What a matrix report records beyond [`MachineInfo`]: the privileges and
//! limits that decide which io_uring features a server may use, and what
//! the kernel's io_uring offers (its feature bits and the opcodes the
//! profiles care about, probed on a ring ringwork builds here).

use crate::machine::MachineInfo;
use serde::{Deserialize, Serialize};

/// The machine, privileges, limits and io_uring probe of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// CPUs, kernel, revision, compiler.
    pub machine: MachineInfo,
    /// Effective user id of the benchmark (its servers inherit it).
    pub euid: u32,
    /// Whether `CAP_IPC_LOCK` is in the effective set (`CapEff` of
    /// `/proc/self/status`); `None` if that could not be read.
    pub cap_ipc_lock: Option<bool>,
    /// `RLIMIT_MEMLOCK` soft limit in bytes; `None`: unlimited.
    pub memlock_soft: Option<u64>,
    /// `RLIMIT_MEMLOCK` hard limit in bytes; `None`: unlimited.
    pub memlock_hard: Option<u64>,
    /// What a default io_uring ringwork builds here reports, or why none
    /// could be built.
    pub uring_probe: String,
    /// Whether `fio` is on `PATH` (the file workloads' reference).
    pub fio: Option<String>,
}

impl Environment {
    /// Finds out everything it can; every part degrades to "unknown".
    pub fn detect() -> Environment {
        // SAFETY: `geteuid` has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        let (memlock_soft, memlock_hard) = memlock();
        Environment {
            machine: MachineInfo::detect(),
            euid,
            cap_ipc_lock: cap_ipc_lock(),
            memlock_soft,
            memlock_hard,
            uring_probe: uring_probe(),
            fio: fio_version(),
        }
    }

    /// The privileges line of a report.
    pub fn privileges(&self) -> String {
        let cap = match self.cap_ipc_lock {
            Some(true) => "CAP_IPC_LOCK",
            Some(false) => "no CAP_IPC_LOCK",
            None => "CAP_IPC_LOCK unknown",
        };
        let limit = |limit: Option<u64>| {
            limit.map_or_else(
                || "unlimited".to_owned(),
                |bytes| format!("{} KiB", bytes / 1024),
            )
        };
        format!(
            "euid {}, {cap}, RLIMIT_MEMLOCK soft {} / hard {}{}",
            self.euid,
            limit(self.memlock_soft),
            limit(self.memlock_hard),
            if self.cap_ipc_lock == Some(true) {
                " (not binding: CAP_IPC_LOCK)"
            } else {
                ""
            }
        )
    }
}

/// The capability's bit number (`linux/capability.h`).
const CAP_IPC_LOCK: u32 = 14;

fn cap_ipc_lock() -> Option<bool> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))?
        .trim();
    let bits = u64::from_str_radix(hex, 16).ok()?;
    Some(bits & (1 << CAP_IPC_LOCK) != 0)
}

fn memlock() -> (Option<u64>, Option<u64>) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a live `rlimit` the call writes.
    let res = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) };
    if res != 0 {
        return (None, None);
    }
    let finite = |value: libc::rlim_t| (value != libc::RLIM_INFINITY).then_some(value);
    (finite(limit.rlim_cur), finite(limit.rlim_max))
}

/// Builds a one-worker ringwork runtime on io_uring with its defaults and
/// reads its ring's features and the opcodes of the features the matrix
/// has or will have rows for.
fn uring_probe() -> String {
    let runtime = ringwork::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .driver(ringwork::io::DriverKind::Uring)
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => return format!("no io_uring: {err}"),
    };
    let Some(features) = runtime.handle().uring_features() else {
        return "no io_uring features reported".to_owned();
    };
    use io_uring::opcode;
    let opcodes = [
        ("SEND_ZC", opcode::SendZc::CODE),
        ("PROVIDE_BUFFERS", opcode::ProvideBuffers::CODE),
        ("READ_FIXED", opcode::ReadFixed::CODE),
        ("SOCKET (multishot accept)", opcode::Socket::CODE),
        ("FIXED_FD_INSTALL", opcode::FixedFdInstall::CODE),
        ("FUTEX_WAIT", opcode::FutexWait::CODE),
        ("WAITID", opcode::WaitId::CODE),
        ("BIND", opcode::Bind::CODE),
    ];
    let missing: Vec<&str> = opcodes
        .iter()
        .filter(|(_, code)| !features.supports(*code))
        .map(|(name, _)| *name)
        .collect();
    let present: Vec<&str> = opcodes
        .iter()
        .filter(|(_, code)| features.supports(*code))
        .map(|(name, _)| *name)
        .collect();
    format!(
        "default ring: sq={} cq={} EXT_ARG={} NODROP={} FAST_POLL={} coop_taskrun={}; \
         opcodes present: {}; missing: {}",
        features.sq_entries,
        features.cq_entries,
        features.ext_arg,
        features.nodrop,
        features.fast_poll,
        features.coop_taskrun,
        if present.is_empty() {
            "none of those probed".to_owned()
        } else {
            present.join(", ")
        },
        if missing.is_empty() {
            "none".to_owned()
        } else {
            missing.join(", ")
        }
    )
}

fn fio_version() -> Option<String> {
    let output = std::process::Command::new("fio")
        .arg("--version")
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
