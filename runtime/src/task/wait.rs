//! asyncio's `gather` and `wait`: [`join_all`] and [`wait`].

use super::unordered::Unordered;
use super::{JoinError, JoinHandle};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

/// Runs every future concurrently and returns their outputs in the order
/// given (asyncio's `gather`). Given `JoinHandle`s, it waits for every task
/// and yields each one's `Result`.
///
/// Each future is polled only when it is woken, so joining many is cheap.
///
/// ```
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let handles: Vec<_> = (1..=3).map(|i| ringwork::spawn(async move { i * 2 })).collect();
/// let outputs = ringwork::task::join_all(handles).await;
/// assert_eq!(outputs.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [2, 4, 6]);
/// # });
/// ```
///
/// Cancel safety: dropping it drops the futures not finished yet (for
/// `JoinHandle`s: detaches those tasks) and the outputs gathered so far.
pub async fn join_all<I>(futures: I) -> Vec<<I::Item as Future>::Output>
where
    I: IntoIterator,
    I::Item: Future,
{
    let mut set = Unordered::new();
    for (index, future) in futures.into_iter().enumerate() {
        set.push(index, Box::pin(future));
    }
    let mut outputs: Vec<Option<_>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        while let Some((index, output)) = std::task::ready!(set.poll_next(Some(cx.waker()))) {
            outputs[index] = Some(output);
        }
        Poll::Ready(())
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future completed"))
        .collect()
}

/// When [`wait`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as any task finishes (or is cancelled).
    FirstCompleted,
    /// As soon as any task panics, or when all have finished. A cancelled
    /// task is not an exception (as in asyncio).
    FirstException,
    /// When every task has finished.
    AllCompleted,
}

/// A finished task of [`wait`]: its index in the input and its result.
pub type Done<T> = (usize, Result<T, JoinError>);

/// A task [`wait`] hands back unfinished: its index in the input and its
/// handle.
pub type Pending<T> = (usize, JoinHandle<T>);

/// Waits for the tasks until `return_when` is satisfied or `timeout`
/// elapses, and returns `(done, pending)` like asyncio's `wait`.
///
/// `done` lists the finished tasks' results, in the order they finished;
/// `pending` hands back the handles of the others, in input order, still
/// running (nothing is cancelled: abort or await them as you like). Each
/// entry carries the task's index in `handles`.
///
/// ```
/// use std::time::Duration;
/// use ringwork::task::{wait, ReturnWhen};
///
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let fast = ringwork::spawn(async { 1 });
/// let slow = ringwork::spawn(async {
///     ringwork::time::sleep(Duration::from_secs(60)).await;
///     2
/// });
/// let (done, pending) = wait(vec![fast, slow], ReturnWhen::FirstCompleted, None).await;
/// assert_eq!(done.len(), 1);
/// assert_eq!(done[0].0, 0);
/// assert_eq!(*done[0].1.as_ref().unwrap(), 1);
/// assert_eq!(pending[0].0, 1);
/// pending[0].1.abort();
/// # });
/// ```
///
/// Cancel safety: dropping the future detaches the tasks not yet finished
/// and drops the results gathered so far.
pub async fn wait<T, I>(
    handles: I,
    return_when: ReturnWhen,
    timeout: Option<Duration>,
) -> (Vec<Done<T>>, Vec<Pending<T>>)
where
    I: IntoIterator<Item = JoinHandle<T>>,
{
    let mut set = Unordered::new();
    for (index, handle) in handles.into_iter().enumerate() {
        set.push(index, handle);
    }
    let mut done: Vec<Done<T>> = Vec::new();
    let mut deadline: Option<Pin<Box<crate::time::Sleep>>> =
        timeout.map(|t| Box::pin(crate::time::sleep(t)));
    std::future::poll_fn(|cx| {
        loop {
            match set.poll_next(Some(cx.waker())) {
                Poll::Ready(None) => return Poll::Ready(()),
                Poll::Ready(Some((index, result))) => {
                    let panicked = matches!(&result, Err(e) if e.is_panic());
                    done.push((index, result));
                    let satisfied = match return_when {
                        ReturnWhen::FirstCompleted => true,
                        ReturnWhen::FirstException => panicked,
                        ReturnWhen::AllCompleted => false,
                    };
                    if satisfied {
                        return Poll::Ready(());
                    }
                }
                Poll::Pending => break,
            }
        }
        match &mut deadline {
            Some(sleep) => sleep.as_mut().poll(cx),
            None => Poll::Pending,
        }
    })
    .await;
    let mut pending: Vec<Pending<T>> = set.drain().collect();
    pending.sort_unstable_by_key(|(index, _)| *index);
    (done, pending)
}
