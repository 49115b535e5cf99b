//! Thin wrappers over the few raw syscalls the driver makes itself.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Calls a libc function, turning `-1` + `errno` into `io::Error` in one place.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: every use passes valid arguments for the named syscall (see
        // the call site); the macro only adds the errno check.
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

/// A non-blocking, close-on-exec eventfd: the driver's wake-up channel.
#[derive(Debug)]
pub(crate) struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    pub(crate) fn new() -> io::Result<EventFd> {
        let fd = syscall!(eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK))?;
        // SAFETY: `eventfd` returned a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(EventFd { fd })
    }

    /// Adds one to the counter, making a pending read complete.
    pub(crate) fn notify(&self) {
        let one: u64 = 1;
        // An `EAGAIN` (counter saturated) means a wake-up is already pending;
        // no other error is possible on a valid eventfd.
        let _ = syscall!(write(
            self.fd.as_raw_fd(),
            (&one as *const u64).cast(),
            std::mem::size_of::<u64>()
        ));
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Closes a descriptor that an orphaned operation produced.
pub(crate) fn close_fd(fd: RawFd) {
    // Errors cannot be reported to anyone: the descriptor is gone either way.
    let _ = syscall!(close(fd));
}

/// `MEMBARRIER_CMD_PRIVATE_EXPEDITED` (linux/membarrier.h).
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
/// `MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED` (linux/membarrier.h).
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

/// Interrupts every CPU that is running a thread of this process, so that
/// each such thread passes through the kernel's return-to-user path — where
/// it runs its pending task work. With `COOP_TASKRUN` that task work is what
/// posts the completions of requests a CPU-bound thread submitted: without
/// an interrupt they wait for its next syscall or scheduler tick (4 ms at
/// `HZ=250`). Returns `false` when the kernel refuses (`membarrier` absent
/// before 4.14, or filtered by seccomp); the registration the command needs
/// is made on first use, once per process.
pub(crate) fn interrupt_own_threads() -> bool {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let membarrier = |cmd: libc::c_long| {
        // SAFETY: membarrier(cmd, flags = 0, cpu_id = 0) takes no pointers;
        // an unsupported command is an error return, nothing else.
        unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0, 0) == 0 }
    };
    *REGISTERED.get_or_init(|| membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED))
        && membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)
}
