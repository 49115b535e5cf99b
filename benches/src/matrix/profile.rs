//! The matrix's rows (profiles: a server and the environment it runs with)
//! and columns (workloads), each in one table, and how `--profiles` and
//! `--workloads` select from them.
//!
//! A ringwork profile is the `ringwork` server of `serve` (nothing set on
//! its `Builder` but the worker count) with `RINGWORK_DRIVER` and
//! `RINGWORK_URING` set on the child process; the runtime parses both, so a
//! setting it does not know yet makes the server fail to start, and the
//! matrix shows that cell as `n/a` with the runtime's own error. Adding a
//! profile when a kernel feature lands is one line in [`PROFILES`].

use super::report::{Figure, Layout};
use crate::busy_worker::Blocker;
use crate::iobench::file_io::{FileJob, FileOp};
use crate::iobench::server::{ServerKind, Service};

/// The profile every ratio is taken against.
pub const BASELINE: &str = "epoll";

/// SQPOLL's idle time in the `uring-sqpoll` profile, in milliseconds.
pub const SQPOLL_IDLE_MS: u32 = 10;

/// One row of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// Its name on the command line and in tables.
    pub name: &'static str,
    /// The server `serve` runs.
    pub server: ServerKind,
    /// `RINGWORK_DRIVER` of the child, for ringwork profiles.
    pub driver: Option<&'static str>,
    /// `RINGWORK_URING` of the child, for ringwork profiles.
    pub uring: Option<&'static str>,
    /// What it switches, in words, for the report.
    pub what: &'static str,
}

impl Profile {
    const fn ringwork(
        name: &'static str,
        driver: &'static str,
        uring: Option<&'static str>,
        what: &'static str,
    ) -> Profile {
        Profile {
            name,
            server: ServerKind::RingworkEnv,
            driver: Some(driver),
            uring,
            what,
        }
    }

    const fn peer(name: &'static str, server: ServerKind, what: &'static str) -> Profile {
        Profile {
            name,
            server,
            driver: None,
            uring: None,
            what,
        }
    }

    /// Whether this row is ringwork under some settings (not a peer).
    pub fn is_ringwork(&self) -> bool {
        matches!(
            self.server,
            ServerKind::RingworkEnv
                | ServerKind::RingworkCurrentThread
                | ServerKind::RingworkCompatTokio
                | ServerKind::RingworkCompatFutures
        )
    }

    /// Why this row has no figure in `workload`'s column, known before
    /// running anything (`None`: run it; a server may still refuse when it
    /// starts, and the cell is then `n/a` with its error).
    pub fn refuses(&self, workload: &MatrixWorkload) -> Option<String> {
        let compat = matches!(
            self.server,
            ServerKind::RingworkCompatTokio | ServerKind::RingworkCompatFutures
        );
        match workload.kind {
            WorkloadKind::FileRandread | WorkloadKind::BusyWorker(_) if compat => Some(
                "the compat rows measure the echo through Compat; this column runs ringwork's \
                 own API in the benchmark process (see the uring-default and epoll rows)"
                    .to_owned(),
            ),
            WorkloadKind::Http => self.server.refuses(Service::Http),
            WorkloadKind::IdleConns => self.server.refuses(Service::Idle),
            WorkloadKind::Bulk { size } => self.server.refuses(Service::Bulk(size)),
            _ => None,
        }
    }

    /// The environment of its server process.
    pub fn env(&self) -> Vec<(&'static str, &'static str)> {
        let mut env = Vec::new();
        if let Some(driver) = self.driver {
            env.push(("RINGWORK_DRIVER", driver));
        }
        if let Some(uring) = self.uring {
            env.push(("RINGWORK_URING", uring));
        }
        env
    }

    /// The environment as a shell would write it ("" for a peer).
    pub fn env_words(&self) -> String {
        let words: Vec<String> = self
            .env()
            .into_iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        words.join(" ")
    }

    /// Checks that a ringwork server really runs on this profile's driver,
    /// from the description it printed when ready.
    pub fn check_driver(&self, description: &str) -> Result<(), String> {
        let wanted = match self.driver {
            Some("epoll") => "driver epoll",
            Some("uring") => "driver io_uring",
            _ => return Ok(()),
        };
        if description.contains(wanted) {
            Ok(())
        } else {
            Err(format!(
                "asked for {wanted}, the server says: {description}"
            ))
        }
    }
}

