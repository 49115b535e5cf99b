//! What this kernel's io_uring supports: setup features and opcodes.

use io_uring::{IoUring, Probe};
use std::fmt;
use std::io;
use std::sync::OnceLock;

/// The io_uring features a ring was set up with and the opcodes the kernel
/// supports. Public so the runtime and the benchmark can report it.
#[derive(Clone, PartialEq, Eq)]
pub struct Features {
    /// `IORING_FEAT_EXT_ARG`: waits can carry a timeout without a TIMEOUT SQE.
    pub ext_arg: bool,
    /// `IORING_FEAT_NODROP`: completions are never dropped on CQ overflow.
    pub nodrop: bool,
    /// `IORING_FEAT_FAST_POLL`: sockets are polled internally, not in io-wq.
    pub fast_poll: bool,
    /// The ring runs with `IORING_SETUP_SQPOLL`.
    pub sqpoll: bool,
    /// The ring runs with `IORING_SETUP_COOP_TASKRUN`.
    pub coop_taskrun: bool,
    /// The ring runs with `IORING_SETUP_DEFER_TASKRUN | SINGLE_ISSUER`.
    pub defer_taskrun: bool,
    /// Submission queue entries.
    pub sq_entries: u32,
    /// Completion queue entries (the in-flight cap).
    pub cq_entries: u32,
    /// Listeners accept with one multishot `ACCEPT` (asked for in
    /// [`Config::multishot_accept`](crate::Config::multishot_accept), and
    /// the kernel has it).
    pub multishot_accept: bool,
    /// The ring has a provided buffer ring (asked for in
    /// [`Config::buf_ring`](crate::Config::buf_ring), and registered):
    /// stream sockets receive with a multishot `RECV` into it.
    pub buf_ring: bool,
    /// The ring runs with `IORING_SETUP_SUBMIT_ALL`.
    pub submit_all: bool,
    /// The ring runs with `IORING_SETUP_NO_SQARRAY`.
    pub no_sqarray: bool,
    /// Sends of at least this many bytes use `IORING_OP_SEND_ZC` (see
    /// [`Config::send_zc_threshold`](crate::Config::send_zc_threshold)).
    pub send_zc_threshold: Option<u32>,
    /// The id of the pool of registered buffers
    /// ([`FixedBuffers::id`](crate::FixedBuffers::id)), if the ring has one.
    pub fixed_buffers: Option<u64>,
    /// The owner enters by the registered ring fd (asked for in
    /// [`Config::register_ring_fd`](crate::Config::register_ring_fd), and
    /// the kernel has it).
    pub registered_ring_fd: bool,
    /// The size of the ring's fixed-file table, if it has one (asked for
    /// in [`Config::fixed_files`](crate::Config::fixed_files)).
    pub fixed_files: Option<u32>,
    /// Features asked for that the kernel or the limits refused, left off
    /// because [`Config::best_effort`](crate::Config::best_effort) was
    /// set, each with the refusal.
    pub skipped: Vec<FeatureState>,
    opcodes: [u64; 4],
}

impl Features {
    pub(crate) fn read(ring: &IoUring, defer_taskrun: bool, coop_taskrun: bool) -> Features {
        let params = ring.params();
        let mut probe = Probe::new();
        let mut opcodes = [0u64; 4];
        if ring.submitter().register_probe(&mut probe).is_ok() {
            for op in 0..=255u8 {
                if probe.is_supported(op) {
                    opcodes[usize::from(op / 64)] |= 1 << (op % 64);
                }
            }
        }
        Features {
            ext_arg: params.is_feature_ext_arg(),
            nodrop: params.is_feature_nodrop(),
            fast_poll: params.is_feature_fast_poll(),
            sqpoll: params.is_setup_sqpoll(),
            coop_taskrun,
            defer_taskrun,
            sq_entries: params.sq_entries(),
            cq_entries: params.cq_entries(),
            multishot_accept: false,
            buf_ring: false,
            submit_all: false,
            no_sqarray: false,
            send_zc_threshold: None,
            fixed_buffers: None,
            registered_ring_fd: false,
            fixed_files: None,
            skipped: Vec::new(),
            opcodes,
        }
    }

