//! Driver counters, readable from any thread.

use crate::sync::atomic::{AtomicU64, Ordering};

/// Counters of one driver. Written by the owner thread and by threads that
/// reap for it (`Reaper`); read by anyone (`Relaxed`: statistics, no
/// ordering with anything).
#[derive(Debug, Default)]
pub struct Stats {
    submissions: AtomicU64,
    completions: AtomicU64,
    enters: AtomicU64,
    sq_full_waits: AtomicU64,
    cq_overflows: AtomicU64,
    cancels: AtomicU64,
    backlogged: AtomicU64,
    reaped_elsewhere: AtomicU64,
    multishot_arms: AtomicU64,
    recv_arms: AtomicU64,
    zc_notifications: AtomicU64,
    zc_copied: AtomicU64,
    no_buffers: AtomicU64,
    capped: AtomicU64,
    buffers_taken: AtomicU64,
    buffers_returned: AtomicU64,
    registered_enters: AtomicU64,
    ring_fd_refused: AtomicU64,
    fixed_buffer_ops: AtomicU64,
    fixed_files_registered: AtomicU64,
    fixed_files_released: AtomicU64,
    fixed_file_table_full: AtomicU64,
    fixed_file_ops: AtomicU64,
    fixed_file_fallbacks: AtomicU64,
}

/// A copy of [`Stats`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// SQEs handed to the kernel (operations, cancels and internal reads).
    pub submissions: u64,
    /// CQEs reaped.
    pub completions: u64,
    /// `io_uring_enter` calls.
    pub enters: u64,
    /// Times the submission queue was full and had to be submitted early.
    pub sq_full_waits: u64,
    /// Times the kernel reported a completion-queue overflow.
    pub cq_overflows: u64,
    /// `ASYNC_CANCEL` requests issued for dropped operations.
    pub cancels: u64,
    /// Operations that waited in the backlog because the in-flight cap
    /// (the completion queue's size) was reached.
    pub backlogged: u64,
    /// CQEs reaped by another thread (a `Reaper`) while the owner was busy.
    pub reaped_elsewhere: u64,
    /// Multishot accepts armed (the first time or again after one ended),
    /// as counted by their submitters with [`Stats::multishot_armed`].
    pub multishot_arms: u64,
    /// Multishot receives armed (into provided buffers), as counted by
    /// their submitters with [`Stats::recv_armed`]; the accepts are in
    /// `multishot_arms`.
    pub recv_arms: u64,
    /// Zero-copy sends whose buffer the kernel released (their notification
    /// CQE, `IORING_CQE_F_NOTIF`).
    pub zc_notifications: u64,
    /// Of those, the ones the kernel copied after all
    /// (`IORING_NOTIF_USAGE_ZC_COPIED`: always, on loopback).
    pub zc_copied: u64,
    /// Multishot receives that ended because the provided buffer ring was
    /// empty (`ENOBUFS`), as counted by their readers with
    /// [`Stats::no_buffers`].
    pub no_buffers: u64,
    /// Multishot receives stopped at their per-socket cap (the kernel's
    /// byte limit, or a cancel at the cap of unread buffers), as counted by
    /// their readers with [`Stats::capped`].
    pub capped: u64,
    /// Provided buffers handed out (taken from CQEs, read or not).
    pub buffers_taken: u64,
    /// Provided buffers given back to the ring (`buffers_taken -
    /// buffers_returned` are out now).
    pub buffers_returned: u64,
    /// Of `enters`, those the owner made by the registered ring fd
    /// (`IORING_ENTER_REGISTERED_RING`, [`Config::register_ring_fd`](crate::Config::register_ring_fd)).
    pub registered_enters: u64,
    /// 1 if the ring fd was asked to be registered but the owner thread's
    /// table had no free slot (16 per thread): it enters by its descriptor.
    pub ring_fd_refused: u64,
    /// Operations that named a registered buffer by its index
    /// (`READ_FIXED`, `WRITE_FIXED`, `SEND_ZC` with
    /// `IORING_RECVSEND_FIXED_BUF`), as counted by their submitters with
    /// [`Stats::fixed_buffer_op`].
    pub fixed_buffer_ops: u64,
    /// Descriptors registered in the ring's fixed-file table.
    pub fixed_files_registered: u64,
    /// Fixed-file slots cleared after their descriptor's owner let go.
    pub fixed_files_released: u64,
    /// Registrations refused because the table was full (the descriptor is
    /// used by its number instead).
    pub fixed_file_table_full: u64,
    /// Operations submitted naming a fixed-file slot, as counted by their
    /// submitters with [`Stats::fixed_file_op`].
    pub fixed_file_ops: u64,
    /// Operations on a descriptor registered in another ring's table,
    /// submitted with the plain descriptor, as counted with
    /// [`Stats::fixed_file_fallback`].
    pub fixed_file_fallbacks: u64,
}

