//! The I/O driver as operations see it: which kind a runtime uses
//! ([`DriverKind`]), and this thread's driver, found in the per-thread
//! context (`context.rs`). Each worker thread, and each thread inside
//! `block_on`, owns one — an io_uring `Driver`, or an epoll `Reactor` where
//! io_uring is unavailable; `driver/io.rs` sets them up. An operation runs on
//! the driver of the thread that first polls it; its completion (or
//! readiness) wakes the task wherever it runs by then.

use crate::context::{self, IoAccess, ThreadDriver};
use ringwork_uring::Driver;
use std::io;

/// Which I/O driver a runtime uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DriverKind {
    /// io_uring when this kernel and sandbox allow it, else epoll (with the
    /// reason kept in `Handle::driver_fallback_reason`).
    #[default]
    Auto,
    /// io_uring, or an error from `build()` naming why it cannot be used.
    Uring,
    /// epoll readiness with non-blocking syscalls; regular files go to the
    /// blocking pool.
    Epoll,
}

impl DriverKind {
    /// Reads `RINGWORK_DRIVER` (`auto`, `uring` or `epoll`); `None` if unset.
    pub(crate) fn from_env() -> io::Result<Option<DriverKind>> {
        let Some(value) = std::env::var_os("RINGWORK_DRIVER") else {
            return Ok(None);
        };
        match value.to_string_lossy().trim() {
            "auto" | "" => Ok(Some(DriverKind::Auto)),
            "uring" | "io_uring" => Ok(Some(DriverKind::Uring)),
            "epoll" => Ok(Some(DriverKind::Epoll)),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("RINGWORK_DRIVER must be auto, uring or epoll, got {other:?}"),
            )),
        }
    }
}

/// Which io_uring settings a `Builder` was given explicitly: those win over
/// `RINGWORK_URING`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct UringSet {
    pub(crate) entries: bool,
    pub(crate) sqpoll: bool,
    pub(crate) coop_taskrun: bool,
    pub(crate) defer_taskrun: bool,
    pub(crate) multishot_accept: bool,
    pub(crate) buf_ring: bool,
    pub(crate) submit_all: bool,
    pub(crate) no_sqarray: bool,
    pub(crate) send_zc: bool,
    pub(crate) fixed_buffers: bool,
    pub(crate) register_ring_fd: bool,
    pub(crate) best_effort: bool,
    pub(crate) fixed_files: bool,
}

impl UringSet {
    /// Every setting chosen (a whole config given to the builder).
    pub(crate) fn all() -> UringSet {
        UringSet {
            entries: true,
            sqpoll: true,
            coop_taskrun: true,
            defer_taskrun: true,
            multishot_accept: true,
            buf_ring: true,
            submit_all: true,
            no_sqarray: true,
            send_zc: true,
            fixed_buffers: true,
            register_ring_fd: true,
            best_effort: true,
            fixed_files: true,
        }
    }
}

/// The fixed-file table size `RINGWORK_URING=fixed_files` gives each ring.
pub(crate) const DEFAULT_FIXED_FILES: u32 = 1024;

/// The settings `RINGWORK_URING` knows, for error messages.
const URING_SETTINGS: &str = "coop_taskrun, defer_taskrun, multishot_accept, bufring, \
     submit_all, no_sqarray, register_ring_fd, auto (each \
     alone to turn it on, with a leading '-' to turn it off), bufring=ENTRIESxSIZE[xPER_SOCKET], \
     send_zc=MIN_BYTES, -send_zc, fixed_buffers=COUNTxSIZE, -fixed_buffers, fixed_files[=SLOTS], \
     -fixed_files, sqpoll=IDLE_MS, -sqpoll, entries=N";

/// Applies `RINGWORK_URING` (if set) to `config`, except what `set` says
/// the builder chose. The value is a comma-separated list: `name` turns a
/// switch on, `-name` off, `name=value` sets a number (see
/// [`URING_SETTINGS`]). An unknown name or a bad value is an `InvalidInput`
/// error naming it. Benches and CI switch kernel features with it without
/// recompiling.
pub(crate) fn apply_uring_env(
    config: &mut ringwork_uring::Config,
    set: UringSet,
) -> io::Result<()> {
    let Some(value) = std::env::var_os("RINGWORK_URING") else {
        return Ok(());
    };
    apply_uring_spec(config, set, &value.to_string_lossy())
}

