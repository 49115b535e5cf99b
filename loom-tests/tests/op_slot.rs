//! Loom model of the io_uring op slot (`uring-driver/src/slot.rs`): the
//! future's poll and drop race the "kernel" thread posting the completion.
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use ringwork_uring::loom_api::ModelSlot;
use std::task::{Context, Poll, Waker};

/// A resource that checks it is freed once, and never before the kernel
/// finished with it.
struct Buffer {
    kernel_done: Arc<AtomicBool>,
    drops: Arc<AtomicUsize>,
}

impl Drop for Buffer {
    fn drop(&mut self) {
        assert!(
            self.kernel_done.load(Ordering::SeqCst),
            "a buffer was freed while the kernel could still write it"
        );
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// Proves: a future dropped before, during or after the completion frees
/// its resources exactly once and never before the completion; a completion
/// racing the first poll is never lost (the poll or a later one sees it).
#[test]
fn op_drop_or_poll_races_the_completion() {
    loom::model(|| {
        let kernel_done = Arc::new(AtomicBool::new(false));
        let drops = Arc::new(AtomicUsize::new(0));
        let slot = std::sync::Arc::new(ModelSlot::new(Buffer {
            kernel_done: kernel_done.clone(),
            drops: drops.clone(),
        }));
        let kernel_slot = slot.clone();
        let done = kernel_done.clone();
        let kernel = thread::spawn(move || {
            done.store(true, Ordering::SeqCst); // the kernel stops touching the buffer
            kernel_slot.complete(5);
        });
        let mut cx = Context::from_waker(Waker::noop());
        match slot.poll_complete(&mut cx) {
            Poll::Ready((completion, buffer)) => {
                assert_eq!(completion.result, 5);
                drop(buffer);
            }
            Poll::Pending => {
                // The future goes away mid-flight.
                slot.drop_op();
            }
        }
        kernel.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1, "freed exactly once");
    });
}

/// Proves: a waker stored by a poll on one thread is woken by the
/// completion on another, or the poll sees the completion itself.
#[test]
fn completion_wakes_a_future_polled_on_another_thread() {
    loom::model(|| {
        struct Flag(std::sync::atomic::AtomicBool);
        impl std::task::Wake for Flag {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let flag = std::sync::Arc::new(Flag(std::sync::atomic::AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let slot = std::sync::Arc::new(ModelSlot::new(()));
        let kernel_slot = slot.clone();
        let kernel = thread::spawn(move || kernel_slot.complete(0));
        let mut cx = Context::from_waker(&waker);
        let first = slot.poll_complete(&mut cx);
        kernel.join().unwrap();
        if first.is_pending() {
            assert!(
                flag.0.load(std::sync::atomic::Ordering::SeqCst),
                "the wake-up was lost"
            );
            assert!(slot.poll_complete(&mut cx).is_ready());
        }
    });
}

/// Whether `fd` is an open descriptor of this process.
fn is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// Proves: a multishot accept's connections, posted while its listener
/// takes some and then drops the operation, each end up exactly once
/// either with the taker or closed by the slot's orphan rule — none leaks
/// open, none is closed under the taker (whose own close would then fail).
#[test]
fn multishot_connections_are_taken_or_closed_exactly_once() {
    loom::model(|| {
        // Two real descriptors stand for two accepted connections.
        // SAFETY: plain `dup` of stdin's number; the result is checked.
        let fds: Vec<i32> = (0..2).map(|_| unsafe { libc::dup(0) }).collect();
        assert!(fds.iter().all(|&fd| fd >= 0), "dup failed");
        let slot = std::sync::Arc::new(ModelSlot::multishot_fds(()));
        let kernel_slot = slot.clone();
        let posted = fds.clone();
        let kernel = thread::spawn(move || {
            for fd in posted {
                kernel_slot.complete_more(fd);
            }
            // The cancel (or an error) ends it.
            kernel_slot.complete(-libc::ECANCELED);
        });
        // The listener: takes what is there on one or two polls, then is
        // dropped.
        let mut cx = Context::from_waker(Waker::noop());
        let mut taken = Vec::new();
        let mut finished = false;
        for _ in 0..2 {
            match slot.poll_next(&mut cx) {
                Poll::Ready((completion, None)) => taken.push(completion.result),
                Poll::Ready((_, Some(()))) => {
                    finished = true;
                    break;
                }
                Poll::Pending => break,
            }
        }
        if !finished {
            slot.drop_op();
        }
        kernel.join().unwrap();
        for fd in &taken {
            // SAFETY: the listener owns what it took.
            assert_eq!(
                unsafe { libc::close(*fd) },
                0,
                "a taken connection was closed under it"
            );
        }
        for fd in fds {
            assert!(!is_open(fd), "connection {fd} leaked open");
        }
    });
}
