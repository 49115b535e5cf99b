//! What an SQE's `user_data` carries: for an operation, a pointer to its
//! slot; for the driver's own SQEs, a token with the top bit set (no
//! user-space pointer has it).
//!
//! # The kernel's reference
//!
//! `Driver::submit` turns one counted reference of the operation's
//! `Arc<Slot<R>>` into the raw pointer it puts in `user_data`
//! (`Arc::into_raw`): the kernel "holds" that reference until the
//! operation's final CQE, when whoever reaps it (the owner, or another
//! thread through a `Reaper`) gives it back ([`RawSlot::release`]). So a
//! slot's memory cannot be freed, or reused by another operation, while a
//! CQE for it may still arrive, and a completion is routed without a table:
//! the reaper needs nothing the submitter owns.
//!
//! A slot is `#[repr(C)]` with a [`Header`] first: the pointer to the slot
//! is a pointer to its header, whose vtable knows the slot's type.

use crate::cqe::Completion;

/// `user_data` of the eventfd read the driver keeps pending.
pub(crate) const EVENTFD_TOKEN: u64 = (1 << 63) | 1;
/// `user_data` of `ASYNC_CANCEL` requests (their own CQEs are ignored).
pub(crate) const CANCEL_TOKEN: u64 = (1 << 63) | 2;

/// Whether `user_data` is one of the driver's own tokens.
pub(crate) fn is_internal(user_data: u64) -> bool {
    user_data >> 63 == 1
}

/// The first field of every slot: how to reach the slot's code from a
/// type-erased pointer.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) vtable: &'static VTable,
}

/// The operations on a slot of one resource type.
pub(crate) struct VTable {
    /// Delivers a CQE (`more`: `IORING_CQE_F_MORE`).
    ///
    /// # Safety
    /// The pointer is a live slot of the vtable's type.
    pub(crate) complete: unsafe fn(*const Header, Completion, bool),
    /// Gives back the reference the kernel held.
    ///
    /// # Safety
    /// The pointer came from `Arc::into_raw` of a slot of the vtable's
    /// type, and this reference is given back once.
    pub(crate) release: unsafe fn(*const Header),
}

/// A slot's `user_data`, while the kernel holds its reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawSlot(*const Header);

// SAFETY: a `RawSlot` is an address with a counted reference behind it; the
// slot it points to is `Send + Sync` (its state is behind a mutex), and the
// reference may be given back from any thread.
unsafe impl Send for RawSlot {}

impl RawSlot {
    /// The kernel's reference to a slot, as `Arc::into_raw` of the slot
    /// (cast to its header) made it (`Slot::into_raw`).
    pub(crate) fn from_header(header: *const Header) -> RawSlot {
        RawSlot(header)
    }

    pub(crate) fn user_data(self) -> u64 {
        let user_data = self.0 as u64;
        debug_assert!(
            !is_internal(user_data),
            "a slot address with the top bit set"
        );
        user_data
    }

    /// The slot an operation's CQE names.
    ///
    /// # Safety
    /// `user_data` is not a token and came from [`RawSlot::user_data`] of a
    /// slot whose reference has not been released.
    pub(crate) unsafe fn from_user_data(user_data: u64) -> RawSlot {
        RawSlot(user_data as *const Header)
    }

    /// Delivers a CQE to the slot.
    ///
    /// # Safety
    /// The kernel's reference has not been released.
    pub(crate) unsafe fn complete(self, completion: Completion, more: bool) {
        // SAFETY: the reference keeps the slot (and so its header) alive.
        let vtable = unsafe { (*self.0).vtable };
        // SAFETY: the vtable is the one of the slot's type (set in
        // `Slot::new`), and the slot is alive (above).
        unsafe { (vtable.complete)(self.0, completion, more) }
    }

    /// Gives the kernel's reference back (after the final CQE, or for an
    /// operation that never reached the kernel).
    ///
    /// # Safety
    /// Called once per `RawSlot::new`, after the last `complete`.
    pub(crate) unsafe fn release(self) {
        // SAFETY: the reference keeps the slot (and so its header) alive.
        let vtable = unsafe { (*self.0).vtable };
        // SAFETY: the vtable matches the slot's type; the caller gives the
        // reference back once.
        unsafe { (vtable.release)(self.0) }
    }
}