/// Plain io_uring: every switch `RINGWORK_URING` knows turned off. The
/// single-feature profiles below add exactly one switch to it, so that each
/// row's difference from `uring-plain` is that feature's.
const PLAIN: &str = "-coop_taskrun,-defer_taskrun,-multishot_accept";

/// Every row, in table order: the baseline, ringwork's profiles, the peers.
pub const PROFILES: &[Profile] = &[
    Profile::ringwork(
        "epoll",
        "epoll",
        None,
        "ringwork on its epoll driver (readiness, non-blocking syscalls): the baseline",
    ),
    Profile::ringwork(
        "uring-default",
        "uring",
        None,
        "ringwork on io_uring with its defaults (COOP_TASKRUN, multishot accept)",
    ),
    Profile::ringwork(
        "uring-plain",
        "uring",
        Some(PLAIN),
        "io_uring, no setup flags, single-shot accepts",
    ),
    Profile::ringwork(
        "uring-coop",
        "uring",
        Some("coop_taskrun,-defer_taskrun,-multishot_accept"),
        "plain + IORING_SETUP_COOP_TASKRUN (no interrupt to run completion task work)",
    ),
    Profile::ringwork(
        "uring-defer",
        "uring",
        Some("-coop_taskrun,defer_taskrun,-multishot_accept"),
        "plain + IORING_SETUP_DEFER_TASKRUN | SINGLE_ISSUER (task work only when the owner waits)",
    ),
    Profile::ringwork(
        "uring-sqpoll",
        "uring",
        Some("-coop_taskrun,-defer_taskrun,-multishot_accept,sqpoll=10"),
        "plain + IORING_SETUP_SQPOLL, 10 ms idle (a kernel thread polls the SQ; its CPU is \
         the server's)",
    ),
    Profile::ringwork(
        "uring-multishot-accept",
        "uring",
        Some("-coop_taskrun,-defer_taskrun,multishot_accept"),
        "plain + one multishot ACCEPT per listener",
    ),
    Profile::ringwork(
        "uring-bufring",
        "uring",
        Some("-coop_taskrun,-defer_taskrun,-multishot_accept,bufring"),
        "plain + provided-buffer ring with multishot recv (setting `bufring`)",
    ),
    Profile::ringwork(
        "uring-coop-bufring",
        "uring",
        Some("coop_taskrun,-defer_taskrun,-multishot_accept,bufring"),
        "COOP_TASKRUN + provided-buffer ring with multishot recv: an armed multishot \
         receive turns every arriving segment into task work, which without COOP or DEFER \
         interrupts the worker (compare with uring-bufring)",
    ),
    Profile::ringwork(
        "uring-send-zc",
        "uring",
        Some("-coop_taskrun,-defer_taskrun,-multishot_accept,send_zc=16384"),
        "plain + IORING_OP_SEND_ZC for sends of 16 KiB or more (loopback copies anyway)",
    ),
    Profile::ringwork(
        "uring-fixed-buffers",
        "uring",
        Some("-coop_taskrun,-defer_taskrun,-multishot_accept,fixed_buffers=32x4096"),
        "plain + 32 registered 4 KiB buffers (files read with READ_FIXED)",
    ),
    Profile::ringwork(
        "uring-setup-flags",
        "uring",
        Some("-coop_taskrun,-defer_taskrun,-multishot_accept,submit_all,no_sqarray"),
        "plain + IORING_SETUP_SUBMIT_ALL and IORING_SETUP_NO_SQARRAY",
    ),
    Profile::ringwork(
        "uring-ring-fd",
        "uring",
        Some("-coop_taskrun,-defer_taskrun,-multishot_accept,register_ring_fd"),
        "plain + the ring fd registered with its worker (IORING_ENTER_REGISTERED_RING)",
    ),
    Profile::ringwork(
        "uring-fixed-files",
        "uring",
        Some("-coop_taskrun,-defer_taskrun,-multishot_accept,fixed_files"),
        "plain + a 1024-slot fixed-file table per worker ring: sockets named by their slot on \
         the ring where they were first used",
    ),
    Profile::ringwork(
        "uring-all",
        "uring",
        Some(
            "coop_taskrun,defer_taskrun,multishot_accept,bufring,send_zc=16384,\
             fixed_buffers=32x4096,submit_all,no_sqarray,register_ring_fd,fixed_files",
        ),
        "every switch on that combines (SQPOLL is left out: the kernel refuses it with \
         DEFER_TASKRUN)",
    ),
    Profile {
        name: "uring-ct",
        server: ServerKind::RingworkCurrentThread,
        driver: Some("uring"),
        uring: None,
        what: "ringwork's current-thread runtime on io_uring, default settings: one thread \
               runs the accept loop and every connection (compare with tokio-ct)",
    },
    Profile {
        name: "uring-ct-defer",
        server: ServerKind::RingworkCurrentThread,
        driver: Some("uring"),
        uring: Some("defer_taskrun"),
        what: "ringwork's current-thread runtime on io_uring with DEFER_TASKRUN + SINGLE_ISSUER \
               (no monitor thread in this flavor, so nothing else enters its ring)",
    },
    Profile {
        name: "epoll-ct",
        server: ServerKind::RingworkCurrentThread,
        driver: Some("epoll"),
        uring: None,
        what: "ringwork's current-thread runtime on its epoll driver",
    },
    Profile {
        name: "uring-compat-tokio",
        server: ServerKind::RingworkCompatTokio,
        driver: Some("uring"),
        uring: None,
        what: "uring-default's server echoing through io::compat::Compat with tokio's \
               AsyncReadExt/AsyncWriteExt (the cost of the tokio-io layer: compare with \
               uring-default); echo columns only",
    },
    Profile {
        name: "epoll-compat-tokio",
        server: ServerKind::RingworkCompatTokio,
        driver: Some("epoll"),
        uring: None,
        what: "the epoll baseline's server echoing through Compat with tokio's I/O traits \
               (compare with epoll); echo columns only",
    },
    Profile {
        name: "uring-compat-futures",
        server: ServerKind::RingworkCompatFutures,
        driver: Some("uring"),
        uring: None,
        what: "uring-default's server echoing through Compat with futures-io's \
               AsyncRead/AsyncWrite (compare with uring-default); echo columns only",
    },
    Profile {
        name: "epoll-compat-futures",
        server: ServerKind::RingworkCompatFutures,
        driver: Some("epoll"),
        uring: None,
        what: "the epoll baseline's server echoing through Compat with futures-io's traits \
               (compare with epoll); echo columns only",
    },
    Profile::peer(
        "tokio-mt",
        ServerKind::Tokio,
        "tokio multi_thread, same worker count, task per connection (epoll via mio)",
    ),
    Profile::peer(
        "monoio",
        ServerKind::Monoio,
        "monoio 0.2 on io_uring, thread per core: as many threads as workers, each with its \
         own SO_REUSEPORT listener; a connection never leaves its thread",
    ),
    Profile::peer(
        "tokio-ct",
        ServerKind::TokioCurrentThread,
        "tokio current_thread, one thread, task per connection",
    ),
    Profile::peer(
        "floor",
        ServerKind::Floor,
        "hand-written single-thread io_uring echo loop, no runtime: the floor",
    ),
    Profile::peer(
        "floor-multishot",
        ServerKind::FloorMultishot,
        "the floor with a multishot receive per connection into a provided-buffer ring \
         (256 x 16 KiB): the floor of the bufring profiles",
    ),
    Profile::peer(
        "std-threads",
        ServerKind::StdThreads,
        "a thread per connection, blocking std::net I/O",
    ),
];

