//! Per-registration readiness: what epoll last reported for one descriptor,
//! with a tick so that clearing readiness never loses a newer event.
//!
//! # The tick
//!
//! Edge-triggered epoll reports a change once. A reader that saw "readable",
//! read until `WouldBlock`, and then clears the readable bit could erase an
//! event that arrived between its last read and the clear (tokio #6133). So
//! every event the reactor records bumps a tick stored with the bits, and a
//! clear names the tick it observed: if the tick moved, the clear is ignored
//! and the next poll sees the fresh event.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

/// Readiness bits.
pub const READABLE: u32 = 1 << 0;
/// The descriptor can be written.
pub const WRITABLE: u32 = 1 << 1;
/// The peer closed its write side (EPOLLRDHUP) or the descriptor hung up.
pub const READ_CLOSED: u32 = 1 << 2;
/// The descriptor hung up or has an error (EPOLLHUP/EPOLLERR).
pub const ERROR: u32 = 1 << 3;

/// Which direction an operation waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Reads, accepts, receives.
    Read,
    /// Writes, connects, sends.
    Write,
}

impl Direction {
    /// The bits that make this direction ready (errors and hang-ups wake both,
    /// so the retried syscall reports them).
    fn mask(self) -> u32 {
        match self {
            Direction::Read => READABLE | READ_CLOSED | ERROR,
            Direction::Write => WRITABLE | ERROR,
        }
    }
}

/// What a poll observed: the ready bits and the tick they were recorded at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadyEvent {
    /// Ready bits for the polled direction.
    pub ready: u32,
    tick: u32,
}

/// The shared readiness state of one registered descriptor.
#[derive(Debug, Default)]
pub struct Readiness {
    /// `tick << 32 | bits`. Updated by the reactor with `fetch_update`
    /// (`AcqRel`), read by pollers (`Acquire`): a poller that sees a tick
    /// sees the event that produced it.
    state: AtomicU64,
    wakers: Mutex<Wakers>,
}

/// The tasks waiting on one descriptor, per direction. Every waiter of a
/// direction is woken by an event for it (two tasks reading one socket both
/// wake; each retries its syscall). A waiter has a key so a [`Waiter`]
/// that is dropped unwoken takes its entry out; key `0` marks entries of
/// [`Readiness::poll_ready`], which leave only when woken.
#[derive(Debug, Default)]
struct Wakers {
    read: Vec<(u64, Waker)>,
    write: Vec<(u64, Waker)>,
    next_key: u64,
}

impl Wakers {
    fn list(&mut self, direction: Direction) -> &mut Vec<(u64, Waker)> {
        match direction {
            Direction::Read => &mut self.read,
            Direction::Write => &mut self.write,
        }
    }
}

fn pack(tick: u32, bits: u32) -> u64 {
    (u64::from(tick) << 32) | u64::from(bits)
}

fn unpack(state: u64) -> (u32, u32) {
    ((state >> 32) as u32, state as u32)
}

impl Readiness {
    /// Records an event (reactor side) and wakes the interested directions.
    pub fn set(&self, bits: u32) {
        let _ = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| {
                let (tick, old) = unpack(state);
                Some(pack(tick.wrapping_add(1), old | bits))
            });
        let (read, write) = {
            let mut wakers = self.wakers.lock();
            let read = if bits & Direction::Read.mask() != 0 {
                std::mem::take(&mut wakers.read)
            } else {
                Vec::new()
            };
            let write = if bits & Direction::Write.mask() != 0 {
                std::mem::take(&mut wakers.write)
            } else {
                Vec::new()
            };
            (read, write)
        };
        // Outside the lock: a waker may run user code.
        for (_, w) in read.into_iter().chain(write) {
            w.wake();
        }
    }

    /// Ready for `direction`, or `Pending` with the waker stored (kept until
    /// the next event for `direction`; a task that may stop waiting before
    /// then should use a [`Waiter`], whose drop takes its waker out).
    pub fn poll_ready(&self, direction: Direction, cx: &mut Context<'_>) -> Poll<ReadyEvent> {
        self.poll_ready_as(direction, cx, None)
    }

    /// As `poll_ready`, for the waiter whose key is in `key` (`Some(None)`:
    /// a [`Waiter`] not registered yet, or woken since; the key is set when
    /// its waker is stored). `None`: an unowned entry (key 0), found again by
    /// `will_wake`.
    fn poll_ready_as(
        &self,
        direction: Direction,
        cx: &mut Context<'_>,
        key: Option<&mut Option<u64>>,
    ) -> Poll<ReadyEvent> {
        if let Some(event) = self.ready(direction) {
            return Poll::Ready(event);
        }
        {
            let mut wakers = self.wakers.lock();
            let wanted = key.as_ref().map_or(Some(0), |k| **k);
            let list = wakers.list(direction);
            let found = wanted.and_then(|wanted| {
                list.iter_mut()
                    .find(|(k, w)| *k == wanted && (wanted != 0 || w.will_wake(cx.waker())))
            });
            match found {
                Some((_, w)) => {
                    if !w.will_wake(cx.waker()) {
                        *w = cx.waker().clone();
                    }
                }
                None => {
                    let new_key = match key {
                        Some(slot) => {
                            wakers.next_key += 1;
                            *slot = Some(wakers.next_key);
                            wakers.next_key
                        }
                        None => 0,
                    };
                    wakers.list(direction).push((new_key, cx.waker().clone()));
                }
            }
        }
        // Re-check after storing the waker: an event recorded between the
        // first check and the store took no waker (it was not there yet).
        match self.ready(direction) {
            Some(event) => Poll::Ready(event),
            None => Poll::Pending,
        }
    }

    /// Takes a [`Waiter`]'s entry out (its task stopped waiting).
    fn remove_waiter(&self, direction: Direction, key: u64) {
        let removed = {
            let mut wakers = self.wakers.lock();
            let list = wakers.list(direction);
            list.iter()
                .position(|(k, _)| *k == key)
                .map(|i| list.swap_remove(i))
        };
        drop(removed); // outside the lock: a waker's drop may run user code
    }

    fn ready(&self, direction: Direction) -> Option<ReadyEvent> {
        let (tick, bits) = unpack(self.state.load(Ordering::Acquire));
        let ready = bits & direction.mask();
        (ready != 0).then_some(ReadyEvent { ready, tick })
    }

    /// The operation hit `WouldBlock`: clear the direction's bits, unless an
    /// event arrived since `event` was observed.
    pub fn clear(&self, event: ReadyEvent) {
        // Errors and hang-ups stay: they are permanent.
        let clear = event.ready & (READABLE | WRITABLE);
        let _ = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| {
                let (tick, bits) = unpack(state);
                (tick == event.tick).then(|| pack(tick, bits & !clear))
            });
    }

    /// Wakes both directions (deregistration, shutdown): pollers retry and
    /// see the error from their syscall.
    pub fn wake_all(&self) {
        self.set(READABLE | WRITABLE | ERROR);
    }
}