fn apply_uring_spec(
    config: &mut ringwork_uring::Config,
    set: UringSet,
    spec: &str,
) -> io::Result<()> {
    let bad = |why: String| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("RINGWORK_URING={spec:?}: {why} (known: {URING_SETTINGS})"),
        )
    };
    for token in spec.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (name, value) = match token.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim())),
            None => (token, None),
        };
        let (name, on) = match name.strip_prefix('-') {
            Some(name) => (name, false),
            None => (name, true),
        };
        let number = |value: Option<&str>| -> io::Result<u32> {
            let value = value.ok_or_else(|| bad(format!("{name} needs a value: {name}=N")))?;
            value
                .parse()
                .map_err(|err| bad(format!("{name}={value}: {err}")))
        };
        let switch = |value: Option<&str>| match value {
            None => Ok(on),
            Some(value) => Err(bad(format!(
                "{name} is a switch: write {name} or -{name}, not {name}={value}"
            ))),
        };
        match name {
            "coop_taskrun" => {
                let on = switch(value)?;
                if !set.coop_taskrun {
                    config.coop_taskrun = on;
                }
            }
            "defer_taskrun" => {
                let on = switch(value)?;
                if !set.defer_taskrun {
                    config.defer_taskrun = on;
                }
            }
            "submit_all" => {
                let on = switch(value)?;
                if !set.submit_all {
                    config.submit_all = on;
                }
            }
            "no_sqarray" => {
                let on = switch(value)?;
                if !set.no_sqarray {
                    config.no_sqarray = on;
                }
            }
            "register_ring_fd" => {
                let on = switch(value)?;
                if !set.register_ring_fd {
                    config.register_ring_fd = on;
                }
            }
            "auto" => {
                let on = switch(value)?;
                if !set.best_effort {
                    config.best_effort = on;
                }
            }
            "multishot_accept" => {
                let on = switch(value)?;
                if !set.multishot_accept {
                    config.multishot_accept = on;
                }
            }
            "bufring" => {
                let sizes = match (on, value) {
                    (false, None) => None,
                    (false, Some(value)) => {
                        return Err(bad(format!("write -bufring, not -bufring={value}")))
                    }
                    (true, None) => Some(ringwork_uring::BufRingConfig::default()),
                    (true, Some(value)) => Some(parse_buf_ring(value).map_err(bad)?),
                };
                if !set.buf_ring {
                    config.buf_ring = sizes;
                }
            }
            "fixed_buffers" => {
                let pool = match (on, value) {
                    (false, None) => None,
                    (true, Some(value)) => {
                        let (count, size) = value.split_once('x').ok_or_else(|| {
                            bad(format!("fixed_buffers={value}: write COUNTxSIZE"))
                        })?;
                        let count = count.trim().parse::<u16>().map_err(|err| {
                            bad(format!("fixed_buffers={value}: {count:?}: {err}"))
                        })?;
                        let size = size.trim().parse::<usize>().map_err(|err| {
                            bad(format!("fixed_buffers={value}: {size:?}: {err}"))
                        })?;
                        let pool = ringwork_uring::FixedBuffers::new(count, size)
                            .map_err(|err| bad(format!("fixed_buffers={value}: {err}")))?;
                        Some(ringwork_uring::SharedFixedBuffers(pool))
                    }
                    _ => {
                        return Err(bad(
                            "write fixed_buffers=COUNTxSIZE or -fixed_buffers".into()
                        ))
                    }
                };
                if !set.fixed_buffers {
                    config.fixed_buffers = pool;
                }
            }
            "fixed_files" => {
                let slots = match (on, value) {
                    (false, None) => None,
                    (true, None) => Some(DEFAULT_FIXED_FILES),
                    (true, Some(_)) => Some(number(value)?),
                    (false, Some(value)) => {
                        return Err(bad(format!("write -fixed_files, not -fixed_files={value}")))
                    }
                };
                if !set.fixed_files {
                    config.fixed_files = slots;
                }
            }
            "send_zc" => {
                let threshold = if on { Some(number(value)?) } else { None };
                if !set.send_zc {
                    config.send_zc_threshold = threshold;
                }
            }
            "sqpoll" => {
                let idle = if on { Some(number(value)?) } else { None };
                if !set.sqpoll {
                    config.sqpoll_idle_ms = idle;
                }
            }
            "entries" if on => {
                let entries = number(value)?;
                if !set.entries {
                    config.entries = entries;
                }
            }
            other => return Err(bad(format!("unknown setting {other:?}"))),
        }
    }
    Ok(())
}

/// `ENTRIESxSIZE[xPER_SOCKET]` (e.g. `64x4096`, `256x16384x8`): a buffer
/// ring's sizes; the cap defaults to the default's share of the entries.
fn parse_buf_ring(value: &str) -> Result<ringwork_uring::BufRingConfig, String> {
    let parts: Vec<&str> = value.split('x').map(str::trim).collect();
    let number = |s: &str| {
        s.parse::<u32>()
            .map_err(|err| format!("bufring={value}: {s:?}: {err}"))
    };
    let (entries, size, per_socket) = match parts.as_slice() {
        [entries, size] => (number(entries)?, number(size)?, None),
        [entries, size, cap] => (number(entries)?, number(size)?, Some(number(cap)?)),
        _ => return Err(format!("bufring={value}: write ENTRIESxSIZE[xPER_SOCKET]")),
    };
    let entries =
        u16::try_from(entries).map_err(|_| format!("bufring={value}: at most 32768 entries"))?;
    let per_socket = match per_socket {
        Some(cap) => u16::try_from(cap).map_err(|_| format!("bufring={value}: cap too large"))?,
        None => (entries / 8).max(1),
    };
    let sizes = ringwork_uring::BufRingConfig {
        entries,
        buf_size: size,
        per_socket,
    };
    sizes
        .validate()
        .map_err(|err| format!("bufring={value}: {err}"))?;
    Ok(sizes)
}

