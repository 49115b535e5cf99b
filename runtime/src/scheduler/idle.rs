//! The idle protocol: which workers sleep, which search for work to steal,
//! and who wakes whom — without thundering herds and without lost wake-ups.
//!
//! # State
//!
//! One atomic word holds two counters: how many workers are *unparked* (not
//! in `sleepers`) and how many of those are *searching* (looking for work to
//! steal, having found none locally). The `sleepers` list under a mutex holds
//! the indices of parked workers. Counters change together with the list
//! under its lock, except searching ↔ running, which needs no list change.
//!
//! # Rules
//!
//! 1. **Who may search.** At most about half the workers search at once
//!    ([`Idle::transition_worker_to_searching`]): more would only contend on
//!    the same victims.
//! 2. **Who wakes a sleeper.** A thread that makes work available (a push to
//!    the injector, or a push that makes a worker's local queue non-empty)
//!    calls [`Idle::worker_to_notify`]: it wakes one sleeper only if no
//!    worker is searching and some worker sleeps. A worker
//!    woken this way starts as a searcher. A searcher will find the work, so
//!    one wake per burst is enough.
//! 3. **The last searcher wakes another.** A searcher that finds work stops
//!    searching; if it was the last searcher it calls `worker_to_notify`
//!    again, because where it found one task there may be more. Work spreads
//!    one worker at a time.
//! 4. **Every worker re-checks before sleeping.** After its counter update a
//!    parking worker looks at every queue once more and wakes a worker
//!    (possibly itself) if any queue holds work. This covers the last
//!    searcher, and also a worker that parks without having searched while a
//!    producer, seeing every worker still unparked, woke nobody.
//!
//! # Why no wake-up is lost
//!
//! A producer does `push(task); fence(SeqCst); load(state)`. A parking searcher
//! does `fetch_sub(state); fence(SeqCst); check queues`. These are the two
//! halves of a store-buffer pattern; the fences (SeqCst, in
//! `Shared::notify_parked` and `Worker::park`) forbid both threads from
//! missing the other's write. So either the producer sees the worker parked
//! and no searcher, and wakes a sleeper (rule 2), or the parking worker sees
//! the task (rule 4). If the producer sees a searcher instead, that searcher
//! either finds the task or parks — and re-checks — after the push.
//!
//! Known limit (as in tokio): the LIFO slot is not stealable, so a task woken
//! into it by a poll that then runs for long waits for that poll to end.

use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::Mutex;

/// Bits of the state word that count searching workers.
const SEARCH_BITS: usize = 16;
const SEARCH_MASK: usize = (1 << SEARCH_BITS) - 1;
/// One unparked worker.
const UNPARKED_ONE: usize = 1 << SEARCH_BITS;

/// The largest worker count the state word can describe.
pub(crate) const MAX_WORKERS: usize = SEARCH_MASK;

pub(crate) struct Idle {
    /// Unparked workers (`>> SEARCH_BITS`) and searching workers (`& SEARCH_MASK`).
    /// Every access is `SeqCst`: the counters take part in the store-buffer
    /// argument above together with the queues.
    state: AtomicUsize,
    /// Indices of parked workers.
    sleepers: Mutex<Vec<usize>>,
    num_workers: usize,
}

fn searching(state: usize) -> usize {
    state & SEARCH_MASK
}

fn unparked(state: usize) -> usize {
    state >> SEARCH_BITS
}

impl Idle {
    /// All workers start unparked and not searching.
    pub(crate) fn new(num_workers: usize) -> Idle {
        assert!(num_workers <= MAX_WORKERS);
        Idle {
            state: AtomicUsize::new(num_workers * UNPARKED_ONE),
            sleepers: Mutex::new(Vec::with_capacity(num_workers)),
            num_workers,
        }
    }

