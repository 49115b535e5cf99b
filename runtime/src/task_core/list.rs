//! [`OwnedTasks`]: the registry of every live task of one runtime, so that
//! shutdown can reach (and drop) futures that no queue holds.
//!
//! Sharded by task id; each shard is a slab under its own mutex. The task's
//! slot index lives in its header (`owned_index`), read and written only
//! under the shard's lock. The registry holds one task reference per entry.
//! Once closed, a shard accepts nothing, so a drained slot is never reused and
//! a late `remove` of a drained task finds its slot empty.

use super::{Id, JoinHandle, Notified, Schedule, Task};
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::Mutex;
use std::future::Future;

pub(crate) struct OwnedTasks<S: 'static> {
    shards: Box<[Mutex<Shard<S>>]>,
    mask: usize,
    /// Number of registered tasks. `Relaxed`: a statistic, read by metrics.
    alive: AtomicUsize,
}

struct Shard<S: 'static> {
    slots: Vec<Option<Task<S>>>,
    free: Vec<usize>,
    closed: bool,
}

impl<S: Schedule> OwnedTasks<S> {
    /// A registry with at least `shards` shards (rounded up to a power of two).
    pub(crate) fn new(shards: usize) -> OwnedTasks<S> {
        let count = shards.max(1).next_power_of_two();
        let shards = (0..count)
            .map(|_| {
                Mutex::new(Shard {
                    slots: Vec::new(),
                    free: Vec::new(),
                    closed: false,
                })
            })
            .collect();
        OwnedTasks {
            shards,
            mask: count - 1,
            alive: AtomicUsize::new(0),
        }
    }

    fn shard_of(&self, task: &Task<S>) -> &Mutex<Shard<S>> {
        &self.shards[task.id().as_u64() as usize & self.mask]
    }

    /// Allocates a task for `future`, scheduled by `scheduler`, and registers
    /// it. Returns its `JoinHandle` and the first `Notified` to schedule —
    /// `None` if the registry is closed (the runtime shut down): the task was
    /// then cancelled at once and its handle reports it.
    pub(crate) fn spawn<F>(
        &self,
        future: F,
        scheduler: S,
        meta: super::SpawnMeta,
    ) -> (JoinHandle<F::Output>, Option<Notified<S>>)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (task, notified, join) = super::new_task(future, scheduler, Id::next(), meta);
        match self.bind(task, notified) {
            Ok(notified) => (join, Some(notified)),
            Err((task, notified)) => {
                drop(notified);
                task.shutdown();
                (join, None)
            }
        }
    }

    /// Registers a new task. Returns its first `Notified` to schedule, or, if
    /// the registry is closed, gives both back: the caller must shut the task
    /// down (the runtime is gone).
    pub(crate) fn bind(
        &self,
        task: Task<S>,
        notified: Notified<S>,
    ) -> Result<Notified<S>, (Task<S>, Notified<S>)> {
        let mut shard = self.shard_of(&task).lock();
        if shard.closed {
            return Err((task, notified));
        }
        let index = match shard.free.pop() {
            Some(index) => index,
            None => {
                shard.slots.push(None);
                shard.slots.len() - 1
            }
        };
        // `Relaxed`: the index is read only under this shard's lock.
        task.header().owned_index.store(index, Ordering::Relaxed);
        shard.slots[index] = Some(task);
        drop(shard);
        self.alive.fetch_add(1, Ordering::Relaxed);
        Ok(notified)
    }

    /// Unregisters a completed task; returns the registry's reference, or
    /// `None` if shutdown already took it out.
    pub(crate) fn remove(&self, task: &Task<S>) -> Option<Task<S>> {
        let mut shard = self.shard_of(task).lock();
        // `Relaxed`: written under this lock (see `bind`).
        let index = task.header().owned_index.load(Ordering::Relaxed);
        let slot = shard.slots.get_mut(index)?;
        if slot.as_ref().is_some_and(|t| t.raw() == task.raw()) {
            let removed = slot.take();
            shard.free.push(index);
            drop(shard);
            self.alive.fetch_sub(1, Ordering::Relaxed);
            removed
        } else {
            None
        }
    }

    /// Closes every shard: later `bind`s fail.
    pub(crate) fn close(&self) {
        for shard in self.shards.iter() {
            shard.lock().closed = true;
        }
    }

    /// Closes the registry and shuts down every task still in it, starting
    /// at shard `start` so that workers doing this together spread out. Each
    /// task's future is dropped outside the lock (its `Drop` may spawn or wake).
    pub(crate) fn close_and_shutdown_all(&self, start: usize) {
        self.close();
        let count = self.shards.len();
        for i in 0..count {
            let shard = &self.shards[(start + i) & self.mask];
            // Closed: nothing is added any more, so one sweep empties the shard.
            let tasks: Vec<Task<S>> = {
                let mut shard = shard.lock();
                shard.free.clear();
                shard.slots.iter_mut().filter_map(Option::take).collect()
            };
            self.alive.fetch_sub(tasks.len(), Ordering::Relaxed);
            for task in tasks {
                task.shutdown();
            }
        }
    }

    /// Calls `f` with every live task, one shard at a time under its lock
    /// (`f` must not spawn or complete tasks of this registry).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Task<S>)) {
        for shard in self.shards.iter() {
            let shard = shard.lock();
            for task in shard.slots.iter().flatten() {
                f(task);
            }
        }
    }

    /// Number of live tasks.
    pub(crate) fn len(&self) -> usize {
        self.alive.load(Ordering::Relaxed)
    }
}
