//! Loom model of runtime shutdown (`Runtime::drop`: `Shared::shutdown`, the
//! workers' shutdown sweep, the injector drain) racing a spawn and a wake
//! from another thread, on the real runtime (worker loop, queues, condvar
//! parker, task state machine and registry).
#![cfg(loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;
use ringwork::runtime::Builder;
use ringwork::task::{JoinError, JoinHandle};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Counts its drop: held by a task's future, it shows the future was
/// dropped (completed or cancelled) and how many times.
struct CountDrop(Arc<AtomicUsize>);

impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
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

/// Polls a join handle once with a no-op waker: it must have resolved.
fn resolved<T>(mut handle: JoinHandle<T>) -> Result<T, JoinError> {
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(&mut handle).poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a JoinHandle still pending after the runtime was dropped"),
    }
}

/// Proves: dropping the runtime while another thread spawns a task through
/// a `Handle` and wakes a task parked on its waker drops every task's future
/// exactly once (by the worker, by the shutdown sweep, or at once when the
/// spawn comes after shutdown), every `JoinHandle` resolves (the output, or
/// cancelled), and nothing leaks (loom checks that the runtime's shared
/// state, held by every task and waker, is freed).
#[test]
fn runtime_drop_races_a_spawn_and_a_wake() {
    loom::model(|| {
        let rt = Builder::new_multi_thread()
            .worker_threads(1)
            .seed(1)
            .build()
            .unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let slot = Arc::new(Mutex::new(None::<Waker>));

        let guard = CountDrop(drops.clone());
        let wait_once = WaitOnce {
            slot: slot.clone(),
            polled: false,
        };
        let waiting = rt.spawn(async move {
            let _guard = guard;
            wait_once.await;
            1
        });

        let handle = rt.handle().clone();
        let guard = CountDrop(drops.clone());
        let other = thread::spawn(move || {
            let spawned = handle.spawn(async move {
                let _guard = guard;
                2
            });
            // Wake the waiting task if it has been polled by now.
            let waker = slot.lock().unwrap().take();
            if let Some(waker) = waker {
                waker.wake();
            }
            spawned
        });

        drop(rt);
        let spawned = other.join().unwrap();

        assert_eq!(drops.load(Ordering::SeqCst), 2, "each future dropped once");
        match resolved(waiting) {
            Ok(out) => assert_eq!(out, 1),
            Err(err) => assert!(err.is_cancelled()),
        }
        match resolved(spawned) {
            Ok(out) => assert_eq!(out, 2),
            Err(err) => assert!(err.is_cancelled()),
        }
    });
}
