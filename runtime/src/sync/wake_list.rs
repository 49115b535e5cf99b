//! Wakers collected under a lock and woken after it is released.

use std::task::Waker;

/// Wakers kept inline up to this many; more are woken on the spot.
const INLINE: usize = 16;

/// Collects wakers while a primitive's lock is held, so that waking (which
/// may run arbitrary waker code) happens after the lock is released.
///
/// Holding up to [`INLINE`] wakers costs no allocation; past that, `push`
/// wakes the collected ones right away. That is correct (a wake never
/// re-enters the primitive's lock: ringwork's wakers only schedule), just
/// done under the lock.
pub(crate) struct WakeList {
    wakers: [Option<Waker>; INLINE],
    len: usize,
}

impl WakeList {
    pub(crate) fn new() -> Self {
        WakeList {
            wakers: std::array::from_fn(|_| None),
            len: 0,
        }
    }

    pub(crate) fn push(&mut self, waker: Waker) {
        if self.len == INLINE {
            self.wake_all();
        }
        self.wakers[self.len] = Some(waker);
        self.len += 1;
    }

    pub(crate) fn wake_all(&mut self) {
        for slot in &mut self.wakers[..self.len] {
            if let Some(waker) = slot.take() {
                waker.wake();
            }
        }
        self.len = 0;
    }
}

impl Drop for WakeList {
    fn drop(&mut self) {
        self.wake_all();
    }
}
