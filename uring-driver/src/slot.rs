//! The op slot: the state one in-flight operation shares between its future
//! (the [`Op`](crate::Op) handle, on any thread) and its driver (on the owner
//! thread).
//!
//! # Lifecycle
//!
//! ```text
//!             poll (waker stored)
//!   InFlight ─────────────────────► InFlight
//!      │  │ final CQE                    │ Op dropped
//!      │  └──────────► Completed ──┐     ▼
//!      │                  │ poll   │  Cancelled ── final CQE ──► Done
//!      │                  ▼        │ Op dropped            (resources dropped,
//!      │                 Done ◄────┘ (orphan cleanup)       orphan cleanup)
//! ```
//!
//! - The **resources** (buffers, sockaddr, path, fd keep-alive) live in the
//!   slot from submission until `Done`: the future takes them back with the
//!   completion, or, if it was dropped first, the driver drops them when the
//!   final CQE arrives — never earlier, because until then the kernel may
//!   still write into them. They sit in a field that never moves, so an SQE
//!   may point into their inline bytes.
//! - **Orphans.** A completion nobody will read (the future was dropped
//!   before or after it arrived) is handled by the operation's [`Orphan`]
//!   rule: dropped with the resources, its new file descriptor closed
//!   ([`Orphan::CloseFd`]: a cancelled `open` leaks nothing), or handed with
//!   the resources to a function ([`Orphan::Keep`]) that keeps what the kernel
//!   delivered — the runtime stores a late read's bytes or a late accept's
//!   connection with the socket for the next operation.
//! - **Multishot** operations deliver each non-final CQE to a queue; only the
//!   final CQE (without `IORING_CQE_F_MORE`) ends the `InFlight` state.
//!
//! One mutex guards the state: the future and the driver each take it for a
//! few instructions per event, wakers are called after it is released.

use crate::cqe::Completion;
use crate::remote::Completable;
use crate::sync::{Arc, Mutex};
use crate::sys;
use crate::user_data::{Header, RawSlot, VTable};
use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

/// What to do with a final completion nobody reads (the operation's future
/// was dropped before it arrived, or after it arrived but before it was
/// polled).
pub enum Orphan<R> {
    /// Nothing beyond dropping the resources.
    Drop,
    /// A non-negative result is a new file descriptor: close it.
    CloseFd,
    /// Call this function with the completion and the resources, once. It
    /// runs on the thread that reaps the completion (the driver's owner) or,
    /// for an operation that had completed before its future was dropped, on
    /// the dropping thread. Non-final completions of a multishot operation
    /// are not passed to it (they are dropped).
    Keep(fn(Completion, R)),
    /// Call this function with every completion nobody reads — each
    /// non-final one of a multishot operation and the final one — then
    /// drop the resources. It runs on the thread that reaps the CQE (under
    /// the slot's lock, for a non-final CQE arriving after the drop) or on
    /// the thread that drops the future (for CQEs queued before): it must
    /// be short and must not touch the operation (a multishot receive
    /// gives back the provided buffer each CQE names).
    Each(fn(Completion, &R)),
}

impl<R> Clone for Orphan<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for Orphan<R> {}

impl<R> PartialEq for Orphan<R> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Orphan::Drop, Orphan::Drop) | (Orphan::CloseFd, Orphan::CloseFd) => true,
            (Orphan::Keep(a), Orphan::Keep(b)) => std::ptr::fn_addr_eq(*a, *b),
            (Orphan::Each(a), Orphan::Each(b)) => std::ptr::fn_addr_eq(*a, *b),
            _ => false,
        }
    }
}

impl<R> std::fmt::Debug for Orphan<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Orphan::Drop => "Drop",
            Orphan::CloseFd => "CloseFd",
            Orphan::Keep(_) => "Keep",
            Orphan::Each(_) => "Each",
        })
    }
}

enum State {
    /// Submitted (or waiting in the backlog); the future may have left a waker.
    InFlight { waker: Option<Waker> },
    /// The final CQE arrived; the future has not taken it yet.
    Completed(Completion),
    /// The future was dropped before the final CQE.
    Cancelled,
    /// Everything was handed out or cleaned up.
    Done,
}

struct Inner<R> {
    state: State,
    resources: Option<R>,
    /// Non-final CQEs of a multishot operation, oldest first.
    extra: VecDeque<Completion>,
    /// The queue reached the cap and a cancel was requested.
    cap_hit: bool,
}

/// A multishot operation's limit on unread completions: when `limit` wait
/// in the queue, the owner is asked to cancel the operation (its future
/// then sees the final `ECANCELED` after the queued ones, and may arm it
/// again). Completions the kernel posts before the cancel takes effect are
/// still queued: the limit is soft by that much.
pub(crate) struct Cap {
    pub(crate) limit: usize,
    pub(crate) remote: Arc<crate::remote::Remote>,
}

