//! The counting semaphore under `Semaphore`, `Mutex`, `RwLock` and bounded
//! `mpsc`: acquire `n` permits at once, waiters served strictly in FIFO
//! order.
//!
//! # The state word
//!
//! `state` packs `permits << SHIFT | WAITERS | CLOSED`:
//! - `permits`: permits nobody holds or has been promised. Lock-free
//!   acquirers take them with a CAS.
//! - `WAITERS`: set exactly while the wait list has a linked node. Set by an
//!   acquirer that queues, cleared by whoever empties the list; both hold the
//!   list mutex. **While it is set, `permits` is 0**: a queueing acquirer
//!   takes whatever was there into its node in the same CAS that sets the
//!   bit, and releasers do not add to the word while it is set; they take
//!   the list mutex and hand their permits to the head waiters instead. So a
//!   newcomer's lock-free CAS cannot overtake a queued waiter: the lock is
//!   fair (FIFO) without making the uncontended path take a lock.
//! - `CLOSED`: set once by `close`; acquirers fail from then on.
//!
//! # Waiters
//!
//! A queued acquirer owns a node in `waiters` ([`Waiter`]): how many permits
//! it still lacks, and its waker. Releasers assign permits to the head node
//! (possibly partially: the head blocks everyone behind it, like a FIFO
//! should); a node whose `remaining` reaches 0 is unlinked and woken, and
//! its future takes the permits on its next poll. A future dropped while
//! queued, or after being granted but before it noticed, gives everything
//! assigned to it back through the same hand-off (`cancel`), so no permit is
//! ever lost and the next waiter is woken.

use super::wait_list::{Key, WaitList};
use super::wake_list::WakeList;
use crate::coop;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::{Mutex, MutexGuard};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

const CLOSED: usize = 0b01;
const WAITERS: usize = 0b10;
const SHIFT: usize = 2;

/// The most permits a semaphore can hold (so `permits << SHIFT` plus one
/// more release cannot overflow).
pub(crate) const MAX_PERMITS: usize = usize::MAX >> 3;

pub(crate) struct BatchSemaphore {
    state: AtomicUsize,
    waiters: Mutex<WaitList<Waiter>>,
}

struct Waiter {
    /// Permits still missing; 0 once granted (then the node is unlinked).
    remaining: usize,
    /// The semaphore closed while this node waited (it is unlinked).
    closed: bool,
    waker: Option<Waker>,
}

/// Why a non-waiting acquire failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TryAcquire {
    Closed,
    NoPermits,
}

impl BatchSemaphore {
    /// # Panics
    /// If `permits > MAX_PERMITS`.
    pub(crate) fn new(permits: usize) -> Self {
        assert!(
            permits <= MAX_PERMITS,
            "a semaphore holds at most {MAX_PERMITS} permits"
        );
        BatchSemaphore {
            state: AtomicUsize::new(permits << SHIFT),
            waiters: Mutex::new(WaitList::new()),
        }
    }

    pub(crate) fn available_permits(&self) -> usize {
        // Relaxed: a snapshot for reporting, nothing is read based on it.
        self.state.load(Ordering::Relaxed) >> SHIFT
    }

