//! The driver on its own: submission, completion, cancellation, parking,
//! overflow and shutdown, against the real kernel.

use io_uring::{opcode, types};
use ringwork_uring::{Completion, Config, Driver, Op, Orphan};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

fn poll_op<R: Send + 'static>(op: &mut Op<R>) -> Poll<(Completion, R)> {
    let mut cx = Context::from_waker(Waker::noop());
    op.poll_complete(&mut cx)
}

fn wait_op<R: Send + 'static>(driver: &mut Driver, op: &mut Op<R>) -> (Completion, R) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Poll::Ready(done) = poll_op(op) {
            return done;
        }
        assert!(Instant::now() < deadline, "operation did not complete");
        driver.park(Some(Duration::from_millis(100))).unwrap();
    }
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors `pipe2` writes.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: a fresh descriptor owned by nothing else.
    let rx = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    // SAFETY: as above.
    let tx = unsafe { OwnedFd::from_raw_fd(fds[1]) };
    (rx, tx)
}

/// A buffer that counts its drops.
struct CountedBuf {
    data: Vec<u8>,
    drops: Arc<AtomicUsize>,
}

impl Drop for CountedBuf {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// Submits a read of `fd` into a counted buffer.
fn submit_read(driver: &mut Driver, fd: RawFd, drops: &Arc<AtomicUsize>) -> Op<CountedBuf> {
    let buf = CountedBuf {
        data: vec![0; 64],
        drops: drops.clone(),
    };
    // SAFETY: the SQE points into the buffer's heap storage, which the slot
    // keeps alive until the final CQE; the fd outlives the test's ops.
    unsafe {
        driver
            .submit(buf, Orphan::Drop, |b| {
                opcode::Read::new(types::Fd(fd), b.data.as_mut_ptr(), b.data.len() as u32).build()
            })
            .map_err(|(e, _)| e)
            .unwrap()
    }
}

#[test]
fn nop_completes_and_is_counted() {
    let mut driver = Driver::new(&Config::default()).unwrap();
    // SAFETY: a NOP points to no memory.
    let mut op = unsafe { driver.submit((), Orphan::Drop, |_| opcode::Nop::new().build()) }
        .map_err(|(e, _)| e)
        .unwrap();
    let (completion, ()) = wait_op(&mut driver, &mut op);
    assert_eq!(completion.result, 0);
    let stats = driver.stats_snapshot();
    assert!(
        stats.submissions >= 1 && stats.completions >= 1 && stats.enters >= 1,
        "{stats:?}"
    );
    assert_eq!(driver.in_flight(), 0);
}

#[test]
fn read_delivers_data_and_returns_the_buffer() {
    let mut driver = Driver::new(&Config::default()).unwrap();
    let (rx, tx) = pipe();
    let drops = Arc::new(AtomicUsize::new(0));
    let mut op = submit_read(&mut driver, rx.as_raw_fd(), &drops);
    driver.flush().unwrap();
    // SAFETY: writing 5 bytes from a live buffer to an open pipe.
    let written = unsafe { libc::write(tx.as_raw_fd(), b"hello".as_ptr().cast(), 5) };
    assert_eq!(written, 5);
    let (completion, buf) = wait_op(&mut driver, &mut op);
    assert_eq!(completion.into_result().unwrap(), 5);
    assert_eq!(&buf.data[..5], b"hello");
    assert_eq!(
        drops.load(Ordering::SeqCst),
        0,
        "the buffer came back, not dropped"
    );
}

#[test]
fn dropped_op_frees_its_buffer_only_after_the_final_completion() {
    let mut driver = Driver::new(&Config::default()).unwrap();
    let (rx, _tx) = pipe();
    let drops = Arc::new(AtomicUsize::new(0));
    let op = submit_read(&mut driver, rx.as_raw_fd(), &drops);
    driver.flush().unwrap(); // the read is now in the kernel, blocked on the pipe
    drop(op);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        0,
        "the kernel still owns the buffer"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while drops.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the cancelled read never completed"
        );
        driver.park(Some(Duration::from_millis(50))).unwrap();
    }
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(driver.in_flight(), 0);
    assert!(driver.stats_snapshot().cancels >= 1);
}

