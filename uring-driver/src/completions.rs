//! The completion side of one ring, shared by its owner and the threads
//! that reap for it (`Reaper`), independent of the kernel so that the loom
//! models run it against a queue they fill themselves.
//!
//! # Who reaps: the turn word
//!
//! `turn` is `FREE`, `OWNER` or `REAPER`; whoever set it drains the
//! completion queue and delivers every CQE, so a CQE is delivered by exactly
//! one of them.
//! - A reaper only tries (`CAS FREE → REAPER`, `Acquire`) and gives up if the
//!   owner is at it; it releases with `store(FREE, Release)`.
//! - The owner takes the turn for each harvest, and for the whole of a park
//!   — across its waiting `io_uring_enter` — so a reaper never takes the
//!   CQE of the eventfd read that is to end that wait (it would consume the
//!   wake-up and leave the owner asleep). If a reaper holds the turn, the
//!   owner waits out that one batch (`spin_wait`). The owner's turn nests
//!   (`OwnerTurn` knows whether it took it), since a park may reap from deep
//!   inside a submission that found the queue full.
//!
//! The `Acquire` that takes the turn pairs with the `Release` that last
//! gave it up: the new holder sees the queue head and the `Reap` state as
//! the previous holder left them.
//!
//! The counters are atomics: the owner increments them when it submits,
//! whoever reaps decrements them.
//!
//! A CQE's `user_data` is a slot's address or a driver token
//! (`user_data.rs`). Delivering a final CQE gives the kernel's reference to
//! the slot back; the slot may then be freed and its address reused, which
//! is safe because no further CQE names it.

use crate::cqe::Completion;
use crate::stats::Stats;
use crate::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use crate::sync::{spin_wait, Arc, UnsafeCell};
use crate::user_data::{is_internal, RawSlot, EVENTFD_TOKEN};

/// One CQE, as the completion side needs it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cqe {
    pub(crate) user_data: u64,
    pub(crate) completion: Completion,
}

const FREE: u8 = 0;
const OWNER: u8 = 1;
const REAPER: u8 = 2;

pub(crate) struct Completions {
    /// Who reaps now (see the module docs).
    turn: AtomicU8,
    /// Touched only by the holder of the turn.
    reap: UnsafeCell<Reap>,
    /// Operations pushed to the kernel whose final CQE has not been
    /// delivered.
    pub(crate) in_flight: AtomicUsize,
    /// Operations submitted (pushed or backlogged) and not finished.
    pub(crate) live: AtomicUsize,
    /// The driver's own SQEs (eventfd read, cancels) awaiting their CQE.
    pub(crate) internal_in_flight: AtomicUsize,
    /// The eventfd read is pending (the owner sets it when it arms the read;
    /// whoever delivers the read's CQE clears it).
    pub(crate) eventfd_armed: AtomicBool,
    pub(crate) stats: Arc<Stats>,
}

// SAFETY: `reap` (the only field that is not `Sync` by itself) is touched
// only by the thread holding the turn, which the `turn` word hands over with
// `Acquire`/`Release` (see the module docs); everything else is atomics and
// `Arc<Stats>` (atomics). `Reap` itself is `Send` (a `Vec` of plain CQEs).
unsafe impl Sync for Completions {}

/// What the turn guards.
pub(crate) struct Reap {
    cqes: Vec<Cqe>,
    /// The last drain found the queue full: more may wait in the kernel's
    /// overflow list.
    pub(crate) saw_full: bool,
    /// Shutdown has begun: only the owner reaps from now on.
    pub(crate) closed: bool,
}

impl Completions {
    pub(crate) fn new(capacity: usize, stats: Arc<Stats>) -> Completions {
        Completions {
            turn: AtomicU8::new(FREE),
            reap: UnsafeCell::new(Reap {
                cqes: Vec::with_capacity(capacity),
                saw_full: false,
                closed: false,
            }),
            in_flight: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
            internal_in_flight: AtomicUsize::new(0),
            eventfd_armed: AtomicBool::new(false),
            stats,
        }
    }

    /// The owner takes the turn (waiting out a reaper's batch), unless it
    /// holds it already; returns whether it took it (then it gives it back
    /// with [`owner_release`](Completions::owner_release)).
    pub(crate) fn owner_acquire(&self) -> bool {
        loop {
            // `Acquire`: see the module docs.
            match self
                .turn
                .compare_exchange(FREE, OWNER, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                // Only the owner sets `OWNER`: the turn is this thread's.
                Err(OWNER) => return false,
                Err(_) => spin_wait(),
            }
        }
    }

