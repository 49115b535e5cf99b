//! Run queues: each worker's FIFO [`LocalQueue`] with its [`Stealer`], and
//! the shared [`Injector`].
//!
//! Normally these are thin wrappers over `crossbeam_deque` that retry its
//! `Steal::Retry`. crossbeam is not loom-aware, so under `--cfg loom` the same
//! interface is backed by a loom `Mutex<VecDeque>`: the models then check the
//! scheduler's protocol on top of the queues (and crossbeam's own tests cover
//! its deque). Semantics kept identical: `push`/`pop` at the owner, FIFO;
//! `steal_batch_and_pop` moves up to half of the victim's tasks into the
//! thief's queue and returns one of them.

#[cfg(not(loom))]
mod imp {
    use crossbeam_deque::Steal;

    /// One worker's run queue. Only the owning worker pushes and pops.
    pub(crate) struct LocalQueue<T>(crossbeam_deque::Worker<T>);

    /// The handle other workers steal through.
    pub(crate) struct Stealer<T>(crossbeam_deque::Stealer<T>);

    /// The shared queue for tasks scheduled from outside the workers.
    pub(crate) struct Injector<T>(crossbeam_deque::Injector<T>);

    fn resolve<T>(mut attempt: impl FnMut() -> Steal<T>) -> Option<T> {
        loop {
            match attempt() {
                Steal::Success(task) => return Some(task),
                Steal::Empty => return None,
                Steal::Retry => std::hint::spin_loop(),
            }
        }
    }

    impl<T> LocalQueue<T> {
        pub(crate) fn new() -> LocalQueue<T> {
            LocalQueue(crossbeam_deque::Worker::new_fifo())
        }

        pub(crate) fn stealer(&self) -> Stealer<T> {
            Stealer(self.0.stealer())
        }

        pub(crate) fn push(&self, task: T) {
            self.0.push(task);
        }

        pub(crate) fn pop(&self) -> Option<T> {
            self.0.pop()
        }

        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }

        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
    }

    impl<T> Stealer<T> {
        pub(crate) fn steal_batch_and_pop(&self, dest: &LocalQueue<T>) -> Option<T> {
            resolve(|| self.0.steal_batch_and_pop(&dest.0))
        }

        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }

        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
    }

    impl<T> Injector<T> {
        pub(crate) fn new() -> Injector<T> {
            Injector(crossbeam_deque::Injector::new())
        }

        pub(crate) fn push(&self, task: T) {
            self.0.push(task);
        }

        pub(crate) fn pop(&self) -> Option<T> {
            resolve(|| self.0.steal())
        }

        pub(crate) fn steal_batch_and_pop(&self, dest: &LocalQueue<T>) -> Option<T> {
            resolve(|| self.0.steal_batch_and_pop(&dest.0))
        }

        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }

        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
    }
}

#[cfg(loom)]
mod imp {
    use crate::loom::sync::{Arc, Mutex};
    use std::collections::VecDeque;

    pub(crate) struct LocalQueue<T>(Arc<Mutex<VecDeque<T>>>);
    pub(crate) struct Stealer<T>(Arc<Mutex<VecDeque<T>>>);
    pub(crate) struct Injector<T>(Mutex<VecDeque<T>>);

    /// Moves up to half of `src` (at least one) into `dest`, returning the first.
    fn take_half<T>(src: &mut VecDeque<T>, dest: &LocalQueue<T>) -> Option<T> {
        let first = src.pop_front()?;
        let extra = src.len() / 2;
        if extra > 0 {
            let mut dest = dest.0.lock();
            dest.extend(src.drain(..extra));
        }
        Some(first)
    }

    impl<T> LocalQueue<T> {
        pub(crate) fn new() -> LocalQueue<T> {
            LocalQueue(Arc::new(Mutex::new(VecDeque::new())))
        }
        pub(crate) fn stealer(&self) -> Stealer<T> {
            Stealer(self.0.clone())
        }
        pub(crate) fn push(&self, task: T) {
            self.0.lock().push_back(task);
        }
        pub(crate) fn pop(&self) -> Option<T> {
            self.0.lock().pop_front()
        }
        pub(crate) fn len(&self) -> usize {
            self.0.lock().len()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
    }

    impl<T> Stealer<T> {
        pub(crate) fn steal_batch_and_pop(&self, dest: &LocalQueue<T>) -> Option<T> {
            if Arc::ptr_eq(&self.0, &dest.0) {
                return None;
            }
            let mut src = self.0.lock();
            take_half(&mut src, dest)
        }
        pub(crate) fn len(&self) -> usize {
            self.0.lock().len()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
    }

    impl<T> Injector<T> {
        pub(crate) fn new() -> Injector<T> {
            Injector(Mutex::new(VecDeque::new()))
        }
        pub(crate) fn push(&self, task: T) {
            self.0.lock().push_back(task);
        }
        pub(crate) fn pop(&self) -> Option<T> {
            self.0.lock().pop_front()
        }
        pub(crate) fn steal_batch_and_pop(&self, dest: &LocalQueue<T>) -> Option<T> {
            let mut src = self.0.lock();
            take_half(&mut src, dest)
        }
        pub(crate) fn len(&self) -> usize {
            self.0.lock().len()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
    }
}

pub(crate) use imp::{Injector, LocalQueue, Stealer};