/// One task's wait for readiness of one registration in one direction.
/// Dropping it (the operation was cancelled) takes its waker out of the
/// registration, so waiters that give up do not pile up.
/// Made by [`Registration::waiter`](crate::Registration::waiter).
#[derive(Debug)]
pub struct Waiter {
    readiness: std::sync::Arc<Readiness>,
    direction: Direction,
    /// Set while this waiter's waker is stored.
    key: Option<u64>,
}

impl Waiter {
    pub(crate) fn new(readiness: std::sync::Arc<Readiness>, direction: Direction) -> Waiter {
        Waiter {
            readiness,
            direction,
            key: None,
        }
    }

    /// Ready for the direction, or `Pending` with the waker stored.
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<ReadyEvent> {
        // An event takes every stored waker; a key no longer found is
        // registered again under a new one.
        self.readiness
            .poll_ready_as(self.direction, cx, Some(&mut self.key))
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.readiness.remove_waiter(self.direction, key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clear_after_a_newer_event_keeps_the_event() {
        let r = Readiness::default();
        r.set(READABLE);
        let mut cx = Context::from_waker(Waker::noop());
        let Poll::Ready(seen) = r.poll_ready(Direction::Read, &mut cx) else {
            panic!("readable");
        };
        r.set(READABLE); // a fresh edge before the reader cleared
        r.clear(seen);
        assert!(
            r.poll_ready(Direction::Read, &mut cx).is_ready(),
            "fresh event not lost"
        );
        let Poll::Ready(seen) = r.poll_ready(Direction::Read, &mut cx) else {
            unreachable!()
        };
        r.clear(seen);
        assert!(r.poll_ready(Direction::Read, &mut cx).is_pending());
    }

    #[test]
    fn directions_are_independent_and_errors_wake_both() {
        let r = Readiness::default();
        let mut cx = Context::from_waker(Waker::noop());
        r.set(WRITABLE);
        assert!(r.poll_ready(Direction::Read, &mut cx).is_pending());
        assert!(r.poll_ready(Direction::Write, &mut cx).is_ready());
        r.set(ERROR);
        assert!(r.poll_ready(Direction::Read, &mut cx).is_ready());
    }

    #[test]
    fn every_waiter_of_a_direction_is_woken_and_a_dropped_one_leaves_nothing() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        struct Count(AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let r = Arc::new(Readiness::default());
        let counts: Vec<_> = (0..3)
            .map(|_| Arc::new(Count(AtomicUsize::new(0))))
            .collect();
        let mut waiters: Vec<_> = (0..3)
            .map(|_| Waiter::new(r.clone(), Direction::Read))
            .collect();
        for (waiter, count) in waiters.iter_mut().zip(&counts) {
            let waker = Waker::from(count.clone());
            assert!(waiter
                .poll_ready(&mut Context::from_waker(&waker))
                .is_pending());
        }
        // A waiter that gives up takes its waker out.
        drop(waiters.pop());
        assert_eq!(r.wakers.lock().read.len(), 2);
        r.set(READABLE);
        let woken: Vec<_> = counts.iter().map(|c| c.0.load(Ordering::SeqCst)).collect();
        assert_eq!(
            woken,
            [1, 1, 0],
            "both remaining waiters woken, the dropped one not"
        );
        assert!(r.wakers.lock().read.is_empty());
    }
}
