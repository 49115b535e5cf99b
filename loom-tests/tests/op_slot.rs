//! Loom model of the io_uring op slot (`uring-driver/src/slot.rs`): the
//! future's poll and drop race the "kernel" thread posting the completion.
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use ringwork_uring::loom_api::{submit_multishot, Completion, ModelMultishot, ModelSlot, Orphan};
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

/// Held by every model that opens descriptors (the multishot-receive
/// models' remote opens an eventfd): `multishot_connections_are_taken_or_
/// closed_exactly_once` checks descriptor numbers for being closed, and a
/// test running in parallel could reuse a number it closed.
static DESCRIPTORS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn descriptors() -> std::sync::MutexGuard<'static, ()> {
    DESCRIPTORS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
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
    let _descriptors = descriptors();
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
            let closed = unsafe { libc::close(*fd) };
            assert_eq!(closed, 0, "a taken connection was closed under it");
        }
        for fd in fds {
            assert!(!is_open(fd), "connection {fd} leaked open");
        }
    });
}

/// What a multishot receive's resources record for the models below: the
/// buffers its orphan rule gave back, and whether they were freed early.
#[derive(Default)]
struct RecvLog {
    /// Ids of the buffers `Orphan::Each` gave back, in order.
    given_back: std::sync::Mutex<Vec<i32>>,
    /// Ids of the buffers the kernel filled (non-final CQEs, and a final
    /// one with data).
    posted: std::sync::Mutex<Vec<i32>>,
    /// The kernel is about to post the final CQE.
    final_started: std::sync::atomic::AtomicBool,
    /// The cap must be hit: two completions were queued while nobody read
    /// and the operation was not dropped.
    must_cap: std::sync::atomic::AtomicBool,
    /// Times the resources were dropped.
    drops: std::sync::atomic::AtomicUsize,
}

// Bookkeeping outside the model: std types (no loom branch points), read
// once the model's threads are joined, or (`final_started`) as an oracle
// set before the event it stands for.
impl RecvLog {
    fn post(&self, id: i32) {
        self.posted.lock().unwrap().push(id);
    }
}

/// The resources of a multishot receive (as `recv_multi.rs`'s `RecvMulti`,
/// which holds the buffer ring).
struct RecvResources(std::sync::Arc<RecvLog>);

