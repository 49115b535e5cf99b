//! Internals exposed to the loom models in `loom-tests/`, and only under
//! `--cfg loom`. Not part of the public API.
//!
//! The models drive the real task state machine through a minimal scheduler
//! (a queue and the real registry of live tasks), so that interleavings of
//! poll, wake, abort, `JoinHandle` drop, completion and shutdown can be
//! explored without the worker loop around them.

use crate::loom::sync::{Arc, Mutex};
use crate::task::list::OwnedTasks;
use crate::task::{JoinHandle, Notified, Schedule, Task};
use std::collections::VecDeque;
use std::future::Future;

/// A scheduler that only queues: the model decides which thread runs what.
pub struct QueueScheduler {
    queue: Mutex<VecDeque<Notified<Arc<QueueScheduler>>>>,
    owned: OwnedTasks<Arc<QueueScheduler>>,
}

impl std::fmt::Debug for QueueScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueScheduler").finish_non_exhaustive()
    }
}

impl Schedule for Arc<QueueScheduler> {
    fn schedule(&self, task: Notified<Self>) {
        self.queue.lock().push_back(task);
    }

    fn release(&self, task: &Task<Self>) -> Option<Task<Self>> {
        self.owned.remove(task)
    }
}

impl QueueScheduler {
    /// A new, empty scheduler.
    pub fn new() -> Arc<QueueScheduler> {
        Arc::new(QueueScheduler {
            queue: Mutex::new(VecDeque::new()),
            owned: OwnedTasks::new(1),
        })
    }

    /// Spawns `future` on `this`; its first `Notified` is queued.
    pub fn spawn<F>(this: &Arc<Self>, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (join, notified) =
            this.owned
                .spawn(future, this.clone(), std::panic::Location::caller());
        if let Some(notified) = notified {
            this.schedule(notified);
        }
        join
    }

    /// Runs the next queued task, if any. Returns whether one ran.
    pub fn run_one(&self) -> bool {
        let next = self.queue.lock().pop_front();
        match next {
            Some(task) => {
                task.run();
                true
            }
            None => false,
        }
    }

    /// Shuts down as the runtime does: close the registry, cancel every live
    /// task, drop queued notifications.
    pub fn shutdown(&self) {
        self.owned.close_and_shutdown_all(0);
        let drained: Vec<_> = self.queue.lock().drain(..).collect();
        drop(drained);
    }

    /// Tasks still registered.
    pub fn alive(&self) -> usize {
        self.owned.len()
    }
}

/// A per-thread timer driver (`time/driver.rs`) without a park: the model
/// decides who advances time and who drops timers.
pub struct ModelTimers {
    driver: Arc<crate::time::driver::TimeDriver>,
    origin: std::time::Instant,
}

/// A timer armed on [`ModelTimers`].
#[derive(Clone, Copy, Debug)]
pub struct TimerKey(crate::time::wheel::Key);

impl ModelTimers {
    /// A new, empty wheel.
    pub fn new() -> Arc<ModelTimers> {
        Arc::new(ModelTimers {
            driver: crate::time::driver::TimeDriver::new(),
            origin: std::time::Instant::now(),
        })
    }

    /// Arms a timer `after` the wheel's creation (as `Sleep::poll` does).
    pub fn register(
        &self,
        after: std::time::Duration,
        waker: &std::task::Waker,
    ) -> Option<TimerKey> {
        self.driver
            .register(self.origin + after, waker)
            .map(TimerKey)
    }

    /// Disarms it, from any thread (as dropping a `Sleep` does).
    pub fn deregister(&self, key: TimerKey) {
        self.driver.deregister(key.0);
    }

    /// Fires what is due `at` after the wheel's creation (as the owner's
    /// park does); returns how many fired.
    pub fn process(&self, at: std::time::Duration) -> usize {
        self.driver.process(self.origin + at)
    }
}

impl std::fmt::Debug for ModelTimers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelTimers").finish_non_exhaustive()
    }
}