/// The rows `compare` runs (its reduced matrix).
pub const COMPARE_PROFILES: [&str; 4] = ["epoll", "uring-default", "uring-plain", "tokio-mt"];

/// The rows of `matrix --quick` when `--profiles` names none: each setup
/// flag alone, the buffer ring with COOP, everything on, the
/// current-thread flavor, and every peer (the single-feature rows that
/// measured no difference, the compat rows and the other current-thread
/// rows run with `--profiles all` or by name).
pub const QUICK_PROFILES: [&str; 14] = [
    "epoll",
    "uring-default",
    "uring-plain",
    "uring-coop",
    "uring-defer",
    "uring-coop-bufring",
    "uring-all",
    "uring-ct",
    "tokio-mt",
    "tokio-ct",
    "monoio",
    "floor",
    "floor-multishot",
    "std-threads",
];

/// What a workload measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    /// `tcp_echo`'s open loop (after its closed loop) with messages of this
    /// many bytes.
    Echo {
        /// Bytes per message.
        size: usize,
    },
    /// `accept_storm`: connect, echo 64 B, close.
    AcceptStorm,
    /// `file_randread`: 4 KiB random reads, 32 in flight, in this process.
    FileRandread,
    /// `skewed`'s echo where the connections numbered below `heavy` cost the
    /// server `compute_us` of CPU per message: a closed loop at saturation,
    /// then an open loop; the figure is the plain connections' p99. The
    /// server is not pinned.
    Skewed {
        /// Heavy connections (of 100).
        heavy: usize,
        /// CPU per heavy message, microseconds.
        compute_us: u64,
    },
    /// 10,000 connections, each echoes one message and then waits with a
    /// read pending: the server's RSS.
    IdleConns,
    /// The server sends messages of `size` bytes on a few connections as
    /// fast as the client reads and checks them.
    Bulk {
        /// Bytes per message.
        size: usize,
    },
    /// `busy_worker`'s rounds with this blocker, on a runtime built in this
    /// process (multi-thread runtimes only).
    BusyWorker(Blocker),
    /// hyper's HTTP/1.1 server answering a hello, 100 keep-alive
    /// connections: a closed loop (requests/s at saturation), then an open
    /// loop at a fixed rate (server CPU per request, latency from intended
    /// send times). ringwork's and tokio's servers only.
    Http,
    /// A closed loop alone at saturation: `tcp_echo`'s connections with
    /// messages of `size` bytes, one in flight per connection; the figure
    /// is the throughput.
    EchoClosed {
        /// Bytes per message.
        size: usize,
    },
    /// A file job (`iobench::file_io`) in this process: random reads or
    /// writes at a depth, or the fsync'd log. (`FileRandread` is the same
    /// as `File(FileJob::randread(32))`, kept under its name.)
    File(FileJob),
}

