//! [`Reactor`]: one edge-triggered epoll instance, waited on by its owner
//! thread; [`Registration`]s of descriptors usable from any thread.
//!
//! # Tokens
//!
//! A registration's epoll token is `generation << 32 | index` into a slab;
//! the slab entry's generation changes when it is freed, so an event that
//! was already queued for a closed descriptor (or one whose number was
//! reused) is recognised as stale and ignored. Registrations are removed with
//! `EPOLL_CTL_DEL` before their descriptor is closed (epoll tracks open file
//! descriptions, not numbers).
//!
//! # Polling for a busy owner
//!
//! Another thread may collect a reactor's events while its owner is busy
//! ([`Handle::try_poll`]: `epoll_wait` with a zero timeout, from any
//! thread). A turn word (`FREE`, `OWNER`, `OTHER`) keeps it out while the
//! owner is inside [`Reactor::park`]: the owner holds its turn across its
//! `epoll_wait`, so another thread never takes the eventfd edge meant to end
//! that wait; the owner waits out another thread's short poll. Events are
//! edge-triggered, so each is delivered by exactly one of them; readiness is
//! recorded and wakers are woken the same way whoever polled.
//!
//! # Unparking
//!
//! An eventfd is registered edge-triggered; [`Unparker::unpark`] writes it
//! only when the owner is parked (same `EMPTY`/`PARKED`/`NOTIFIED` protocol as
//! the io_uring driver: one `SeqCst` swap when not parked, no syscall). The
//! owner drains the eventfd when it reports, so the loop never spins.

use crate::readiness::{Readiness, ERROR, READABLE, READ_CLOSED, WRITABLE};
use crate::sys::syscall;
use parking_lot::Mutex;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

const EVENTFD_TOKEN: u64 = u64::MAX;
/// Turn states (see the module docs).
const FREE: u8 = 0;
const OWNER: u8 = 1;
const OTHER: u8 = 2;
const EMPTY: u8 = 0;
const PARKED: u8 = 1;
const NOTIFIED: u8 = 2;

struct Shared {
    epfd: OwnedFd,
    eventfd: OwnedFd,
    park_state: AtomicU8,
    /// Who may call `epoll_wait` now (see the module docs).
    turn: AtomicU8,
    /// Set when the `Reactor` is dropped: nobody waits on this epoll any
    /// more, so its registrations are orphaned (owners re-register).
    closed: AtomicBool,
    slab: Mutex<Slab>,
    stats: Stats,
}

#[derive(Default)]
struct Slab {
    entries: Vec<(u32, Option<Arc<Readiness>>)>,
    free: Vec<u32>,
}

/// Counters of one reactor (`Relaxed`: statistics only).
#[derive(Debug, Default)]
pub struct Stats {
    waits: AtomicU64,
    events: AtomicU64,
    wakeups: AtomicU64,
}

/// A copy of [`Stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// `epoll_wait` calls.
    pub waits: u64,
    /// Readiness events delivered to registrations.
    pub events: u64,
    /// Wake-ups through the eventfd.
    pub wakeups: u64,
}

impl Stats {
    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            waits: self.waits.load(Ordering::Relaxed),
            events: self.events.load(Ordering::Relaxed),
            wakeups: self.wakeups.load(Ordering::Relaxed),
        }
    }
}

/// One epoll instance, waited on by one thread at a time (`&mut self`).
/// It may be created on one thread and moved to its owner: epoll has no
/// thread affinity.
pub struct Reactor {
    shared: Arc<Shared>,
    events: Vec<libc::epoll_event>,
}

/// Wakes a reactor's owner from any thread.
#[derive(Clone)]
pub struct Unparker {
    shared: Arc<Shared>,
}

/// Registers descriptors with a reactor from any thread.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

/// A descriptor registered with a reactor. Drop it before closing the
/// descriptor: dropping removes it from epoll (`EPOLL_CTL_DEL`).
pub struct Registration {
    shared: Arc<Shared>,
    token: u64,
    fd: RawFd,
    readiness: Arc<Readiness>,
}

fn token(index: u32, generation: u32) -> u64 {
    (u64::from(generation) << 32) | u64::from(index)
}

