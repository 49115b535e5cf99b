//! [`Config`]: the ring's setup knobs, validated, and ring construction.

use crate::bufring::BufRingConfig;
use crate::fixed::SharedFixedBuffers;
use crate::probe::Features;
use io_uring::IoUring;
use std::io;

/// Setup knobs of one driver's ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Submission queue entries (a power of two, 1..=32768; the kernel rounds
    /// up). The completion queue gets twice as many. Default 256.
    pub entries: u32,
    /// `IORING_SETUP_SQPOLL` with this idle time in milliseconds: a kernel
    /// thread polls the submission queue (costs a CPU while busy). Default off.
    pub sqpoll_idle_ms: Option<u32>,
    /// `IORING_SETUP_COOP_TASKRUN`: completions are not signalled with an
    /// interrupt; the owner collects them on its next enter. Default on.
    pub coop_taskrun: bool,
    /// `IORING_SETUP_DEFER_TASKRUN | SINGLE_ISSUER`: completion work runs only
    /// when the owner waits. Requires that only the owner thread ever enters
    /// the ring, which this driver guarantees. Default off.
    pub defer_taskrun: bool,
    /// Multishot `ACCEPT` (`IORING_ACCEPT_MULTISHOT`, Linux 5.19+): one
    /// armed accept per listener posts every connection. Used only where
    /// the kernel has it ([`Features::multishot_accept`]). Default on.
    pub multishot_accept: bool,
    /// A provided buffer ring of these sizes, registered with the ring
    /// (`IORING_REGISTER_PBUF_RING`, Linux 5.19+; multishot `RECV` needs
    /// 6.0+): stream sockets then receive with one armed multishot `RECV`
    /// each, into buffers the kernel picks as data arrives. Default off.
    pub buf_ring: Option<BufRingConfig>,
    /// `IORING_SETUP_SUBMIT_ALL` (Linux 5.18+): a submission batch goes on
    /// past an SQE that fails to submit (its error comes as its CQE) instead
    /// of stopping there. Default off; a kernel without it refuses the ring
    /// (a `build()` error naming the flag).
    pub submit_all: bool,
    /// `IORING_SETUP_NO_SQARRAY` (Linux 6.6+): no submission-queue index
    /// array; SQEs are taken in ring order (one less indirection and cache
    /// line per SQE). Default off; a kernel without it refuses the ring (a
    /// `build()` error naming the flag).
    pub no_sqarray: bool,
    /// Sends of at least this many bytes use `IORING_OP_SEND_ZC` (Linux
    /// 6.0+): the kernel sends from the buffer without copying it where the
    /// device allows (never on loopback, which copies; the completion says
    /// so), and the buffer is held until the kernel's notification. `None`
    /// (the default): plain sends. A kernel without the opcode makes the
    /// driver's set-up fail, naming it.
    pub send_zc_threshold: Option<u32>,
    /// A pool of buffers to register with the ring
    /// (`IORING_REGISTER_BUFFERS`); a runtime registers one pool with all
    /// its rings. Registration pins the memory: a refusal (`ENOMEM` under
    /// `RLIMIT_MEMLOCK`) makes the driver's set-up fail, naming the limit.
    /// Default none.
    pub fixed_buffers: Option<SharedFixedBuffers>,
    /// Register the ring's descriptor with its owner thread
    /// (`IORING_REGISTER_RING_FDS`, Linux 5.18+) and enter by the
    /// registered index (`IORING_ENTER_REGISTERED_RING`): the kernel skips
    /// the descriptor lookup and reference count of every `io_uring_enter`.
    /// A thread registers at most 16 rings; past that, a ring enters by its
    /// descriptor (counted in [`StatsSnapshot::ring_fd_refused`](crate::StatsSnapshot::ring_fd_refused)).
    /// Default off; a kernel without it makes the driver's set-up fail,
    /// naming it.
    pub register_ring_fd: bool,
    /// What to do with an optional feature the kernel or the limits refuse
    /// (a setup flag, the buffer ring, registered buffers, zero-copy
    /// send, the registered ring fd): `false` (the default) makes the
    /// driver's set-up fail with an error naming the cause; `true` sets
    /// the ring up without it and records why in [`Features::skipped`]
    /// (`RINGWORK_URING=auto`).
    pub best_effort: bool,
    /// A fixed-file table of this many slots
    /// (`IORING_REGISTER_FILES2` with `IORING_RSRC_REGISTER_SPARSE`, Linux
    /// 5.19+): a descriptor registered in it
    /// ([`Driver::register_file`](crate::Driver::register_file)) is named
    /// by its slot in the operations submitted on this ring. At most
    /// `RLIMIT_NOFILE`. Default none.
    pub fixed_files: Option<u32>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            entries: 256,
            sqpoll_idle_ms: None,
            coop_taskrun: true,
            defer_taskrun: false,
            multishot_accept: true,
            buf_ring: None,
            submit_all: false,
            no_sqarray: false,
            send_zc_threshold: None,
            fixed_buffers: None,
            register_ring_fd: false,
            best_effort: false,
            fixed_files: None,
        }
    }
}

