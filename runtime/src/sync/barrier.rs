//! [`Barrier`]: a rendezvous point for a fixed number of tasks.

use super::Notify;
use crate::loom::sync::Mutex;
use std::fmt;

/// Makes `n` tasks wait until all of them have called
/// [`wait`](Barrier::wait); then all proceed, and the barrier is ready for
/// the next round. One task per round is told it is the leader.
///
/// ```
/// use std::sync::Arc;
/// use ringwork::sync::Barrier;
///
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let barrier = Arc::new(Barrier::new(3));
/// let tasks: Vec<_> = (0..3)
///     .map(|_| {
///         let b = barrier.clone();
///         ringwork::spawn(async move { b.wait().await.is_leader() })
///     })
///     .collect();
/// let leaders = ringwork::task::join_all(tasks)
///     .await
///     .into_iter()
///     .filter(|r| *r.as_ref().unwrap())
///     .count();
/// assert_eq!(leaders, 1);
/// # });
/// ```
pub struct Barrier {
    n: usize,
    state: Mutex<Round>,
    released: Notify,
}

struct Round {
    arrived: usize,
}

/// What [`Barrier::wait`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// Whether this task was the one that completed the round (exactly one
    /// per round).
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl Barrier {
    /// A barrier for `n` tasks. `n == 0` behaves like `n == 1`: every
    /// `wait` returns at once as leader.
    pub fn new(n: usize) -> Barrier {
        Barrier {
            n: n.max(1),
            state: Mutex::new(Round { arrived: 0 }),
            released: Notify::new(),
        }
    }

    /// Waits until `n` tasks (this one included) have called `wait` in this
    /// round.
    ///
    /// Cancel safety: the arrival is counted at the first poll; dropping the
    /// future afterwards does not take it back (the round can complete
    /// without this task, which then simply does not observe it).
    pub async fn wait(&self) -> BarrierWaitResult {
        // The leader never waits: spend budget here, before arriving.
        crate::coop::consume_budget().await;
        let released = {
            let mut round = self.state.lock();
            round.arrived += 1;
            if round.arrived == self.n {
                round.arrived = 0;
                // Under the round lock: a task of the next round creates
                // its `Notified` after this, so this release cannot reach it.
                self.released.notify_waiters();
                return BarrierWaitResult(true);
            }
            // Created under the round lock, before the leader's
            // `notify_waiters` (also under it): that call completes it.
            self.released.notified()
        };
        released.await;
        BarrierWaitResult(false)
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").field("n", &self.n).finish()
    }
}
