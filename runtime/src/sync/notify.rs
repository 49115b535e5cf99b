//! [`Notify`]: wake one task or all waiting tasks, asyncio's `Event` and
//! `Condition` building block.

use super::wait_list::{Key, WaitList};
use super::wake_list::WakeList;
use crate::coop;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::Mutex;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Notifies tasks waiting in [`notified`](Notify::notified).
///
/// - [`notify_one`](Notify::notify_one) wakes the longest-waiting task, or,
///   if none waits, stores one permit that the next `notified().await`
///   consumes at once (several calls store a single permit).
/// - [`notify_waiters`](Notify::notify_waiters) wakes every task waiting now,
///   including every [`Notified`] future *created* before the call and not
///   polled yet, and stores no permit.
///
/// The usual pattern, checking a condition without missing a notification:
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use ringwork::sync::Notify;
///
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let ready = Arc::new(AtomicBool::new(false));
/// let notify = Arc::new(Notify::new());
/// let (r, n) = (ready.clone(), notify.clone());
/// ringwork::spawn(async move {
///     r.store(true, Ordering::SeqCst);
///     n.notify_waiters();
/// });
/// loop {
///     let notified = notify.notified(); // before the check: catches a notify_waiters after it
///     if ready.load(Ordering::SeqCst) {
///         break;
///     }
///     notified.await;
/// }
/// # });
/// ```
pub struct Notify {
    /// Number of `notify_waiters` calls; changed under `state`'s lock.
    generation: AtomicUsize,
    state: Mutex<State>,
}

struct State {
    permit: bool,
    waiters: WaitList<Waiter>,
}

struct Waiter {
    notified: Option<Kind>,
    waker: Option<Waker>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    One,
    All,
}

impl Notify {
    /// A `Notify` with no stored permit.
    pub fn new() -> Notify {
        Notify {
            generation: AtomicUsize::new(0),
            state: Mutex::new(State {
                permit: false,
                waiters: WaitList::new(),
            }),
        }
    }

    /// A future that completes when this `Notify` is notified.
    ///
    /// It counts as waiting for [`notify_waiters`](Notify::notify_waiters)
    /// from the moment it is created; for [`notify_one`](Notify::notify_one)
    /// from its first poll.
    ///
    /// Cancel safety: if it is dropped after a `notify_one` chose it but
    /// before it completed, that notification passes to the next waiter (or
    /// becomes the stored permit), so it is never lost.
    pub fn notified(&self) -> Notified<'_> {
        Notified {
            notify: self,
            // Acquire: pairs with the Release increment in
            // `notify_waiters`. A caller that checks a condition after
            // creating the future and sees the generation of a
            // `notify_waiters` call also sees what was written before that
            // call (the condition), so it cannot both miss the condition
            // and count that call as already past.
            generation: self.generation.load(Ordering::Acquire),
            state: Stage::Init,
        }
    }

    /// Wakes the longest-waiting task, or stores a permit if none waits.
    pub fn notify_one(&self) {
        let mut state = self.state.lock();
        if let Some(waker) = Self::notify_one_locked(&mut state) {
            drop(state);
            waker.wake();
        }
    }

    fn notify_one_locked(state: &mut State) -> Option<Waker> {
        match state.waiters.pop_front() {
            Some((_, waiter)) => {
                waiter.notified = Some(Kind::One);
                waiter.waker.take()
            }
            None => {
                state.permit = true;
                None
            }
        }
    }

    /// Wakes every task waiting now (and every `Notified` created before
    /// this call). Stores no permit.
    pub fn notify_waiters(&self) {
        let mut wake = WakeList::new();
        let mut state = self.state.lock();
        // Release: pairs with the Acquire load in `notified`. `poll`
        // compares under the lock, which orders it with this increment.
        self.generation.fetch_add(1, Ordering::Release);
        while let Some((_, waiter)) = state.waiters.pop_front() {
            waiter.notified = Some(Kind::All);
            if let Some(waker) = waiter.waker.take() {
                wake.push(waker);
            }
        }
        drop(state);
        wake.wake_all();
    }
}

impl Default for Notify {
    fn default() -> Self {
        Notify::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notify").finish_non_exhaustive()
    }
}

enum Stage {
    Init,
    Waiting(Key),
    Done,
}

/// The future of [`Notify::notified`]. Cancel safe (see there).
#[must_use = "futures do nothing unless polled"]
pub struct Notified<'a> {
    notify: &'a Notify,
    generation: usize,
    state: Stage,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let progress = std::task::ready!(coop::poll_proceed(cx));
        let mut state = this.notify.state.lock();
        let done = match this.state {
            Stage::Done => true,
            Stage::Init => {
                // Notified by `notify_waiters` since creation, or a stored
                // `notify_one` permit. Relaxed: the increment happens under
                // the lock we hold.
                if this.notify.generation.load(Ordering::Relaxed) != this.generation
                    || std::mem::take(&mut state.permit)
                {
                    true
                } else {
                    this.state = Stage::Waiting(state.waiters.push_back(Waiter {
                        notified: None,
                        waker: Some(cx.waker().clone()),
                    }));
                    false
                }
            }
            Stage::Waiting(key) => {
                let waiter = state
                    .waiters
                    .get_mut(key)
                    .expect("a waiting Notified's node is allocated");
                if waiter.notified.is_some() {
                    state.waiters.remove(key);
                    true
                } else {
                    match &mut waiter.waker {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        slot => *slot = Some(cx.waker().clone()),
                    }
                    false
                }
            }
        };
        drop(state);
        if done {
            this.state = Stage::Done;
            progress.made_progress();
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        let Stage::Waiting(key) = self.state else {
            return;
        };
        let mut state = self.notify.state.lock();
        let forwarded = match state.waiters.remove(key) {
            Some(Waiter {
                notified: Some(Kind::One),
                ..
            }) => Notify::notify_one_locked(&mut state),
            _ => None,
        };
        drop(state);
        if let Some(waker) = forwarded {
            waker.wake();
        }
    }
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notified").finish_non_exhaustive()
    }
}
