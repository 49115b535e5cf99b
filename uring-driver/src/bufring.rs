//! [`BufRing`]: a provided buffer ring (`IORING_REGISTER_PBUF_RING`, Linux
//! 5.19+) — a pool of equal buffers registered with one ring, from which the
//! kernel picks one when data arrives for an operation submitted with
//! `IOSQE_BUFFER_SELECT` (a multishot `RECV`), so a pending receive pins no
//! buffer of its own.
//!
//! # The life of a buffer
//!
//! ```text
//!   in the ring ──(kernel picks it for a receive)──► named by a CQE
//!        ▲                                         (IORING_CQE_F_BUFFER, id)
//!        │                                               │ BufRing::take
//!        └──────── given back (PooledBuf dropped) ◄── PooledBuf (any thread)
//! ```
//!
//! A CQE that names a buffer and that nobody reads (its operation was
//! dropped) gives the buffer back through the operation's orphan rule
//! (`Orphan::Each`), so buffers are never lost to cancellation.
//!
//! # Giving back from any thread
//!
//! A buffer handed out may be dropped on any thread (the task that read it
//! moved, or sent it on). Giving back writes one ring entry and advances the
//! ring's tail; a mutex makes that single-producer. The entry's fields are
//! written before the tail's `Release` store, which pairs with the kernel's
//! acquire load of the tail when it picks a buffer, so the kernel never reads
//! an entry before it is written. The kernel owns only the head; an entry
//! is reused by the producer only after the kernel picked it (each buffer id
//! is in the ring at most once, and there are as many entries as buffers).

use crate::cqe::Completion;
use crate::stats::Stats;
use parking_lot::Mutex;
use std::fmt;
use std::io;
use std::mem;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;

/// `IORING_CQE_F_BUFFER`: the CQE names a provided buffer in its upper 16
/// flag bits.
const CQE_F_BUFFER: u32 = 1;
const CQE_BUFFER_SHIFT: u32 = 16;

/// The size of a buffer ring, as chosen by the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufRingConfig {
    /// Buffers in the ring: a power of two, 1..=32768.
    pub entries: u16,
    /// Bytes per buffer (the largest one receive delivers): 1 B..=1 GiB.
    pub buf_size: u32,
    /// Most buffers one socket's multishot receive may hold unread before
    /// it is stopped (re-armed when its reader catches up), so that a socket
    /// nobody reads cannot take the whole pool. 1..=`entries`.
    pub per_socket: u16,
}

impl Default for BufRingConfig {
    /// 256 buffers of 16 KiB (4 MiB of address space, touched only as data
    /// arrives), at most 32 held by one socket.
    fn default() -> BufRingConfig {
        BufRingConfig {
            entries: 256,
            buf_size: 16 * 1024,
            per_socket: 32,
        }
    }
}

impl BufRingConfig {
    /// Checks the values; `InvalidInput` naming the bad one.
    pub fn validate(&self) -> io::Result<()> {
        let bad = |why: String| Err(io::Error::new(io::ErrorKind::InvalidInput, why));
        if self.entries == 0 || !self.entries.is_power_of_two() || self.entries > 32768 {
            return bad(format!(
                "buffer ring entries must be a power of two between 1 and 32768, got {}",
                self.entries
            ));
        }
        if self.buf_size == 0 || self.buf_size > 1 << 30 {
            return bad(format!(
                "buffer ring buffer size must be between 1 byte and 1 GiB, got {}",
                self.buf_size
            ));
        }
        if self.per_socket == 0 || self.per_socket > self.entries {
            return bad(format!(
                "buffer ring per-socket cap must be between 1 and the entries ({}), got {}",
                self.entries, self.per_socket
            ));
        }
        Ok(())
    }
}

/// A multishot `RECV` on `fd` into buffers of group `group`. With
/// `total_limit`, the kernel ends it (a final CQE, after the data) once it
/// has delivered that many bytes (`sqe->optlen`, Linux 6.17+; older kernels
/// answer `EINVAL`): a hard bound on what one arming can take from the
/// pool in a burst.
pub fn recv_multishot(
    fd: io_uring::types::Fd,
    group: u16,
    total_limit: Option<u32>,
) -> io_uring::squeue::Entry {
    let entry = io_uring::opcode::RecvMulti::new(fd, group).build();
    let Some(limit) = total_limit else {
        return entry;
    };
    // At most `i32::MAX`: the kernel (6.17, 6.18) subtracts each delivery
    // as `min_t(int, bytes, limit)`, so a limit of 2^31 or more is a
    // negative `int` there, the subtraction leaves 0, and the first
    // delivery ends the operation — every arming would then be one-shot.
    let limit = limit.min(i32::MAX as u32);
    // The crate has no setter for `optlen` (the 32-bit union at byte 44 of
    // `struct io_uring_sqe`, shared with `splice_fd_in`/`file_index`).
    // SAFETY: `squeue::Entry` is a `repr(C)` wrapper of the 64-byte
    // `io_uring_sqe`, which holds only integers (and unions of integers), so
    // every bit pattern is valid both ways and the sizes match (checked by
    // `transmute` at compile time).
    let mut bytes: [u8; 64] = unsafe { std::mem::transmute(entry) };
    bytes[44..48].copy_from_slice(&limit.to_ne_bytes());
    // SAFETY: as above.
    unsafe { std::mem::transmute::<[u8; 64], io_uring::squeue::Entry>(bytes) }
}

