//! Below the operations: the syscall wrapper (`-1` + `errno` become
//! `io::Error` in one place), socket addresses in the kernel's layout, and
//! the socket set-up calls that never block.

pub(crate) mod addr;
pub(crate) mod socket;

/// Calls a libc function, turning `-1` + `errno` into `std::io::Error`.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: each call site passes arguments valid for the syscall
        // (descriptors kept open by their owner, pointers to live, correctly
        // sized memory); the macro only checks the return value.
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}
pub(crate) use syscall;
