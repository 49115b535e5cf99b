//! Loom model of the hand-off of a busy worker's ring
//! (`uring-driver/src/completions.rs`): while the owner is stuck in a task,
//! another thread reaps its completion queue through a `Reaper`; the owner
//! comes back and reaps too. The reap lock decides who delivers each CQE.
#![cfg(loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use ringwork_uring::loom_api::ModelRing;
use std::task::{Context, Poll, Waker};

/// A resource that counts its drops.
struct Buffer(Arc<AtomicUsize>);

impl Drop for Buffer {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Proves: with the kernel posting two completions while the owner and a
/// reaper both reap, every completion is delivered exactly once (a second
/// delivery of a final CQE panics in the slot), no reference or resource is
/// lost or freed twice, and the in-flight count returns to zero — whichever
/// of them gets each batch.
#[test]
fn owner_and_reaper_deliver_each_completion_once() {
    loom::model(|| {
        let ring = std::sync::Arc::new(ModelRing::new());
        let drops = Arc::new(AtomicUsize::new(0));
        let ops: Vec<_> = (0..2).map(|_| ring.submit(Buffer(drops.clone()))).collect();
        let user_data: Vec<u64> = ops.iter().map(|op| op.user_data).collect();

        let kernel_ring = ring.clone();
        let kernel = thread::spawn(move || {
            for (i, ud) in user_data.into_iter().enumerate() {
                kernel_ring.post(ud, i as i32 + 1);
            }
        });
        let reaper_ring = ring.clone();
        let reaper = thread::spawn(move || reaper_ring.try_reap().unwrap_or(0));
        // The owner returns from its long task and reaps.
        let by_owner = ring.owner_reap();
        kernel.join().unwrap();
        let by_reaper = reaper.join().unwrap();
        // Whatever neither saw yet (posted after both looked), the owner's
        // next harvest delivers.
        let later = ring.owner_reap();
        assert_eq!(
            by_owner + by_reaper + later,
            2,
            "each completion delivered once"
        );
        assert_eq!(ring.in_flight(), 0);

        let mut cx = Context::from_waker(Waker::noop());
        for (i, op) in ops.iter().enumerate() {
            let Poll::Ready((completion, buffer)) = op.poll_complete(&mut cx) else {
                panic!("op {i} not completed");
            };
            assert_eq!(completion.result, i as i32 + 1);
            drop(buffer);
        }
        assert_eq!(drops.load(Ordering::SeqCst), 2, "each resource freed once");
    });
}

/// Proves: an owner parked in its ring (waiting for a CQE) keeps the turn,
/// so a reaper running meanwhile cannot take the CQE that is to end the wait
/// — the wait always ends, and the completion is delivered once.
#[test]
fn a_reaper_never_takes_the_completion_a_parked_owner_waits_for() {
    loom::model(|| {
        let ring = std::sync::Arc::new(ModelRing::new());
        let drops = Arc::new(AtomicUsize::new(0));
        let op = ring.submit(Buffer(drops.clone()));
        let user_data = op.user_data;
        let kernel_ring = ring.clone();
        let kernel = thread::spawn(move || kernel_ring.post(user_data, 7));
        let reaper_ring = ring.clone();
        let reaper = thread::spawn(move || reaper_ring.try_reap().unwrap_or(0));
        let by_owner = ring.owner_park();
        kernel.join().unwrap();
        let by_reaper = reaper.join().unwrap();
        assert_eq!(by_owner + by_reaper, 1, "delivered once");
        assert_eq!(ring.in_flight(), 0);
        let mut cx = Context::from_waker(Waker::noop());
        let Poll::Ready((completion, buffer)) = op.poll_complete(&mut cx) else {
            panic!("not completed");
        };
        assert_eq!(completion.result, 7);
        drop(buffer);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

/// Proves: the monitor never sleeps while a worker runs — a worker that
/// returns from its park while the monitor decides to sleep (every worker
/// was parked when it looked) either is seen by the monitor or wakes it.
/// (The monitor thread of `runtime/src/handoff.rs`; a lost wake-up would
/// leave it asleep, and the model would deadlock.)
#[test]
fn a_worker_leaving_its_park_never_leaves_the_monitor_asleep() {
    loom::model(|| {
        let monitor = std::sync::Arc::new(ringwork::loom_api::ModelMonitor::new(2));
        let m = monitor.clone();
        let worker = thread::spawn(move || m.worker_runs(1));
        monitor.monitor_sleeps();
        worker.join().unwrap();
    });
}
