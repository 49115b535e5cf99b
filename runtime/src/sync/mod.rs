//! Synchronization between tasks, on any worker: channels ([`oneshot`],
//! [`mpsc`], [`broadcast`], [`watch`]) and primitives ([`Mutex`],
//! [`RwLock`], [`Semaphore`], [`Notify`], [`Barrier`]).
//!
//! Everything here works across workers and from outside the runtime, and
//! none of it needs a particular runtime: the futures only use their waker.
//!
//! # Common rules
//!
//! - **Fairness.** Waiters for `Mutex`, `RwLock`, `Semaphore` and bounded
//!   `mpsc` slots are served in arrival order; a task cannot re-take a lock
//!   ahead of tasks already queued for it.
//! - **Cancel safety.** Each future's documentation says what dropping it
//!   mid-wait does. The rule throughout: nothing is lost. A permit, lock or
//!   slot that was handed to a future dropped before it noticed goes to the
//!   next waiter; a `notify_one` aimed at a dropped `Notified` goes to the
//!   next waiter; `recv` futures take a message only in the poll that
//!   returns it. The one exception is by design: `mpsc::Sender::send`
//!   dropped mid-wait drops the value it was sending (use `reserve` to
//!   keep it).
//! - **Cooperative budget.** Every wait point spends one unit of the task's
//!   budget (when it completes, or, for `watch`, `Barrier` and the
//!   `closed()` futures, before it looks), like the runtime's I/O, so a task
//!   looping on an always-ready channel still yields to its neighbours.
//!
//! # Implementation
//!
//! Queued waiters (the semaphore family, `Notify`, `broadcast`) live in a
//! `WaitList` (`wait_list.rs`) inside the primitive's mutex (safe code, O(1)
//! removal on cancel); `oneshot` and the `mpsc` receiver need one waker
//! each and keep it without a list. The counting semaphore in
//! `batch.rs`, with its lock-free fast path and FIFO hand-off, is the base
//! of `Semaphore`, `Mutex`, `RwLock` and bounded `mpsc`.

mod barrier;
mod batch;
pub mod broadcast;
pub mod mpsc;
mod mutex;
mod notify;
pub mod oneshot;
mod rwlock;
mod semaphore;
mod send_error;
mod wait_list;
mod wake_list;
pub mod watch;

pub use barrier::{Barrier, BarrierWaitResult};
pub use mutex::{Mutex, MutexGuard, OwnedMutexGuard, TryLockError};
pub use notify::{Notified, Notify};
pub use rwlock::{
    OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
    TryLockError as TryRwLockError,
};
pub use semaphore::{
    AcquireError, OwnedSemaphorePermit, Semaphore, SemaphorePermit, TryAcquireError,
};

/// Runs `future` to completion on the calling thread, parking it between
/// polls: the `blocking_*` methods, for threads outside the runtime.
#[cfg(not(loom))]
fn block_on_thread<F: std::future::Future>(what: &str, future: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }

    assert!(
        !crate::context::is_driving(),
        "{what} called on a runtime thread: it would block the thread that has to \
         make progress; use the async method, or call it from spawn_blocking"
    );
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        // A wake before this park leaves the token set: no lost wake-up.
        std::thread::park();
    }
}
