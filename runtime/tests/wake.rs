//! Wakers: from plain threads, by value and by reference, cloned and dropped.

mod common;

use common::{runtime, watchdog};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Completes after being woken `target` times by an external thread.
struct WokenTimes {
    polls: Arc<AtomicUsize>,
    target: usize,
    waker_out: Arc<Mutex<Option<Waker>>>,
}

impl Future for WokenTimes {
    type Output = usize;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        let n = self.polls.fetch_add(1, Ordering::SeqCst) + 1;
        if n > self.target {
            return Poll::Ready(n);
        }
        *self.waker_out.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    }
}

fn wake_from_thread(by_ref: bool) {
    let rt = runtime(2);
    let polls = Arc::new(AtomicUsize::new(0));
    let slot = Arc::new(Mutex::new(None::<Waker>));
    const WAKES: usize = 1_000;
    let handle = rt.spawn(WokenTimes {
        polls: polls.clone(),
        target: WAKES,
        waker_out: slot.clone(),
    });
    let waker_thread = std::thread::spawn(move || {
        let mut sent = 0;
        while sent < WAKES {
            // Wait for the task to park with a fresh waker, then wake it.
            let waker = slot.lock().unwrap().take();
            if let Some(waker) = waker {
                if by_ref {
                    waker.wake_by_ref();
                } else {
                    waker.wake();
                }
                sent += 1;
            } else {
                std::thread::yield_now();
            }
        }
    });
    let polled = watchdog(Duration::from_secs(30), move || {
        common::block_on_plain(handle).unwrap()
    });
    waker_thread.join().unwrap();
    assert_eq!(polled, WAKES + 1);
}

#[test]
fn wake_by_value_from_a_plain_thread() {
    wake_from_thread(false);
}

#[test]
fn wake_by_ref_from_a_plain_thread() {
    wake_from_thread(true);
}

#[test]
fn many_wakes_while_idle_cause_one_poll() {
    let rt = runtime(1);
    let polls = Arc::new(AtomicUsize::new(0));
    let slot = Arc::new(Mutex::new(None::<Waker>));
    let handle = rt.spawn(WokenTimes {
        polls: polls.clone(),
        target: 1,
        waker_out: slot.clone(),
    });
    let waker = watchdog(Duration::from_secs(10), move || loop {
        if let Some(w) = slot.lock().unwrap().take() {
            break w;
        }
        std::thread::yield_now();
    });
    // Block the only worker, wake many times, then let it go.
    let gate = common::Gate::new();
    let busy = common::Gate::new();
    let (g, b) = (gate.clone(), busy.clone());
    drop(rt.spawn(async move {
        b.open();
        let started = std::time::Instant::now();
        while !g.is_open() && started.elapsed() < Duration::from_secs(5) {
            std::thread::yield_now();
        }
    }));
    // Wait until the only worker is inside the blocking task.
    watchdog(Duration::from_secs(10), move || {
        common::block_on_plain(busy.wait())
    });
    for _ in 0..100 {
        waker.wake_by_ref();
    }
    gate.open();
    assert_eq!(
        common::block_on_plain(handle).unwrap(),
        2,
        "one poll for 100 coalesced wakes"
    );
}

#[test]
fn cloned_wakers_outlive_the_task_safely() {
    let rt = runtime(2);
    let slot = Arc::new(Mutex::new(None::<Waker>));
    let s = slot.clone();
    let handle = rt.spawn(async move {
        std::future::poll_fn(|cx| {
            *s.lock().unwrap() = Some(cx.waker().clone());
            Poll::Ready(())
        })
        .await;
        5
    });
    assert_eq!(common::block_on_plain(handle).unwrap(), 5);
    let waker = slot.lock().unwrap().take().unwrap();
    let clones: Vec<Waker> = (0..10).map(|_| waker.clone()).collect();
    for c in clones {
        c.wake();
    }
    waker.wake_by_ref();
    drop(waker);
    drop(rt);
}
