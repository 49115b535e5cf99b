//! Fixed files: a ring's table of registered descriptors
//! (`IORING_REGISTER_FILES2`, sparse), so that an SQE can name a file by
//! its slot (`IOSQE_FIXED_FILE`) and the kernel skips the descriptor lookup
//! and reference count (`fget`/`fput`) of each operation.
//!
//! A slot lives in one ring, and the runtime's sockets move between
//! workers with their tasks. The rule: a descriptor is registered in the
//! table of the ring where it is first used (by
//! [`Driver::register_file`](crate::Driver::register_file), on the owner
//! thread: a `SINGLE_ISSUER` ring takes `io_uring_register` only from
//! there); operations submitted on that ring name the slot; operations
//! submitted on any other ring use the plain descriptor (counted as a
//! fallback in the stats). There is no routing and no second registration.
//!
//! A registered slot holds its own reference to the file: closing the
//! descriptor does not close the socket until the slot is cleared. So the
//! [`FixedFile`] handle, dropped with the descriptor's last owner on any
//! thread, queues the slot on the ring's [`Remote`] and wakes the owner,
//! which clears it (`register_files_update(slot, [-1])`) on its next flush
//! and only then reuses the slot. The handle's owner holds every operation
//! that could name the slot (each holds the descriptor's owner), so when it
//! drops, no SQE naming the slot is queued or in flight.

use crate::remote::{Remote, WakeOwner};
use crate::sync::Arc;
use io_uring::squeue;
use std::fmt;
use std::mem::size_of;

/// Byte offset of `fd` in `struct io_uring_sqe` (linux/io_uring.h: `__u8
/// opcode; __u8 flags; __u16 ioprio; __s32 fd; ...`), the kernel's ABI.
const SQE_FD_OFFSET: usize = 4;

// `squeue::Entry` is `#[repr(C)]` around the kernel's `io_uring_sqe`: the
// 64 bytes the kernel reads. (Checked here so that a crate change that
// broke it fails the build instead of corrupting SQEs.)
const _: () = assert!(size_of::<squeue::Entry>() == 64);

/// A descriptor registered in one ring's table. Dropping it (on any thread)
/// asks that ring's owner to clear the slot.
pub struct FixedFile {
    slot: u32,
    remote: Arc<Remote>,
}

impl FixedFile {
    pub(crate) fn new(slot: u32, remote: Arc<Remote>) -> FixedFile {
        FixedFile { slot, remote }
    }

    /// The slot in its ring's table.
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// Whether this file is registered in the ring whose remote is `remote`.
    pub(crate) fn belongs_to(&self, remote: &Arc<Remote>) -> bool {
        Arc::ptr_eq(&self.remote, remote)
    }
}

impl Drop for FixedFile {
    fn drop(&mut self) {
        self.remote.release_file(self.slot);
    }
}

impl fmt::Debug for FixedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedFile")
            .field("slot", &self.slot)
            .finish_non_exhaustive()
    }
}

/// The owner's side of a ring's table: the free slots.
#[derive(Debug)]
pub(crate) struct FileTable {
    free: Vec<u32>,
}

impl FileTable {
    pub(crate) fn new(size: u32) -> FileTable {
        // Popped from the end: slot 0 first.
        FileTable {
            free: (0..size).rev().collect(),
        }
    }

    pub(crate) fn take(&mut self) -> Option<u32> {
        self.free.pop()
    }

    /// A slot taken but not registered goes back.
    pub(crate) fn give_back(&mut self, slot: u32) {
        self.free.push(slot);
    }

    /// The owner's turn at the released slots: takes what `remote` queued,
    /// clears each in the kernel's table with `clear` (`false`: it failed,
    /// and the slot stays out of the free list rather than be handed out
    /// with a stale file in it), then frees the cleared ones for reuse.
    /// Returns how many were cleared. `scratch` is a reused buffer.
    pub(crate) fn clear_released<E: WakeOwner>(
        &mut self,
        remote: &Remote<E>,
        scratch: &mut Vec<u32>,
        mut clear: impl FnMut(u32) -> bool,
    ) -> usize {
        remote.take_released_files(scratch);
        let mut cleared = 0;
        for slot in scratch.drain(..) {
            if clear(slot) {
                self.free.push(slot);
                cleared += 1;
            }
        }
        cleared
    }
}

/// `sqe` with its descriptor replaced by the table slot `slot` and
/// `IOSQE_FIXED_FILE` set: the kernel then reads `fd` as an index into the
/// ring's registered files.
///
/// Only for opcodes whose `fd` field is the file operated on (reads,
/// writes, sends, receives, accept, connect, poll): the caller's choice.
pub fn with_fixed_file(mut sqe: squeue::Entry, slot: u32) -> squeue::Entry {
    let slot = i32::try_from(slot).expect("a file table has fewer than 2^31 slots");
    let base = std::ptr::from_mut(&mut sqe).cast::<u8>();
    // SAFETY: `squeue::Entry` is a `#[repr(C)]` struct whose only field is
    // the kernel's `io_uring_sqe` (64 bytes, asserted above), so its bytes
    // are the SQE's, and offset 4 is inside them.
    let fd_field = unsafe { base.add(SQE_FD_OFFSET) }.cast::<i32>();
    // SAFETY: `fd_field` is the SQE's `__s32 fd` (the uapi layout: `__u8
    // opcode; __u8 flags; __u16 ioprio; __s32 fd`), inside `sqe`, which we
    // own: a plain integer stored into an integer field.
    unsafe { fd_field.write_unaligned(slot) };
    sqe.flags(squeue::Flags::FIXED_FILE)
}
