//! `ftruncate`: sets a file's length (`IORING_OP_FTRUNCATE`, Linux 6.9+;
//! on older kernels the `ftruncate` syscall, on the calling thread).

use super::{run, EpollPath, OpCode, SharedFd};
use ringwork_uring::io_uring::{opcode, squeue};
use ringwork_uring::Driver;
use std::io;

struct Ftruncate {
    fd: SharedFd,
    len: libc::off_t,
}

// SAFETY: the SQE points to no memory; the operation holds the descriptor
// open.
unsafe impl OpCode for Ftruncate {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::Ftruncate::new(self.fd.types_fd(), self.len as u64).build()
    }

    /// Kernels before 6.9 lack the opcode: the syscall, on this thread
    /// (it does not wait on anything but the file system).
    fn try_before_submit(&mut self, driver: &Driver) -> Option<io::Result<u32>> {
        let supported = driver.features().supports(opcode::Ftruncate::CODE);
        (!supported).then(|| ftruncate_syscall(&self.fd, self.len).map(|()| 0))
    }

    fn epoll_path(&self) -> EpollPath {
        EpollPath::Blocking
    }

    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        ftruncate_syscall(&self.fd, self.len).map(|()| 0)
    }

    fn complete(self, result: io::Result<u32>) -> Self::Output {
        result.map(drop)
    }
}

/// Truncates or extends (with zeros) the file to `len` bytes.
pub(crate) async fn ftruncate(fd: &SharedFd, len: u64) -> io::Result<()> {
    let Ok(len) = libc::off_t::try_from(len) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "file length larger than i64::MAX",
        ));
    };
    run(Ftruncate {
        fd: fd.clone(),
        len,
    })
    .await
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