    /// Whether the kernel has multishot `ACCEPT`. It has no opcode or
    /// feature bit of its own: it came in Linux 5.19 with
    /// `IORING_OP_SOCKET`, whose support stands in for it. (A kernel that
    /// still refuses it answers `EINVAL`, and listeners fall back to
    /// single-shot accepts.)
    pub(crate) fn has_multishot_accept(&self) -> bool {
        self.supports(io_uring::opcode::Socket::CODE)
    }

    /// Whether the kernel supports `opcode` (e.g. `io_uring::opcode::Read::CODE`).
    pub fn supports(&self, opcode: u8) -> bool {
        self.opcodes[usize::from(opcode / 64)] & (1 << (opcode % 64)) != 0
    }

    /// Number of supported opcodes.
    pub fn opcode_count(&self) -> u32 {
        self.opcodes.iter().map(|w| w.count_ones()).sum()
    }
}

impl fmt::Debug for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Features")
            .field("ext_arg", &self.ext_arg)
            .field("nodrop", &self.nodrop)
            .field("fast_poll", &self.fast_poll)
            .field("sqpoll", &self.sqpoll)
            .field("coop_taskrun", &self.coop_taskrun)
            .field("defer_taskrun", &self.defer_taskrun)
            .field("sq_entries", &self.sq_entries)
            .field("cq_entries", &self.cq_entries)
            .field("multishot_accept", &self.multishot_accept)
            .field("buf_ring", &self.buf_ring)
            .field("submit_all", &self.submit_all)
            .field("no_sqarray", &self.no_sqarray)
            .field("send_zc_threshold", &self.send_zc_threshold)
            .field("fixed_buffers", &self.fixed_buffers)
            .field("registered_ring_fd", &self.registered_ring_fd)
            .field("fixed_files", &self.fixed_files)
            .field("skipped", &self.skipped)
            .field("opcodes", &self.opcode_count())
            .finish()
    }
}

/// Why io_uring cannot be used in this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// `io_uring_setup` failed with an error that means "not here": `ENOSYS`
    /// (old kernel), `EPERM`/`EACCES` (seccomp, `kernel.io_uring_disabled`).
    Setup {
        /// The `errno`.
        errno: i32,
        /// A sentence naming the cause.
        reason: String,
    },
    /// The kernel lacks an opcode the runtime needs.
    MissingOpcode(&'static str),
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::Setup { reason, .. } => f.write_str(reason),
            Unavailable::MissingOpcode(name) => write!(f, "io_uring lacks IORING_OP_{name}"),
        }
    }
}

impl std::error::Error for Unavailable {}

/// Classifies a setup error: `Some` when it means io_uring is unavailable
/// here (fall back to epoll), `None` for resource errors (report them).
pub fn classify_setup_error(err: &io::Error) -> Option<Unavailable> {
    let errno = err.raw_os_error()?;
    let reason = match errno {
        libc::ENOSYS => "io_uring_setup failed with ENOSYS: the kernel has no io_uring".to_owned(),
        libc::EPERM | libc::EACCES => {
            let name = if errno == libc::EPERM {
                "EPERM"
            } else {
                "EACCES"
            };
            match io_uring_disabled_sysctl() {
                Some(value) if value != 0 => format!(
                    "io_uring_setup failed with {name}: kernel.io_uring_disabled = {value}"
                ),
                _ => format!("io_uring_setup failed with {name}: blocked by a seccomp filter or security policy"),
            }
        }
        _ => return None,
    };
    Some(Unavailable::Setup { errno, reason })
}