    /// The owner gives back a turn it took (`taken`).
    pub(crate) fn owner_release(&self, taken: bool) {
        if taken {
            // `Release`: pairs with the next taker's `Acquire`.
            self.turn.store(FREE, Ordering::Release);
        }
    }

    /// The owner, holding its turn: drains with `fetch` (which moves posted
    /// CQEs into the vector and says whether the queue was full). Returns
    /// the operation completions delivered.
    pub(crate) fn reap_as_owner(&self, fetch: impl FnMut(&mut Vec<Cqe>) -> bool) -> usize {
        // Relaxed: the owner reads its own store.
        debug_assert_eq!(self.turn.load(Ordering::Relaxed), OWNER);
        // SAFETY: the turn is the owner's (`OWNER`, set by this thread), so
        // this thread alone touches `reap`.
        self.reap
            .with_mut(|reap| self.drain(unsafe { &mut *reap }, fetch))
    }

    /// Another thread: as `reap`, unless the owner has the turn (or shut
    /// down); `None` then. `more` runs after a drain that found the queue
    /// full (flush the overflow list) and says whether to drain again.
    pub(crate) fn try_reap(
        &self,
        mut fetch: impl FnMut(&mut Vec<Cqe>) -> bool,
        mut more: impl FnMut() -> bool,
    ) -> Option<usize> {
        // `Acquire`: see the module docs.
        self.turn
            .compare_exchange(FREE, REAPER, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        let delivered = self.reap.with_mut(|reap| {
            // SAFETY: the turn is this thread's (`REAPER`), so it alone
            // touches `reap` until the store below.
            let reap = unsafe { &mut *reap };
            if reap.closed {
                return None;
            }
            let mut delivered = 0;
            loop {
                delivered += self.drain(reap, &mut fetch);
                if !reap.saw_full || !more() {
                    break;
                }
            }
            Some(delivered)
        });
        // `Release`: pairs with the next taker's `Acquire`.
        self.turn.store(FREE, Ordering::Release);
        let delivered = delivered?;
        self.stats.reaped_elsewhere(delivered as u64);
        Some(delivered)
    }

    /// Shutdown begins: reapers stop (one in progress finishes first).
    pub(crate) fn close(&self) {
        let taken = self.owner_acquire();
        // SAFETY: the owner's turn: this thread's only access.
        self.reap.with_mut(|reap| unsafe { (*reap).closed = true });
        self.owner_release(taken);
    }

    fn drain(&self, reap: &mut Reap, mut fetch: impl FnMut(&mut Vec<Cqe>) -> bool) -> usize {
        let mut delivered = 0;
        reap.saw_full = false;
        loop {
            let mut cqes = std::mem::take(&mut reap.cqes);
            reap.saw_full |= fetch(&mut cqes);
            let got = cqes.len();
            self.stats.completions(got as u64);
            for cqe in cqes.drain(..) {
                delivered += self.deliver(cqe);
            }
            reap.cqes = cqes;
            if got == 0 {
                return delivered;
            }
        }
    }

    fn deliver(&self, cqe: Cqe) -> usize {
        let Cqe {
            user_data,
            completion,
        } = cqe;
        if is_internal(user_data) {
            // `AcqRel` on every counter: each is a plain tally, read by the
            // owner (`Acquire`) to decide whether to wait for more CQEs.
            let before = self.internal_in_flight.fetch_sub(1, Ordering::AcqRel);
            debug_assert!(before > 0);
            if user_data == EVENTFD_TOKEN {
                // `Release`: pairs with the owner's `Acquire` when it decides
                // whether to arm the read again.
                self.eventfd_armed.store(false, Ordering::Release);
            }
            return 0;
        }
        let more = io_uring::cqueue::more(completion.flags);
        if completion.flags & crate::cqe::CQE_F_NOTIF != 0 {
            self.stats
                .zc_notification(completion.result & crate::cqe::NOTIF_USAGE_ZC_COPIED != 0);
        }
        // SAFETY: a CQE with a non-token `user_data` names an operation of
        // this ring, whose kernel reference is released only at its final
        // CQE — this one, or a later one when `more` is set — and only here.
        let raw = unsafe { RawSlot::from_user_data(user_data) };
        // A waker or a resource `Drop` is user code: a panic in one must not
        // lose the rest of the batch, nor the release below (the slot would
        // stay in flight forever).
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: see above: the reference is still held.
            unsafe { raw.complete(completion, more) }
        }));
        if !more {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            self.live.fetch_sub(1, Ordering::AcqRel);
            // SAFETY: the final CQE: the kernel is done with the slot, and
            // the reference is given back once, after its last `complete`.
            unsafe { raw.release() };
        }
        1
    }
}