impl Reactor {
    /// Creates an epoll instance with its wake-up eventfd.
    pub fn new() -> io::Result<Reactor> {
        let epfd = syscall!(epoll_create1(libc::EPOLL_CLOEXEC))?;
        // SAFETY: a fresh descriptor we own.
        let epfd = unsafe { OwnedFd::from_raw_fd(epfd) };
        let eventfd = syscall!(eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK))?;
        // SAFETY: a fresh descriptor we own.
        let eventfd = unsafe { OwnedFd::from_raw_fd(eventfd) };
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLET) as u32,
            u64: EVENTFD_TOKEN,
        };
        syscall!(epoll_ctl(
            epfd.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            eventfd.as_raw_fd(),
            &mut event
        ))?;
        Ok(Reactor {
            shared: Arc::new(Shared {
                epfd,
                eventfd,
                park_state: AtomicU8::new(EMPTY),
                turn: AtomicU8::new(FREE),
                closed: AtomicBool::new(false),
                slab: Mutex::new(Slab::default()),
                stats: Stats::default(),
            }),
            events: Vec::with_capacity(256),
        })
    }

    /// A handle to register descriptors from any thread.
    pub fn handle(&self) -> Handle {
        Handle {
            shared: self.shared.clone(),
        }
    }

    /// A handle that wakes this reactor's `park`.
    pub fn unparker(&self) -> Unparker {
        Unparker {
            shared: self.shared.clone(),
        }
    }

    /// The reactor's counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// Registers `fd` (non-blocking) for read and write readiness.
    pub fn register(&self, fd: RawFd) -> io::Result<Registration> {
        self.handle().register(fd)
    }

    /// Waits for readiness events, an unpark, or `timeout` (`Some(ZERO)`:
    /// poll without waiting; sub-millisecond timeouts round **up** to 1 ms so
    /// a timer is never missed by waking too early). `EINTR` counts as zero
    /// events. Returns how many registrations were notified.
    pub fn park(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        // The owner's turn for the whole park (see the module docs).
        // `Acquire`: pairs with the `Release` that gave the turn back.
        while self
            .shared
            .turn
            .compare_exchange(FREE, OWNER, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::thread::yield_now(); // another thread's poll is short
        }
        let result = self.park_with_turn(timeout);
        // `Release`: pairs with the next taker's `Acquire`.
        self.shared.turn.store(FREE, Ordering::Release);
        result
    }

    fn park_with_turn(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        let shared = &self.shared;
        let blocking = timeout != Some(Duration::ZERO);
        if blocking
            && shared
                .park_state
                .compare_exchange(EMPTY, PARKED, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
        {
            // A wake-up token is pending: consume it, do not wait. A swap,
            // not a store: reading the last token acquires the work of every
            // unparker that set one (as in the io_uring driver's `remote.rs`).
            shared.park_state.swap(EMPTY, Ordering::SeqCst);
            return self.wait(Some(Duration::ZERO));
        }
        let result = self.wait(timeout);
        if blocking {
            // A swap, not a store: see above.
            self.shared.park_state.swap(EMPTY, Ordering::SeqCst);
        }
        result
    }

    fn wait(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        let millis: libc::c_int = match timeout {
            None => -1,
            Some(d) => {
                let ms = d.as_nanos().div_ceil(1_000_000);
                libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
            }
        };
        self.events.clear();
        let capacity = self.events.capacity() as libc::c_int;
        let shared = &self.shared;
        Stats::bump(&shared.stats.waits, 1);
        #[cfg(feature = "fault-injection")]
        let injected = fault_before_wait();
        #[cfg(not(feature = "fault-injection"))]
        let injected = None;
        let waited = match injected {
            Some(err) => Err(err),
            None => syscall!(epoll_wait(
                shared.epfd.as_raw_fd(),
                self.events.as_mut_ptr(),
                capacity,
                millis
            )),
        };
        let n = match waited {
            Ok(n) => n as usize,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => 0,
            Err(err) => return Err(err),
        };
        // SAFETY: `epoll_wait` initialised the first `n <= capacity` entries.
        unsafe { self.events.set_len(n) };
        #[cfg(feature = "fault-injection")]
        shared.spurious_event();
        Ok(shared.dispatch(&self.events))
    }
}

/// [`faults::Point::EpollWait`](crate::faults::Point::EpollWait): the
/// error `epoll_wait` fails with instead of waiting.
#[cfg(feature = "fault-injection")]
fn fault_before_wait() -> Option<io::Error> {
    crate::faults::fire(crate::faults::Point::EpollWait)
        .map(|_| io::Error::from_raw_os_error(libc::EINTR))
}

