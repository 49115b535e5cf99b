//! The reactor on its own: readiness, ticks, unpark, timeouts, stale tokens.

use ringwork_epoll::{Direction, Reactor};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// Consumes read readiness by reading to `WouldBlock`.
fn clear_read(reg: &ringwork_epoll::Registration, stream: &UnixStream) {
    let Poll::Ready(event) = reg.poll_ready(Direction::Read, &mut cx()) else {
        return;
    };
    let mut buf = [0u8; 64];
    while (&*stream).read(&mut buf).is_ok() {}
    reg.clear(event);
}

fn cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

#[test]
fn a_write_makes_the_peer_readable_and_draining_clears_it() {
    let mut reactor = Reactor::new().unwrap();
    let (a, mut b) = pair();
    let reg = reactor.register(a.as_raw_fd()).unwrap();
    // A new registration starts "ready" (a hint): the first read finds
    // nothing and clears it.
    clear_read(&reg, &a);
    reactor.park(Some(Duration::ZERO)).unwrap();
    assert!(reg.poll_ready(Direction::Read, &mut cx()).is_pending());
    assert!(reg.poll_ready(Direction::Write, &mut cx()).is_ready());
    b.write_all(b"hello").unwrap();
    reactor.park(Some(Duration::from_secs(1))).unwrap();
    let Poll::Ready(event) = reg.poll_ready(Direction::Read, &mut cx()) else {
        panic!("readable after a write");
    };
    // Drain to WouldBlock, then clear with the observed event.
    let mut buf = [0u8; 64];
    assert_eq!((&a).read(&mut buf).unwrap(), 5);
    assert_eq!(
        (&a).read(&mut buf).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );
    reg.clear(event);
    assert!(reg.poll_ready(Direction::Read, &mut cx()).is_pending());
}

#[test]
fn an_event_between_the_last_read_and_the_clear_is_not_lost() {
    let mut reactor = Reactor::new().unwrap();
    let (a, mut b) = pair();
    let reg = reactor.register(a.as_raw_fd()).unwrap();
    b.write_all(b"1").unwrap();
    reactor.park(Some(Duration::from_secs(1))).unwrap();
    let Poll::Ready(seen) = reg.poll_ready(Direction::Read, &mut cx()) else {
        panic!("readable");
    };
    let mut buf = [0u8; 8];
    let _ = (&a).read(&mut buf).unwrap();
    // New data and its edge arrive before the reader clears.
    b.write_all(b"2").unwrap();
    reactor.park(Some(Duration::from_secs(1))).unwrap();
    reg.clear(seen);
    assert!(
        reg.poll_ready(Direction::Read, &mut cx()).is_ready(),
        "the newer edge survived the stale clear"
    );
}

#[test]
fn unpark_from_another_thread_ends_an_unbounded_park() {
    let mut reactor = Reactor::new().unwrap();
    let unparker = reactor.unparker();
    let begin = Instant::now();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        unparker.unpark();
    });
    reactor.park(None).unwrap();
    t.join().unwrap();
    assert!(begin.elapsed() >= Duration::from_millis(20));
    assert!(reactor.stats().wakeups >= 1);
    // The eventfd was drained: the next bounded park waits its full timeout.
    let begin = Instant::now();
    reactor.park(Some(Duration::from_millis(20))).unwrap();
    assert!(
        begin.elapsed() >= Duration::from_millis(20),
        "the loop does not spin on a stale eventfd"
    );
}

#[test]
fn unpark_before_park_is_kept() {
    let mut reactor = Reactor::new().unwrap();
    reactor.unparker().unpark();
    let begin = Instant::now();
    reactor.park(Some(Duration::from_secs(5))).unwrap();
    assert!(begin.elapsed() < Duration::from_secs(1));
}

#[test]
fn sub_millisecond_timeouts_round_up_not_down() {
    let mut reactor = Reactor::new().unwrap();
    for micros in [1u64, 300, 999] {
        let begin = Instant::now();
        reactor.park(Some(Duration::from_micros(micros))).unwrap();
        assert!(
            begin.elapsed() >= Duration::from_micros(micros),
            "returned early for {micros} µs"
        );
    }
}

#[test]
fn events_for_a_dropped_registration_are_ignored() {
    let mut reactor = Reactor::new().unwrap();
    let (a, mut b) = pair();
    let reg = reactor.register(a.as_raw_fd()).unwrap();
    b.write_all(b"x").unwrap();
    drop(reg); // EPOLL_CTL_DEL before the event is harvested
    let (c, _d) = pair();
    let reg2 = reactor.register(c.as_raw_fd()).unwrap(); // reuses the slab slot
    clear_read(&reg2, &c);
    reactor.park(Some(Duration::from_millis(10))).unwrap();
    assert!(
        reg2.poll_ready(Direction::Read, &mut cx()).is_pending(),
        "no stale event routed to the new registration"
    );
}

#[test]
fn a_peer_hang_up_wakes_readers_with_read_closed() {
    let mut reactor = Reactor::new().unwrap();
    let (a, b) = pair();
    let reg = reactor.register(a.as_raw_fd()).unwrap();
    drop(b);
    reactor.park(Some(Duration::from_secs(1))).unwrap();
    let Poll::Ready(event) = reg.poll_ready(Direction::Read, &mut cx()) else {
        panic!("hang-up is a read event");
    };
    assert_ne!(event.ready & ringwork_epoll::READ_CLOSED, 0);
}
