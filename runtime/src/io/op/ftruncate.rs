//! `ftruncate`: sets a file's length (`IORING_OP_FTRUNCATE`, Linux 6.9+;
//! on older kernels the `ftruncate` syscall, on the calling thread).

use super::{submit, SharedFd};
use ringwork_uring::io_uring::opcode;
use ringwork_uring::Orphan;
use std::io;

struct Resources {
    fd: SharedFd,
}

/// Truncates or extends (with zeros) the file to `len` bytes.
pub(crate) async fn ftruncate(fd: &SharedFd, len: u64) -> io::Result<()> {
    let Ok(len_signed) = libc::off_t::try_from(len) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "file length larger than i64::MAX",
        ));
    };
    if super::on_epoll() {
        // The epoll driver's path: `ftruncate(2)` on the blocking pool.
        let fd = fd.clone();
        return super::blocking(move || ftruncate_syscall(&fd, len_signed)).await;
    }
    if !supported() {
        return ftruncate_syscall(fd, len_signed);
    }
    let resources = Resources { fd: fd.clone() };
    // SAFETY: the SQE points to no memory; the resources hold the
    // descriptor open.
    let op = unsafe {
        submit(resources, Orphan::Drop, |r| {
            opcode::Ftruncate::new(r.fd.types_fd(), len).build()
        })
    };
    op.await.0.map(drop)
}

/// Whether this thread's ring (or, without one, the process-wide probe)
/// supports `IORING_OP_FTRUNCATE`.
fn supported() -> bool {
    crate::io::driver::with_uring(|driver| driver.features().supports(opcode::Ftruncate::CODE))
        .unwrap_or_else(|| {
            matches!(ringwork_uring::probe(), Ok(Ok(features)) if features.supports(opcode::Ftruncate::CODE))
        })
}

/// The fallback: `ftruncate(2)` on the calling thread.
fn ftruncate_syscall(fd: &SharedFd, len: libc::off_t) -> io::Result<()> {
    // SAFETY: `ftruncate` takes a descriptor (held open by `fd`) and an
    // integer; it touches no memory of ours.
    let res = unsafe { libc::ftruncate(fd.raw(), len) };
    if res == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::OwnedFd;

    #[test]
    fn the_syscall_fallback_sets_the_length_and_keeps_the_os_error() {
        let path = std::env::temp_dir().join(format!(
            "ringwork-ftruncate-fallback-{}",
            std::process::id()
        ));
        let file = std::fs::File::create(&path).unwrap();
        let fd = SharedFd::new(OwnedFd::from(file));
        ftruncate_syscall(&fd, 12345).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 12345);
        let err = ftruncate_syscall(&fd, -1).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
        std::fs::remove_file(&path).unwrap();
    }
}