    /// Rule 2: picks a sleeper to wake, or `None` when a searcher exists or
    /// no one sleeps. The chosen worker is already counted as unparked and
    /// searching; the caller must unpark it.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        if !self.notify_should_wake() {
            return None;
        }
        let mut sleepers = self.sleepers.lock();
        // Re-check under the lock: another notifier may have won.
        if !self.notify_should_wake() {
            return None;
        }
        let worker = sleepers.pop()?;
        self.state.fetch_add(UNPARKED_ONE | 1, Ordering::SeqCst);
        Some(worker)
    }

    fn notify_should_wake(&self) -> bool {
        let state = self.state.load(Ordering::SeqCst);
        searching(state) == 0 && unparked(state) < self.num_workers
    }

    /// Rule 1: may this worker start searching?
    pub(crate) fn transition_worker_to_searching(&self) -> bool {
        let state = self.state.load(Ordering::SeqCst);
        if 2 * searching(state) >= self.num_workers {
            return false;
        }
        // Two workers may pass the check together and exceed half by one;
        // the limit is a contention heuristic, not an invariant.
        self.state.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// A searcher found work. Returns `true` if it was the last searcher
    /// (rule 3: the caller must then notify another worker).
    pub(crate) fn transition_worker_from_searching(&self) -> bool {
        let prev = self.state.fetch_sub(1, Ordering::SeqCst);
        debug_assert!(searching(prev) > 0);
        searching(prev) == 1
    }

    /// The worker goes to sleep. Returns `true` if it was the last searcher
    /// (rule 4: the caller must re-check the queues).
    pub(crate) fn transition_worker_to_parked(&self, worker: usize, is_searching: bool) -> bool {
        let mut sleepers = self.sleepers.lock();
        let dec = UNPARKED_ONE + usize::from(is_searching);
        let prev = self.state.fetch_sub(dec, Ordering::SeqCst);
        debug_assert!(!is_searching || searching(prev) > 0);
        sleepers.push(worker);
        is_searching && searching(prev) == 1
    }

    /// Takes `worker` out of the sleepers on its own initiative (it woke up
    /// with work, or for shutdown). Returns `false` if a notifier took it out
    /// first; then the worker counts as searching (rule 2).
    pub(crate) fn unpark_worker_by_id(&self, worker: usize) -> bool {
        let mut sleepers = self.sleepers.lock();
        match sleepers.iter().position(|&w| w == worker) {
            Some(pos) => {
                sleepers.swap_remove(pos);
                self.state.fetch_add(UNPARKED_ONE, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }

    /// Whether `worker` is still in the sleepers list.
    pub(crate) fn is_parked(&self, worker: usize) -> bool {
        self.sleepers.lock().contains(&worker)
    }

    /// Searching workers now (for tests and metrics).
    pub(crate) fn num_searching(&self) -> usize {
        searching(self.state.load(Ordering::SeqCst))
    }

    /// Unparked workers now (for tests and metrics).
    pub(crate) fn num_unparked(&self) -> usize {
        unparked(self.state.load(Ordering::SeqCst))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn at_most_half_search() {
        let idle = Idle::new(4);
        assert!(idle.transition_worker_to_searching());
        assert!(idle.transition_worker_to_searching());
        assert!(!idle.transition_worker_to_searching());
        assert_eq!(idle.num_searching(), 2);
    }

    #[test]
    fn notify_wakes_one_sleeper_only_without_searchers() {
        let idle = Idle::new(2);
        assert_eq!(idle.worker_to_notify(), None, "nobody sleeps");
        assert!(!idle.transition_worker_to_parked(0, false));
        assert!(!idle.transition_worker_to_parked(1, false));
        assert_eq!(idle.num_unparked(), 0);
        assert_eq!(idle.worker_to_notify(), Some(1));
        // The woken worker counts as searching: no second wake.
        assert_eq!(idle.worker_to_notify(), None);
        assert_eq!(idle.num_searching(), 1);
        assert_eq!(idle.num_unparked(), 1);
        // It finds work and was the last searcher: it must wake another.
        assert!(idle.transition_worker_from_searching());
        assert_eq!(idle.worker_to_notify(), Some(0));
    }

    #[test]
    fn last_searcher_is_told_to_recheck() {
        let idle = Idle::new(2);
        assert!(idle.transition_worker_to_searching());
        assert!(idle.transition_worker_to_parked(0, true));
        assert!(!idle.transition_worker_to_parked(1, false));
    }

    #[test]
    fn self_unpark_loses_to_a_notifier() {
        let idle = Idle::new(2);
        idle.transition_worker_to_parked(1, false);
        assert!(idle.unpark_worker_by_id(1));
        idle.transition_worker_to_parked(1, false);
        assert_eq!(idle.worker_to_notify(), Some(1));
        assert!(!idle.unpark_worker_by_id(1));
        assert!(!idle.is_parked(1));
    }
}