#[test]
fn op_dropped_on_another_thread_is_cancelled_by_the_owner() {
    let mut driver = Driver::new(&Config::default()).unwrap();
    let (rx, _tx) = pipe();
    let drops = Arc::new(AtomicUsize::new(0));
    let op = submit_read(&mut driver, rx.as_raw_fd(), &drops);
    driver.flush().unwrap();
    std::thread::spawn(move || drop(op)).join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while drops.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline);
        // The remote cancel also unparks: park(None) must return.
        driver.park(Some(Duration::from_secs(1))).unwrap();
    }
}

#[test]
fn completed_but_unread_accept_closes_the_new_socket() {
    let mut driver = Driver::new(&Config::default()).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // SAFETY: ACCEPT with null address pointers writes no memory; the
    // listener outlives the operation.
    let op = unsafe {
        driver.submit((), Orphan::CloseFd, |_| {
            opcode::Accept::new(
                types::Fd(listener.as_raw_fd()),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
            .flags(libc::SOCK_CLOEXEC)
            .build()
        })
    }
    .map_err(|(e, _)| e)
    .unwrap();
    driver.flush().unwrap();
    let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    // Let the accept complete, but never poll the op.
    let deadline = Instant::now() + Duration::from_secs(5);
    while driver.stats_snapshot().completions == 0 {
        assert!(Instant::now() < deadline);
        driver.park(Some(Duration::from_millis(50))).unwrap();
    }
    drop(op);
    // The accepted socket was closed: the client sees end-of-stream. (Had it
    // leaked, the read would time out.)
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut byte = [0u8; 1];
    let n = std::io::Read::read(&mut client, &mut byte).expect("EOF, not a timeout");
    assert_eq!(n, 0);
}

/// With SQPOLL, `io_uring_enter` without `SQ_WAIT` returns at once, so a
/// full submission queue must be waited out (`IORING_ENTER_SQ_WAIT`), not
/// spun on: each push that finds the queue full waits once.
#[test]
fn a_full_sqpoll_submission_queue_is_waited_out_not_spun_on() {
    const OPS: usize = 5000;
    let config = Config {
        entries: 8,
        sqpoll_idle_ms: Some(50),
        ..Config::default()
    };
    let mut driver = Driver::new(&config).unwrap();
    assert!(driver.features().sqpoll);
    let started = Instant::now();
    let mut ops: Vec<_> = (0..OPS)
        .map(|_| {
            // SAFETY: a NOP points to no memory.
            unsafe { driver.submit((), Orphan::Drop, |_| opcode::Nop::new().build()) }
                .map_err(|(e, _)| e)
                .unwrap()
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while driver.in_flight() > 0 {
        assert!(
            Instant::now() < deadline,
            "hang: {} in flight",
            driver.in_flight()
        );
        driver.park(Some(Duration::from_millis(10))).unwrap();
    }
    for op in &mut ops {
        let Poll::Ready((completion, ())) = poll_op(op) else {
            panic!("an op was not completed");
        };
        assert_eq!(completion.result, 0);
    }
    let stats = driver.stats_snapshot();
    println!(
        "{OPS} NOPs on an 8-entry SQPOLL ring in {:?}: {stats:?}",
        started.elapsed()
    );
    assert!(
        stats.sq_full_waits > 0,
        "the queue was full at times: {stats:?}"
    );
    assert!(
        stats.submissions >= OPS as u64,
        "SQPOLL submissions are counted: {stats:?}"
    );
    assert!(
        stats.sq_full_waits <= OPS as u64,
        "at most one wait per push, not a spin: {stats:?}"
    );
}

#[test]
fn tiny_ring_completes_two_thousand_concurrent_ops() {
    let config = Config {
        entries: 8,
        ..Config::default()
    };
    let mut driver = Driver::new(&config).unwrap();
    let mut ops: Vec<_> = (0..2000)
        .map(|_| {
            // SAFETY: a NOP points to no memory.
            unsafe { driver.submit((), Orphan::Drop, |_| opcode::Nop::new().build()) }
                .map_err(|(e, _)| e)
                .unwrap()
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while driver.in_flight() > 0 {
        assert!(
            Instant::now() < deadline,
            "hang: {} still in flight",
            driver.in_flight()
        );
        driver.park(Some(Duration::from_millis(10))).unwrap();
    }
    for op in &mut ops {
        let Poll::Ready((completion, ())) = poll_op(op) else {
            panic!("an op was not completed");
        };
        assert_eq!(completion.result, 0);
    }
    assert_eq!(driver.in_flight(), 0);
    let stats = driver.stats_snapshot();
    if driver.features().nodrop {
        assert!(
            stats.cq_overflows > 0,
            "the CQ overflow path was exercised: {stats:?}"
        );
    } else {
        assert!(
            stats.backlogged > 0,
            "the in-flight cap was exercised: {stats:?}"
        );
    }
}

#[test]
fn unpark_from_another_thread_ends_an_unbounded_park() {
    let mut driver = Driver::new(&Config::default()).unwrap();
    let unparker = driver.unparker();
    let begin = Instant::now();
    let waker = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        unparker.unpark();
    });
    driver.park(None).unwrap();
    waker.join().unwrap();
    let waited = begin.elapsed();
    assert!(
        waited >= Duration::from_millis(40) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[test]
fn unpark_before_park_is_not_lost() {
    let mut driver = Driver::new(&Config::default()).unwrap();
    driver.unparker().unpark();
    let begin = Instant::now();
    driver.park(Some(Duration::from_secs(5))).unwrap();
    assert!(begin.elapsed() < Duration::from_secs(1));
}

#[test]
fn park_timeout_is_honoured() {
    let mut driver = Driver::new(&Config::default()).unwrap();
    let begin = Instant::now();
    driver.park(Some(Duration::from_millis(30))).unwrap();
    let waited = begin.elapsed();
    assert!(
        waited >= Duration::from_millis(30),
        "returned early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(2), "{waited:?}");
}

#[test]
fn shutdown_with_reads_in_flight_cancels_them_and_frees_buffers() {
    let mut driver = Driver::new(&Config::default()).unwrap();
    let (rx, _tx) = pipe();
    let drops = Arc::new(AtomicUsize::new(0));
    let mut live: Vec<_> = (0..64)
        .map(|_| submit_read(&mut driver, rx.as_raw_fd(), &drops))
        .collect();
    let dropped: Vec<_> = (0..64)
        .map(|_| submit_read(&mut driver, rx.as_raw_fd(), &drops))
        .collect();
    driver.flush().unwrap();
    drop(dropped);
    let begin = Instant::now();
    driver.shutdown();
    assert!(begin.elapsed() < Duration::from_secs(5));
    assert_eq!(
        drops.load(Ordering::SeqCst),
        64,
        "dropped ops' buffers freed after their CQEs"
    );
    for op in &mut live {
        let Poll::Ready((completion, _buf)) = poll_op(op) else {
            panic!("an op is still pending after shutdown");
        };
        assert_eq!(completion.result, -libc::ECANCELED);
    }
    drop(live);
    assert_eq!(drops.load(Ordering::SeqCst), 128);
    // SAFETY: a NOP points to no memory.
    assert!(unsafe { driver.submit((), Orphan::Drop, |_| opcode::Nop::new().build()) }.is_err());
}

#[test]
fn invalid_config_is_an_error_not_a_panic() {
    for config in [
        Config {
            entries: 0,
            ..Config::default()
        },
        Config {
            entries: 1 << 20,
            ..Config::default()
        },
        Config {
            sqpoll_idle_ms: Some(10),
            defer_taskrun: true,
            ..Config::default()
        },
    ] {
        let err = Driver::new(&config).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{config:?}");
    }
}

#[test]
fn defer_taskrun_ring_works_for_its_owner() {
    let config = Config {
        defer_taskrun: true,
        coop_taskrun: false,
        ..Config::default()
    };
    let mut driver = Driver::new(&config).unwrap();
    assert!(driver.features().defer_taskrun);
    // SAFETY: a NOP points to no memory.
    let mut op = unsafe { driver.submit((), Orphan::Drop, |_| opcode::Nop::new().build()) }
        .map_err(|(e, _)| e)
        .unwrap();
    assert_eq!(wait_op(&mut driver, &mut op).0.result, 0);
}

#[test]
fn a_driver_dropped_before_it_starts_is_gone_at_once() {
    // A DEFER_TASKRUN ring is set up disabled until `start`: a shutdown
    // that submitted its cancel there would wait out the grace period.
    for defer_taskrun in [false, true] {
        let config = Config {
            defer_taskrun,
            coop_taskrun: false,
            ..Config::default()
        };
        let unstarted = Driver::new_unstarted(&config).unwrap();
        let start = Instant::now();
        drop(unstarted);
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "defer_taskrun={defer_taskrun}: {:?}",
            start.elapsed()
        );
    }
}

#[test]
fn probe_reports_features_and_opcodes() {
    let features = ringwork_uring::probe()
        .unwrap()
        .expect("io_uring is available on this machine");
    assert!(features.supports(opcode::Read::CODE));
    assert!(features.supports(opcode::Accept::CODE));
    assert!(features.opcode_count() > 10);
}

#[test]
fn defer_taskrun_completions_arrive_without_a_blocking_park() {
    let config = Config {
        defer_taskrun: true,
        coop_taskrun: false,
        ..Config::default()
    };
    let mut driver = Driver::new(&config).unwrap();
    let (rx, tx) = pipe();
    let drops = Arc::new(AtomicUsize::new(0));
    let mut op = submit_read(&mut driver, rx.as_raw_fd(), &drops);
    driver.flush().unwrap();
    // SAFETY: writing 2 bytes from a live buffer to an open pipe.
    let written = unsafe { libc::write(tx.as_raw_fd(), b"hi".as_ptr().cast(), 2) };
    assert_eq!(written, 2);
    // A busy worker only ever harvests without blocking.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        driver.park(Some(Duration::ZERO)).unwrap();
        if let Poll::Ready((completion, _buf)) = poll_op(&mut op) {
            assert_eq!(completion.result, 2);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the completion never arrived without a blocking wait"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn park_after_shutdown_is_an_error_not_a_hang() {
    let mut driver = Driver::new(&Config::default()).unwrap();
    driver.shutdown();
    assert!(driver.park(None).is_err());
}

#[test]
fn a_huge_park_timeout_is_not_a_panic() {
    let mut driver = Driver::new(&Config::default()).unwrap();
    let unparker = driver.unparker();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        unparker.unpark();
    });
    // Reaches the waiting enter with a timeout no `Instant` can hold.
    driver.park(Some(Duration::MAX)).unwrap();
    t.join().unwrap();
}

/// Another thread reaps the completions of an owner that is busy (never
/// harvests): the future is woken and gets its result, exactly once, and
/// the owner later finds nothing left to deliver.
#[test]
fn a_reaper_on_another_thread_delivers_completions_the_owner_does_not_reap() {
    let mut driver = Driver::new(&Config::default()).unwrap();
    let (reader, mut writer) = std::os::unix::net::UnixStream::pair().unwrap();
    let fd = reader.as_raw_fd();
    // SAFETY: the SQE points into the boxed buffer, which the op owns; the
    // socket outlives the op (it is dropped after the op completes).
    let mut op = unsafe {
        driver.submit(Box::new([0u8; 16]), Orphan::Drop, |buf| {
            opcode::Recv::new(types::Fd(fd), buf.as_mut_ptr(), 16).build()
        })
    }
    .map_err(|(e, _)| e)
    .unwrap();
    driver.flush().unwrap(); // in the kernel now; the owner reaps no more
    let woken = Arc::new(AtomicBool::new(false));
    let waker = Waker::from(Arc::new(Flag(woken.clone())));
    assert!(op
        .poll_complete(&mut Context::from_waker(&waker))
        .is_pending());
    std::io::Write::write_all(&mut writer, b"hello").unwrap();
    let reaper = driver.reaper();
    let delivered = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut delivered = 0;
        while delivered == 0 && Instant::now() < deadline {
            delivered += reaper.try_reap();
            std::thread::sleep(Duration::from_millis(1));
        }
        delivered
    })
    .join()
    .unwrap();
    assert_eq!(delivered, 1, "the reaper delivered the completion");
    assert!(woken.load(Ordering::SeqCst), "the future was woken");
    let Poll::Ready((completion, buf)) = op.poll_complete(&mut Context::from_waker(&waker)) else {
        panic!("completed by the reaper");
    };
    assert_eq!(completion.result, 5);
    assert_eq!(&buf[..5], b"hello");
    assert_eq!(driver.harvest(), 0, "nothing delivered twice");
    assert_eq!(driver.in_flight(), 0);
    assert_eq!(driver.stats_snapshot().reaped_elsewhere, 1);
}

struct Flag(Arc<AtomicBool>);

impl std::task::Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Every way the owner enters its ring — a NOP submitted and waited for, a
/// read that completes while the owner waits without a timeout, a park that
/// times out, a cancel on drop — works by the registered ring fd, under
/// each flag set that changes how enters are made.
#[test]
fn a_registered_ring_fd_serves_every_owner_enter() {
    let configs = [
        Config::default(),
        Config {
            coop_taskrun: false,
            ..Config::default()
        },
        Config {
            defer_taskrun: true,
            ..Config::default()
        },
        Config {
            sqpoll_idle_ms: Some(10),
            ..Config::default()
        },
    ];
    for base in configs {
        let config = Config {
            register_ring_fd: true,
            ..base.clone()
        };
        let mut driver = Driver::new(&config).unwrap();
        assert!(driver.features().registered_ring_fd);
        // SAFETY: a NOP points to no memory.
        let mut nop = unsafe { driver.submit((), Orphan::Drop, |_| opcode::Nop::new().build()) }
            .map_err(|(e, _)| e)
            .unwrap();
        assert_eq!(wait_op(&mut driver, &mut nop).0.result, 0);

        let (rx, tx) = pipe();
        let drops = Arc::new(AtomicUsize::new(0));
        let mut read = submit_read(&mut driver, rx.as_raw_fd(), &drops);
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            // SAFETY: writes 3 bytes from a live buffer to an open pipe.
            let written = unsafe { libc::write(tx.as_raw_fd(), b"abc".as_ptr().cast(), 3) };
            assert_eq!(written, 3);
            tx
        });
        let begin = Instant::now();
        while poll_op(&mut read).is_pending() {
            assert!(
                begin.elapsed() < Duration::from_secs(10),
                "{base:?}: read stuck"
            );
            driver.park(None).unwrap();
        }
        let _tx = writer.join().unwrap();

        let begin = Instant::now();
        driver.park(Some(Duration::from_millis(20))).unwrap();
        assert!(begin.elapsed() >= Duration::from_millis(20), "{base:?}");

        let pending = submit_read(&mut driver, rx.as_raw_fd(), &drops);
        drop(pending);
        driver.park(Some(Duration::ZERO)).unwrap();
        let stats = driver.stats_snapshot();
        assert!(stats.registered_enters > 0, "{base:?}: {stats:?}");
        assert_eq!(stats.ring_fd_refused, 0, "{base:?}");
        if base.sqpoll_idle_ms.is_none() {
            // Every enter of the owner went by the index.
            assert_eq!(stats.registered_enters, stats.enters, "{base:?}: {stats:?}");
        }
        drop(driver);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            2,
            "{base:?}: both buffers freed"
        );
    }
}