/// One entry of the ring as the kernel reads it (`struct io_uring_buf`).
/// The first entry's `resv` is the ring's tail.
#[repr(C)]
struct RawEntry {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

/// Anonymous memory, unmapped on drop.
pub(crate) struct Mapping {
    pub(crate) ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a `Mapping` is plain memory owned by its value; who reads and
// writes it, and when, is governed by `BufRing`'s protocol.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// `len` bytes of zeroed memory, page-aligned, reserved lazily (pages
    /// are touched, and count towards RSS, only when written).
    pub(crate) fn new(len: usize) -> io::Result<Mapping> {
        // SAFETY: an anonymous private mapping at an address of the kernel's
        // choice; no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping {
            ptr: NonNull::new(ptr.cast()).expect("mmap does not return null on success"),
            len,
        })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once; `BufRing` drops
        // it only after the ring that could write into it is gone.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// A provided buffer ring registered with one io_uring (see the module
/// docs). `Send + Sync`: buffers go back to it from any thread.
pub struct BufRing {
    bgid: u16,
    config: BufRingConfig,
    entries: Mapping,
    buffers: Mapping,
    /// The producer's copy of the tail; the mutex makes giving back
    /// single-producer.
    tail: Mutex<u16>,
    /// Buffers taken from CQEs and not given back yet. `Relaxed`: a gauge
    /// and a hint, ordered with nothing.
    out: AtomicUsize,
    /// The ring's counters (buffers taken and given back).
    stats: Arc<Stats>,
}

impl BufRing {
    /// Allocates `config.entries` buffers of `config.buf_size` bytes,
    /// registers them with `ring` as buffer group `bgid`, and puts all of
    /// them in the ring.
    ///
    /// The caller keeps the returned `BufRing` alive at least as long as
    /// `ring` (the kernel reads the entries and writes the buffers until the
    /// ring is closed or the group unregistered).
    pub(crate) fn register(
        ring: &io_uring::IoUring,
        bgid: u16,
        config: BufRingConfig,
        stats: Arc<Stats>,
    ) -> io::Result<Arc<BufRing>> {
        config.validate()?;
        let n = usize::from(config.entries);
        let entries = Mapping::new(n * std::mem::size_of::<RawEntry>())?;
        let buffers = Mapping::new(n * config.buf_size as usize)?;
        let this = BufRing {
            bgid,
            config,
            entries,
            buffers,
            tail: Mutex::new(0),
            out: AtomicUsize::new(0),
            stats,
        };
        for bid in 0..config.entries {
            this.push(bid);
        }
        // SAFETY: the entries are page-aligned memory for `entries` ring
        // entries, owned by the returned `BufRing`, which the caller keeps
        // alive as long as the ring (this function's contract).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                this.entries.ptr.as_ptr() as u64,
                config.entries,
                bgid,
                0,
            )?;
        }
        Ok(Arc::new(this))
    }

    /// The buffer group id to put in SQEs (`buf_group`).
    pub fn group(&self) -> u16 {
        self.bgid
    }

    /// The ring's sizes.
    pub fn config(&self) -> BufRingConfig {
        self.config
    }

    /// Buffers handed out (taken from CQEs) and not given back yet.
    pub fn out(&self) -> usize {
        self.out.load(Ordering::Relaxed)
    }

    /// Whether the ring probably has a buffer for the kernel to pick (a
    /// hint: picks whose CQE was not taken yet are not counted).
    pub fn has_free(&self) -> bool {
        self.out() < usize::from(self.config.entries)
    }

    /// The buffer a CQE names, now owned by the caller until the returned
    /// value is dropped (then it goes back to the ring). `None` if the CQE
    /// names no buffer (an error, end of stream).
    ///
    /// # Safety
    /// `completion` is a CQE reaped from the ring this group is registered
    /// with, for an operation that selected its buffer from this group, and
    /// each CQE is taken at most once (a buffer given back twice would be in
    /// the ring twice, and two receives could write into it at once).
    pub unsafe fn take(self: &Arc<Self>, completion: Completion) -> Option<PooledBuf> {
        if completion.flags & CQE_F_BUFFER == 0 {
            return None;
        }
        let bid = (completion.flags >> CQE_BUFFER_SHIFT) as u16;
        assert!(
            bid < self.config.entries,
            "the kernel named buffer {bid} of a {}-buffer ring",
            self.config.entries
        );
        let len = (completion.result.max(0) as u32).min(self.config.buf_size);
        self.out.fetch_add(1, Ordering::Relaxed);
        self.stats.buffer_taken();
        Some(PooledBuf {
            ring: self.clone(),
            bid,
            len,
        })
    }

    /// Puts buffer `bid` at the tail of the ring.
    fn push(&self, bid: u16) {
        let mut tail = self.tail.lock();
        let index = usize::from(*tail & (self.config.entries - 1));
        let first = self.entries.ptr.as_ptr().cast::<RawEntry>();
        // `index < entries`: inside the entries mapping.
        let entry = first.wrapping_add(index).cast::<u8>();
        let field = |offset: usize| entry.wrapping_add(offset);
        // SAFETY: this and the next two writes are each to an aligned field
        // of a valid entry of the mapping. The fields are written one by one, never the
        // whole entry: the first entry's `resv` is the tail, which the
        // kernel may read at any time. The entry at the tail is not one the
        // kernel reads (it reads from its head up to the published tail),
        // and only this thread, under the mutex, writes entries.
        unsafe {
            field(mem::offset_of!(RawEntry, addr))
                .cast::<u64>()
                .write(self.buffer_ptr(bid) as u64)
        };
        // SAFETY: as above.
        unsafe {
            field(mem::offset_of!(RawEntry, len))
                .cast::<u32>()
                .write(self.config.buf_size)
        };
        // SAFETY: as above.
        unsafe {
            field(mem::offset_of!(RawEntry, bid))
                .cast::<u16>()
                .write(bid)
        };
        *tail = tail.wrapping_add(1);
        let tail_field = first
            .cast::<u8>()
            .wrapping_add(mem::offset_of!(RawEntry, resv))
            .cast::<u16>();
        // SAFETY: the first entry's `resv` field is the ring's tail (a `u16` at a 2-aligned
        // offset of page-aligned memory) shared with the kernel, which only
        // reads it; `AtomicU16` has the layout of `u16`, and every write from
        // this side goes through this atomic.
        let shared_tail = unsafe { &*tail_field.cast::<AtomicU16>() };
        // `Release`: publishes the entry written above; pairs with the
        // kernel's acquire load of the tail (`smp_load_acquire`) when it
        // picks a buffer.
        shared_tail.store(*tail, Ordering::Release);
    }

    fn buffer_ptr(&self, bid: u16) -> *mut u8 {
        // SAFETY: `bid < entries`, so the offset is inside the buffers
        // mapping.
        unsafe {
            self.buffers
                .ptr
                .as_ptr()
                .add(usize::from(bid) * self.config.buf_size as usize)
        }
    }

    fn give_back(&self, bid: u16) {
        self.push(bid);
        self.out.fetch_sub(1, Ordering::Relaxed);
        self.stats.buffer_returned();
    }
}

