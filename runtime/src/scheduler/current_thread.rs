//! The current-thread flavor: one worker, no thread of its own. The thread
//! inside `block_on` is the worker: it polls the `block_on` future and runs
//! the runtime's tasks in turn, and parks in the worker's driver (its own
//! ring or epoll instance and timer wheel) when neither has anything to do.
//!
//! # Where the worker lives
//!
//! The worker's I/O driver is bound to a thread: an io_uring with
//! `SINGLE_ISSUER`/`DEFER_TASKRUN` accepts submissions from one thread only,
//! and operations find their driver through the thread's context. So the
//! first `block_on` *binds* the runtime to its thread: the worker is started
//! there and, between `block_on` calls, kept suspended in that thread's
//! thread-local storage ([`Park::suspend`]: the driver is taken out of the
//! thread's context, with every operation in flight, so the thread may use
//! other runtimes meanwhile). A later `block_on` on another thread panics
//! with a message that says which thread drives the runtime.
//!
//! Between `block_on` calls nothing runs: tasks spawned from other threads
//! wait in the injector, timers and completions wait in the suspended
//! driver.
//!
//! # Dropping the runtime
//!
//! On the bound thread (the normal case) the worker shuts every task down
//! and takes its driver down there. Elsewhere, the tasks' futures are dropped
//! on the dropping thread and the suspended driver waits in the bound
//! thread's storage until that thread next calls `block_on` on a
//! current-thread runtime, or exits.
//!
//! [`Park::suspend`]: crate::driver::park::Park::suspend

use super::{Shared, Worker, WorkerParts};
use crate::context::{self, RuntimeContext};
use crate::coop;
use crate::loom::sync::Arc;
use parking_lot::Mutex;
use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::ThreadId;

/// The one worker of a current-thread runtime, as the runtime holds it.
pub(crate) struct Core {
    state: Mutex<State>,
}

enum State {
    /// No `block_on` yet: the worker's parts, its driver not started.
    Unstarted(WorkerParts),
    /// Started on this thread; kept in its `BOUND` storage between
    /// `block_on` calls (taken out while one runs).
    Bound { thread: ThreadId, name: String },
    /// Its driver is taken down (runtime shut down, or the bound thread
    /// exited).
    Gone,
}

/// A started worker in its thread's storage, driver suspended. (`None`
/// only while taken out for a `block_on`.)
struct Bound {
    core: std::sync::Arc<Core>,
    worker: Option<Worker>,
}

impl Drop for Bound {
    fn drop(&mut self) {
        let Some(worker) = self.worker.take() else {
            return;
        };
        // The bound thread is exiting, or the runtime shut down: take the
        // driver down here (it may not leave this thread). A task still
        // alive has its future dropped by the runtime's `Drop`.
        drop(worker.lifo().take());
        worker.exit_park();
        *self.core.state.lock() = State::Gone;
        worker.shared().worker_exited();
    }
}

/// Puts a worker back into its thread's storage, suspended, when a
/// `block_on` ends (also by unwinding).
struct ReturnOnDrop(Bound);

impl Drop for ReturnOnDrop {
    fn drop(&mut self) {
        let bound = Bound {
            core: self.0.core.clone(),
            worker: self.0.worker.take(),
        };
        if let Some(worker) = &bound.worker {
            worker.suspend_park();
        }
        // During thread exit the storage may be gone: `bound` is dropped
        // then, which takes the driver down here.
        let _ = BOUND.try_with(|storage| storage.borrow_mut().push(bound));
    }
}

std::thread_local! {
    /// Current-thread workers bound to this thread, suspended.
    static BOUND: RefCell<Vec<Bound>> = const { RefCell::new(Vec::new()) };
}

impl Core {
    pub(crate) fn new(parts: WorkerParts) -> std::sync::Arc<Core> {
        std::sync::Arc::new(Core {
            state: Mutex::new(State::Unstarted(parts)),
        })
    }

    /// `Runtime::block_on` of a current-thread runtime: runs `future` to
    /// completion on this thread, running the runtime's tasks meanwhile.
    #[track_caller]
    pub(crate) fn block_on<F: Future>(
        self: &std::sync::Arc<Core>,
        shared: &Arc<Shared>,
        runtime: std::sync::Arc<dyn RuntimeContext>,
        future: F,
    ) -> F::Output {
        prune_shut_down();
        let worker = self.take_worker(shared);
        // Back into this thread's storage, suspended, however this ends
        // (an unwinding panic from the future included).
        let bound = ReturnOnDrop(Bound {
            core: self.clone(),
            worker: Some(worker),
        });
        let worker = bound.0.worker.as_ref().expect("present until dropped");
        worker.resume_park();
        let woken = std::sync::Arc::new(MainWaker {
            woken: AtomicBool::new(true),
            unparker: worker.unparker(),
        });
        let waker = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        let event_interval = shared.config.event_interval;
        worker.enter(runtime, || loop {
            // `Acquire`: pairs with the `Release` swap in `MainWaker::wake`;
            // whatever the waker's side did before waking is visible to
            // the poll.
            if woken.woken.swap(false, Ordering::Acquire) {
                if let Poll::Ready(output) = coop::budget(|| future.as_mut().poll(&mut cx)) {
                    return output;
                }
            }
            // Run tasks, at most `event_interval` before the future is
            // looked at again; a wake-up of the future ends the run early,
            // as the woken future would be the next thing a worker with one
            // queue runs.
            let mut ran = 0;
            while ran < event_interval && worker.run_tick() {
                ran += 1;
                if woken.woken.load(Ordering::Acquire) {
                    break;
                }
            }
            if ran == 0 {
                worker.park_until(&|| woken.woken.load(Ordering::Acquire));
            }
        })
    }