impl WorkloadKind {
    /// The file job this column runs in the benchmark process, if it is a
    /// file column.
    pub fn file_job(&self) -> Option<FileJob> {
        match *self {
            WorkloadKind::FileRandread => Some(FileJob::randread(32)),
            WorkloadKind::File(job) => Some(job),
            _ => None,
        }
    }
}

/// One column of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatrixWorkload {
    /// Its name on the command line and in tables.
    pub name: &'static str,
    /// What it runs.
    pub kind: WorkloadKind,
    /// Whether it runs when `--workloads` is not given. The echo, accept
    /// and file columns already take ~16 min at full scale and ~2.3 min
    /// with `--quick`; the others run when named (or with `all`).
    pub default: bool,
}

impl MatrixWorkload {
    /// The unit of its CPU figure.
    pub fn cpu_unit(&self) -> &'static str {
        match self.kind {
            WorkloadKind::Echo { .. } | WorkloadKind::Skewed { .. } => "CPU us/msg",
            WorkloadKind::AcceptStorm => "CPU us/conn",
            WorkloadKind::FileRandread => "CPU us/read",
            WorkloadKind::IdleConns => "CPU us/conn set up",
            WorkloadKind::Bulk { .. } => "CPU us/MiB",
            WorkloadKind::BusyWorker(_) => "process CPU us/round",
            WorkloadKind::Http => "CPU us/req",
            WorkloadKind::EchoClosed { .. } => "CPU us/msg",
            WorkloadKind::File(job) => match job.op {
                FileOp::RandRead => "CPU us/read",
                FileOp::RandWrite => "CPU us/write",
                FileOp::SyncLog => "CPU us/append+sync",
            },
        }
    }

    /// The unit of its rate figure.
    pub fn rate_unit(&self) -> &'static str {
        match self.kind {
            WorkloadKind::Echo { .. } | WorkloadKind::Skewed { .. } => "closed-loop msgs/s",
            WorkloadKind::AcceptStorm => "conns/s",
            WorkloadKind::FileRandread => "reads/s",
            WorkloadKind::IdleConns => "conns/s set up",
            WorkloadKind::Bulk { .. } => "GB/s",
            WorkloadKind::BusyWorker(_) => "void rounds",
            WorkloadKind::Http => "closed-loop req/s",
            WorkloadKind::EchoClosed { .. } => "msgs/s at saturation",
            WorkloadKind::File(job) => match job.op {
                FileOp::RandRead => "reads/s",
                FileOp::RandWrite => "writes/s",
                FileOp::SyncLog => "appends+syncs/s",
            },
        }
    }

    /// The name of its headline figure, the one ratios divide.
    pub fn headline_name(&self) -> &'static str {
        match self.kind {
            WorkloadKind::Skewed { .. } => "plain p99 us (open loop)",
            WorkloadKind::IdleConns => "RSS MiB",
            WorkloadKind::BusyWorker(_) => "read late ms",
            WorkloadKind::EchoClosed { .. } => self.rate_unit(),
            _ => self.cpu_unit(),
        }
    }

    /// Its table's layout.
    pub fn layout(&self) -> Layout {
        let named = |figure: Figure, name: &str| (figure, name.to_owned());
        let (headline, references, columns, second) = match self.kind {
            WorkloadKind::Http => (
                Figure::Cpu,
                vec!["tokio-mt"],
                vec![
                    named(Figure::P50, "p50 us"),
                    named(Figure::P99, "p99 us"),
                    named(Figure::P999, "p999 us"),
                    named(Figure::SwitchesPerOp, "ctx switches/req"),
                    named(Figure::Rate, self.rate_unit()),
                ],
                named(Figure::Rate, self.rate_unit()),
            ),
            WorkloadKind::Echo { .. } => (
                Figure::Cpu,
                vec![],
                vec![
                    named(Figure::P50, "p50 us"),
                    named(Figure::P99, "p99 us"),
                    named(Figure::P999, "p999 us"),
                    named(Figure::SwitchesPerOp, "ctx switches/msg"),
                    named(Figure::Rate, self.rate_unit()),
                    named(Figure::SyscallsPerOp, "syscalls/msg"),
                    named(Figure::EntersPerOp, "enters/msg"),
                    named(Figure::SqesPerOp, "SQEs/msg"),
                    named(Figure::CqesPerOp, "CQEs/msg"),
                ],
                named(Figure::P99, "p99 latency, us"),
            ),
            WorkloadKind::AcceptStorm | WorkloadKind::FileRandread | WorkloadKind::Bulk { .. } => (
                Figure::Cpu,
                vec![],
                vec![named(Figure::Rate, self.rate_unit())],
                named(Figure::Rate, self.rate_unit()),
            ),
            WorkloadKind::Skewed { .. } => (
                Figure::P99,
                vec!["std-threads"],
                vec![
                    named(Figure::P50, "plain p50 us"),
                    named(Figure::P999, "plain p999 us"),
                    named(Figure::HeavyP99, "heavy p99 us"),
                    named(Figure::Cpu, self.cpu_unit()),
                    named(Figure::Rate, self.rate_unit()),
                    named(Figure::ClosedP99, "closed-loop plain p99 us"),
                ],
                named(Figure::ClosedP99, "closed-loop plain p99, us"),
            ),
            WorkloadKind::IdleConns => (
                Figure::RssMib,
                vec!["tokio-mt"],
                vec![
                    named(Figure::RssPerConnKib, "KiB/conn over idle server"),
                    named(Figure::Cpu, self.cpu_unit()),
                    named(Figure::Rate, self.rate_unit()),
                ],
                named(
                    Figure::RssPerConnKib,
                    "RSS per connection over the idle server, KiB",
                ),
            ),
            WorkloadKind::BusyWorker(_) => (
                Figure::ReadLateMs,
                vec!["tokio-mt"],
                vec![
                    named(Figure::TimerLateMs, "timer late ms"),
                    named(Figure::Cpu, self.cpu_unit()),
                    named(Figure::Rate, self.rate_unit()),
                ],
                named(Figure::TimerLateMs, "timer late, ms"),
            ),
            WorkloadKind::EchoClosed { .. } => (
                Figure::Rate,
                vec![],
                vec![
                    named(Figure::P50, "p50 us"),
                    named(Figure::P99, "p99 us"),
                    named(Figure::P999, "p999 us"),
                    named(Figure::Cpu, self.cpu_unit()),
                ],
                named(Figure::P99, "p99 latency, us"),
            ),
            WorkloadKind::File(_) => (
                Figure::Cpu,
                vec![],
                vec![
                    named(Figure::P50, "p50 us"),
                    named(Figure::P99, "p99 us"),
                    named(Figure::Rate, self.rate_unit()),
                ],
                named(Figure::P99, "p99 latency, us"),
            ),
        };
        Layout {
            headline: named(headline, self.headline_name()),
            references: references.into_iter().map(str::to_owned).collect(),
            columns,
            second,
            cpu_unit: self.cpu_unit().to_owned(),
            rate_unit: self.rate_unit().to_owned(),
        }
    }
}