/// The kernel keeps 16 registered rings per thread. A 17th driver on one
/// thread enters by its descriptor (and says so), and works; dropping the
/// drivers frees their slots, so the next driver registers again.
#[test]
fn past_sixteen_registered_rings_a_thread_enters_by_the_descriptor() {
    std::thread::spawn(|| {
        let config = Config {
            register_ring_fd: true,
            entries: 8,
            ..Config::default()
        };
        let mut drivers: Vec<Driver> = (0..17).map(|_| Driver::new(&config).unwrap()).collect();
        for (i, driver) in drivers.iter_mut().enumerate() {
            // SAFETY: a NOP points to no memory.
            let mut nop =
                unsafe { driver.submit((), Orphan::Drop, |_| opcode::Nop::new().build()) }
                    .map_err(|(e, _)| e)
                    .unwrap();
            assert_eq!(wait_op(driver, &mut nop).0.result, 0);
            let stats = driver.stats_snapshot();
            if i < 16 {
                assert_eq!(stats.ring_fd_refused, 0, "driver {i}");
                assert!(stats.registered_enters > 0, "driver {i}: {stats:?}");
            } else {
                assert_eq!(stats.ring_fd_refused, 1, "driver {i}");
                assert_eq!(stats.registered_enters, 0, "driver {i}: {stats:?}");
                assert!(stats.enters > 0);
            }
        }
        drop(drivers);
        let driver = Driver::new(&config).unwrap();
        assert_eq!(
            driver.stats_snapshot().ring_fd_refused,
            0,
            "dropped drivers gave their slots back"
        );
    })
    .join()
    .unwrap();
}