impl Stats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn submissions(&self, n: u64) {
        Self::add(&self.submissions, n);
    }
    pub(crate) fn completions(&self, n: u64) {
        Self::add(&self.completions, n);
    }
    pub(crate) fn enter(&self) {
        Self::add(&self.enters, 1);
    }
    pub(crate) fn sq_full_wait(&self) {
        Self::add(&self.sq_full_waits, 1);
    }
    pub(crate) fn cq_overflow(&self) {
        Self::add(&self.cq_overflows, 1);
    }
    pub(crate) fn cancel(&self) {
        Self::add(&self.cancels, 1);
    }
    pub(crate) fn backlogged(&self) {
        Self::add(&self.backlogged, 1);
    }
    pub(crate) fn reaped_elsewhere(&self, n: u64) {
        Self::add(&self.reaped_elsewhere, n);
    }
    /// Counts a multishot operation armed: the driver cannot tell one from
    /// a single-shot submission, so whoever submits it says so.
    pub fn multishot_armed(&self) {
        Self::add(&self.multishot_arms, 1);
    }

    pub(crate) fn zc_notification(&self, copied: bool) {
        Self::add(&self.zc_notifications, 1);
        if copied {
            Self::add(&self.zc_copied, 1);
        }
    }
    /// Counts a multishot receive armed.
    pub fn recv_armed(&self) {
        Self::add(&self.recv_arms, 1);
    }
    /// Counts a multishot receive ended by an empty buffer ring.
    pub fn no_buffers(&self) {
        Self::add(&self.no_buffers, 1);
    }
    /// Counts a multishot receive stopped at its cap of unread buffers.
    pub fn capped(&self) {
        Self::add(&self.capped, 1);
    }

    pub(crate) fn buffer_taken(&self) {
        Self::add(&self.buffers_taken, 1);
    }
    /// Counts an operation submitted with a registered buffer's index.
    pub fn fixed_buffer_op(&self) {
        Stats::add(&self.fixed_buffer_ops, 1);
    }

    /// Counts an operation submitted naming a fixed-file slot.
    pub fn fixed_file_op(&self) {
        Stats::add(&self.fixed_file_ops, 1);
    }

    /// Counts an operation whose descriptor is registered in another
    /// ring's table, submitted by descriptor here.
    pub fn fixed_file_fallback(&self) {
        Stats::add(&self.fixed_file_fallbacks, 1);
    }

    pub(crate) fn fixed_file_registered(&self) {
        Stats::add(&self.fixed_files_registered, 1);
    }

    pub(crate) fn fixed_file_released(&self) {
        Stats::add(&self.fixed_files_released, 1);
    }

    pub(crate) fn fixed_file_table_full(&self) {
        Stats::add(&self.fixed_file_table_full, 1);
    }

    pub(crate) fn registered_enter(&self) {
        Stats::add(&self.registered_enters, 1);
    }

    pub(crate) fn ring_fd_refused(&self) {
        Stats::add(&self.ring_fd_refused, 1);
    }

    pub(crate) fn buffer_returned(&self) {
        Self::add(&self.buffers_returned, 1);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            submissions: get(&self.submissions),
            completions: get(&self.completions),
            enters: get(&self.enters),
            sq_full_waits: get(&self.sq_full_waits),
            cq_overflows: get(&self.cq_overflows),
            cancels: get(&self.cancels),
            backlogged: get(&self.backlogged),
            reaped_elsewhere: get(&self.reaped_elsewhere),
            multishot_arms: get(&self.multishot_arms),
            recv_arms: get(&self.recv_arms),
            zc_notifications: get(&self.zc_notifications),
            zc_copied: get(&self.zc_copied),
            no_buffers: get(&self.no_buffers),
            capped: get(&self.capped),
            buffers_taken: get(&self.buffers_taken),
            buffers_returned: get(&self.buffers_returned),
            registered_enters: get(&self.registered_enters),
            ring_fd_refused: get(&self.ring_fd_refused),
            fixed_buffer_ops: get(&self.fixed_buffer_ops),
            fixed_files_registered: get(&self.fixed_files_registered),
            fixed_files_released: get(&self.fixed_files_released),
            fixed_file_table_full: get(&self.fixed_file_table_full),
            fixed_file_ops: get(&self.fixed_file_ops),
            fixed_file_fallbacks: get(&self.fixed_file_fallbacks),
        }
    }
}