/// Every column, in table order.
pub const WORKLOADS: &[MatrixWorkload] = &[
    MatrixWorkload {
        name: "echo_64",
        kind: WorkloadKind::Echo { size: 64 },
        default: true,
    },
    MatrixWorkload {
        name: "echo_16k",
        kind: WorkloadKind::Echo { size: 16 * 1024 },
        default: true,
    },
    MatrixWorkload {
        name: "accept_storm",
        kind: WorkloadKind::AcceptStorm,
        default: true,
    },
    MatrixWorkload {
        name: "echo_64_closed",
        kind: WorkloadKind::EchoClosed { size: 64 },
        default: false,
    },
    MatrixWorkload {
        name: "file_randread",
        kind: WorkloadKind::FileRandread,
        default: true,
    },
    MatrixWorkload {
        name: "file_randread_qd1",
        kind: WorkloadKind::File(FileJob::randread(1)),
        // ~15 s of a quick run with 22 profiles: past the 2-minute budget.
        default: false,
    },
    MatrixWorkload {
        name: "file_randwrite_qd1",
        kind: WorkloadKind::File(FileJob::randwrite(1)),
        default: false,
    },
    MatrixWorkload {
        name: "file_randwrite_qd32",
        kind: WorkloadKind::File(FileJob::randwrite(32)),
        default: false,
    },
    MatrixWorkload {
        name: "file_fsync_log",
        kind: WorkloadKind::File(FileJob::sync_log()),
        default: false,
    },
    MatrixWorkload {
        name: "skewed_10x200us",
        kind: WorkloadKind::Skewed {
            heavy: 10,
            compute_us: 200,
        },
        default: false,
    },
    MatrixWorkload {
        name: "skewed_2x1ms",
        kind: WorkloadKind::Skewed {
            heavy: 2,
            compute_us: 1000,
        },
        default: false,
    },
    MatrixWorkload {
        name: "idle_conns",
        kind: WorkloadKind::IdleConns,
        default: false,
    },
    MatrixWorkload {
        name: "bulk_64k",
        kind: WorkloadKind::Bulk { size: 64 * 1024 },
        default: false,
    },
    MatrixWorkload {
        name: "bulk_256k",
        kind: WorkloadKind::Bulk { size: 256 * 1024 },
        default: false,
    },
    MatrixWorkload {
        name: "bulk_1m",
        kind: WorkloadKind::Bulk { size: 1024 * 1024 },
        default: false,
    },
    MatrixWorkload {
        name: "busy_worker_sleep",
        kind: WorkloadKind::BusyWorker(Blocker::Sleep),
        default: false,
    },
    MatrixWorkload {
        name: "busy_worker_spin",
        kind: WorkloadKind::BusyWorker(Blocker::Spin),
        default: false,
    },
    MatrixWorkload {
        name: "busy_worker_spin_submitted",
        kind: WorkloadKind::BusyWorker(Blocker::SpinSubmitted),
        default: false,
    },
    MatrixWorkload {
        name: "http_hello",
        kind: WorkloadKind::Http,
        default: false,
    },
];

