//! The task's atomic state word.
//!
//! One `usize` holds six flag bits and a reference count. Every transition is
//! one compare-and-swap loop in a small function below whose doc comment names
//! the bits it reads and writes; nothing else in the runtime touches the word.
//!
//! # Who holds a reference
//!
//! The count covers every handle that keeps the task's allocation alive:
//! - the scheduler's registry of live tasks ([`OwnedTasks`]), until the task
//!   completes;
//! - each [`Notified`] (a queued or running "please poll me"), at most one at a
//!   time because only the transition that sets `NOTIFIED` creates one;
//! - the [`JoinHandle`] and every [`AbortHandle`];
//! - every [`Waker`] built from the task (the waker lent to a poll borrows the
//!   running `Notified`'s reference and holds none of its own).
//!
//! The allocation is freed by whoever drops the count to zero.
//!
//! [`OwnedTasks`]: super::list::OwnedTasks
//! [`Notified`]: super::Notified
//! [`JoinHandle`]: super::JoinHandle
//! [`AbortHandle`]: super::AbortHandle
//! [`Waker`]: std::task::Waker

use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use std::fmt;

/// A thread is polling the future (or dropping it). Only the holder of this bit
/// may touch the task's stage (future or output) while `COMPLETE` is unset.
/// Set by [`State::transition_to_running`] and [`State::transition_to_shutdown`];
/// cleared by [`State::transition_to_idle`] and [`State::transition_to_complete`].
const RUNNING: usize = 1 << 0;

/// The future is gone and the stage holds the task's result (output, panic
/// payload or cancellation) until the `JoinHandle` takes or drops it. Never
/// cleared once set; set only by the thread holding `RUNNING`.
const COMPLETE: usize = 1 << 1;

/// The task must be polled again. While the task is idle, this bit set means a
/// [`Notified`](super::Notified) for it exists (in a queue or about to be);
/// while `RUNNING`, it means a wake arrived during the poll and the poller must
/// reschedule the task when the poll returns `Pending`. Cleared when a poll
/// starts. Meaningless once `COMPLETE` is set (it may remain set when a wake
/// raced a cancellation); wakes check `COMPLETE` first.
///
/// A wake that finds `NOTIFIED` already set writes nothing, so it publishes
/// nothing to the next poll: whatever a waker wants the task to see must be
/// synchronized by the structure that wakes it (a lock or an atomic RMW), as
/// with every `Waker`.
const NOTIFIED: usize = 1 << 2;

/// Cancellation was requested (`abort()` or runtime shutdown). The next thread
/// to hold `RUNNING` drops the future instead of polling it. Never cleared.
const CANCELLED: usize = 1 << 3;

/// A `JoinHandle` exists and may read the output. Set at creation, cleared
/// once when the handle is dropped. When it is clear at completion, the
/// completing thread drops the output itself.
const JOIN_INTEREST: usize = 1 << 4;

/// Ownership of the join-waker field. Clear: the `JoinHandle` owns the field
/// and may write it. Set: the task side owns it and reads it at completion to
/// wake the handle. Set only by the handle (after writing the waker) while
/// `COMPLETE` is unset; cleared by the handle (to replace the waker) while
/// `COMPLETE` is unset, or by the completing thread after the wake.
const JOIN_WAKER: usize = 1 << 5;

/// Bits below this are flags; the reference count fills the rest.
const REF_SHIFT: usize = 6;
const REF_ONE: usize = 1 << REF_SHIFT;
const FLAG_MASK: usize = REF_ONE - 1;

/// The initial state: one reference for the registry of live tasks, one for
/// the first `Notified`, one for the `JoinHandle`; scheduled and joinable.
const INITIAL: usize = (3 * REF_ONE) | NOTIFIED | JOIN_INTEREST;

/// The atomic state word of one task.
pub(crate) struct State {
    word: AtomicUsize,
}

/// A copy of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(usize);

/// What the caller of [`State::transition_to_running`] must do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TransitionToRunning {
    /// Poll the future.
    Success,
    /// Drop the future: cancellation was requested.
    Cancelled,
    /// Someone else holds `RUNNING` or the task is complete: drop the
    /// `Notified`'s reference and do nothing else.
    Failed,
}

