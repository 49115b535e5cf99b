//! What the kernel delivered after the future that asked for it was
//! dropped: kept with the descriptor, handed to the next operation.
//!
//! # Why
//!
//! On io_uring a `recv` or `accept` whose future is dropped (a `timeout`
//! expired, a `select!` branch lost) is still armed in the kernel until its
//! `ASYNC_CANCEL` takes effect, and it may complete first: with bytes, a
//! datagram, or a new connection. Dropping those would lose data that epoll
//! (where a dropped future simply never makes the syscall) would have
//! delivered. So the operation's orphan rule (`OpCode::orphaned`) puts what
//! it got into the descriptor's `Stash`, and the next read, receive or
//! accept on that descriptor takes it from there first.
//!
//! # Order
//!
//! Dropping an unfinished operation that keeps orphans counts it in
//! `orphans` *before* the driver may run its orphan rule (which uncounts it).
//! A new operation of the same kind first waits until no orphan is left in
//! the kernel, then takes the oldest stashed item, and only if there is none
//! goes to the kernel. So, for one reader at a time, bytes come out in the
//! order the kernel delivered them, and each exactly once: the orphan that
//! could still take bytes has resolved (completed — its bytes stashed — or
//! cancelled) before the next `recv` is armed. Concurrent readers of one
//! socket get each delivery exactly once, in no promised order (as with
//! concurrent `read(2)` calls).
//!
//! On the epoll driver nothing is ever stashed (there are no orphans), and
//! the check below is one atomic load.

use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::Mutex;
use crate::sys::addr::RawAddr;
use std::collections::VecDeque;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::task::{Context, Poll, Waker};

/// One delivery nobody took yet.
#[derive(Debug)]
pub(crate) enum Stashed {
    /// Bytes of a stream, from `pos` on.
    Bytes { data: Vec<u8>, pos: usize },
    /// One datagram and its sender.
    Datagram { data: Vec<u8>, from: RawAddr },
    /// An accepted connection and its peer's address.
    Connection { fd: OwnedFd, peer: RawAddr },
    /// An error the kernel reported once (e.g. `ECONNRESET`), which the next
    /// operation would otherwise never see.
    Error(io::Error),
}

#[derive(Debug)]
pub(crate) struct Stash {
    /// `orphans + items.len()`, written under the lock. Zero means there is
    /// nothing to look at: the lock-free fast path of every read.
    ///
    /// `Release` stores pair with the `Acquire` load in `poll_take`. For one
    /// reader the load also sees every count the same task made earlier (a
    /// dropped read it replaces) by program order; across tasks the lock
    /// orders everything else.
    busy: AtomicUsize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    items: VecDeque<Stashed>,
    /// Dropped operations still in the kernel whose result will come here.
    orphans: usize,
    /// Operations waiting for the orphans to resolve.
    waiters: Vec<Waker>,
}

impl Inner {
    fn busy(&self) -> usize {
        self.orphans + self.items.len()
    }
}

impl Default for Stash {
    fn default() -> Stash {
        Stash {
            busy: AtomicUsize::new(0),
            inner: Mutex::new(Inner::default()),
        }
    }
}

impl Stash {
    /// A dropped operation is still in the kernel; its orphan rule will call
    /// [`Stash::resolve`] exactly once.
    pub(crate) fn orphan_started(&self) {
        let mut inner = self.inner.lock();
        inner.orphans += 1;
        self.busy.store(inner.busy(), Ordering::Release);
    }

    /// An orphan's final result arrived: keep what it delivered (if
    /// anything) and wake the operations waiting for it.
    pub(crate) fn resolve(&self, delivered: Option<Stashed>) {
        let waiters = {
            let mut inner = self.inner.lock();
            debug_assert!(inner.orphans > 0, "resolve without orphan_started");
            inner.orphans = inner.orphans.saturating_sub(1);
            if let Some(item) = delivered {
                inner.items.push_back(item);
            }
            self.busy.store(inner.busy(), Ordering::Release);
            std::mem::take(&mut inner.waiters)
        };
        // Outside the lock: a waker may run user code.
        for waker in waiters {
            waker.wake();
        }
    }