/// The shared slot of one operation. `#[repr(C)]` with the header first:
/// `user_data` points to it (see `user_data.rs`).
#[repr(C)]
pub(crate) struct Slot<R> {
    header: Header,
    inner: Mutex<Inner<R>>,
    orphan: Orphan<R>,
    cap: Option<Cap>,
}

/// `VTable::complete` for slots of `R`.
///
/// # Safety
/// `ptr` points to a live `Slot<R>` (its header).
unsafe fn complete_raw<R: Send + 'static>(ptr: *const Header, completion: Completion, more: bool) {
    // SAFETY: `Slot<R>` is `repr(C)` with the header first, so the header's
    // address is the slot's; the caller says the slot is alive.
    let slot = unsafe { &*ptr.cast::<Slot<R>>() };
    if slot.complete(completion, more) {
        // The queue reached the cap: ask the owner to cancel. The request
        // holds a counted reference (so the address cannot name another
        // operation before the owner looks), made from the kernel's, which
        // is still held: `complete` asks only for a non-final CQE.
        // SAFETY: `ptr` came from `Arc::into_raw` of this slot type (the
        // vtable is this type's) and that reference is alive; wrapping it
        // in `ManuallyDrop` borrows it without giving it back.
        let kernels = std::mem::ManuallyDrop::new(unsafe { Arc::from_raw(ptr.cast::<Slot<R>>()) });
        let request = crate::remote::CancelRequest {
            user_data: ptr as u64,
            slot: Arc::<Slot<R>>::clone(&kernels),
        };
        if let Some(cap) = &slot.cap {
            cap.remote.request_cancel(request);
        }
    }
}

/// `VTable::release` for slots of `R`.
///
/// # Safety
/// `ptr` came from `Arc::into_raw` of an `Arc<Slot<R>>` (cast to the
/// header), and is released once.
unsafe fn release_raw<R: Send + 'static>(ptr: *const Header) {
    // SAFETY: the caller's precondition: one counted reference, made by
    // `Arc::into_raw` of this type, given back once.
    drop(unsafe { Arc::from_raw(ptr.cast::<Slot<R>>()) });
}

/// What the future side should do after `drop_op`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DropOutcome {
    /// The operation is still in the kernel: ask the driver to cancel it.
    CancelInFlight,
    /// Already finished; nothing to ask.
    Finished,
}

