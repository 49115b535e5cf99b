//! Loom model of the hand-off that makes reads cancel safe on io_uring
//! (`runtime/src/io/stash.rs`): a read whose future was dropped while its
//! RECV was still armed completes later on the driver thread; its bytes go
//! to the socket's stash, and the next read — which waits while an orphan
//! is in flight — gets them, exactly once. The real op slot
//! (`ringwork_uring::loom_api::ModelSlot`, `Orphan::Keep`) and the real
//! stash run under the model.
#![cfg(loom)]

use loom::thread;
use ringwork::loom_api::ModelStash;
use ringwork_uring::loom_api::{Completion, ModelSlot};
use std::sync::Arc;
use std::task::Poll;

/// The in-flight read: what `Recv` owns in its slot.
struct Read {
    stash: Arc<ModelStash>,
}

/// `Recv::orphaned`: the late result's bytes (the kernel "received" the
/// first `result` bytes of "hello"), or nothing if it was cancelled.
fn keep(completion: Completion, read: Read) {
    let delivered =
        (completion.result > 0).then(|| b"hello"[..completion.result as usize].to_vec());
    read.stash.resolve(delivered);
}

/// The reading task: its read's future is dropped (as `UringOp::drop`:
/// counted as an orphan, then the slot cancelled), then it reads again
/// until the stash answers.
fn drop_then_read_again(stash: &ModelStash, slot: &ModelSlot<Read>) -> Option<Vec<u8>> {
    stash.orphan_started();
    slot.drop_op();
    loom::future::block_on(std::future::poll_fn(|cx| match stash.poll_take(cx, 16) {
        Poll::Ready(taken) => Poll::Ready(taken),
        Poll::Pending => Poll::Pending,
    }))
}

/// Proves: bytes the kernel delivers to a dropped read — before, while or
/// after the future is dropped — reach the next read exactly once; that
/// read never misses the wake-up while it waits for the orphan.
#[test]
fn late_bytes_of_a_dropped_read_reach_the_next_read() {
    loom::model(|| {
        let stash = Arc::new(ModelStash::new());
        let slot = Arc::new(ModelSlot::with_keep(
            Read {
                stash: stash.clone(),
            },
            keep,
        ));
        let kernel_slot = slot.clone();
        let kernel = thread::spawn(move || kernel_slot.complete(5));
        let got = drop_then_read_again(&stash, &slot);
        kernel.join().unwrap();
        assert_eq!(got.as_deref(), Some(&b"hello"[..]), "the late bytes, once");
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert_eq!(
            stash.poll_take(&mut cx, 16),
            Poll::Ready(None),
            "nothing is handed out twice"
        );
    });
}

/// Proves: when the cancel wins (the kernel answers `ECANCELED`), the next
/// read is released to go to the kernel, and gets nothing stale.
#[test]
fn a_cancelled_orphan_releases_the_next_read() {
    loom::model(|| {
        let stash = Arc::new(ModelStash::new());
        let slot = Arc::new(ModelSlot::with_keep(
            Read {
                stash: stash.clone(),
            },
            keep,
        ));
        let kernel_slot = slot.clone();
        let kernel = thread::spawn(move || kernel_slot.complete(-libc_ecanceled()));
        let got = drop_then_read_again(&stash, &slot);
        kernel.join().unwrap();
        assert_eq!(
            got, None,
            "nothing stashed: the next read goes to the kernel"
        );
    });
}

/// Proves: with two reads dropped in a row (two orphans in flight on two
/// driver threads), the next read waits for both and gets both deliveries,
/// each once.
#[test]
fn two_orphans_both_reach_the_next_reads() {
    loom::model(|| {
        let stash = Arc::new(ModelStash::new());
        let slots: Vec<_> = (0..2)
            .map(|_| {
                Arc::new(ModelSlot::with_keep(
                    Read {
                        stash: stash.clone(),
                    },
                    keep,
                ))
            })
            .collect();
        let kernels: Vec<_> = slots
            .iter()
            .enumerate()
            .map(|(i, slot)| {
                let slot = slot.clone();
                thread::spawn(move || slot.complete(2 + i as i32))
            })
            .collect();
        stash.orphan_started();
        slots[0].drop_op();
        let mut got = drop_then_read_again(&stash, &slots[1]).expect("bytes were delivered");
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        if let Poll::Ready(Some(more)) = stash.poll_take(&mut cx, 16) {
            got.extend(more);
        }
        for kernel in kernels {
            kernel.join().unwrap();
        }
        got.sort_unstable();
        let mut expected = b"hehel".to_vec();
        expected.sort_unstable();
        assert_eq!(got, expected, "both deliveries, each once");
    });
}

fn libc_ecanceled() -> i32 {
    125 // ECANCELED on Linux
}