/// What the caller of [`State::transition_to_idle`] must do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TransitionToIdle {
    /// The task is idle; the running `Notified`'s reference was released and
    /// the count did not reach zero.
    Ok,
    /// As `Ok`, but the count reached zero: free the task.
    OkDealloc,
    /// A wake arrived during the poll: a reference was added for a new
    /// `Notified` that the caller must schedule; the caller still holds the
    /// running reference and releases it after scheduling (so the task
    /// outlives the call into the scheduler, which may run it elsewhere).
    OkNotified,
    /// Cancellation was requested during the poll: drop the future and
    /// complete. `RUNNING` is still held.
    Cancelled,
}

/// What the caller of a wake transition must do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TransitionToNotified {
    /// Nothing more.
    DoNothing,
    /// Submit a new `Notified` (its reference is already counted).
    Submit,
}

impl State {
    pub(crate) fn new() -> State {
        State {
            word: AtomicUsize::new(INITIAL),
        }
    }

    /// Reads the word. `Acquire`: pairs with the `Release` half of every
    /// transition, so a reader that sees `COMPLETE` also sees the output.
    /// The state in words, for task dumps: "running", "scheduled",
    /// "idle" (waiting for a wake-up), "complete", or "cancelling".
    pub(crate) fn describe(&self) -> &'static str {
        let now = self.load();
        if now.is_complete() {
            "complete"
        } else if now.is_running() {
            "running"
        } else if now.is_cancelled() {
            "cancelling"
        } else if now.is_notified() {
            "scheduled"
        } else {
            "idle"
        }
    }

    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.word.load(Ordering::Acquire))
    }

    /// Runs `f` in a CAS loop until it returns `(result, Some(next))` that is
    /// installed, or `(result, None)` (no change). `AcqRel` on success: a
    /// transition publishes what its thread wrote before (the stage, the join
    /// waker) and acquires what the previous transition published.
    fn fetch_update<R>(&self, mut f: impl FnMut(Snapshot) -> (R, Option<Snapshot>)) -> R {
        let mut current = self.load();
        loop {
            let (result, next) = f(current);
            let Some(next) = next else {
                return result;
            };
            match self.word.compare_exchange_weak(
                current.0,
                next.0,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return result,
                Err(actual) => current = Snapshot(actual),
            }
        }
    }

    /// Starts a poll on behalf of a `Notified`. Reads `RUNNING`, `COMPLETE`,
    /// `CANCELLED`; on success clears `NOTIFIED` and sets `RUNNING`.
    pub(crate) fn transition_to_running(&self) -> TransitionToRunning {
        self.fetch_update(|s| {
            debug_assert!(s.is_notified() || s.is_complete() || s.is_running());
            if s.is_running() || s.is_complete() {
                // Shutdown took the task while this `Notified` sat in a queue.
                return (TransitionToRunning::Failed, None);
            }
            let next = Snapshot((s.0 & !NOTIFIED) | RUNNING);
            if s.is_cancelled() {
                (TransitionToRunning::Cancelled, Some(next))
            } else {
                (TransitionToRunning::Success, Some(next))
            }
        })
    }

    /// Ends a poll that returned `Pending`. Reads `NOTIFIED`, `CANCELLED`;
    /// clears `RUNNING` unless cancelled; releases the running `Notified`'s
    /// reference unless it is handed to a new `Notified`.
    pub(crate) fn transition_to_idle(&self) -> TransitionToIdle {
        self.fetch_update(|s| {
            debug_assert!(s.is_running() && !s.is_complete());
            if s.is_cancelled() {
                return (TransitionToIdle::Cancelled, None);
            }
            let mut next = s.0 & !RUNNING;
            if s.is_notified() {
                next += REF_ONE;
                (TransitionToIdle::OkNotified, Some(Snapshot(next)))
            } else {
                debug_assert!(s.ref_count() >= 1);
                next -= REF_ONE;
                let action = if Snapshot(next).ref_count() == 0 {
                    TransitionToIdle::OkDealloc
                } else {
                    TransitionToIdle::Ok
                };
                (action, Some(Snapshot(next)))
            }
        })
    }

    /// Ends the task's life as a future. Requires `RUNNING`; clears it and sets
    /// `COMPLETE`. Returns the state after the change so the caller can read
    /// `JOIN_INTEREST` and `JOIN_WAKER`.
    pub(crate) fn transition_to_complete(&self) -> Snapshot {
        // `AcqRel`: the release half publishes the stored output to the
        // `JoinHandle`, whose `load` (Acquire) of `COMPLETE` pairs with it.
        let prev = Snapshot(self.word.fetch_xor(RUNNING | COMPLETE, Ordering::AcqRel));
        debug_assert!(prev.is_running() && !prev.is_complete());
        Snapshot(prev.0 ^ (RUNNING | COMPLETE))
    }

    /// A wake (`wake_by_ref`; `wake` is `wake_by_ref` then a drop, so the
    /// waker's reference outlives the call into the scheduler). Reads `RUNNING`, `COMPLETE`,
    /// `NOTIFIED`; sets `NOTIFIED`; adds a reference when a new `Notified` must
    /// be submitted.
    pub(crate) fn transition_to_notified_by_ref(&self) -> TransitionToNotified {
        self.fetch_update(|s| {
            if s.is_complete() || s.is_notified() {
                (TransitionToNotified::DoNothing, None)
            } else if s.is_running() {
                // The poller reschedules when its poll returns.
                (
                    TransitionToNotified::DoNothing,
                    Some(Snapshot(s.0 | NOTIFIED)),
                )
            } else {
                let next = Snapshot((s.0 | NOTIFIED) + REF_ONE);
                (TransitionToNotified::Submit, Some(next))
            }
        })
    }

    /// `abort()`. Reads `RUNNING`, `COMPLETE`, `NOTIFIED`, `CANCELLED`; sets
    /// `CANCELLED` and, if the task is idle and unscheduled, `NOTIFIED` plus a
    /// reference for the `Notified` the caller must submit so that a worker
    /// drops the future.
    pub(crate) fn transition_to_notified_and_cancel(&self) -> bool {
        self.fetch_update(|s| {
            if s.is_cancelled() || s.is_complete() {
                (false, None)
            } else if s.is_running() || s.is_notified() {
                // The poller, or the queued `Notified`, will see `CANCELLED`.
                (false, Some(Snapshot(s.0 | CANCELLED | NOTIFIED)))
            } else {
                let next = Snapshot((s.0 | CANCELLED | NOTIFIED) + REF_ONE);
                (true, Some(next))
            }
        })
    }

    /// Runtime shutdown. Reads `RUNNING`, `COMPLETE`; sets `CANCELLED` and, if
    /// no one holds `RUNNING` and the task is not complete, takes `RUNNING`:
    /// returns `true` when the caller now owns the future and must drop it.
    pub(crate) fn transition_to_shutdown(&self) -> bool {
        self.fetch_update(|s| {
            if s.is_complete() {
                (false, None)
            } else if s.is_running() {
                (false, Some(Snapshot(s.0 | CANCELLED)))
            } else {
                (true, Some(Snapshot(s.0 | CANCELLED | RUNNING)))
            }
        })
    }

    /// The `JoinHandle` is dropped. Clears `JOIN_INTEREST`, and `JOIN_WAKER`
    /// too unless the task is complete (then the completing thread owns the
    /// waker and drops it). Returns the state before the change: if it was
    /// `COMPLETE`, the caller owns the output and must drop it; if
    /// `JOIN_WAKER` was set and not `COMPLETE`, the caller owns the waker.
    pub(crate) fn transition_to_join_handle_dropped(&self) -> Snapshot {
        self.fetch_update(|s| {
            debug_assert!(s.is_join_interested());
            let mut next = s.0 & !JOIN_INTEREST;
            if !s.is_complete() {
                next &= !JOIN_WAKER;
            }
            (s, Some(Snapshot(next)))
        })
    }

    /// The `JoinHandle` hands the join waker it just wrote to the task side.
    /// Sets `JOIN_WAKER` unless the task completed meanwhile (`Err` with the
    /// current state: the waker stays the handle's and the output is ready).
    pub(crate) fn set_join_waker(&self) -> Result<Snapshot, Snapshot> {
        self.fetch_update(|s| {
            debug_assert!(s.is_join_interested() && !s.has_join_waker());
            if s.is_complete() {
                (Err(s), None)
            } else {
                let next = Snapshot(s.0 | JOIN_WAKER);
                (Ok(next), Some(next))
            }
        })
    }

    /// The `JoinHandle` takes the join waker back to replace it. Clears
    /// `JOIN_WAKER` unless the task completed meanwhile (`Err`).
    pub(crate) fn unset_join_waker(&self) -> Result<Snapshot, Snapshot> {
        self.fetch_update(|s| {
            debug_assert!(s.is_join_interested() && s.has_join_waker());
            if s.is_complete() {
                (Err(s), None)
            } else {
                let next = Snapshot(s.0 & !JOIN_WAKER);
                (Ok(next), Some(next))
            }
        })
    }

    /// The completing thread is done with the join waker. Clears `JOIN_WAKER`;
    /// returns the new state: if `JOIN_INTEREST` is now clear, the handle was
    /// dropped meanwhile and the caller must drop the waker.
    pub(crate) fn unset_join_waker_after_complete(&self) -> Snapshot {
        let prev = Snapshot(self.word.fetch_and(!JOIN_WAKER, Ordering::AcqRel));
        debug_assert!(prev.is_complete() && prev.has_join_waker());
        Snapshot(prev.0 & !JOIN_WAKER)
    }

    /// Adds a reference (a cloned waker, an `AbortHandle`).
    pub(crate) fn ref_inc(&self) {
        // `Relaxed`: a new reference is made from an existing one, which keeps
        // the task alive; nothing is published (as `Arc::clone`).
        let prev = self.word.fetch_add(REF_ONE, Ordering::Relaxed);
        // Guard against overflow into nonsense (as `Arc` does).
        if prev > isize::MAX as usize {
            std::process::abort();
        }
    }

    /// Releases one reference; `true` when it was the last and the caller must
    /// free the task.
    pub(crate) fn ref_dec(&self) -> bool {
        self.ref_dec_many(1)
    }

    /// Releases `n` references at once; `true` when the count reached zero.
    pub(crate) fn ref_dec_many(&self, n: usize) -> bool {
        // `AcqRel`: the release half orders this holder's accesses to the task
        // before the free; the acquire half lets the thread that frees see every
        // other holder's accesses (as `Arc::drop` with its fence).
        let prev = Snapshot(self.word.fetch_sub(n * REF_ONE, Ordering::AcqRel));
        debug_assert!(prev.ref_count() >= n);
        prev.ref_count() == n
    }
}

impl Snapshot {
    pub(crate) fn is_running(self) -> bool {
        self.0 & RUNNING != 0
    }
    pub(crate) fn is_complete(self) -> bool {
        self.0 & COMPLETE != 0
    }
    pub(crate) fn is_notified(self) -> bool {
        self.0 & NOTIFIED != 0
    }
    pub(crate) fn is_cancelled(self) -> bool {
        self.0 & CANCELLED != 0
    }
    pub(crate) fn is_join_interested(self) -> bool {
        self.0 & JOIN_INTEREST != 0
    }
    pub(crate) fn has_join_waker(self) -> bool {
        self.0 & JOIN_WAKER != 0
    }
    pub(crate) fn ref_count(self) -> usize {
        self.0 >> REF_SHIFT
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("running", &self.is_running())
            .field("complete", &self.is_complete())
            .field("notified", &self.is_notified())
            .field("cancelled", &self.is_cancelled())
            .field("join_interest", &self.is_join_interested())
            .field("join_waker", &self.has_join_waker())
            .field("ref_count", &self.ref_count())
            .field("flags", &(self.0 & FLAG_MASK))
            .finish()
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.load().fmt(f)
    }
}
