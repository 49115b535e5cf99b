//! The semaphore against a model of its documented rules (`sync/batch.rs`):
//! permits in a pool; acquirers that cannot be served queue in FIFO order,
//! taking what the pool has into their claim, so a newcomer never overtakes
//! a queued waiter; released permits go to the head waiters first and only
//! the rest to the pool; a waiter dropped while queued gives back what it
//! was assigned. Random sequences of `try_acquire_many`, `acquire_many_owned`
//! polled (never awaited), drops of held permits and of waiting futures,
//! and `add_permits` must match the model: `available_permits`, every
//! `try_acquire` answer, and which waiters are ready, in which order.

use proptest::prelude::*;
use ringwork::sync::{OwnedSemaphorePermit, Semaphore};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

type Acquire = Pin<Box<dyn Future<Output = OwnedSemaphorePermit> + Send>>;

#[derive(Debug, Clone)]
enum Step {
    TryAcquire(u32),
    /// Start an `acquire_many_owned` and poll it once.
    Acquire(u32),
    /// Drop the `n`th held permit (modulo their number).
    Release(usize),
    /// Drop the `n`th waiting future.
    Cancel(usize),
    AddPermits(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0u32..4).prop_map(Step::TryAcquire),
        3 => (1u32..4).prop_map(Step::Acquire),
        3 => any::<usize>().prop_map(Step::Release),
        1 => any::<usize>().prop_map(Step::Cancel),
        1 => (0usize..3).prop_map(Step::AddPermits),
    ]
}

/// A waiter of the model: what it asked for and what it was assigned.
struct Waiting {
    need: usize,
    assigned: usize,
}

struct Model {
    pool: usize,
    /// Queued waiters, head first (`assigned < need`).
    queue: Vec<Waiting>,
}

impl Model {
    /// Permits come back: to the head waiters first, the rest to the pool.
    fn release(&mut self, mut n: usize) {
        for waiter in self.queue.iter_mut() {
            if n == 0 {
                break;
            }
            let give = (waiter.need - waiter.assigned).min(n);
            waiter.assigned += give;
            n -= give;
            if waiter.assigned < waiter.need {
                // The head blocks everyone behind it.
                break;
            }
        }
        self.pool += n;
    }
}

fn poll_once(future: &mut Acquire) -> Option<OwnedSemaphorePermit> {
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(permit) => Some(permit),
        Poll::Pending => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_semaphore_serves_like_a_fifo_queue_over_a_pool(
        initial in 0usize..4,
        steps in proptest::collection::vec(step(), 1..80),
    ) {
        let semaphore = Arc::new(Semaphore::new(initial));
        let mut model = Model { pool: initial, queue: Vec::new() };
        // Held permits (real) with their size, and waiting futures (real)
        // in the same order as `model.queue` plus granted-but-unpolled
        // ones, which the model has already dropped from its queue.
        let mut held: Vec<(OwnedSemaphorePermit, usize)> = Vec::new();
        let mut waiting: Vec<(Acquire, usize)> = Vec::new();
        for step in steps {
            match step {
                Step::TryAcquire(n) => {
                    let got = semaphore.clone().try_acquire_many_owned(n);
                    let n = n as usize;
                    prop_assert_eq!(got.is_ok(), model.pool >= n, "try_acquire_many({}) with {} in the pool", n, model.pool);
                    if let Ok(permit) = got {
                        model.pool -= n;
                        held.push((permit, n));
                    }
                }
                Step::Acquire(n) => {
                    let n = n as usize;
                    let sem = semaphore.clone();
                    let mut future: Acquire = Box::pin(async move {
                        sem.acquire_many_owned(n as u32).await.expect("never closed")
                    });
                    let ready = poll_once(&mut future);
                    let served_now = model.queue.is_empty() && model.pool >= n;
                    prop_assert_eq!(ready.is_some(), served_now, "acquire_many({}) with {} in the pool, {} queued", n, model.pool, model.queue.len());
                    match ready {
                        Some(permit) => {
                            model.pool -= n;
                            held.push((permit, n));
                        }
                        None => {
                            // Queued: it takes what the pool has.
                            let assigned = model.pool.min(n);
                            model.pool -= assigned;
                            model.queue.push(Waiting { need: n, assigned });
                            waiting.push((future, n));
                        }
                    }
                }
                Step::Release(i) => {
                    if held.is_empty() {
                        continue;
                    }
                    let (permit, n) = held.swap_remove(i % held.len());
                    drop(permit);
                    model.release(n);
                }
                Step::Cancel(i) => {
                    if waiting.is_empty() {
                        continue;
                    }
                    let index = i % waiting.len();
                    drop(waiting.remove(index));
                    let gone = model.queue.remove(index);
                    model.release(gone.assigned);
                }
                Step::AddPermits(n) => {
                    semaphore.add_permits(n);
                    model.release(n);
                }
            }
            // Poll every waiter: exactly those the model has served are
            // ready, and they leave the queue.
            let mut index = 0;
            while index < waiting.len() {
                let granted = model.queue[index].assigned == model.queue[index].need;
                let ready = poll_once(&mut waiting[index].0);
                prop_assert_eq!(ready.is_some(), granted, "waiter {} of {}", index, waiting.len());
                if let Some(permit) = ready {
                    let (_, n) = waiting.remove(index);
                    model.queue.remove(index);
                    held.push((permit, n));
                } else {
                    index += 1;
                }
            }
            prop_assert_eq!(semaphore.available_permits(), model.pool);
        }
    }
}