/// `--workloads`' name of every workload (the default set leaves some out).
pub const ALL_WORKLOADS: &str = "all";

/// The columns `compare` runs.
pub const COMPARE_WORKLOADS: [&str; 1] = ["echo_64"];

/// The profiles named in `names` (every one when empty), in table order,
/// with the baseline added when it was left out (ratios need it).
pub fn select_profiles(names: &[String]) -> Result<Vec<Profile>, String> {
    let every = names.iter().any(|name| name == "all");
    let names = if every { &[][..] } else { names };
    let mut selected = select(PROFILES, names, |profile| profile.name, "profile")?;
    if !selected.iter().any(|profile| profile.name == BASELINE) {
        let baseline = PROFILES
            .iter()
            .find(|profile| profile.name == BASELINE)
            .expect("the baseline is in the table");
        selected.insert(0, *baseline);
    }
    Ok(selected)
}

/// The workloads named in `names`, in table order: the default set when
/// `names` is empty, every one for [`ALL_WORKLOADS`].
pub fn select_workloads(names: &[String]) -> Result<Vec<MatrixWorkload>, String> {
    if names.is_empty() {
        return Ok(WORKLOADS.iter().filter(|w| w.default).copied().collect());
    }
    if names.iter().any(|name| name == ALL_WORKLOADS) {
        return Ok(WORKLOADS.to_vec());
    }
    select(WORKLOADS, names, |workload| workload.name, "workload")
}

