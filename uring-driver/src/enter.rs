//! The owner's `io_uring_enter`, by the registered ring fd when there is one.
//!
//! `IORING_REGISTER_RING_FDS` (Linux 5.18+) puts a ring's file in a small
//! table of the *registering thread* (16 slots); an enter that passes the
//! slot's index with `IORING_ENTER_REGISTERED_RING` skips the kernel's
//! file-descriptor lookup and reference count (`fdget`/`fdput`) per call.
//! The index means something only on the thread that registered it, and
//! the io-uring crate keeps it in a `Submitter` that it rebuilds on every
//! call. So the driver enters through this wrapper, which it owns with the
//! ring (`Driver` is `!Send`: every enter here runs on the owner thread,
//! where the index was registered). Other threads (the monitor's
//! [`Reaper`](crate::Reaper)) keep entering by the real descriptor.
//!
//! The flag logic is the one every owner enter needs: `GETEVENTS` to wait,
//! to run deferred task work (`IORING_SQ_TASKRUN`) or to flush a CQ overflow;
//! with SQPOLL, `SQ_WAKEUP` when the poll thread sleeps and no syscall at
//! all when it is awake and nothing needs the kernel.

use io_uring::{types, IoUring};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{fence, Ordering};

/// `IORING_ENTER_GETEVENTS`.
pub(crate) const ENTER_GETEVENTS: u32 = 1 << 0;
/// `IORING_ENTER_SQ_WAKEUP`.
const ENTER_SQ_WAKEUP: u32 = 1 << 1;
/// `IORING_ENTER_EXT_ARG`.
const ENTER_EXT_ARG: u32 = 1 << 3;
/// `IORING_ENTER_REGISTERED_RING`.
const ENTER_REGISTERED_RING: u32 = 1 << 4;
/// `IORING_REGISTER_RING_FDS`.
const REGISTER_RING_FDS: libc::c_uint = 20;
/// `IORING_UNREGISTER_RING_FDS`.
const UNREGISTER_RING_FDS: libc::c_uint = 21;

/// `struct io_uring_getevents_arg` (linux/io_uring.h): the extended
/// argument of an enter with `IORING_ENTER_EXT_ARG`.
#[repr(C)]
struct GeteventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    min_wait_usec: u32,
    ts: u64,
}

/// `struct io_uring_rsrc_update` (linux/io_uring.h), the argument of
/// `IORING_(UN)REGISTER_RING_FDS`.
#[repr(C)]
struct RsrcUpdate {
    offset: u32,
    resv: u32,
    data: u64,
}

/// How the owner thread enters its ring.
#[derive(Debug)]
pub(crate) struct Enter {
    /// The ring's descriptor.
    fd: RawFd,
    /// The ring's slot in the owner thread's registered-ring table.
    registered: Option<u32>,
    sqpoll: bool,
    nodrop: bool,
}

impl Enter {
    pub(crate) fn new(ring: &IoUring) -> Enter {
        Enter {
            fd: ring.as_raw_fd(),
            registered: None,
            sqpoll: ring.params().is_setup_sqpoll(),
            nodrop: ring.params().is_feature_nodrop(),
        }
    }

    /// Whether enters go by the registered index.
    pub(crate) fn is_registered(&self) -> bool {
        self.registered.is_some()
    }

    /// Registers the ring's descriptor with the calling thread (which from
    /// then on must be the only one to use this `Enter`).
    pub(crate) fn register(&mut self) -> io::Result<()> {
        if self.registered.is_some() {
            return Ok(());
        }
        let mut update = RsrcUpdate {
            // `-1`: the kernel picks a free slot and writes it back here.
            offset: u32::MAX,
            resv: 0,
            data: self.fd as u64,
        };
        // SAFETY: `update` is a valid `io_uring_rsrc_update` that lives for
        // the call; `nr_args = 1` says it is one entry. The kernel writes the
        // chosen slot into `update.offset`.
        register_raw(self.fd, REGISTER_RING_FDS, &mut update)?;
        self.registered = Some(update.offset);
        Ok(())
    }

    /// Frees the calling thread's slot (if this `Enter` registered one).
    /// Must run on the thread that registered it: the index names a slot of
    /// that thread's table only.
    pub(crate) fn unregister(&mut self) {
        if let Some(offset) = self.registered.take() {
            let mut update = RsrcUpdate {
                offset,
                resv: 0,
                data: 0,
            };
            // SAFETY: as in `register`; the slot is this thread's (the
            // caller's contract) and holds this ring. An error leaves the
            // slot to be freed when the thread exits.
            let _ = register_raw(self.fd, UNREGISTER_RING_FDS, &mut update);
        }
    }