fn io_uring_disabled_sysctl() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Probes io_uring once per process with a small plain ring: the supported
/// features and opcodes, or why io_uring is unavailable. Resource errors
/// (`ENOMEM`, `EMFILE`) are returned as `Err(io::Error)` and not cached.
pub fn probe() -> io::Result<Result<Features, Unavailable>> {
    static PROBED: OnceLock<Result<Features, Unavailable>> = OnceLock::new();
    if let Some(done) = PROBED.get() {
        return Ok(done.clone());
    }
    let outcome = match IoUring::new(8) {
        Ok(ring) => Ok(Features::read(&ring, false, false)),
        Err(err) => match classify_setup_error(&err) {
            Some(unavailable) => Err(unavailable),
            None => return Err(err),
        },
    };
    Ok(PROBED.get_or_init(|| outcome).clone())
}

/// One io_uring feature of a ring: whether it is on, and why (see
/// [`Features::states`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureState {
    /// The feature's name, as `RINGWORK_URING` spells it.
    pub name: &'static str,
    /// Whether the ring uses it.
    pub on: bool,
    /// Why: what turned it on, or what keeps it off.
    pub why: String,
}

impl Features {
    /// Every optional feature of the ring set up from `asked`: on or off,
    /// and why (asked for or not; the kernel lacks it; refused and left
    /// off, with [`Config::best_effort`](crate::Config::best_effort)). A
    /// feature asked for and refused without `best_effort` never gets
    /// here: the ring's set-up fails, naming the cause.
    pub fn states(&self, asked: &crate::Config) -> Vec<FeatureState> {
        let state = |name: &'static str, on: bool, wanted: bool, lacks: Option<&str>| {
            let why = match (on, wanted, lacks) {
                (true, _, _) => "asked for, and the kernel has it".to_owned(),
                (false, true, Some(lacks)) => format!("the kernel lacks {lacks}"),
                (false, true, None) => "asked for, but unused".to_owned(),
                (false, false, _) => "not asked for".to_owned(),
            };
            FeatureState { name, on, why }
        };
        let has = |opcode: u8, name: &'static str| (!self.supports(opcode)).then_some(name);
        use io_uring::opcode;
        let mut states = vec![
            state("sqpoll", self.sqpoll, asked.sqpoll_idle_ms.is_some(), None),
            state(
                "coop_taskrun",
                self.coop_taskrun,
                asked.coop_taskrun,
                Some("IORING_SETUP_COOP_TASKRUN (5.19+)"),
            ),
            state(
                "defer_taskrun",
                self.defer_taskrun,
                asked.defer_taskrun,
                None,
            ),
            state(
                "multishot_accept",
                self.multishot_accept,
                asked.multishot_accept,
                has(
                    opcode::Socket::CODE,
                    "multishot ACCEPT (5.19+, probed by IORING_OP_SOCKET)",
                ),
            ),
            state("bufring", self.buf_ring, asked.buf_ring.is_some(), None),
            state(
                "send_zc",
                self.send_zc_threshold.is_some(),
                asked.send_zc_threshold.is_some(),
                has(opcode::SendZc::CODE, "IORING_OP_SEND_ZC (6.0+)"),
            ),
            state(
                "fixed_buffers",
                self.fixed_buffers.is_some(),
                asked.fixed_buffers.is_some(),
                None,
            ),
            state("submit_all", self.submit_all, asked.submit_all, None),
            state("no_sqarray", self.no_sqarray, asked.no_sqarray, None),
            state(
                "register_ring_fd",
                self.registered_ring_fd,
                asked.register_ring_fd,
                None,
            ),
            state(
                "fixed_files",
                self.fixed_files.is_some(),
                asked.fixed_files.is_some(),
                None,
            ),
        ];
        // A refusal left off under `best_effort` says why.
        for skipped in &self.skipped {
            if let Some(state) = states.iter_mut().find(|s| s.name == skipped.name) {
                *state = skipped.clone();
            }
        }
        states
    }
}