    /// Before an operation goes to the kernel: waits until no orphan is in
    /// flight, then lets `take` remove the oldest item(s) (`Some`: the
    /// operation is served from the stash). `Ready(None)`: nothing stashed,
    /// go to the kernel.
    pub(crate) fn poll_take<T>(
        &self,
        cx: &mut Context<'_>,
        take: impl FnOnce(&mut VecDeque<Stashed>) -> Option<T>,
    ) -> Poll<Option<T>> {
        // `Acquire`: pairs with the `Release` stores above.
        if self.busy.load(Ordering::Acquire) == 0 {
            return Poll::Ready(None);
        }
        let mut inner = self.inner.lock();
        if inner.orphans > 0 {
            // An orphan could still take bytes that precede anything a new
            // operation would get: wait for it.
            if !inner.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                inner.waiters.push(cx.waker().clone());
            }
            return Poll::Pending;
        }
        let taken = if inner.items.is_empty() {
            None
        } else {
            take(&mut inner.items)
        };
        self.busy.store(inner.busy(), Ordering::Release);
        Poll::Ready(taken)
    }
}

/// Copies up to `dst.len()` bytes of the oldest stream item into `dst`:
/// `Ok(n)` with `n >= 1`, or the stashed error. The rest of a longer item
/// stays at the front.
pub(crate) fn take_bytes(
    items: &mut VecDeque<Stashed>,
    dst: &mut [MaybeUninit<u8>],
) -> Option<io::Result<usize>> {
    match items.pop_front()? {
        Stashed::Bytes { data, pos } => {
            let n = copy(dst, &data[pos..]);
            if pos + n < data.len() {
                items.push_front(Stashed::Bytes { data, pos: pos + n });
            }
            Some(Ok(n))
        }
        Stashed::Datagram { data, .. } => Some(Ok(copy(dst, &data))),
        Stashed::Error(err) => Some(Err(err)),
        Stashed::Connection { .. } => unreachable!("a connection stashed on a stream"),
    }
}

/// The length of the oldest item's bytes (`None`: nothing stashed, or not
/// bytes).
pub(crate) fn front_len(items: &VecDeque<Stashed>) -> Option<usize> {
    match items.front()? {
        Stashed::Bytes { data, pos } => Some(data.len() - pos),
        Stashed::Datagram { data, .. } => Some(data.len()),
        Stashed::Error(_) => Some(0),
        Stashed::Connection { .. } => None,
    }
}

/// Copies as much of `src` as fits; returns how much.
pub(crate) fn copy(dst: &mut [MaybeUninit<u8>], src: &[u8]) -> usize {
    let n = dst.len().min(src.len());
    for (d, s) in dst[..n].iter_mut().zip(src) {
        d.write(*s);
    }
    n
}

/// Copies the oldest datagram into `dst` (truncated to `dst.len()`, as
/// `recv(2)` truncates): its full length handed out and its sender.
pub(crate) fn take_datagram(
    items: &mut VecDeque<Stashed>,
    dst: &mut [MaybeUninit<u8>],
) -> Option<io::Result<(usize, RawAddr)>> {
    match items.pop_front()? {
        Stashed::Datagram { data, from } => Some(Ok((copy(dst, &data), from))),
        Stashed::Error(err) => Some(Err(err)),
        other => unreachable!("{other:?} stashed on a datagram socket"),
    }
}

/// The oldest accepted connection.
pub(crate) fn take_connection(items: &mut VecDeque<Stashed>) -> Option<(OwnedFd, RawAddr)> {
    match items.pop_front()? {
        Stashed::Connection { fd, peer } => Some((fd, peer)),
        other => unreachable!("{other:?} stashed on a listener"),
    }
}

