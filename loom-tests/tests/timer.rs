//! Loom model of the timer wheel: a timer dropped on one thread while its
//! owner fires due timers on another.
#![cfg(loom)]

use loom::thread;
use ringwork::loom_api::ModelTimers;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Wake, Waker};
use std::time::Duration;

struct CountWakes(AtomicUsize);

impl Wake for CountWakes {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Proves: a timer cancelled from another thread while its owner fires due
/// timers is woken at most once — exactly when the owner fired it — and its
/// waker is released either way (nothing stays armed).
#[test]
fn cross_thread_cancel_races_firing() {
    loom::model(|| {
        let timers = ModelTimers::new();
        let wakes = std::sync::Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        let key = timers
            .register(Duration::from_millis(10), &waker)
            .expect("armed in the future");
        drop(waker);
        let remote = timers.clone();
        let canceller = thread::spawn(move || remote.deregister(key));
        let fired = timers.process(Duration::from_secs(1));
        canceller.join().unwrap();
        assert_eq!(
            wakes.0.load(Ordering::SeqCst),
            fired,
            "woken exactly when fired"
        );
        assert!(fired <= 1);
        assert_eq!(
            std::sync::Arc::strong_count(&wakes),
            1,
            "the waker was released"
        );
        // Nothing left armed: later processing fires nothing.
        assert_eq!(timers.process(Duration::from_secs(2)), 0);
    });
}

/// Proves: the owner's own processing and the monitor's turn for it
/// (`handoff.rs`: `process_and_next` from another thread) racing over the
/// same due timer fire it exactly once.
#[test]
fn the_owner_and_the_monitor_fire_a_due_timer_once() {
    loom::model(|| {
        let timers = ModelTimers::new();
        let wakes = std::sync::Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        timers
            .register(Duration::from_millis(10), &waker)
            .expect("armed in the future");
        drop(waker);
        let monitor = timers.clone();
        let helper = thread::spawn(move || monitor.process(Duration::from_secs(1)));
        let by_owner = timers.process(Duration::from_secs(1));
        let by_monitor = helper.join().unwrap();
        assert_eq!(by_owner + by_monitor, 1, "fired once");
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "woken once");
    });
}