impl Shared {
    /// [`faults::Point::Spurious`](crate::faults::Point::Spurious): one
    /// live registration, picked by the schedule, is reported readable and
    /// writable although the kernel said nothing about it.
    #[cfg(feature = "fault-injection")]
    fn spurious_event(&self) {
        let Some(choice) = crate::faults::fire(crate::faults::Point::Spurious) else {
            return;
        };
        let readiness = {
            let slab = self.slab.lock();
            let live: Vec<_> = slab
                .entries
                .iter()
                .filter_map(|(_, r)| r.as_ref())
                .collect();
            if live.is_empty() {
                return;
            }
            live[(choice % live.len() as u64) as usize].clone()
        };
        readiness.set(READABLE | WRITABLE);
    }

    /// Records the events `epoll_wait` returned and wakes their waiters;
    /// drains the eventfd if it reported. Returns how many registrations
    /// were notified.
    fn dispatch(&self, events: &[libc::epoll_event]) -> usize {
        let mut notified = 0;
        for event in events {
            let token = event.u64;
            if token == EVENTFD_TOKEN {
                drain_eventfd(self.eventfd.as_raw_fd());
                Stats::bump(&self.stats.wakeups, 1);
                continue;
            }
            let readiness = {
                let slab = self.slab.lock();
                let (index, generation) =
                    ((token & u64::from(u32::MAX)) as usize, (token >> 32) as u32);
                match slab.entries.get(index) {
                    Some((g, Some(r))) if *g == generation => Some(r.clone()),
                    _ => None, // stale: the registration is gone
                }
            };
            if let Some(readiness) = readiness {
                readiness.set(bits_of(event.events));
                notified += 1;
            }
        }
        Stats::bump(&self.stats.events, notified as u64);
        notified
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        // `Release`: pairs with the `Acquire` in `Registration::is_orphaned`.
        self.shared.closed.store(true, Ordering::Release);
        // Wake every waiter: it finds its registration orphaned and moves to
        // the reactor of the thread it runs on.
        let live: Vec<Arc<Readiness>> = self
            .shared
            .slab
            .lock()
            .entries
            .iter()
            .filter_map(|(_, r)| r.clone())
            .collect();
        for readiness in live {
            readiness.wake_all();
        }
    }
}

impl Stats {
    fn bump(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

fn bits_of(events: u32) -> u32 {
    let events = events as libc::c_int;
    let mut bits = 0;
    if events & libc::EPOLLIN != 0 {
        bits |= READABLE;
    }
    if events & libc::EPOLLOUT != 0 {
        bits |= WRITABLE;
    }
    if events & (libc::EPOLLRDHUP | libc::EPOLLHUP) != 0 {
        bits |= READ_CLOSED;
    }
    if events & (libc::EPOLLERR | libc::EPOLLHUP) != 0 {
        bits |= ERROR;
    }
    bits
}

fn drain_eventfd(fd: RawFd) {
    let mut buf = 0u64;
    // Non-blocking: returns `EAGAIN` once empty (a counter read empties it).
    while syscall!(read(fd, (&mut buf as *mut u64).cast(), 8)).is_ok() {}
}

impl Handle {
    /// Collects the reactor's pending events without waiting, from any
    /// thread, unless the owner is in its park (or another thread is
    /// polling): then returns 0 at once. For a thread that polls for a busy
    /// owner (see the module docs). Returns how many registrations were
    /// notified.
    pub fn try_poll(&self) -> usize {
        let shared = &self.shared;
        // `Acquire`: pairs with the `Release` that gave the turn back.
        if shared
            .turn
            .compare_exchange(FREE, OTHER, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return 0;
        }
        // `Acquire`: pairs with the `Release` in `Reactor::drop`.
        if shared.closed.load(Ordering::Acquire) {
            shared.turn.store(FREE, Ordering::Release);
            return 0;
        }
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 64];
        Stats::bump(&shared.stats.waits, 1);
        #[cfg(feature = "fault-injection")]
        if fault_before_wait().is_some() {
            // Interrupted: zero events, as below.
            shared.turn.store(FREE, Ordering::Release);
            return 0;
        }
        let n = syscall!(epoll_wait(
            shared.epfd.as_raw_fd(),
            events.as_mut_ptr(),
            events.len() as libc::c_int,
            0
        ))
        .map_or(0, |n| n as usize);
        let notified = shared.dispatch(&events[..n]);
        // `Release`: pairs with the next taker's `Acquire`.
        shared.turn.store(FREE, Ordering::Release);
        notified
    }

    /// Registers `fd` for edge-triggered read and write readiness.
    pub fn register(&self, fd: RawFd) -> io::Result<Registration> {
        let readiness = Arc::new(Readiness::default());
        let token = {
            let mut slab = self.shared.slab.lock();
            let index = match slab.free.pop() {
                Some(index) => index,
                None => {
                    slab.entries.push((0, None));
                    u32::try_from(slab.entries.len() - 1)
                        .map_err(|_| io::Error::other("too many registrations"))?
                }
            };
            let entry = &mut slab.entries[index as usize];
            entry.1 = Some(readiness.clone());
            token(index, entry.0)
        };
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: token,
        };
        if let Err(err) = syscall!(epoll_ctl(
            self.shared.epfd.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            fd,
            &mut event
        )) {
            self.shared.free(token);
            return Err(err);
        }
        // Start as ready both ways: the first attempt goes straight to the
        // syscall (readiness is only a hint; `WouldBlock` clears it).
        readiness.set(READABLE | WRITABLE);
        Ok(Registration {
            shared: self.shared.clone(),
            token,
            fd,
            readiness,
        })
    }
}