impl<R: Send + 'static> Slot<R> {
    const VTABLE: VTable = VTable {
        complete: complete_raw::<R>,
        release: release_raw::<R>,
    };

    /// Takes one reference of `this` for the kernel (see `user_data.rs`).
    pub(crate) fn into_raw(this: Arc<Slot<R>>) -> RawSlot {
        // `repr(C)` with the header first: the slot's address is its
        // header's.
        RawSlot::from_header(Arc::into_raw(this).cast::<Header>())
    }

    pub(crate) fn new(resources: R, orphan: Orphan<R>, cap: Option<Cap>) -> Slot<R> {
        Slot {
            header: Header {
                vtable: &Self::VTABLE,
            },
            inner: Mutex::new(Inner {
                state: State::InFlight { waker: None },
                resources: Some(resources),
                extra: VecDeque::new(),
                cap_hit: false,
            }),
            orphan,
            cap,
        }
    }

    /// Runs `f` on the resources where they will stay until the operation
    /// ends (to build an SQE that points into them).
    pub(crate) fn with_resources<T>(&self, f: impl FnOnce(&mut R) -> T) -> T {
        let mut inner = self.inner.lock();
        let resources = inner
            .resources
            .as_mut()
            .expect("resources present until Done");
        f(resources)
    }

    /// Takes the resources back from a slot that never reached the kernel.
    pub(crate) fn take_resources(&self) -> Option<R> {
        let mut inner = self.inner.lock();
        inner.state = State::Done;
        inner.resources.take()
    }

    /// The future polls: the final completion and the resources, once.
    pub(crate) fn poll_complete(&self, cx: &mut Context<'_>) -> Poll<(Completion, R)> {
        Self::poll_final(&mut self.inner.lock(), cx)
    }

    /// `poll_complete` under the caller's lock.
    fn poll_final(inner: &mut Inner<R>, cx: &mut Context<'_>) -> Poll<(Completion, R)> {
        match &mut inner.state {
            State::InFlight { waker } => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            State::Completed(completion) => {
                let completion = *completion;
                inner.state = State::Done;
                let resources = inner
                    .resources
                    .take()
                    .expect("resources present until Done");
                Poll::Ready((completion, resources))
            }
            State::Cancelled | State::Done => panic!("operation polled after it completed"),
        }
    }

    /// The future polls a multishot operation: the next non-final
    /// completion, or the final one (`None` in the second field: the
    /// operation ended; the resources come back with it).
    ///
    /// One lock for the queue and the state: a non-final completion and the
    /// final one may both arrive between two looks, and the final one must
    /// not be handed out while non-final ones wait before it (they would
    /// never be read, nor closed by the orphan rule: the loom model
    /// `multishot_connections_are_taken_or_closed_exactly_once` found this).
    pub(crate) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<(Completion, Option<R>)> {
        let mut inner = self.inner.lock();
        if let Some(completion) = inner.extra.pop_front() {
            return Poll::Ready((completion, None));
        }
        Self::poll_final(&mut inner, cx).map(|(c, r)| (c, Some(r)))
    }

    /// Whether the unread completions reached the slot's [`Cap`] (and a
    /// cancel was asked for).
    pub(crate) fn hit_cap(&self) -> bool {
        self.inner.lock().cap_hit
    }

    /// The future is dropped. Cleans up what it can and says whether the
    /// kernel still holds the operation.
    pub(crate) fn drop_op(&self) -> DropOutcome {
        let mut inner = self.inner.lock();
        match std::mem::replace(&mut inner.state, State::Done) {
            State::InFlight { waker } => {
                inner.state = State::Cancelled;
                drop(inner);
                drop(waker);
                DropOutcome::CancelInFlight
            }
            State::Completed(completion) => {
                // Completed but never read (tokio #7979): clean up now.
                let resources = inner.resources.take();
                let extra = std::mem::take(&mut inner.extra);
                drop(inner);
                self.orphaned(completion, extra, resources);
                DropOutcome::Finished
            }
            State::Done => DropOutcome::Finished,
            State::Cancelled => unreachable!("an Op is dropped once"),
        }
    }

    /// Applies the orphan rule to a final completion nobody will read (and
    /// to the multishot completions queued before it).
    fn orphaned(&self, completion: Completion, extra: VecDeque<Completion>, resources: Option<R>) {
        for c in extra.iter().chain([&completion]) {
            self.unread(*c, resources.as_ref());
        }
        match (self.orphan, resources) {
            (Orphan::Keep(keep), Some(resources)) => keep(completion, resources),
            (_, resources) => drop(resources),
        }
    }

    /// The orphan rule's part for one completion nobody reads (`Keep` is
    /// applied to the final one by the caller).
    fn unread(&self, c: Completion, resources: Option<&R>) {
        match (self.orphan, resources) {
            (Orphan::CloseFd, _) if c.result >= 0 => sys::close_fd(c.result),
            (Orphan::Each(each), Some(resources)) => each(c, resources),
            _ => {}
        }
    }
}

impl<R: Send + 'static> Completable for Slot<R> {
    fn awaits_cancel(&self) -> bool {
        let inner = self.inner.lock();
        match inner.state {
            State::Cancelled => true,
            State::InFlight { .. } => inner.cap_hit,
            State::Completed(_) | State::Done => false,
        }
    }
}

impl<R: Send + 'static> Slot<R> {
    /// Delivers a CQE. `more` is `IORING_CQE_F_MORE`: a multishot operation
    /// will post again, so the slot stays in flight. Returns `true` when
    /// this CQE filled the queue to the slot's [`Cap`] (the caller asks for
    /// the cancel; only ever for a non-final CQE).
    pub(crate) fn complete(&self, completion: Completion, more: bool) -> bool {
        let mut inner = self.inner.lock();
        if more {
            match inner.state {
                State::InFlight { ref mut waker } => {
                    let waker = waker.clone();
                    inner.extra.push_back(completion);
                    let capped = match &self.cap {
                        Some(cap) if !inner.cap_hit && inner.extra.len() >= cap.limit => {
                            inner.cap_hit = true;
                            true
                        }
                        _ => false,
                    };
                    drop(inner);
                    if let Some(w) = waker {
                        w.wake();
                    }
                    return capped;
                }
                State::Cancelled => {
                    let resources = inner.resources.as_ref();
                    self.unread(completion, resources);
                }
                State::Completed(_) | State::Done => {
                    unreachable!("a CQE after the final one")
                }
            }
            return false;
        }
        match std::mem::replace(&mut inner.state, State::Done) {
            State::InFlight { waker } => {
                inner.state = State::Completed(completion);
                drop(inner);
                if let Some(w) = waker {
                    w.wake();
                }
            }
            State::Cancelled => {
                // The future is gone: the kernel is done with the resources
                // only now, so only now are they freed.
                let resources = inner.resources.take();
                let extra = std::mem::take(&mut inner.extra);
                drop(inner);
                self.orphaned(completion, extra, resources);
            }
            State::Completed(_) | State::Done => unreachable!("two final CQEs for one operation"),
        }
        false
    }
}
