//! [`LocalSet`] and [`spawn_local`]: tasks whose futures are not `Send`,
//! run by the thread that drives the set and never by any other.
//!
//! A `LocalSet` is a small executor of its own that lives inside one future:
//! its tasks run when [`LocalSet::run_until`] (or the set itself, awaited) is
//! polled, on the thread that polls it. That future is `!Send` — it holds
//! the tasks — so the runtime cannot move it: `block_on` (either flavor)
//! drives it on the calling thread, and so every local task stays on that
//! thread for its whole life.
//!
//! The set holds its tasks' futures itself; nothing `!Send` ever reaches
//! another thread. Wakers are `Send + Sync` and carry only the task's slot
//! number and generation: a wake from any thread queues the slot in the
//! set's mutex-guarded queue and wakes the future that drives the set. A
//! stale waker (its task finished, its slot reused) names an old generation
//! and is ignored.

use crate::coop;
use crate::task_core::{Id, JoinError};
use parking_lot::Mutex;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// Local tasks polled per poll of the set before it yields to the runtime
/// (the rest run on its next poll, which it asks for at once).
const TASKS_PER_POLL: usize = 128;

/// A set of `!Send` tasks run on the thread that drives it.
///
/// ```
/// use std::rc::Rc;
///
/// let runtime = ringwork::Runtime::new()?;
/// let local = ringwork::task::LocalSet::new();
/// let shared = Rc::new(std::cell::Cell::new(0)); // Rc: not Send
/// let total = local.block_on(&runtime, async {
///     let mut handles = Vec::new();
///     for i in 1..=10 {
///         let shared = shared.clone();
///         handles.push(ringwork::task::spawn_local(async move {
///             ringwork::task::yield_now().await;
///             shared.set(shared.get() + i);
///         }));
///     }
///     for handle in handles {
///         handle.await.unwrap();
///     }
///     shared.get()
/// });
/// assert_eq!(total, 55);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Dropping the set drops every task it still holds (on the dropping
/// thread, which is its own: the set is not `Send`); their handles report
/// [`JoinError::is_cancelled`].
pub struct LocalSet {
    inner: Rc<Inner>,
    _not_send: PhantomData<*const ()>,
}

/// The handle of a task spawned with [`spawn_local`] or
/// [`LocalSet::spawn_local`]: a future of its output, like
/// [`JoinHandle`](crate::task::JoinHandle), awaitable from any task on any
/// thread. Dropping it detaches the task.
pub struct LocalJoinHandle<T> {
    join: Arc<Join<T>>,
}

struct Inner {
    tasks: RefCell<Slab>,
    shared: Arc<Shared>,
}

/// What the set's wakers and handles share with it.
struct Shared {
    /// Woken tasks: (slot, generation).
    woken: Mutex<VecDeque<(usize, u64)>>,
    /// The waker of the future that drives the set, from its last poll.
    driver: Mutex<Option<Waker>>,
}

#[derive(Default)]
struct Slab {
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    /// Generation of the next task (never reused).
    next_generation: u64,
    len: usize,
}

struct Slot {
    generation: u64,
    future: Pin<Box<dyn Future<Output = ()>>>,
    task_waker: Arc<TaskWaker>,
    waker: Waker,
    /// Set by its handle's `abort`.
    aborted: Arc<AtomicBool>,
    /// Delivers `JoinError::cancelled` when the task is dropped unfinished.
    on_drop: Box<dyn FnOnce()>,
}

/// A local task's waker: its slot and generation in its set.
struct TaskWaker {
    shared: Arc<Shared>,
    slot: usize,
    generation: u64,
    /// In the woken queue already (one entry per wake-up is enough).
    queued: AtomicBool,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // `AcqRel`: pairs with the `Release` store of `false` before the
        // task's poll; a wake during or after that poll queues it again.
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        self.shared
            .woken
            .lock()
            .push_back((self.slot, self.generation));
        self.shared.wake_driver();
    }
}

impl Shared {
    fn wake_driver(&self) {
        let driver = self.driver.lock().clone();
        if let Some(driver) = driver {
            driver.wake();
        }
    }
}

/// A local task's output, and who waits for it.
struct Join<T> {
    state: Mutex<JoinState<T>>,
    aborted: Arc<AtomicBool>,
    id: Id,
    /// The task's waker, for `abort` to get the task polled (and dropped).
    task: Waker,
}

struct JoinState<T> {
    output: Option<Result<T, JoinError>>,
    finished: bool,
    waiter: Option<Waker>,
}

impl<T> Join<T> {
    fn finish(&self, output: Result<T, JoinError>) {
        let waiter = {
            let mut state = self.state.lock();
            if state.finished {
                return;
            }
            state.finished = true;
            state.output = Some(output);
            state.waiter.take()
        };
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }
}