/// A descriptor registered in the ring's fixed-file table is read through
/// its slot (the SQE names no descriptor at all: `-1` patched to the slot),
/// and dropping its `FixedFile` clears the slot at the owner's next flush,
/// which closes the pipe for good (the writer then sees `EPIPE`).
#[test]
fn a_fixed_file_is_used_by_its_slot_and_cleared_when_released() {
    let config = Config {
        fixed_files: Some(4),
        ..Config::default()
    };
    let mut driver = Driver::new(&config).unwrap();
    assert_eq!(driver.features().fixed_files, Some(4));
    let (rx, tx) = pipe();
    let fixed = driver.register_file(rx.as_raw_fd()).expect("a free slot");
    assert_eq!(driver.fixed_slot(&fixed), Some(fixed.slot()));
    // SAFETY: writes 5 bytes from a live buffer to an open pipe.
    let written = unsafe { libc::write(tx.as_raw_fd(), b"fixed".as_ptr().cast(), 5) };
    assert_eq!(written, 5);
    let slot = fixed.slot();
    let buf = vec![0u8; 16];
    // SAFETY: the SQE points into the buffer's heap storage, kept by the
    // slot until the final CQE; the table keeps the pipe open.
    let mut read = unsafe {
        driver.submit(buf, Orphan::Drop, |b| {
            let sqe = opcode::Read::new(types::Fd(-1), b.as_mut_ptr(), b.len() as u32).build();
            ringwork_uring::with_fixed_file(sqe, slot)
        })
    }
    .map_err(|(e, _)| e)
    .unwrap();
    let (done, buf) = wait_op(&mut driver, &mut read);
    assert_eq!(done.result, 5, "read through slot {slot}");
    assert_eq!(&buf[..5], b"fixed");

    // The table holds its own reference: with the descriptor closed, the
    // pipe's read side stays open until the slot is cleared.
    drop(rx);
    // SAFETY: as above.
    let written = unsafe { libc::write(tx.as_raw_fd(), b"x".as_ptr().cast(), 1) };
    assert_eq!(written, 1, "the slot keeps the read side open");
    drop(fixed);
    driver.flush().unwrap();
    let stats = driver.stats_snapshot();
    assert_eq!(
        (stats.fixed_files_registered, stats.fixed_files_released),
        (1, 1)
    );
    // SAFETY: ignoring SIGPIPE installs no handler code: the write below
    // then fails with EPIPE instead of killing the test process.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // SAFETY: as above, to a pipe whose reader is gone.
    let written = unsafe { libc::write(tx.as_raw_fd(), b"x".as_ptr().cast(), 1) };
    assert_eq!(written, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EPIPE)
    );
    // Four slots: four registrations, then a full table (counted).
    let pipes: Vec<_> = (0..5).map(|_| pipe()).collect();
    let files: Vec<_> = pipes
        .iter()
        .map(|(r, _)| driver.register_file(r.as_raw_fd()))
        .collect();
    assert_eq!(files.iter().filter(|f| f.is_some()).count(), 4);
    assert!(files[4].is_none());
    assert_eq!(driver.stats_snapshot().fixed_file_table_full, 1);
}
