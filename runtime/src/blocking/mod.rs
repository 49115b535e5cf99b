//! The blocking pool behind [`spawn_blocking`](crate::task::spawn_blocking)
//! (asyncio's `run_in_executor`): threads for work that would stall a worker
//! (blocking syscalls, CPU-heavy loops, libraries without async APIs).
//!
//! - Jobs are ordinary tasks (same `JoinHandle`, `abort`, panic capture, and
//!   registry of live tasks), whose one poll runs the closure to the end,
//!   with the job's runtime current on the thread (so `ringwork::spawn` and
//!   `Handle::current` work inside it). The job holds its runtime only until
//!   it has run or been cancelled, and shutdown cancels every queued job, so
//!   the `Shared` → pool → job → runtime cycle never outlives the runtime.
//! - Threads are spawned on demand while no idle thread is free, up to
//!   `max_blocking_threads`; an idle thread exits after `keep_alive`. An idle
//!   thread signalled for a queued job counts as taken until it wakes, so a
//!   burst of jobs starts threads instead of queueing behind one idle thread.
//! - A queued job goes to the thread that became idle *last* (each idle
//!   thread waits on its own condvar, on a stack): under a trickle of jobs
//!   the same few threads take them all and the others, idle longer than
//!   `keep_alive`, retire. (With one shared condvar the jobs went to the
//!   idle threads in turn, each one's idleness restarted, and a pool that
//!   once grew never shrank — found by the soak.)
//! - Threads are named `ringwork-blocking-N`, N counting the threads this
//!   pool started, from 0.
//! - If no thread can be started (`EAGAIN`: thread limit) and none exists to
//!   run the job later, the job is cancelled: its handle reports an error
//!   instead of waiting forever. The start error is kept, so callers that
//!   never cancel their jobs can report the cause (`cancel_reason`).
//! - Shutdown cancels queued jobs and waits for running ones until the
//!   runtime's shutdown deadline; a job cannot be interrupted mid-run. A job
//!   that drops the runtime itself waits for every other thread, not for its
//!   own (which exits once the job returns).

use crate::context::{self, RuntimeContext};
use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::task_core::list::OwnedTasks;
use crate::task_core::{JoinHandle, Notified, Schedule, Task};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

type Job = Notified<Arc<Pool>>;

/// An idle thread's own wake-up (waited on with the pool's state lock).
struct IdleThread {
    wake: Condvar,
}

/// Settings of the pool.
#[derive(Clone, Debug)]
pub(crate) struct PoolConfig {
    pub(crate) max_threads: usize,
    pub(crate) keep_alive: Duration,
    pub(crate) stack_size: Option<usize>,
}

pub(crate) struct Pool {
    state: Mutex<State>,
    /// Signalled when a job is queued or shutdown starts (to idle threads),
    /// and when a thread exits (to `shutdown`).
    changed: Condvar,
    owned: OwnedTasks<Arc<Pool>>,
    config: PoolConfig,
}

struct State {
    queue: VecDeque<Job>,
    /// Threads alive: running a job, idle, or being started.
    threads: usize,
    /// Threads waiting for a job, the most recently idle last. `schedule`
    /// pops one and signals it: a thread that wakes no longer on the stack
    /// was claimed for a job (it counts as taken until it wakes).
    idle: Vec<Arc<IdleThread>>,
    /// Threads started so far: the next thread is `ringwork-blocking-{started}`.
    started: usize,
    /// Most threads alive at once (for tests and metrics).
    peak_threads: usize,
    /// Why the last failed thread start failed (the OS error's text).
    last_start_error: Option<String>,
    shutdown: bool,
}

impl Pool {
    pub(crate) fn new(config: PoolConfig) -> Arc<Pool> {
        Arc::new(Pool {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                threads: 0,
                idle: Vec::new(),
                started: 0,
                peak_threads: 0,
                last_start_error: None,
                shutdown: false,
            }),
            changed: Condvar::new(),
            owned: OwnedTasks::new(1),
            config,
        })
    }

    /// Queues `f` to run on a thread of this pool, with `runtime` (the
    /// pool's runtime) current while it runs.
    pub(crate) fn spawn<F, R>(
        this: &Arc<Pool>,
        runtime: std::sync::Arc<dyn RuntimeContext>,
        f: F,
    ) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (join, notified) = this.owned.spawn(
            BlockingJob(Some((f, runtime))),
            this.clone(),
            crate::task_core::SpawnMeta::at(std::panic::Location::caller()),
        );
        if let Some(notified) = notified {
            this.schedule(notified);
        }
        join
    }

    /// Whether a job is queued or running (a paused clock does not jump
    /// ahead meanwhile: the job's result may be what a task waits for).
    pub(crate) fn has_jobs(&self) -> bool {
        self.owned.len() > 0
    }

    /// Threads alive now and at most so far.
    pub(crate) fn thread_counts(&self) -> (usize, usize) {
        let state = self.state.lock();
        (state.threads, state.peak_threads)
    }

    /// Why a job of this pool was cancelled before it ran, for callers that
    /// never cancel their own jobs (the epoll path of file operations): then
    /// only shutdown, or a failed thread start that stranded it, cancels it.
    pub(crate) fn cancel_reason(&self) -> io::Error {
        let state = self.state.lock();
        if state.shutdown {
            io::Error::other("the blocking job was cancelled: the runtime is shutting down")
        } else if let Some(err) = &state.last_start_error {
            io::Error::other(format!("could not start a blocking thread: {err}"))
        } else {
            io::Error::other("the blocking job was cancelled before it ran")
        }
    }

    /// Whether the calling thread is one of this pool's threads.
    fn is_own_thread(&self) -> bool {
        std::ptr::eq(context::pool(), (self as *const Pool).cast())
    }

    /// Cancels queued jobs and waits until `deadline` (or forever) for the
    /// running ones. Returns whether every thread exited. Called from one of
    /// this pool's own threads (a job dropping its runtime), it does not wait
    /// for that thread, which exits once its job returns.
    pub(crate) fn shutdown(&self, deadline: Option<Instant>) -> bool {
        let (queued, idle): (Vec<Job>, Vec<Arc<IdleThread>>) = {
            let mut state = self.state.lock();
            state.shutdown = true;
            (
                state.queue.drain(..).collect(),
                std::mem::take(&mut state.idle),
            )
        };
        // Idle threads wake, find themselves off the stack and the pool
        // shut down, and exit.
        for thread in idle {
            thread.wake.notify_one();
        }
        self.changed.notify_all();
        drop(queued);
        // Queued jobs are not running: this drops their closures.
        self.owned.close_and_shutdown_all(0);
        let own = usize::from(self.is_own_thread());
        let mut state = self.state.lock();
        while state.threads > own {
            match deadline {
                None => state = self.changed.wait(state),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    state = self.changed.wait_timeout(state, deadline - now);
                }
            }
        }
        true
    }
}