std::thread_local! {
    /// The sets being driven on this thread, innermost last
    /// (`spawn_local` uses the innermost).
    static CURRENT: RefCell<Vec<Rc<Inner>>> = const { RefCell::new(Vec::new()) };
}

/// Spawns a `!Send` future on the [`LocalSet`] this thread is driving; it
/// runs on this thread only.
///
/// # Panics
///
/// Outside a `LocalSet` (not inside [`LocalSet::run_until`], its
/// `block_on`, or a task of one): a `!Send` future has nowhere else to run.
#[track_caller]
pub fn spawn_local<F>(future: F) -> LocalJoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let current = CURRENT.with(|current| current.borrow().last().cloned());
    match current {
        Some(inner) => inner.spawn(future),
        None => panic!(
            "`spawn_local` called outside a `LocalSet`: run the code that calls it inside \
             `LocalSet::run_until` or `LocalSet::block_on`"
        ),
    }
}

impl LocalSet {
    /// An empty set.
    pub fn new() -> LocalSet {
        LocalSet {
            inner: Rc::new(Inner {
                tasks: RefCell::new(Slab::default()),
                shared: Arc::new(Shared {
                    woken: Mutex::new(VecDeque::new()),
                    driver: Mutex::new(None),
                }),
            }),
            _not_send: PhantomData,
        }
    }

    /// Spawns a `!Send` future on this set; it runs when the set is driven.
    pub fn spawn_local<F>(&self, future: F) -> LocalJoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.inner.spawn(future)
    }

    /// Runs `future` to completion, running the set's tasks whenever it is
    /// polled; inside it [`spawn_local`] spawns on this set. Tasks still
    /// running when `future` completes stay in the set (for the next
    /// `run_until`, or until the set is dropped).
    pub async fn run_until<F: Future>(&self, future: F) -> F::Output {
        RunUntil {
            inner: &self.inner,
            future: std::pin::pin!(future),
        }
        .await
    }

    /// `runtime.block_on(self.run_until(future))`: the usual way to drive a
    /// set from synchronous code.
    #[track_caller]
    pub fn block_on<F: Future>(&self, runtime: &crate::Runtime, future: F) -> F::Output {
        runtime.block_on(self.run_until(future))
    }

    /// Number of tasks in the set (not yet finished or dropped).
    pub fn len(&self) -> usize {
        self.inner.tasks.borrow().len
    }

    /// Whether the set holds no task.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for LocalSet {
    fn default() -> LocalSet {
        LocalSet::new()
    }
}

/// Awaiting a set runs its tasks until every one has finished.
impl Future for LocalSet {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let _current = Entered::enter(&self.inner);
        *self.inner.shared.driver.lock() = Some(cx.waker().clone());
        if self.inner.run_ready() {
            cx.waker().wake_by_ref();
        }
        if self.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for LocalSet {
    fn drop(&mut self) {
        let _current = Entered::enter(&self.inner);
        // Each future is dropped outside the borrow: its `Drop` may spawn
        // on the set (the new task is dropped by a later round).
        loop {
            let slot = {
                let mut tasks = self.inner.tasks.borrow_mut();
                let Some(index) = tasks.slots.iter().position(Option::is_some) else {
                    break;
                };
                tasks.remove(index)
            };
            slot.cancel();
        }
        *self.inner.shared.driver.lock() = None;
    }
}

impl fmt::Debug for LocalSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalSet")
            .field("tasks", &self.len())
            .finish()
    }
}

/// Makes a set current on this thread (for `spawn_local`) until dropped.
struct Entered;

impl Entered {
    fn enter(inner: &Rc<Inner>) -> Entered {
        CURRENT.with(|current| current.borrow_mut().push(inner.clone()));
        Entered
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|current| current.borrow_mut().pop());
    }
}

struct RunUntil<'a, F> {
    inner: &'a Rc<Inner>,
    future: Pin<&'a mut F>,
}

