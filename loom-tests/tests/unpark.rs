//! Loom models of the io_uring driver's unpark protocol
//! (`uring-driver/src/remote.rs`): an `Unparker` on another thread swaps the
//! state word and writes the eventfd only when the owner is parked; the
//! owner, about to wait in `io_uring_enter`, announces it with `begin_park`
//! and waits only if no wake-up token is pending. Driven through
//! `ringwork_uring::loom_api::ModelUnparker` (the real protocol, with a
//! condvar standing in for the eventfd).
#![cfg(loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use ringwork_uring::loom_api::ModelUnparker;

/// Proves: an owner that re-checks its condition around each park (as a
/// worker does) always wakes for an unpark from another thread, over two
/// rounds and after a non-waiting park (a maintenance tick), whichever side
/// reaches the state word first; and the eventfd is written (a syscall)
/// only for an owner that entered a wait, at most once per wait.
#[test]
fn unpark_from_another_thread_always_wakes_the_driver() {
    loom::model(|| {
        let driver = Arc::new(ModelUnparker::new());
        // Rounds of work published to the owner: a `Release` store, as a
        // pushed task is, and the unpark after it.
        let published = Arc::new(AtomicUsize::new(0));
        let owner = {
            let (driver, published) = (driver.clone(), published.clone());
            thread::spawn(move || {
                driver.park_without_waiting();
                for round in 1..=2 {
                    // `Acquire`: pairs with the `Release` store below.
                    while published.load(Ordering::Acquire) < round {
                        driver.park();
                    }
                }
            })
        };
        for round in 1..=2 {
            published.store(round, Ordering::Release);
            driver.unpark();
        }
        owner.join().unwrap();
        assert!(
            driver.eventfd_writes() <= driver.waits(),
            "an eventfd write for an owner that was not waiting"
        );
    });
}

/// Proves: two threads unparking the owner at once never lose either
/// wake-up: after its parks the owner sees both threads' work, even when
/// the second unpark finds the first one's token still pending (and so
/// skips the eventfd write) while the owner is consuming it.
#[test]
fn two_unparkers_racing_a_parking_driver_are_both_seen() {
    loom::model(|| {
        let driver = Arc::new(ModelUnparker::new());
        let work: Arc<[AtomicUsize; 2]> = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let unparkers: Vec<_> = (0..2)
            .map(|i| {
                let (driver, work) = (driver.clone(), work.clone());
                thread::spawn(move || {
                    // `Release`: pairs with the owner's `Acquire` loads.
                    work[i].store(1, Ordering::Release);
                    driver.unpark();
                })
            })
            .collect();
        while work.iter().any(|w| w.load(Ordering::Acquire) == 0) {
            driver.park();
        }
        for unparker in unparkers {
            unparker.join().unwrap();
        }
        assert!(driver.eventfd_writes() <= driver.waits());
    });
}
