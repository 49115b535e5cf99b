//! `statx`: a file's metadata, by open descriptor or by path
//! (`IORING_OP_STATX`).

use super::{submit, SharedFd};
use crate::sys::syscall;
use ringwork_uring::io_uring::{opcode, types};
use ringwork_uring::Orphan;
use std::ffi::CString;
use std::io;
use std::mem;

struct Resources {
    /// The directory (or, with `AT_EMPTY_PATH`, the file itself) the path is
    /// relative to; `None` for the current directory.
    dir: Option<SharedFd>,
    path: CString,
    statx: libc::statx,
}

/// What is asked for: the basic `stat` fields and the birth time.
const MASK: u32 = libc::STATX_BASIC_STATS | libc::STATX_BTIME;

/// Metadata of the open file `fd` (`AT_EMPTY_PATH`).
pub(crate) async fn statx_fd(fd: &SharedFd) -> io::Result<libc::statx> {
    statx(Some(fd.clone()), CString::default(), libc::AT_EMPTY_PATH).await
}

/// Metadata of `path` (relative to the current directory); symbolic links
/// are followed unless `follow` is false.
pub(crate) async fn statx_path(path: CString, follow: bool) -> io::Result<libc::statx> {
    let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    statx(None, path, flags).await
}

async fn statx(
    dir: Option<SharedFd>,
    path: CString,
    flags: libc::c_int,
) -> io::Result<libc::statx> {
    if super::on_epoll() {
        // The epoll driver's path: `statx(2)` on the blocking pool.
        let dirfd = dir.as_ref().map_or(libc::AT_FDCWD, SharedFd::raw);
        return super::blocking(move || {
            let _keep_open = dir;
            // SAFETY: all-zero bytes are a valid `statx` for the kernel to fill.
            let mut out: libc::statx = unsafe { mem::zeroed() };
            syscall!(statx(dirfd, path.as_ptr(), flags, MASK, &mut out))?;
            Ok(out)
        })
        .await;
    }
    let resources = Resources {
        dir,
        path,
        // SAFETY: `statx` is plain integers; all-zero bytes are valid.
        statx: unsafe { mem::zeroed() },
    };
    // SAFETY: the SQE points to the path's heap bytes and to the statx
    // buffer, both owned by the resources (which never move once
    // submitted); the resources hold the directory descriptor open
    // (`AT_FDCWD` is not a descriptor).
    let op = unsafe {
        submit(resources, Orphan::Drop, |r| {
            let dirfd = types::Fd(r.dir.as_ref().map_or(libc::AT_FDCWD, SharedFd::raw));
            let buf: *mut libc::statx = &mut r.statx;
            opcode::Statx::new(dirfd, r.path.as_ptr(), buf.cast::<types::statx>())
                .flags(flags | libc::AT_STATX_SYNC_AS_STAT)
                .mask(MASK)
                .build()
        })
    };
    let (result, resources) = op.await;
    result?;
    Ok(resources.statx)
}