/// A feature a ring can go without.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Optional {
    NoSqarray,
    SubmitAll,
    DeferTaskrun,
    Sqpoll,
    BufRing,
    FixedBuffers,
    SendZc,
    RingFd,
    FixedFiles,
}

impl Optional {
    /// The name `RINGWORK_URING` and [`FeatureState`](crate::FeatureState) use.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Optional::NoSqarray => "no_sqarray",
            Optional::SubmitAll => "submit_all",
            Optional::DeferTaskrun => "defer_taskrun",
            Optional::Sqpoll => "sqpoll",
            Optional::BufRing => "bufring",
            Optional::FixedBuffers => "fixed_buffers",
            Optional::SendZc => "send_zc",
            Optional::RingFd => "register_ring_fd",
            Optional::FixedFiles => "fixed_files",
        }
    }

    fn is_on(self, config: &Config) -> bool {
        match self {
            Optional::NoSqarray => config.no_sqarray,
            Optional::SubmitAll => config.submit_all,
            Optional::DeferTaskrun => config.defer_taskrun,
            Optional::Sqpoll => config.sqpoll_idle_ms.is_some(),
            Optional::BufRing => config.buf_ring.is_some(),
            Optional::FixedBuffers => config.fixed_buffers.is_some(),
            Optional::SendZc => config.send_zc_threshold.is_some(),
            Optional::RingFd => config.register_ring_fd,
            Optional::FixedFiles => config.fixed_files.is_some(),
        }
    }

    pub(crate) fn turn_off(self, config: &mut Config) {
        match self {
            Optional::NoSqarray => config.no_sqarray = false,
            Optional::SubmitAll => config.submit_all = false,
            Optional::DeferTaskrun => config.defer_taskrun = false,
            Optional::Sqpoll => config.sqpoll_idle_ms = None,
            Optional::BufRing => config.buf_ring = None,
            Optional::FixedBuffers => config.fixed_buffers = None,
            Optional::SendZc => config.send_zc_threshold = None,
            Optional::RingFd => config.register_ring_fd = false,
            Optional::FixedFiles => config.fixed_files = None,
        }
    }
}

/// Why a ring could not be set up: the error, and the optional feature
/// that caused it (`None`: the ring itself failed).
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) feature: Option<Optional>,
    pub(crate) error: io::Error,
}

impl Refusal {
    pub(crate) fn fatal(error: io::Error) -> Refusal {
        Refusal {
            feature: None,
            error,
        }
    }

    pub(crate) fn of(feature: Optional, error: io::Error) -> Refusal {
        Refusal {
            feature: Some(feature),
            error,
        }
    }
}

/// Largest queue the kernel accepts (`IORING_MAX_ENTRIES`).
pub const MAX_ENTRIES: u32 = 32768;
/// Smallest ring worth retrying with after `ENOMEM`.
const MIN_ENTRIES: u32 = 8;

