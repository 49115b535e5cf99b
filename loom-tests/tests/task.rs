//! Loom models of the task state machine: poll, wake, abort, JoinHandle
//! drop, completion and shutdown, raced from two threads, on the real task
//! code (driven by `ringwork::loom_api::QueueScheduler`).
#![cfg(loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;
use ringwork::loom_api::QueueScheduler;
use ringwork::task::{JoinError, JoinHandle};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Polls a join handle once with a no-op waker (the task is done by then).
fn output<T>(mut handle: JoinHandle<T>) -> Result<T, JoinError> {
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(&mut handle).poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the task should have finished"),
    }
}

/// Pending on its first poll (leaving its waker in `slot`), ready after.
struct WaitOnce {
    slot: Arc<Mutex<Option<Waker>>>,
    polled: bool,
}

impl Future for WaitOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.polled {
            return Poll::Ready(());
        }
        self.polled = true;
        *self.slot.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Proves: a JoinHandle dropped while the task completes on another thread
/// drops the output exactly once, and the task is freed (loom's leak check).
#[test]
fn join_handle_drop_races_completion() {
    loom::model(|| {
        let sched = QueueScheduler::new();
        let tracked = Arc::new(());
        let t = tracked.clone();
        let handle = QueueScheduler::spawn(&sched, async move { t });
        let s = sched.clone();
        let runner = thread::spawn(move || while s.run_one() {});
        drop(handle);
        runner.join().unwrap();
        assert_eq!(
            Arc::strong_count(&tracked),
            1,
            "output dropped exactly once"
        );
        assert_eq!(sched.alive(), 0);
    });
}

/// Proves: a wake from another thread, arriving during the poll or after it,
/// is never lost: the task is polled again and completes.
#[test]
fn wake_from_another_thread_races_the_poll() {
    loom::model(|| {
        let sched = QueueScheduler::new();
        let slot = Arc::new(Mutex::new(None::<Waker>));
        let handle = QueueScheduler::spawn(
            &sched,
            WaitOnce {
                slot: slot.clone(),
                polled: false,
            },
        );
        let waker_thread = thread::spawn(move || loop {
            if let Some(waker) = slot.lock().unwrap().take() {
                waker.wake();
                return;
            }
            thread::yield_now();
        });
        assert!(sched.run_one(), "first poll");
        waker_thread.join().unwrap();
        while sched.run_one() {}
        assert!(handle.is_finished(), "the wake was not lost");
        output(handle).unwrap();
    });
}

/// Proves: abort racing a poll drops the future exactly once, and the
/// handle reports either the output or cancellation, never neither.
#[test]
fn abort_races_poll() {
    loom::model(|| {
        let sched = QueueScheduler::new();
        let tracked = Arc::new(());
        let t = tracked.clone();
        let slot = Arc::new(Mutex::new(None::<Waker>));
        let handle = QueueScheduler::spawn(&sched, async move {
            let _t = t;
            WaitOnce {
                slot,
                polled: false,
            }
            .await;
        });
        let abort = handle.abort_handle();
        let s = sched.clone();
        let runner = thread::spawn(move || {
            s.run_one();
        });
        abort.abort();
        runner.join().unwrap();
        while sched.run_one() {}
        assert!(handle.is_finished());
        assert!(output(handle).unwrap_err().is_cancelled());
        assert_eq!(
            Arc::strong_count(&tracked),
            1,
            "future dropped exactly once"
        );
        assert_eq!(sched.alive(), 0);
    });
}

/// Proves: shutdown racing a poll drops the future exactly once (by the
/// poller or by shutdown), and nothing stays registered.
#[test]
fn shutdown_races_poll() {
    loom::model(|| {
        let sched = QueueScheduler::new();
        let drops = Arc::new(AtomicUsize::new(0));
        struct CountDrop(Arc<AtomicUsize>);
        impl Drop for CountDrop {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let guard = CountDrop(drops.clone());
        let slot = Arc::new(Mutex::new(None::<Waker>));
        let handle = QueueScheduler::spawn(&sched, async move {
            let _guard = guard;
            WaitOnce {
                slot,
                polled: false,
            }
            .await;
        });
        let s = sched.clone();
        let runner = thread::spawn(move || {
            s.run_one();
        });
        sched.shutdown();
        runner.join().unwrap();
        while sched.run_one() {}
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert!(handle.is_finished());
        assert!(output(handle).unwrap_err().is_cancelled());
        assert_eq!(sched.alive(), 0);
    });
}