/// A handle to register descriptors with this thread's epoll reactor.
pub(crate) fn epoll_handle() -> Option<ringwork_epoll::Handle> {
    context::with_io(|io| match io {
        IoAccess::Driver(ThreadDriver::Epoll(reactor)) => Some(reactor.handle()),
        _ => None,
    })
}

pub(crate) fn no_driver() -> io::Error {
    io::Error::other(
        "no ringwork I/O driver on this thread: poll I/O futures from a ringwork task or inside \
         `Runtime::block_on` of a runtime built with I/O enabled",
    )
}

/// Runs `f` with this thread's io_uring driver, if it has one.
pub(crate) fn with_uring<T>(f: impl FnOnce(&mut Driver) -> T) -> Option<T> {
    context::with_io(|io| match io {
        IoAccess::Driver(ThreadDriver::Uring(driver)) => Some(f(driver)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::{apply_uring_spec, UringSet};
    use ringwork_uring::Config;

    #[test]
    fn a_uring_spec_sets_what_the_builder_left_and_names_what_it_cannot_read() {
        let mut config = Config::default();
        apply_uring_spec(
            &mut config,
            UringSet::default(),
            "-coop_taskrun, defer_taskrun,-multishot_accept,entries=512",
        )
        .unwrap();
        assert!(!config.coop_taskrun && config.defer_taskrun && !config.multishot_accept);
        assert_eq!(config.entries, 512);
        assert_eq!(config.buf_ring, None);
        apply_uring_spec(&mut config, UringSet::default(), "bufring").unwrap();
        assert_eq!(config.buf_ring, Some(Default::default()));
        apply_uring_spec(&mut config, UringSet::default(), "bufring=64x4096").unwrap();
        let sizes = config.buf_ring.unwrap();
        assert_eq!(
            (sizes.entries, sizes.buf_size, sizes.per_socket),
            (64, 4096, 8)
        );
        apply_uring_spec(&mut config, UringSet::default(), "bufring=2x100x1,-bufring").unwrap();
        assert_eq!(config.buf_ring, None);
        apply_uring_spec(&mut config, UringSet::default(), "submit_all,no_sqarray").unwrap();
        assert!(config.submit_all && config.no_sqarray);
        apply_uring_spec(&mut config, UringSet::default(), "fixed_files").unwrap();
        assert_eq!(config.fixed_files, Some(1024));
        apply_uring_spec(&mut config, UringSet::default(), "fixed_files=64").unwrap();
        assert_eq!(config.fixed_files, Some(64));
        apply_uring_spec(&mut config, UringSet::default(), "-fixed_files").unwrap();
        assert_eq!(config.fixed_files, None);
        assert!(apply_uring_spec(&mut config, UringSet::default(), "-fixed_files=3").is_err());
        apply_uring_spec(&mut config, UringSet::default(), "auto,register_ring_fd").unwrap();
        assert!(config.best_effort && config.register_ring_fd);
        apply_uring_spec(&mut config, UringSet::default(), "-auto,-register_ring_fd").unwrap();
        assert!(!config.best_effort && !config.register_ring_fd);
        assert!(apply_uring_spec(&mut config, UringSet::default(), "auto=1").is_err());
        apply_uring_spec(&mut config, UringSet::default(), "send_zc=65536").unwrap();
        assert_eq!(config.send_zc_threshold, Some(65536));
        apply_uring_spec(&mut config, UringSet::default(), "-send_zc").unwrap();
        apply_uring_spec(&mut config, UringSet::default(), "fixed_buffers=4x8192").unwrap();
        let pool = config.fixed_buffers.clone().unwrap();
        assert_eq!((pool.0.count(), pool.0.buf_size()), (4, 8192));
        assert_eq!(config.send_zc_threshold, None);
        apply_uring_spec(&mut config, UringSet::default(), "sqpoll=2000").unwrap();
        assert_eq!(config.sqpoll_idle_ms, Some(2000));
        apply_uring_spec(&mut config, UringSet::default(), "-sqpoll").unwrap();
        assert_eq!(config.sqpoll_idle_ms, None);

        // What the builder set explicitly wins.
        let mut config = Config::default();
        let set = UringSet {
            multishot_accept: true,
            ..UringSet::default()
        };
        apply_uring_spec(&mut config, set, "-multishot_accept,-coop_taskrun").unwrap();
        assert!(config.multishot_accept && !config.coop_taskrun);

        for bad in [
            "fast_mode",
            "entries",
            "entries=many",
            "coop_taskrun=1",
            "sqpoll",
            "bufring=3x4096",
            "bufring=64",
            "bufring=64x0",
            "bufring=4x64x5",
            "-bufring=4x64",
            "fixed_buffers",
            "fixed_buffers=0x4096",
            "fixed_buffers=4",
        ] {
            let err =
                apply_uring_spec(&mut Config::default(), UringSet::default(), bad).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{bad}");
            assert!(err.to_string().contains("known:"), "{err}");
        }
    }
}