impl Config {
    /// Checks the knobs; `InvalidInput` with a sentence naming the bad one.
    pub fn validate(&self) -> io::Result<()> {
        if self.entries == 0 || self.entries > MAX_ENTRIES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "io_uring entries must be between 1 and {MAX_ENTRIES}, got {}",
                    self.entries
                ),
            ));
        }
        if self.defer_taskrun && self.sqpoll_idle_ms.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "io_uring DEFER_TASKRUN cannot be combined with SQPOLL",
            ));
        }
        if let Some(buf_ring) = &self.buf_ring {
            buf_ring.validate()?;
        }
        Ok(())
    }

    /// Sets up a ring. On `ENOMEM` (locked-memory limits, many rings) halves
    /// the entries and retries; if that still fails, the error names
    /// `RLIMIT_MEMLOCK`. A setup flag the kernel refuses is a [`Refusal`]
    /// naming it (found by setting up without each optional flag in turn).
    ///
    /// With `DEFER_TASKRUN` (which implies `SINGLE_ISSUER`) the ring is set up
    /// disabled (`IORING_SETUP_R_DISABLED`): the kernel then binds it to the
    /// thread that enables it, so it can be created on one thread and started
    /// on its owner (see [`UnstartedDriver`](crate::UnstartedDriver)).
    pub(crate) fn build_ring(&self) -> Result<(IoUring, Features), Refusal> {
        self.validate().map_err(Refusal::fatal)?;
        let mut entries = self.entries.next_power_of_two();
        loop {
            match self.try_build(entries) {
                Ok(ring) => {
                    let mut features = Features::read(&ring, self.defer_taskrun, self.coop_taskrun);
                    features.multishot_accept =
                        self.multishot_accept && features.has_multishot_accept();
                    features.submit_all = self.submit_all;
                    features.send_zc_threshold = self.send_zc_threshold;
                    features.no_sqarray = self.no_sqarray;
                    return Ok((ring, features));
                }
                Err(err) if err.raw_os_error() == Some(libc::ENOMEM) && entries > MIN_ENTRIES => {
                    entries /= 2;
                }
                Err(err) if err.raw_os_error() == Some(libc::ENOMEM) => {
                    return Err(Refusal::fatal(io::Error::new(
                        err.kind(),
                        format!(
                            "io_uring_setup failed with ENOMEM even with {entries} entries: \
                             raise RLIMIT_MEMLOCK (ulimit -l) or use fewer rings ({err})"
                        ),
                    )));
                }
                Err(err)
                    if err.raw_os_error() == Some(libc::EINVAL)
                        && self.coop_taskrun
                        && !self.defer_taskrun
                        && Config {
                            coop_taskrun: false,
                            ..self.clone()
                        }
                        .try_build(entries)
                        .is_ok() =>
                {
                    // Kernels before 5.19 reject COOP_TASKRUN: it is an
                    // optimisation, so set the ring up without it.
                    let plain = Config {
                        coop_taskrun: false,
                        ..self.clone()
                    };
                    return plain.build_ring();
                }
                Err(err) => return Err(self.name_refused_flag(entries, err)),
            }
        }
    }

    /// `io_uring_setup` failed with `err`: if the ring can be set up without
    /// one of the optional flags asked for, that flag is refused (a
    /// [`Refusal`] naming it); otherwise `err` is the ring's own failure.
    fn name_refused_flag(&self, entries: u32, err: io::Error) -> Refusal {
        let refused = |feature: Optional, flag: &str, kernel: &str| Refusal {
            feature: Some(feature),
            error: io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "io_uring_setup refused {flag} ({err}): this kernel lacks it ({kernel}) or \
                     forbids it here; turn it off (RINGWORK_URING=-{})",
                    feature.name()
                ),
            ),
        };
        let candidates = [
            (Optional::NoSqarray, "IORING_SETUP_NO_SQARRAY", "6.6+"),
            (Optional::SubmitAll, "IORING_SETUP_SUBMIT_ALL", "5.18+"),
            (Optional::DeferTaskrun, "IORING_SETUP_DEFER_TASKRUN", "6.1+"),
            (
                Optional::Sqpoll,
                "IORING_SETUP_SQPOLL",
                "unprivileged 5.11+",
            ),
        ];
        let asked: Vec<_> = candidates
            .into_iter()
            .filter(|(feature, ..)| feature.is_on(self))
            .collect();
        for &(feature, flag, kernel) in &asked {
            let mut without = self.clone();
            feature.turn_off(&mut without);
            if without.try_build(entries).is_ok() {
                return refused(feature, flag, kernel);
            }
        }
        // No single flag: the combination, if the ring works with none.
        let mut none = self.clone();
        for (feature, ..) in &asked {
            feature.turn_off(&mut none);
        }
        match asked.first() {
            Some(&(feature, flag, kernel)) if none.try_build(entries).is_ok() => {
                refused(feature, flag, kernel)
            }
            _ => Refusal::fatal(err),
        }
    }

    fn try_build(&self, entries: u32) -> io::Result<IoUring> {
        #[cfg(feature = "fault-injection")]
        {
            let asked = [
                Optional::NoSqarray,
                Optional::SubmitAll,
                Optional::DeferTaskrun,
                Optional::Sqpoll,
            ]
            .map(|flag| if flag.is_on(self) { flag.name() } else { "" });
            if let Some(err) = crate::faults::setup_error(&asked) {
                return Err(err);
            }
        }
        let mut builder = IoUring::builder();
        builder.setup_cqsize(entries * 2).setup_clamp();
        if let Some(idle) = self.sqpoll_idle_ms {
            builder.setup_sqpoll(idle);
        }
        if self.coop_taskrun {
            builder.setup_coop_taskrun();
        }
        if self.submit_all {
            builder.setup_submit_all();
        }
        if self.no_sqarray {
            builder.setup_no_sqarray();
        }
        if self.defer_taskrun {
            builder
                .setup_single_issuer()
                .setup_defer_taskrun()
                .setup_r_disabled()
                .setup_taskrun_flag();
        }
        builder.build(entries)
    }
}