    /// Submits the `to_submit` queued SQEs and, with `want > 0`, waits for
    /// that many completions (until `timeout`, if given: `ETIME` then).
    /// `sq` holds the submission queue's flags as just loaded; `need_wakeup`
    /// reads `IORING_SQ_NEED_WAKEUP`, after the SQPOLL fence. Returns the
    /// number of SQEs the kernel took.
    pub(crate) fn enter(
        &self,
        to_submit: u32,
        want: u32,
        sq: SqFlags,
        need_wakeup: impl FnOnce() -> bool,
        timeout: Option<&types::Timespec>,
    ) -> io::Result<usize> {
        let mut flags = 0;
        // Completions held back by the kernel (a CQ overflow, deferred or
        // flagged task work) are posted only by an enter with GETEVENTS.
        if want > 0 || sq.cq_overflow || sq.taskrun {
            flags |= ENTER_GETEVENTS;
        }
        if self.sqpoll {
            // The store of the SQ tail (the submission) must be ordered
            // before the load of the wake-up flag, against the poll thread's
            // store of the flag and load of the tail (it runs a full barrier
            // between them): otherwise both could miss the other and the
            // entry would wait for the poll thread's next wake-up.
            fence(Ordering::SeqCst);
            if need_wakeup() {
                flags |= ENTER_SQ_WAKEUP;
            } else if want == 0 && !(sq.cq_overflow && self.nodrop) && !sq.taskrun {
                // The poll thread is awake and takes the entries itself.
                return Ok(to_submit as usize);
            }
        }
        #[cfg(feature = "fault-injection")]
        if let Some(err) = crate::faults::enter_error() {
            return Err(err);
        }
        let (fd, registered_flag) = match self.registered {
            Some(index) => (index as libc::c_int, ENTER_REGISTERED_RING),
            None => (self.fd, 0),
        };
        flags |= registered_flag;
        let ts = timeout.map(|ts| std::ptr::from_ref(ts) as u64);
        let arg = ts.map(|ts| GeteventsArg {
            sigmask: 0,
            // The kernel's sigset size (`_NSIG / 8`); unread with no mask.
            sigmask_sz: 8,
            min_wait_usec: 0,
            ts,
        });
        let (arg_ptr, arg_size) = match &arg {
            Some(arg) => {
                flags |= ENTER_EXT_ARG;
                (
                    std::ptr::from_ref(arg).cast::<libc::c_void>(),
                    std::mem::size_of::<GeteventsArg>(),
                )
            }
            None => (std::ptr::null(), 0),
        };
        // SAFETY: `fd` is the ring's descriptor or, with
        // `IORING_ENTER_REGISTERED_RING`, its slot in this thread's table
        // (registered by `register` on this thread: `Enter` lives in the
        // `!Send` driver). With `EXT_ARG`, `arg_ptr` points to a
        // `GeteventsArg` of `arg_size` bytes whose `ts` points to a
        // `Timespec` (layout of `struct __kernel_timespec`); both outlive
        // the call. A null sigmask leaves the thread's signal mask alone.
        let n = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                fd,
                to_submit,
                want,
                flags,
                arg_ptr,
                arg_size,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

/// The submission queue's flags that decide an enter's flags.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SqFlags {
    /// `IORING_SQ_CQ_OVERFLOW`.
    pub(crate) cq_overflow: bool,
    /// `IORING_SQ_TASKRUN`.
    pub(crate) taskrun: bool,
}

/// `io_uring_register(fd, opcode, update, 1)`, for the two opcodes above,
/// whose argument is one `io_uring_rsrc_update`.
fn register_raw(fd: RawFd, opcode: libc::c_uint, update: &mut RsrcUpdate) -> io::Result<()> {
    // SAFETY: both callers pass an opcode whose argument is one
    // `io_uring_rsrc_update`: `update` is that argument, valid for reads and
    // writes, and it outlives the call.
    let res = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            fd,
            opcode,
            std::ptr::from_mut(update).cast::<libc::c_void>(),
            1 as libc::c_uint,
        )
    };
    if res < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