impl Schedule for Arc<Pool> {
    fn schedule(&self, job: Job) {
        let mut state = self.state.lock();
        if state.shutdown {
            // The registry sweep (or the job's own poller) completes it.
            drop(state);
            drop(job);
            return;
        }
        state.queue.push_back(job);
        if let Some(idle) = state.idle.pop() {
            // The thread idle for the shortest time: claimed for this job.
            drop(state);
            idle.wake.notify_one();
            return;
        }
        if state.threads >= self.config.max_threads {
            return; // a busy thread takes it when done
        }
        state.threads += 1;
        state.peak_threads = state.peak_threads.max(state.threads);
        let name = format!("ringwork-blocking-{}", state.started);
        state.started += 1;
        drop(state);
        let pool = self.clone();
        #[cfg(feature = "fault-injection")]
        let spawned = match crate::faults::thread_start_error() {
            Some(err) => Err(err),
            None => crate::loom::thread::spawn_named(name, self.config.stack_size, move || {
                Pool::run_thread(pool)
            }),
        };
        #[cfg(not(feature = "fault-injection"))]
        let spawned = crate::loom::thread::spawn_named(name, self.config.stack_size, move || {
            Pool::run_thread(pool)
        });
        if let Err(err) = spawned {
            let mut state = self.state.lock();
            state.last_start_error = Some(err.to_string());
            state.threads -= 1;
            if state.threads == 0 {
                // Nobody will ever run the queued jobs: cancel them, so their
                // handles report it instead of hanging.
                let stranded: Vec<Job> = state.queue.drain(..).collect();
                drop(state);
                for job in stranded {
                    job.cancel_stranded();
                }
            }
        }
    }

    fn release(&self, task: &Task<Self>) -> Option<Task<Self>> {
        self.owned.remove(task)
    }
}

impl Pool {
    fn run_thread(this: Arc<Self>) {
        context::set_pool((&*this as *const Pool).cast());
        let mut state = this.state.lock();
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                job.run();
                state = this.state.lock();
                continue;
            }
            if state.shutdown {
                break;
            }
            let me = Arc::new(IdleThread {
                wake: Condvar::new(),
            });
            state.idle.push(me.clone());
            let idle_since = Instant::now();
            let timed_out = loop {
                let left = this.config.keep_alive.saturating_sub(idle_since.elapsed());
                state = me.wake.wait_timeout(state, left);
                if !state.idle.iter().any(|t| Arc::ptr_eq(t, &me)) {
                    // `schedule` took us off the stack: claimed for a job
                    // (or shutdown emptied the stack).
                    break false;
                }
                if state.shutdown {
                    break false;
                }
                if idle_since.elapsed() >= this.config.keep_alive {
                    break true;
                }
                // Spurious: wait on.
            };
            state.idle.retain(|t| !Arc::ptr_eq(t, &me));
            if timed_out && state.queue.is_empty() {
                break; // idle for a whole keep-alive: retire
            }
        }
        state.threads -= 1;
        drop(state);
        this.changed.notify_all();
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A closure as a one-poll future, with the runtime to make current while
/// it runs.
struct BlockingJob<F>(Option<(F, std::sync::Arc<dyn RuntimeContext>)>);

// The closure is never pinned: it is moved out and called.
impl<F> Unpin for BlockingJob<F> {}

impl<F: FnOnce() -> R, R> Future for BlockingJob<F> {
    type Output = R;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<R> {
        let (f, runtime) = self.0.take().expect("a blocking job is polled once");
        // Restores the thread's previous context (none) when `f` returns or
        // unwinds, dropping this handle.
        let _current = context::set_runtime(runtime);
        Poll::Ready(f())
    }
}