impl Drop for RecvResources {
    fn drop(&mut self) {
        assert!(
            self.0
                .final_started
                .load(std::sync::atomic::Ordering::SeqCst),
            "the resources were freed before the final CQE"
        );
        self.0
            .drops
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The orphan rule under test (as `recv_multi.rs`'s `give_back`): a CQE
/// with a positive result stands for one that names a buffer (data), whose
/// id is the result; nothing else names one (`BufRing::take` is `None`).
fn give_back(completion: Completion, resources: &RecvResources) {
    if completion.result > 0 {
        resources
            .0
            .given_back
            .lock()
            .unwrap()
            .push(completion.result);
    }
}

/// Every buffer the kernel filled went exactly once either to the reader
/// or back through the orphan rule.
fn assert_each_buffer_once(log: &RecvLog, taken: &[i32]) {
    let given_back = log.given_back.lock().unwrap();
    let posted = log.posted.lock().unwrap();
    for id in posted.iter() {
        let reads = taken.iter().filter(|&t| t == id).count();
        let returns = given_back.iter().filter(|&g| g == id).count();
        assert_eq!(
            reads + returns,
            1,
            "buffer {id}: taken {reads} times, given back {returns} times"
        );
    }
    for id in taken.iter().chain(given_back.iter()).filter(|&&id| id > 0) {
        assert!(posted.contains(id), "buffer {id} was never posted");
    }
}

/// Proves: a multishot receive whose reader takes some completions with
/// `poll_next` and drops the operation before, between or after the
/// kernel's CQEs (two with data, then a final one with data, as the byte
/// limit ends it) hands every buffer exactly once either to the reader or
/// to `Orphan::Each`, never both, never neither; the resources are freed
/// once, after the final CQE; the drop's cancellation request no longer
/// awaits a cancel once the final CQE is in; no slot reference leaks.
#[test]
fn multishot_buffers_are_taken_or_given_back_exactly_once() {
    let _descriptors = descriptors();
    for polls in 0..=3 {
        loom::model(move || {
            let log = std::sync::Arc::new(RecvLog::default());
            let ModelMultishot {
                mut op,
                mut kernel,
                owner,
                probe,
            } = submit_multishot(RecvResources(log.clone()), Orphan::Each(give_back), None);
            let kernel_log = log.clone();
            let kernel = thread::spawn(move || {
                for id in 1..=2 {
                    kernel_log.post(id);
                    kernel.post_more(id);
                }
                kernel_log.post(3);
                kernel_log
                    .final_started
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                kernel.post_final(3);
            });
            let mut cx = Context::from_waker(Waker::noop());
            let mut taken = Vec::new();
            for _ in 0..polls {
                match op.poll_next(&mut cx) {
                    Poll::Ready((completion, None)) => taken.push(completion.result),
                    Poll::Ready((completion, Some(resources))) => {
                        taken.push(completion.result);
                        drop(resources);
                        break;
                    }
                    Poll::Pending => {}
                }
            }
            // Dropped wherever the polls left it.
            drop(op);
            kernel.join().unwrap();
            assert_each_buffer_once(&log, &taken);
            assert_eq!(
                log.drops.load(std::sync::atomic::Ordering::SeqCst),
                1,
                "resources freed exactly once"
            );
            for cancel in owner.take_cancels() {
                assert!(
                    !cancel.awaits_cancel(),
                    "a cancel awaited after the final CQE"
                );
            }
            assert_eq!(probe.refs(), 1, "a slot reference leaked");
        });
    }
}

/// How the reader of a capped multishot receive behaves.
#[derive(Clone, Copy, Debug)]
enum Reader {
    /// Reads every completion up to the final one (waiting for them), as
    /// `recv_multi.rs` does before it arms again.
    ReadsToTheEnd,
    /// Polls this many times without waiting, then drops the operation.
    DropsAfter(usize),
}

/// The capped model: the kernel posts three CQEs with data, then the final
/// one (`ECANCELED` if the owner sent the cancel by then, else a final one
/// with data); the owner takes the cancellation requests once, at any
/// point, and sends the cancel for each that still awaits one; the reader
/// behaves as `reader`. The cap is two unread completions.
fn capped_multishot(reader: Reader) {
    let _descriptors = descriptors();
    loom::model(move || {
        let log = std::sync::Arc::new(RecvLog::default());
        let ModelMultishot {
            mut op,
            mut kernel,
            owner,
            probe,
        } = submit_multishot(RecvResources(log.clone()), Orphan::Each(give_back), Some(2));
        let owner = std::sync::Arc::new(owner);
        let cancel_sent = Arc::new(AtomicBool::new(false));
        let owner_thread = {
            let owner = owner.clone();
            let cancel_sent = cancel_sent.clone();
            let log = log.clone();
            thread::spawn(move || {
                let cancels = owner.take_cancels();
                for cancel in &cancels {
                    if cancel.awaits_cancel() {
                        cancel_sent.store(true, Ordering::SeqCst); // ASYNC_CANCEL
                    } else {
                        assert!(
                            log.final_started.load(std::sync::atomic::Ordering::SeqCst),
                            "a requested cancel stopped awaiting before the final CQE"
                        );
                    }
                }
                cancels
            })
        };
        // The reader is about to drop the operation.
        let dropping = Arc::new(AtomicBool::new(false));
        let kernel_dropping = dropping.clone();
        let kernel_log = log.clone();
        let kernel_thread = thread::spawn(move || {
            for id in 1..=3 {
                kernel_log.post(id);
                kernel.post_more(id);
                if id == 2
                    && matches!(reader, Reader::DropsAfter(0))
                    && !kernel_dropping.load(Ordering::SeqCst)
                {
                    // Nothing was read, and the drop had not begun when the
                    // second CQE went in (a loom atomic: the model explores
                    // both orders): it filled the queue to the cap.
                    kernel_log
                        .must_cap
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
            let cancelled = cancel_sent.load(Ordering::SeqCst);
            if !cancelled {
                kernel_log.post(4);
            }
            kernel_log
                .final_started
                .store(true, std::sync::atomic::Ordering::SeqCst);
            kernel.post_final(if cancelled { -libc::ECANCELED } else { 4 });
        });
        let mut taken = Vec::new();
        match reader {
            Reader::ReadsToTheEnd => loop {
                let (completion, last) =
                    loom::future::block_on(std::future::poll_fn(|cx| op.poll_next(cx)));
                taken.push(completion.result);
                if last.is_some() {
                    break;
                }
            },
            Reader::DropsAfter(polls) => {
                let mut cx = Context::from_waker(Waker::noop());
                for _ in 0..polls {
                    match op.poll_next(&mut cx) {
                        Poll::Ready((completion, last)) => {
                            taken.push(completion.result);
                            if last.is_some() {
                                break;
                            }
                        }
                        Poll::Pending => {}
                    }
                }
            }
        }
        dropping.store(true, Ordering::SeqCst);
        drop(op);
        kernel_thread.join().unwrap();
        let mut cancels = owner_thread.join().unwrap();
        // Requests the owner did not get to (made after it looked).
        cancels.extend(owner.take_cancels());
        assert_each_buffer_once(&log, &taken);
        assert_eq!(
            log.drops.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "resources freed exactly once"
        );
        for cancel in &cancels {
            assert!(
                !cancel.awaits_cancel(),
                "a cancel awaited after the final CQE"
            );
        }
        let capped = usize::from(probe.hit_cap());
        assert!(
            capped == 1 || !log.must_cap.load(std::sync::atomic::Ordering::SeqCst),
            "two completions waited unread and the cap was not hit"
        );
        match reader {
            Reader::ReadsToTheEnd => {
                // Only the cap asks for a cancel, once.
                assert_eq!(cancels.len(), capped, "cap requests");
                let data: Vec<i32> = taken.iter().copied().filter(|&id| id > 0).collect();
                assert_eq!(data, *log.posted.lock().unwrap(), "read out of order");
                assert!(log.given_back.lock().unwrap().is_empty());
            }
            // The cap at most once, the drop at most once.
            Reader::DropsAfter(_) => assert!(
                (capped..=capped + 1).contains(&cancels.len()),
                "{} requests, cap hit: {capped}",
                cancels.len()
            ),
        }
        drop(cancels);
        assert_eq!(probe.refs(), 1, "a slot reference leaked");
    });
}

/// Proves: with the cap on unread completions, the slot asks the owner for
/// one cancel, made from the kernel's reference (none leaks, none is given
/// back twice), exactly when the cap was hit; the request awaits the cancel
/// until the final CQE and not after it, whether the cancel or a natural
/// final CQE ends the operation; a reader that reads to the end gets every
/// buffer, in order, and the orphan rule none.
#[test]
fn capped_multishot_asks_once_for_a_cancel_that_awaits_the_final_cqe() {
    capped_multishot(Reader::ReadsToTheEnd);
}

/// Proves: a capped multishot receive dropped mid-stream (before, between
/// or after the cap's request and the kernel's CQEs) hands every buffer
/// exactly once to the reader or to `Orphan::Each`, and both the cap's and
/// the drop's requests stop awaiting a cancel at the final CQE.
#[test]
fn capped_multishot_dropped_mid_stream_gives_back_every_unread_buffer() {
    for polls in 0..=2 {
        capped_multishot(Reader::DropsAfter(polls));
    }
}
