//! Loom models of the fixed-file release (`uring-driver/src/files.rs`): a
//! socket's last owner, on any thread, queues its slot on the ring's remote
//! and unparks the owner; the owner clears queued slots on its flush and
//! only then reuses them. Driven through
//! `ringwork_uring::loom_api::ModelFileTable` (the real `Remote` queue and
//! unpark protocol and `FileTable::clear_released`, with the kernel's table
//! played by the model).
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use ringwork_uring::loom_api::ModelFileTable;

/// Proves: a slot released on another thread is cleared by an owner that
/// parks until it is (the release's unpark is never lost, whichever side
/// goes first: a lost one would leave the owner parked and loom reports the
/// deadlock), exactly once, and the full table hands the slot out again
/// only after it was cleared.
#[test]
fn a_slot_released_elsewhere_is_cleared_once_before_it_is_reused() {
    loom::model(|| {
        let table = Arc::new(ModelFileTable::new(1));
        let slot = table.register(1).expect("an empty table has room");
        assert_eq!(table.register(2), None, "one slot: full");
        let releaser = {
            let table = table.clone();
            thread::spawn(move || table.release(slot))
        };
        while table.owner_flush() == 0 {
            table.owner_park();
        }
        assert_eq!(table.file_in(slot), None);
        assert_eq!(
            table.register(2),
            Some(slot),
            "the cleared slot is free again"
        );
        releaser.join().unwrap();
    });
}

/// Proves: two sockets dropped at once on two threads both get their slots
/// cleared, with one wake-up or two, and neither slot is cleared twice.
#[test]
fn two_slots_released_at_once_are_both_cleared() {
    loom::model(|| {
        let table = Arc::new(ModelFileTable::new(2));
        let slots = [table.register(1).unwrap(), table.register(2).unwrap()];
        let releasers: Vec<_> = slots
            .into_iter()
            .map(|slot| {
                let table = table.clone();
                thread::spawn(move || table.release(slot))
            })
            .collect();
        let mut cleared = 0;
        while cleared < 2 {
            let now = table.owner_flush();
            cleared += now;
            if cleared < 2 && now == 0 {
                table.owner_park();
            }
        }
        for releaser in releasers {
            releaser.join().unwrap();
        }
        assert!(slots.iter().all(|&slot| table.file_in(slot).is_none()));
    });
}
