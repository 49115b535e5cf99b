//! A set of futures polled only when woken: the engine of [`JoinSet`],
//! [`join_all`] and [`wait`].
//!
//! Each member gets its own waker, which queues the member's slot in a
//! shared ready queue and wakes whoever polls the set. Polling the set polls
//! only queued members, so a set of `n` futures costs O(woken) per poll,
//! not O(n). All safe code: the per-member waker is an `Arc` implementing
//! [`Wake`].
//!
//! [`JoinSet`]: super::JoinSet
//! [`join_all`]: super::join_all
//! [`wait`]: super::wait

use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::Mutex;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

pub(crate) struct Unordered<F> {
    slots: Vec<Option<Member<F>>>,
    free: Vec<usize>,
    len: usize,
    ready: Arc<ReadyQueue>,
}

struct Member<F> {
    future: F,
    tag: usize,
    waker: Arc<MemberWaker>,
}

struct ReadyQueue {
    state: Mutex<Ready>,
}

struct Ready {
    slots: VecDeque<(usize, u64)>,
    /// Whoever polls the set.
    parent: Option<Waker>,
}

struct MemberWaker {
    slot: usize,
    /// Distinguishes this member from later occupants of its slot.
    serial: u64,
    /// Already in the ready queue: further wakes need not queue it again.
    queued: AtomicBool,
    ready: Arc<ReadyQueue>,
}

impl Wake for MemberWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // AcqRel: pairs with the swap to `false` before the member is
        // polled; a wake after that swap queues the member again, and a
        // wake before it publishes its writes to that poll.
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut ready = self.ready.state.lock();
        ready.slots.push_back((self.slot, self.serial));
        let parent = ready.parent.clone();
        drop(ready);
        if let Some(parent) = parent {
            parent.wake();
        }
    }
}

impl<F: Future + Unpin> Unordered<F> {
    pub(crate) fn new() -> Self {
        Unordered {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            ready: Arc::new(ReadyQueue {
                state: Mutex::new(Ready {
                    slots: VecDeque::new(),
                    parent: None,
                }),
            }),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Adds `future`, remembered with `tag`. It is polled on the next poll
    /// of the set.
    pub(crate) fn push(&mut self, tag: usize, future: F) {
        static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        // Relaxed: only uniqueness matters.
        let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        let waker = Arc::new(MemberWaker {
            slot,
            serial,
            queued: AtomicBool::new(true),
            ready: self.ready.clone(),
        });
        self.ready.state.lock().slots.push_back((slot, serial));
        self.slots[slot] = Some(Member { future, tag, waker });
        self.len += 1;
    }

    /// Polls woken members until one completes: `Ready(Some((tag, output)))`,
    /// `Ready(None)` when the set is empty, `Pending` when none of the
    /// woken ones completed. `parent` (if given) replaces the waker woken
    /// when another member is; `None` leaves the registered one in place
    /// (a non-waiting check such as `try_join_next`).
    pub(crate) fn poll_next(&mut self, parent: Option<&Waker>) -> Poll<Option<(usize, F::Output)>> {
        if self.len == 0 {
            return Poll::Ready(None);
        }
        if let Some(waker) = parent {
            let mut ready = self.ready.state.lock();
            match &mut ready.parent {
                Some(w) if w.will_wake(waker) => {}
                slot => *slot = Some(waker.clone()),
            }
        }
        // At most one round over the members per call, so a member that
        // wakes itself on every poll cannot keep this call spinning.
        for _ in 0..self.len {
            let Some((slot, serial)) = self.ready.state.lock().slots.pop_front() else {
                return Poll::Pending;
            };
            let Some(member) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            if member.waker.serial != serial {
                continue; // queued by a former occupant of the slot
            }
            // A swap, not a store: as a read-modify-write it reads the
            // latest `true`, so it acquires from a wake that found the
            // member already queued and skipped queueing it (AcqRel pairs
            // with the swap in `wake_by_ref`); the poll below then sees what
            // that waker published.
            member.waker.queued.swap(false, Ordering::AcqRel);
            let waker = Waker::from(member.waker.clone());
            let mut member_cx = Context::from_waker(&waker);
            if let Poll::Ready(output) = Pin::new(&mut member.future).poll(&mut member_cx) {
                let member = self.slots[slot].take().expect("polled member exists");
                self.free.push(slot);
                self.len -= 1;
                return Poll::Ready(Some((member.tag, output)));
            }
        }
        if let Some(waker) = parent {
            if !self.ready.state.lock().slots.is_empty() {
                // Woken members remain: come back after the others had a turn.
                waker.wake_by_ref();
            }
        }
        Poll::Pending
    }

    /// Each member's tag and future.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &F)> {
        self.slots.iter().flatten().map(|m| (m.tag, &m.future))
    }

    /// Removes every member, in slot order.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = (usize, F)> + '_ {
        self.len = 0;
        self.free.clear();
        self.ready.state.lock().slots.clear();
        self.slots.drain(..).flatten().map(|m| (m.tag, m.future))
    }
}