impl<F: Future> Future for RunUntil<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _current = Entered::enter(self.inner);
        *self.inner.shared.driver.lock() = Some(cx.waker().clone());
        if let Poll::Ready(output) = self.future.as_mut().poll(cx) {
            return Poll::Ready(output);
        }
        if self.inner.run_ready() {
            // More are ready: come back after the runtime's other work.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

impl Inner {
    fn spawn<F>(&self, future: F) -> LocalJoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let mut tasks = self.tasks.borrow_mut();
        let generation = tasks.next_generation;
        tasks.next_generation += 1;
        let index = match tasks.free.pop() {
            Some(index) => index,
            None => {
                tasks.slots.push(None);
                tasks.slots.len() - 1
            }
        };
        let waker = Arc::new(TaskWaker {
            shared: self.shared.clone(),
            slot: index,
            generation,
            queued: AtomicBool::new(false),
        });
        let aborted = Arc::new(AtomicBool::new(false));
        let join = Arc::new(Join {
            state: Mutex::new(JoinState {
                output: None,
                finished: false,
                waiter: None,
            }),
            aborted: aborted.clone(),
            id: Id::next(),
            task: Waker::from(waker.clone()),
        });
        let deliver = join.clone();
        let on_drop_join = join.clone();
        let task = async move {
            let output = CatchUnwind(std::pin::pin!(future)).await;
            deliver.finish(output.map_err(|payload| JoinError::panic(deliver.id, payload)));
        };
        tasks.slots[index] = Some(Slot {
            generation,
            future: Box::pin(task),
            task_waker: waker.clone(),
            waker: Waker::from(waker.clone()),
            aborted,
            on_drop: Box::new(move || {
                on_drop_join.finish(Err(JoinError::cancelled(on_drop_join.id)))
            }),
        });
        tasks.len += 1;
        drop(tasks);
        // Runs on the set's next poll.
        waker.wake_by_ref();
        LocalJoinHandle { join }
    }

    /// Polls up to `TASKS_PER_POLL` woken tasks; returns whether woken tasks
    /// remain.
    fn run_ready(&self) -> bool {
        for _ in 0..TASKS_PER_POLL {
            let Some((index, generation)) = self.shared.woken.lock().pop_front() else {
                return false;
            };
            self.run_one(index, generation);
        }
        !self.shared.woken.lock().is_empty()
    }

    fn run_one(&self, index: usize, generation: u64) {
        // Taken out of the slab for the poll: the poll may spawn (which
        // borrows the slab) or drop other handles.
        let slot = {
            let mut tasks = self.tasks.borrow_mut();
            match tasks.slots.get(index) {
                Some(Some(slot)) if slot.generation == generation => tasks.take(index),
                // A stale wake-up: that task is gone.
                _ => return,
            }
        };
        let Some(mut slot) = slot else { return };
        if slot.aborted.load(Ordering::Acquire) {
            self.tasks.borrow_mut().release(index);
            slot.cancel();
            return;
        }
        // Cleared before the poll: a wake-up from here on queues it again.
        // (`Release`: pairs with the `AcqRel` swap in `wake_by_ref`.)
        slot.task_waker.queued.store(false, Ordering::Release);
        let waker = slot.waker.clone();
        let mut cx = Context::from_waker(&waker);
        match coop::budget(|| slot.future.as_mut().poll(&mut cx)) {
            // Finished (the output, or the panic, is delivered).
            Poll::Ready(()) => self.tasks.borrow_mut().release(index),
            Poll::Pending => self.tasks.borrow_mut().put_back(index, slot),
        }
    }
}

impl Slot {
    /// Drops the unfinished task; its handle reports it cancelled.
    fn cancel(self) {
        let Slot {
            future, on_drop, ..
        } = self;
        // A panic in the future's `Drop` is contained: the task is gone
        // either way.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(future)));
        on_drop();
    }
}

impl Slab {
    /// Takes slot `index` out for a poll, keeping its number reserved.
    fn take(&mut self, index: usize) -> Option<Slot> {
        self.slots[index].take()
    }

    fn put_back(&mut self, index: usize, slot: Slot) {
        self.slots[index] = Some(slot);
    }

    /// The task in slot `index` has finished: the number is free again.
    fn release(&mut self, index: usize) {
        self.slots[index] = None;
        self.free.push(index);
        self.len -= 1;
    }

    /// Takes slot `index` out for good.
    fn remove(&mut self, index: usize) -> Slot {
        let slot = self.slots[index].take().expect("occupied");
        self.free.push(index);
        self.len -= 1;
        slot
    }
}

/// Polls a future, turning a panic into an `Err` with its payload.
struct CatchUnwind<'a, F>(Pin<&'a mut F>);

impl<F: Future> Future for CatchUnwind<'_, F> {
    type Output = Result<F::Output, Box<dyn std::any::Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

impl<T> LocalJoinHandle<T> {
    /// Cancels the task: it is dropped on its set's thread the next time the
    /// set runs, and this handle then reports [`JoinError::is_cancelled`]
    /// (unless it had finished already). Callable from any thread.
    pub fn abort(&self) {
        self.join.aborted.store(true, Ordering::Release);
        self.join.task.wake_by_ref();
    }

    /// Whether the task has finished (returned, panicked or was dropped).
    pub fn is_finished(&self) -> bool {
        self.join.state.lock().finished
    }

    /// The task's id.
    pub fn id(&self) -> Id {
        self.join.id
    }
}

impl<T> Future for LocalJoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.join.state.lock();
        if let Some(output) = state.output.take() {
            return Poll::Ready(output);
        }
        assert!(
            !state.finished,
            "a LocalJoinHandle polled after it returned its output"
        );
        state.waiter = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> fmt::Debug for LocalJoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalJoinHandle")
            .field("id", &self.join.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}