/// Whether an orphan's error is worth handing to the next operation: a
/// cancellation (ours) or a "try again" carries no news.
pub(crate) fn is_news(err: &io::Error) -> bool {
    !matches!(
        err.raw_os_error(),
        Some(libc::ECANCELED | libc::EINTR | libc::EAGAIN)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    /// A byte of a test buffer.
    fn init_byte(b: &MaybeUninit<u8>) -> u8 {
        // SAFETY: every test buffer starts as `MaybeUninit::new(0)`, so each
        // byte is initialized whether or not the stash wrote it.
        unsafe { b.assume_init() }
    }

    fn bytes(s: &[u8]) -> Stashed {
        Stashed::Bytes {
            data: s.to_vec(),
            pos: 0,
        }
    }

    #[test]
    fn a_reader_waits_for_orphans_then_gets_their_bytes_in_order() {
        let stash = Stash::default();
        let mut cx = Context::from_waker(Waker::noop());
        let mut buf = [MaybeUninit::new(0u8); 3];
        assert!(matches!(
            stash.poll_take(&mut cx, |items| take_bytes(items, &mut buf)),
            Poll::Ready(None)
        ));
        stash.orphan_started();
        stash.orphan_started();
        assert!(stash
            .poll_take(&mut cx, |items| take_bytes(items, &mut buf))
            .is_pending());
        stash.resolve(Some(bytes(b"hello")));
        assert!(
            stash
                .poll_take(&mut cx, |items| take_bytes(items, &mut buf))
                .is_pending(),
            "one orphan is still in the kernel"
        );
        stash.resolve(Some(bytes(b"!")));
        let mut out = Vec::new();
        while let Poll::Ready(Some(n)) =
            stash.poll_take(&mut cx, |items| take_bytes(items, &mut buf))
        {
            let n = n.unwrap();
            out.extend(buf[..n].iter().map(init_byte));
        }
        assert_eq!(out, b"hello!");
        assert_eq!(stash.busy.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn datagrams_are_handed_out_whole_and_truncated_like_recv() {
        let stash = Stash::default();
        let mut cx = Context::from_waker(Waker::noop());
        stash.orphan_started();
        stash.resolve(Some(Stashed::Datagram {
            data: b"abcdef".to_vec(),
            from: RawAddr::empty(),
        }));
        stash.orphan_started();
        stash.resolve(Some(Stashed::Datagram {
            data: Vec::new(),
            from: RawAddr::empty(),
        }));
        let mut small = [MaybeUninit::new(0u8); 2];
        let Poll::Ready(Some(Ok((n, _)))) =
            stash.poll_take(&mut cx, |items| take_datagram(items, &mut small))
        else {
            panic!("a datagram was stashed");
        };
        assert_eq!(small[..n].iter().map(init_byte).collect::<Vec<_>>(), b"ab");
        let Poll::Ready(Some(Ok((n, _)))) =
            stash.poll_take(&mut cx, |items| take_datagram(items, &mut small))
        else {
            panic!("the empty datagram is a datagram too");
        };
        assert_eq!(n, 0);
        assert!(matches!(
            stash.poll_take(&mut cx, |items| take_datagram(items, &mut small)),
            Poll::Ready(None)
        ));
    }

    struct Count(AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn resolving_wakes_every_waiter() {
        let stash = Stash::default();
        stash.orphan_started();
        let counts: Vec<_> = (0..2)
            .map(|_| std::sync::Arc::new(Count(AtomicUsize::new(0))))
            .collect();
        for count in &counts {
            let waker = Waker::from(count.clone());
            let mut cx = Context::from_waker(&waker);
            assert!(stash.poll_take(&mut cx, |_| Some(())).is_pending());
        }
        stash.resolve(None);
        assert!(counts.iter().all(|c| c.0.load(Ordering::SeqCst) == 1));
    }
}