impl Shared {
    fn free(&self, token: u64) {
        let mut slab = self.slab.lock();
        let index = (token & u64::from(u32::MAX)) as u32;
        if let Some(entry) = slab.entries.get_mut(index as usize) {
            if entry.0 == (token >> 32) as u32 && entry.1.take().is_some() {
                entry.0 = entry.0.wrapping_add(1);
                slab.free.push(index);
            }
        }
    }
}

impl Registration {
    /// Ready for `direction`, or `Pending` with the waker stored.
    pub fn poll_ready(
        &self,
        direction: crate::Direction,
        cx: &mut Context<'_>,
    ) -> Poll<crate::ReadyEvent> {
        self.readiness.poll_ready(direction, cx)
    }

    /// The syscall returned `WouldBlock`: forget the readiness `event`
    /// reported (unless a newer event arrived meanwhile).
    pub fn clear(&self, event: crate::ReadyEvent) {
        self.readiness.clear(event);
    }

    /// A waiter for `direction`: one task's wait, whose drop takes its
    /// waker out (several may wait at once; an event wakes them all).
    pub fn waiter(&self, direction: crate::Direction) -> crate::Waiter {
        crate::Waiter::new(self.readiness.clone(), direction)
    }

    /// The registered descriptor.
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Whether the reactor this registration belongs to is gone (nobody
    /// delivers its events any more): register again elsewhere.
    pub fn is_orphaned(&self) -> bool {
        // `Acquire`: pairs with the `Release` store in `Reactor::drop`.
        self.shared.closed.load(Ordering::Acquire)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // The descriptor is still open (the owner drops the registration
        // first); an error here means it was not, and there is nothing to do.
        let _ = syscall!(epoll_ctl(
            self.shared.epfd.as_raw_fd(),
            libc::EPOLL_CTL_DEL,
            self.fd,
            std::ptr::null_mut()
        ));
        self.shared.free(self.token);
        // Wake pollers so they observe the end instead of waiting forever.
        self.readiness.wake_all();
    }
}

impl Unparker {
    /// Ends the owner's current or next park; no syscall when not parked.
    pub fn unpark(&self) {
        if self.shared.park_state.swap(NOTIFIED, Ordering::SeqCst) == PARKED {
            #[cfg(feature = "fault-injection")]
            if crate::faults::fire(crate::faults::Point::EventfdFull).is_some() {
                // Saturate the counter (its maximum is `u64::MAX - 1`; a
                // write that would pass it fails), so that the write below
                // gets the kernel's own `EAGAIN`. Fails harmlessly if a
                // wake-up is already counted.
                let full = u64::MAX - 1;
                let _ = syscall!(write(
                    self.shared.eventfd.as_raw_fd(),
                    (&full as *const u64).cast(),
                    8
                ));
            }
            let one = 1u64;
            // `EAGAIN` (counter saturated) means a wake-up is pending anyway.
            let _ = syscall!(write(
                self.shared.eventfd.as_raw_fd(),
                (&one as *const u64).cast(),
                8
            ));
        }
    }
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor")
            .field("epfd", &self.shared.epfd)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Unparker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unparker").finish_non_exhaustive()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("fd", &self.fd)
            .field("token", &format_args!("{:#x}", self.token))
            .finish()
    }
}