    pub(crate) fn is_closed(&self) -> bool {
        // Acquire: pairs with the AcqRel `fetch_or` in `close`, so whoever
        // sees the semaphore closed also sees what was written before.
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    pub(crate) fn try_acquire(&self, n: usize) -> Result<(), TryAcquire> {
        // Relaxed first read: the CAS below validates it.
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            if cur & CLOSED != 0 {
                return Err(TryAcquire::Closed);
            }
            if cur >> SHIFT < n {
                return Err(TryAcquire::NoPermits);
            }
            // Acquire on success: pairs with the Release of the `release`
            // CAS that put these permits back, so the previous holder's
            // writes (e.g. to the data a `Mutex` guards) are visible.
            match self.state.compare_exchange_weak(
                cur,
                cur - (n << SHIFT),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Gives `n` permits back: to queued waiters first, in order, and only
    /// the rest to the lock-free pool.
    pub(crate) fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            if cur & WAITERS != 0 {
                break;
            }
            assert!(
                (cur >> SHIFT) + n <= MAX_PERMITS,
                "adding {n} permits would exceed the semaphore's maximum of {MAX_PERMITS}"
            );
            // Release: pairs with the Acquire CAS in `try_acquire` and the
            // queueing CAS in `poll_acquire` of whoever takes these permits.
            match self.state.compare_exchange_weak(
                cur,
                cur + (n << SHIFT),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
        // Waiters are queued: hand the permits over under the list lock.
        let mut wake = WakeList::new();
        let list = self.waiters.lock();
        self.hand_off(n, list, &mut wake);
        wake.wake_all();
    }

    /// Assigns `available` permits to the waiters at the head of `list`,
    /// unlinking (and collecting the wakers of) those fully served. When the
    /// list ends up empty, clears `WAITERS` and puts the rest in the word.
    fn hand_off(
        &self,
        mut available: usize,
        mut list: MutexGuard<'_, WaitList<Waiter>>,
        wake: &mut WakeList,
    ) {
        while let Some(key) = list.front() {
            let waiter = list.get_mut(key).expect("a linked node is allocated");
            let give = available.min(waiter.remaining);
            waiter.remaining -= give;
            available -= give;
            if waiter.remaining > 0 {
                // The head blocks everyone behind it; nothing is left.
                debug_assert_eq!(available, 0);
                return;
            }
            let waker = waiter.waker.take();
            list.unlink(key);
            if let Some(waker) = waker {
                wake.push(waker);
            }
        }
        // The list is empty: clear WAITERS and pool the rest. Under the list
        // lock, so no acquirer can queue (and set WAITERS) in between.
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            let pooled = (cur >> SHIFT) + available;
            assert!(
                pooled <= MAX_PERMITS,
                "adding permits would exceed the semaphore's maximum of {MAX_PERMITS}"
            );
            let new = (pooled << SHIFT) | (cur & CLOSED);
            // Release: pairs with the Acquire of the next acquirer's CAS.
            match self
                .state
                .compare_exchange_weak(cur, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        drop(list);
    }

    /// Closes the semaphore: pending and future acquires fail. Permits held
    /// stay valid and can still be released.
    pub(crate) fn close(&self) {
        let mut wake = WakeList::new();
        let mut list = self.waiters.lock();
        // AcqRel: Release pairs with `is_closed`'s Acquire; the list lock
        // orders this against queueing acquirers (they re-check CLOSED in
        // their queueing CAS under the same lock).
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
        while let Some((_, waiter)) = list.pop_front() {
            waiter.closed = true;
            if let Some(waker) = waiter.waker.take() {
                wake.push(waker);
            }
        }
        // Relaxed: under the list lock, like every change of WAITERS.
        self.state.fetch_and(!WAITERS, Ordering::Relaxed);
        drop(list);
        wake.wake_all();
    }

    /// A future acquiring `n` permits (`n <= MAX_PERMITS`).
    pub(crate) fn acquire(&self, n: usize) -> Acquire<'_> {
        Acquire {
            semaphore: self,
            n,
            key: None,
            done: false,
        }
    }

    fn poll_acquire(
        &self,
        cx: &mut Context<'_>,
        n: usize,
        key: &mut Option<Key>,
    ) -> Poll<Result<(), Closed>> {
        if let Some(k) = *key {
            let mut list = self.waiters.lock();
            let waiter = list
                .get_mut(k)
                .expect("a waiting future's node is allocated");
            if waiter.remaining == 0 {
                list.remove(k);
                *key = None;
                return Poll::Ready(Ok(()));
            }
            if waiter.closed {
                let assigned = n - waiter.remaining;
                list.remove(k);
                *key = None;
                let mut wake = WakeList::new();
                self.hand_off(assigned, list, &mut wake);
                wake.wake_all();
                return Poll::Ready(Err(Closed));
            }
            match &mut waiter.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }

        match self.try_acquire(n) {
            Ok(()) => return Poll::Ready(Ok(())),
            Err(TryAcquire::Closed) => return Poll::Ready(Err(Closed)),
            Err(TryAcquire::NoPermits) => {}
        }
        let mut list = self.waiters.lock();
        // Relaxed first read: the CAS validates it.
        let mut cur = self.state.load(Ordering::Relaxed);
        let taken = loop {
            if cur & CLOSED != 0 {
                return Poll::Ready(Err(Closed));
            }
            let available = cur >> SHIFT;
            let (new, taken) = if available >= n {
                (cur - (n << SHIFT), n)
            } else {
                // Take what there is and announce a waiter: from now on
                // releasers hand permits over under the lock we hold.
                ((cur & CLOSED) | WAITERS, available)
            };
            // Acquire: pairs with the Release of the CAS that pooled the
            // permits we take (see `try_acquire`).
            match self
                .state
                .compare_exchange_weak(cur, new, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) if taken == n => return Poll::Ready(Ok(())),
                Ok(_) => break taken,
                Err(actual) => cur = actual,
            }
        };
        *key = Some(list.push_back(Waiter {
            remaining: n - taken,
            closed: false,
            waker: Some(cx.waker().clone()),
        }));
        Poll::Pending
    }

    /// Called when an acquire future is dropped: gives back whatever was
    /// assigned to it, to the next waiters.
    fn cancel(&self, n: usize, key: &mut Option<Key>) {
        let Some(k) = key.take() else { return };
        let mut list = self.waiters.lock();
        let Some(waiter) = list.remove(k) else { return };
        let assigned = n - waiter.remaining;
        // Also when nothing was assigned: the removed node may have been the
        // last linked one, and then WAITERS must be cleared.
        let mut wake = WakeList::new();
        self.hand_off(assigned, list, &mut wake);
        wake.wake_all();
    }
}

impl fmt::Debug for BatchSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchSemaphore")
            .field("permits", &self.available_permits())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The semaphore was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed;

/// Waits for `n` permits. Resolves `Ok` once they are the caller's (who
/// must `release` them eventually), `Err` if the semaphore closed first.
///
/// Cancel safety: dropping it before it resolves gives back every permit
/// assigned to it so far, to the next waiters; its place in the queue is
/// lost. Dropping it after it resolved `Ok` is the caller's business: the
/// permits are theirs.
pub(crate) struct Acquire<'a> {
    semaphore: &'a BatchSemaphore,
    n: usize,
    key: Option<Key>,
    done: bool,
}

impl Future for Acquire<'_> {
    type Output = Result<(), Closed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "Acquire polled after it resolved");
        let progress = std::task::ready!(coop::poll_proceed(cx));
        let result = std::task::ready!(this.semaphore.poll_acquire(cx, this.n, &mut this.key));
        progress.made_progress();
        this.done = true;
        Poll::Ready(result)
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        self.semaphore.cancel(self.n, &mut self.key);
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("n", &self.n)
            .field("queued", &self.key.is_some())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::Wake;

    struct Flag(std::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn flag() -> (Arc<Flag>, Waker) {
        let flag = Arc::new(Flag(false.into()));
        (flag.clone(), Waker::from(flag))
    }

    fn woken(flag: &Flag) -> bool {
        flag.0.swap(false, std::sync::atomic::Ordering::SeqCst)
    }

    #[test]
    fn a_queued_waiter_is_not_overtaken_by_a_newcomer() {
        let sem = BatchSemaphore::new(1);
        sem.try_acquire(1).unwrap();
        let (f, waker) = flag();
        let mut cx = Context::from_waker(&waker);
        let mut first = Box::pin(sem.acquire(1));
        assert!(first.as_mut().poll(&mut cx).is_pending());
        sem.release(1);
        assert!(woken(&f));
        // The permit went to the waiter, not to the pool.
        assert_eq!(sem.try_acquire(1), Err(TryAcquire::NoPermits));
        assert_eq!(first.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
        sem.release(1);
        assert_eq!(sem.available_permits(), 1);
    }

    #[test]
    fn a_dropped_partially_served_waiter_passes_its_permits_on() {
        let sem = BatchSemaphore::new(3);
        let (_f1, w1) = flag();
        let (f2, w2) = flag();
        let mut big = Box::pin(sem.acquire(5));
        let mut small = Box::pin(sem.acquire(2));
        assert!(big
            .as_mut()
            .poll(&mut Context::from_waker(&w1))
            .is_pending());
        assert!(small
            .as_mut()
            .poll(&mut Context::from_waker(&w2))
            .is_pending());
        assert_eq!(sem.available_permits(), 0);
        drop(big);
        assert!(woken(&f2));
        assert_eq!(
            small.as_mut().poll(&mut Context::from_waker(&w2)),
            Poll::Ready(Ok(()))
        );
        assert_eq!(sem.available_permits(), 1);
    }

    #[test]
    fn closing_fails_waiters_and_returns_their_partial_permits() {
        let sem = BatchSemaphore::new(1);
        let (f, w) = flag();
        let mut cx = Context::from_waker(&w);
        let mut fut = Box::pin(sem.acquire(2));
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        sem.close();
        assert!(woken(&f));
        assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(Err(Closed)));
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.try_acquire(1), Err(TryAcquire::Closed));
    }
}