fn select<T: Copy>(
    table: &[T],
    names: &[String],
    name_of: fn(&T) -> &'static str,
    what: &str,
) -> Result<Vec<T>, String> {
    if let Some(unknown) = names
        .iter()
        .find(|name| !table.iter().any(|item| name_of(item) == name.as_str()))
    {
        let known: Vec<&str> = table.iter().map(name_of).collect();
        return Err(format!(
            "unknown {what} {unknown:?}; known: {}",
            known.join(", ")
        ));
    }
    Ok(table
        .iter()
        .filter(|item| names.is_empty() || names.iter().any(|name| name == name_of(item)))
        .copied()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn no_names_select_every_profile_and_the_default_workloads_in_table_order() {
        let profiles = select_profiles(&[]).unwrap();
        assert_eq!(profiles, PROFILES.to_vec());
        let defaults: Vec<&str> = select_workloads(&[])
            .unwrap()
            .iter()
            .map(|workload| workload.name)
            .collect();
        assert_eq!(
            defaults,
            ["echo_64", "echo_16k", "accept_storm", "file_randread"]
        );
        assert_eq!(
            select_workloads(&names(&["all"])).unwrap(),
            WORKLOADS.to_vec()
        );
        let named = select_workloads(&names(&["skewed_2x1ms", "echo_64"])).unwrap();
        let named: Vec<&str> = named.iter().map(|workload| workload.name).collect();
        assert_eq!(named, ["echo_64", "skewed_2x1ms"]);
    }

    #[test]
    fn named_profiles_come_in_table_order_with_the_baseline_added() {
        let profiles = select_profiles(&names(&["tokio-mt", "uring-defer"])).unwrap();
        let selected: Vec<&str> = profiles.iter().map(|profile| profile.name).collect();
        assert_eq!(selected, ["epoll", "uring-defer", "tokio-mt"]);
    }

    #[test]
    fn an_unknown_name_is_an_error_listing_the_known_ones() {
        let err = select_profiles(&names(&["uring-turbo"])).unwrap_err();
        assert!(err.contains("unknown profile \"uring-turbo\""), "{err}");
        assert!(err.contains("uring-sqpoll"), "{err}");
        let err = select_workloads(&names(&["echo_1m"])).unwrap_err();
        assert!(
            err.contains("known: echo_64, echo_16k, accept_storm"),
            "{err}"
        );
    }

    #[test]
    fn profile_names_are_unique_and_the_reduced_sets_exist() {
        for (index, profile) in PROFILES.iter().enumerate() {
            assert!(
                PROFILES[index + 1..]
                    .iter()
                    .all(|other| other.name != profile.name),
                "{} twice",
                profile.name
            );
        }
        assert!(select_profiles(&names(&COMPARE_PROFILES)).is_ok());
        assert!(select_workloads(&names(&COMPARE_WORKLOADS)).is_ok());
    }

    #[test]
    fn single_feature_profiles_are_plain_plus_one_switch() {
        let spec = |name: &str| {
            PROFILES
                .iter()
                .find(|profile| profile.name == name)
                .and_then(|profile| profile.uring)
                .unwrap()
        };
        assert_eq!(spec("uring-plain"), PLAIN);
        assert!(spec("uring-sqpoll").ends_with(&format!("sqpoll={SQPOLL_IDLE_MS}")));
        for (name, on) in [
            ("uring-coop", "coop_taskrun"),
            ("uring-defer", "defer_taskrun"),
            ("uring-multishot-accept", "multishot_accept"),
        ] {
            let turned_on: Vec<&str> = spec(name)
                .split(',')
                .filter(|token| !token.starts_with('-'))
                .collect();
            assert_eq!(turned_on, [on], "{name}");
        }
    }

    #[test]
    fn ringwork_profiles_set_both_variables_and_peers_none() {
        let defer = PROFILES
            .iter()
            .find(|profile| profile.name == "uring-defer")
            .unwrap();
        assert_eq!(
            defer.env(),
            [
                ("RINGWORK_DRIVER", "uring"),
                (
                    "RINGWORK_URING",
                    "-coop_taskrun,defer_taskrun,-multishot_accept"
                )
            ]
        );
        let tokio = PROFILES
            .iter()
            .find(|profile| profile.name == "tokio-mt")
            .unwrap();
        assert!(tokio.env().is_empty() && !tokio.is_ringwork());
        assert_eq!(tokio.env_words(), "");
    }

    #[test]
    fn rows_that_cannot_serve_a_column_say_why_before_running() {
        let find = |name: &str| *PROFILES.iter().find(|p| p.name == name).unwrap();
        let column = |name: &str| *WORKLOADS.iter().find(|w| w.name == name).unwrap();
        let http = column("http_hello");
        for serving in ["epoll", "uring-default", "uring-ct", "tokio-mt", "tokio-ct"] {
            assert_eq!(find(serving).refuses(&http), None, "{serving}");
        }
        for (row, says) in [
            ("floor", "echo loops"),
            ("monoio", "hyper"),
            ("std-threads", "blocking"),
            ("uring-compat-tokio", "Compat"),
        ] {
            let reason = find(row).refuses(&http).unwrap();
            assert!(reason.contains(says), "{row}: {reason}");
        }
        let compat = find("epoll-compat-futures");
        for echo in ["echo_64", "echo_16k", "accept_storm", "skewed_10x200us"] {
            assert_eq!(compat.refuses(&column(echo)), None, "{echo}");
        }
        for other in [
            "file_randread",
            "busy_worker_sleep",
            "idle_conns",
            "bulk_64k",
        ] {
            assert!(compat.refuses(&column(other)).is_some(), "{other}");
        }
    }

    #[test]
    fn file_columns_run_their_file_jobs_with_units_of_their_own() {
        let column = |name: &str| WORKLOADS.iter().find(|w| w.name == name).unwrap();
        let job = |name: &str| column(name).kind.file_job();
        assert_eq!(job("file_randread"), Some(FileJob::randread(32)));
        assert_eq!(job("file_randread_qd1"), Some(FileJob::randread(1)));
        assert_eq!(job("file_randwrite_qd1"), Some(FileJob::randwrite(1)));
        assert_eq!(job("file_randwrite_qd32"), Some(FileJob::randwrite(32)));
        assert_eq!(job("file_fsync_log"), Some(FileJob::sync_log()));
        assert_eq!(job("echo_64"), None);
        assert_eq!(column("file_randwrite_qd1").cpu_unit(), "CPU us/write");
        assert_eq!(column("file_fsync_log").rate_unit(), "appends+syncs/s");
        let layout = column("file_fsync_log").layout();
        assert_eq!(layout.headline.0, Figure::Cpu);
        assert!(layout
            .columns
            .iter()
            .any(|(figure, _)| *figure == Figure::P99));
    }

    #[test]
    fn a_server_on_another_driver_fails_the_check() {
        let epoll = PROFILES[0];
        assert!(epoll
            .check_driver("...; driver epoll (from the environment)")
            .is_ok());
        assert!(epoll
            .check_driver("...; driver io_uring (from the environment): sq=256")
            .is_err());
    }
}