    /// The worker, started on this thread if it was not, or taken from this
    /// thread's storage.
    #[track_caller]
    fn take_worker(self: &std::sync::Arc<Core>, shared: &Arc<Shared>) -> Worker {
        let mut state = self.state.lock();
        match &*state {
            State::Unstarted(_) => {
                let current = std::thread::current();
                let State::Unstarted(parts) = std::mem::replace(
                    &mut *state,
                    State::Bound {
                        thread: current.id(),
                        name: current.name().unwrap_or("<unnamed>").to_owned(),
                    },
                ) else {
                    unreachable!("matched above")
                };
                drop(state);
                let worker = Worker::new(shared.clone(), parts);
                // Started here; `block_on` resumes it right away.
                worker.enter_park();
                worker.suspend_park();
                worker
            }
            State::Bound { thread, name } => {
                if *thread != std::thread::current().id() {
                    panic!(
                        "this current_thread runtime is driven by the thread that first called \
                         `block_on` on it ({name:?}, {thread:?}): its I/O driver belongs to that \
                         thread. Call `block_on` there, or use a multi-thread runtime."
                    );
                }
                drop(state);
                match self.take_bound() {
                    Some(worker) => worker,
                    // Taken out by a `block_on` further up this thread's
                    // stack: that is nesting, refused before we get here.
                    None => unreachable!("a bound core is in its thread's storage"),
                }
            }
            State::Gone => panic!("this current_thread runtime has shut down"),
        }
    }

    /// This core's worker, taken out of this thread's storage.
    fn take_bound(self: &std::sync::Arc<Core>) -> Option<Worker> {
        let mut bound = BOUND.with(|storage| {
            let mut storage = storage.borrow_mut();
            let at = storage
                .iter()
                .position(|b| std::sync::Arc::ptr_eq(&b.core, self))?;
            Some(storage.swap_remove(at))
        })?;
        bound.worker.take()
    }

    /// Shuts the runtime's tasks down for `Runtime`'s drop (after
    /// `Shared::shutdown`). The worker's exit is counted once its driver is
    /// down: at once on the bound thread, else when that thread next
    /// prunes its storage or exits.
    /// Returns whether the worker has exited.
    pub(crate) fn shutdown(
        self: &std::sync::Arc<Core>,
        shared: &Arc<Shared>,
        runtime: std::sync::Arc<dyn RuntimeContext>,
    ) -> bool {
        let mut state = self.state.lock();
        match std::mem::replace(&mut *state, State::Gone) {
            State::Unstarted(parts) => {
                drop(state);
                // Never started: nothing is in flight. The futures of tasks
                // spawned meanwhile are dropped on this thread.
                shared.owned.close_and_shutdown_all(0);
                drop(parts);
                shared.worker_exited();
                true
            }
            State::Bound { thread, name } => {
                let here = thread == std::thread::current().id();
                let bound = if here && !context::is_driving() {
                    self.take_bound()
                } else {
                    None
                };
                match bound {
                    Some(worker) => {
                        // The normal case: shut the tasks down on the worker,
                        // with its driver installed, then take it down.
                        *state = State::Bound { thread, name };
                        drop(state);
                        worker.resume_park();
                        worker.enter(runtime, || worker.shutdown());
                        // `Bound`'s drop exits the park and counts the exit.
                        drop(Bound {
                            core: self.clone(),
                            worker: Some(worker),
                        });
                        true
                    }
                    None => {
                        // Bound elsewhere: drop the futures here; the driver
                        // is taken down by its thread (`prune_shut_down`, or
                        // the thread's exit), which counts the exit.
                        *state = State::Bound { thread, name };
                        drop(state);
                        shared.owned.close_and_shutdown_all(0);
                        false
                    }
                }
            }
            State::Gone => {
                // The bound thread exited and counted the exit.
                drop(state);
                shared.owned.close_and_shutdown_all(0);
                true
            }
        }
    }
}

/// Takes down the suspended workers of runtimes that shut down while bound
/// to this thread but dropped elsewhere.
fn prune_shut_down() {
    let dead: Vec<Bound> = BOUND.with(|storage| {
        let mut storage = storage.borrow_mut();
        let (dead, alive) = std::mem::take(&mut *storage).into_iter().partition(|b| {
            b.worker
                .as_ref()
                .is_some_and(|worker| worker.shared().is_shutdown())
        });
        *storage = alive;
        dead
    });
    drop(dead);
}

/// The `block_on` future's waker: marks it woken and wakes the worker if it
/// sleeps.
struct MainWaker {
    woken: AtomicBool,
    unparker: std::sync::Arc<dyn crate::driver::park::Unpark>,
}

impl Wake for MainWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        // `Release`: pairs with the `Acquire` loads in `block_on`. Only the
        // wake that sets the flag unparks; the worker checks the flag before
        // it parks and after every wake-up, and an unpark that comes before
        // the park is kept as a token (the `Park` contract).
        if !self.woken.swap(true, Ordering::Release) {
            self.unparker.unpark();
        }
    }
}
