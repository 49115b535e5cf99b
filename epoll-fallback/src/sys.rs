//! The syscall wrapper: `-1` + `errno` become `io::Error` in one place.

/// Calls a libc function, turning `-1` + `errno` into `io::Error`.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: each call site passes arguments valid for the syscall
        // (descriptors it owns, pointers to live locals of the right size);
        // the macro only checks the return value.
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}
pub(crate) use syscall;