impl fmt::Debug for BufRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufRing")
            .field("group", &self.bgid)
            .field("config", &self.config)
            .field("out", &self.out())
            .finish_non_exhaustive()
    }
}

/// A buffer the kernel filled from a [`BufRing`]: the received bytes,
/// readable on any thread, given back to the ring when dropped.
pub struct PooledBuf {
    ring: Arc<BufRing>,
    bid: u16,
    len: u32,
}

impl PooledBuf {
    /// The received bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the kernel wrote `len` bytes at the start of buffer `bid`
        // (the CQE said so) before posting the CQE this value was made
        // from, and, picked and not given back, the buffer is in nobody
        // else's hands: the kernel writes only buffers in the ring.
        unsafe { std::slice::from_raw_parts(self.ring.buffer_ptr(self.bid), self.len as usize) }
    }

    /// The buffer's size (the most one receive could have put in it).
    pub fn capacity(&self) -> usize {
        self.ring.config.buf_size as usize
    }

    /// The buffer's address (stable until it is dropped).
    pub fn as_ptr(&self) -> *const u8 {
        self.ring.buffer_ptr(self.bid)
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        self.ring.give_back(self.bid);
    }
}

impl fmt::Debug for PooledBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledBuf")
            .field("group", &self.ring.bgid)
            .field("id", &self.bid)
            .field("len", &self.len)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::recv_multishot;

    /// The SQE's `optlen` (byte 44).
    fn optlen(entry: io_uring::squeue::Entry) -> u32 {
        // SAFETY: as in `recv_multishot`: a 64-byte `repr(C)` SQE of
        // integers, every byte initialized.
        let bytes: [u8; 64] = unsafe { std::mem::transmute(entry) };
        u32::from_ne_bytes(bytes[44..48].try_into().expect("four bytes"))
    }

    #[test]
    fn byte_limit_goes_to_optlen_as_a_positive_int() {
        let fd = io_uring::types::Fd(0);
        assert_eq!(optlen(recv_multishot(fd, 3, None)), 0);
        assert_eq!(optlen(recv_multishot(fd, 3, Some(512 << 10))), 512 << 10);
        assert_eq!(
            optlen(recv_multishot(fd, 3, Some(1 << 31))),
            i32::MAX as u32
        );
        assert_eq!(
            optlen(recv_multishot(fd, 3, Some(u32::MAX))),
            i32::MAX as u32
        );
    }
}
