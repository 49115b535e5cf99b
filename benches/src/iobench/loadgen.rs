//! The load generator of `tcp_echo`: one thread, raw epoll, non-blocking
//! sockets with `TCP_NODELAY`, many connections to one echo server.
//!
//! Two phases run on the same connections:
//!
//! - **closed loop** ([`Client::closed_loop`]): every connection keeps one
//!   message in flight and sends the next as soon as the echo is complete;
//!   the result is messages per second — on this machine the ceiling of this
//!   client more than of a fast server (BENCHMARKING.md);
//! - **open loop** ([`Client::open_loop`]): messages leave on a fixed
//!   schedule spread evenly over the connections, whatever the replies do;
//!   each message's latency runs from its *intended* send time to the end of
//!   its echo (so a late generator or a stalled server shows up in the
//!   latency instead of silently lowering the load), and the server's CPU
//!   clock is sampled when the measured window opens and closes.
//!
//! Every echoed byte is checked: message `k` of connection `c` carries `c`
//! and `k` in its first 8 bytes and a filler that depends on `c` after, and
//! the received stream must equal the sent one exactly. A wrong byte, a lost
//! echo, an early close or an extra byte is an error.
//!
//! The same client speaks HTTP/1.1 instead ([`Client::connect_http`], the
//! `http_hello` workload): a "message" is then a keep-alive `GET` and its
//! "echo" the server's response, parsed and checked (`super::http`); one
//! request in flight per connection in the closed loop, no pipelining
//! unless the open loop's schedule runs ahead of the replies.

use super::http::HttpExchange;
use super::sys;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// Longest a phase waits for outstanding echoes after its last send.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest a connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Bytes of the message header (connection id and sequence number).
const HEADER: usize = 8;

/// The byte stream of one connection: what it sends and the check of what
/// comes back. Message `k` is `(id << 40 | k)` in little-endian followed by
/// a filler that depends on `id`; the echo must be exactly the sent bytes.
#[derive(Debug, Clone)]
pub struct EchoStream {
    id: u64,
    /// Every message's bytes, with the header left to fill in.
    template: Vec<u8>,
    /// Messages produced so far.
    sent: u64,
    /// Messages whose echo is complete.
    echoed: u64,
    /// Position inside the message being echoed.
    offset: usize,
}

impl EchoStream {
    /// The stream of connection `id` with messages of `size` bytes (at
    /// least 8).
    pub fn new(id: u64, size: usize) -> EchoStream {
        assert!(size >= HEADER, "messages carry an {HEADER}-byte header");
        EchoStream {
            id,
            template: (0..size)
                .map(|i| (i as u64).wrapping_mul(31).wrapping_add(id * 7 + 1) as u8)
                .collect(),
            sent: 0,
            echoed: 0,
            offset: 0,
        }
    }

    fn header(&self, seq: u64) -> [u8; HEADER] {
        ((self.id << 40) | seq).to_le_bytes()
    }

    /// The stream of a sender that never stops (`bulk`): [`check`] takes
    /// any number of messages.
    ///
    /// [`check`]: EchoStream::check
    pub fn receiving(id: u64, size: usize) -> EchoStream {
        EchoStream {
            sent: u64::MAX,
            ..EchoStream::new(id, size)
        }
    }

    /// Rewrites the header of `message`, which holds the previous message
    /// of this stream, into the next message's, and counts it as sent (the
    /// bodies are all the same).
    pub fn next_header(&mut self, message: &mut [u8]) {
        message[..HEADER].copy_from_slice(&self.header(self.sent));
        self.sent += 1;
    }

    /// Writes the next message into `out` (its length is the message size)
    /// and counts it as sent.
    pub fn next_message(&mut self, out: &mut [u8]) {
        out.copy_from_slice(&self.template);
        out[..HEADER].copy_from_slice(&self.header(self.sent));
        self.sent += 1;
    }

    /// Messages sent.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Messages whose echo is complete.
    pub fn echoed(&self) -> u64 {
        self.echoed
    }

    /// Checks `data`, the next bytes of the echo, and returns how many
    /// messages it completed. A byte that differs from what was sent, or
    /// that goes beyond it, is an error.
    pub fn check(&mut self, mut data: &[u8]) -> io::Result<u64> {
        let size = self.template.len();
        let mut completed = 0;
        while !data.is_empty() {
            if self.echoed >= self.sent {
                return Err(io::Error::other(format!(
                    "connection {}: {} bytes arrived beyond the {} messages sent",
                    self.id,
                    data.len(),
                    self.sent
                )));
            }
            let start = self.offset;
            let take = (size - start).min(data.len());
            let (chunk, rest) = data.split_at(take);
            let mut matches = true;
            if start < HEADER {
                let header = self.header(self.echoed);
                let header_end = HEADER.min(start + take);
                matches &= chunk[..header_end - start] == header[start..header_end];
            }
            let body_start = start.max(HEADER);
            if start + take > body_start {
                matches &= chunk[body_start - start..] == self.template[body_start..start + take];
            }
            if !matches {
                return Err(io::Error::other(format!(
                    "connection {}: echoed bytes {}..{} of message {} differ from what was sent",
                    self.id,
                    start,
                    start + take,
                    self.echoed
                )));
            }
            self.offset += take;
            if self.offset == size {
                self.offset = 0;
                self.echoed += 1;
                completed += 1;
            }
            data = rest;
        }
        Ok(completed)
    }
}

/// What one connection speaks: what it sends next and the check of what
/// comes back.
#[derive(Debug, Clone)]
enum Exchange {
    /// Echo messages ([`EchoStream`]).
    Echo(EchoStream),
    /// HTTP/1.1 requests and their responses ([`HttpExchange`]).
    Http(HttpExchange),
}

impl Exchange {
    /// Puts the next message in `out` (replacing what it held) and counts
    /// it as sent.
    fn next_message(&mut self, out: &mut Vec<u8>, size: usize) {
        match self {
            Exchange::Echo(echo) => {
                out.resize(size, 0);
                echo.next_message(out);
            }
            Exchange::Http(http) => http.next_request(out),
        }
    }

    fn check(&mut self, data: &[u8]) -> io::Result<u64> {
        match self {
            Exchange::Echo(echo) => echo.check(data),
            Exchange::Http(http) => http.check(data),
        }
    }

    fn sent(&self) -> u64 {
        match self {
            Exchange::Echo(echo) => echo.sent(),
            Exchange::Http(http) => http.sent(),
        }
    }

    /// Messages whose echo (or response) is complete.
    fn echoed(&self) -> u64 {
        match self {
            Exchange::Echo(echo) => echo.echoed(),
            Exchange::Http(http) => http.answered(),
        }
    }

    fn id(&self) -> u64 {
        match self {
            Exchange::Echo(echo) => echo.id,
            Exchange::Http(http) => http.id(),
        }
    }
}

/// One connection's state.
struct ClientConn {
    stream: TcpStream,
    echo: Exchange,
    /// Bytes not yet accepted by the socket, in order.
    pending: Vec<u8>,
    /// Whether EPOLLOUT is armed (only while `pending` is not empty).
    want_write: bool,
    /// Intended send times (ns from the phase start) of the messages sent
    /// and not yet fully echoed, oldest first.
    in_flight: VecDeque<u64>,
    /// The server closed the connection after our shutdown.
    eof: bool,
}

/// Connections to one echo server, driven by one epoll instance.
pub struct Client {
    conns: Vec<ClientConn>,
    epoll: OwnedFd,
    size: usize,
    scratch: Vec<u8>,
    read_buf: Vec<u8>,
    events: Vec<libc::epoll_event>,
    /// (connection, intended send time) of the echoes the last poll
    /// completed.
    done: Vec<(usize, u64)>,
    /// Connections numbered below this are "heavy" (the skewed workload):
    /// the open loop keeps their latencies apart.
    heavy: usize,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("connections", &self.conns.len())
            .field("message_size", &self.size)
            .finish()
    }
}

/// The server's CPU time read at one instant, two ways.
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    /// From the process CPU clock (nanoseconds).
    pub clock: Duration,
    /// From `/proc/<pid>/stat` utime + stime (clock ticks).
    pub stat: Duration,
    /// Context switches of every thread of the process so far (voluntary
    /// and involuntary; 0 where not sampled).
    pub switches: u64,
}

/// What a closed-loop phase measured.
#[derive(Debug, Clone)]
pub struct ClosedLoop {
    /// Echoes completed per second in the measured window.
    pub msgs_per_sec: f64,
    /// With [`Client::closed_loop_timed`], the latencies (ns, from each
    /// message's send to the end of its echo) of the messages sent inside
    /// the window by the connections at or above [`Client::set_heavy`]'s
    /// number, sorted; else empty.
    pub latencies_ns: Vec<u64>,
}

/// What an open-loop phase measured.
#[derive(Debug, Clone)]
pub struct OpenLoop {
    /// Messages per second asked for.
    pub offered_rate: u64,
    /// Echoes completed inside the CPU window.
    pub completed_in_window: u64,
    /// Length of the CPU window, as measured.
    pub window: Duration,
    /// Server CPU at the window's start and end.
    pub cpu_start: CpuSample,
    /// See `cpu_start`.
    pub cpu_end: CpuSample,
    /// Latencies (ns) of the messages intended inside the window, sorted
    /// (those of the connections below [`Client::set_heavy`]'s number are
    /// in `heavy_latencies_ns` instead).
    pub latencies_ns: Vec<u64>,
    /// Latencies (ns) of the heavy connections' messages, sorted.
    pub heavy_latencies_ns: Vec<u64>,
    /// Largest delay between a message's intended and actual send time.
    pub max_send_lag: Duration,
}

impl Client {
    /// Opens `connections` connections to `addr` for messages of `size`
    /// bytes (at least 8).
    pub fn connect(addr: SocketAddr, connections: usize, size: usize) -> io::Result<Client> {
        Client::connect_with(addr, connections, size, |index| {
            Exchange::Echo(EchoStream::new(index as u64, size))
        })
    }

    /// Opens `connections` keep-alive HTTP/1.1 connections to `addr`: each
    /// message is a `GET` (`super::http::REQUEST`), each echo the server's
    /// response, checked.
    pub fn connect_http(addr: SocketAddr, connections: usize) -> io::Result<Client> {
        let size = super::http::REQUEST.len();
        Client::connect_with(addr, connections, size, |index| {
            Exchange::Http(HttpExchange::new(index as u64))
        })
    }

    fn connect_with(
        addr: SocketAddr,
        connections: usize,
        size: usize,
        exchange: impl Fn(usize) -> Exchange,
    ) -> io::Result<Client> {
        // SAFETY: plain epoll creation; the result is checked.
        let raw = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        let raw = sys::check(raw)?;
        // SAFETY: `epoll_create1` returned a fresh descriptor nothing owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut conns = Vec::with_capacity(connections);
        for index in 0..connections {
            let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(|err| {
                io::Error::new(err.kind(), format!("connection {index} to {addr}: {err}"))
            })?;
            stream.set_nodelay(true)?;
            stream.set_nonblocking(true)?;
            let conn = ClientConn {
                stream,
                echo: exchange(index),
                pending: Vec::new(),
                want_write: false,
                in_flight: VecDeque::new(),
                eof: false,
            };
            epoll_ctl(&epoll, libc::EPOLL_CTL_ADD, &conn, index, false)?;
            conns.push(conn);
        }
        Ok(Client {
            conns,
            epoll,
            size,
            scratch: vec![0; size],
            read_buf: vec![0; 64 * 1024],
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 256],
            done: Vec::new(),
            heavy: 0,
        })
    }

    /// Counts connections `0..heavy` as heavy: the open loop reports their
    /// latencies apart from the others'.
    pub fn set_heavy(&mut self, heavy: usize) {
        self.heavy = heavy;
    }

    /// Sends the next message of connection `index`, intended at `intended`
    /// ns from the phase start.
    fn send(&mut self, index: usize, intended: u64) -> io::Result<()> {
        let conn = &mut self.conns[index];
        conn.echo.next_message(&mut self.scratch, self.size);
        let size = self.scratch.len();
        conn.in_flight.push_back(intended);
        if !conn.pending.is_empty() {
            conn.pending.extend_from_slice(&self.scratch);
            return Ok(());
        }
        let written = match (&conn.stream).write(&self.scratch) {
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => 0,
            Err(err) => {
                return Err(io::Error::new(
                    err.kind(),
                    format!("connection {index}: send: {err}"),
                ))
            }
        };
        if written < size {
            conn.pending.extend_from_slice(&self.scratch[written..]);
            conn.want_write = true;
            epoll_ctl(&self.epoll, libc::EPOLL_CTL_MOD, conn, index, true)?;
        }
        Ok(())
    }

    /// Waits up to `timeout` for events and handles them: checks echoes
    /// (recording completions in `self.done`) and flushes pending sends.
    fn poll(&mut self, timeout: Duration, closing: bool) -> io::Result<()> {
        let timeout = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
        };
        // SAFETY: `events` is a live buffer of `len` entries the kernel
        // fills; `timeout` is a live timespec; no signal mask is passed.
        let ready = unsafe {
            libc::epoll_pwait2(
                self.epoll.as_raw_fd(),
                self.events.as_mut_ptr(),
                self.events.len() as libc::c_int,
                &timeout,
                std::ptr::null(),
            )
        };
        let ready = match sys::check(ready) {
            Ok(ready) => ready as usize,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => 0,
            Err(err) => return Err(err),
        };
        for event_index in 0..ready {
            let event = self.events[event_index];
            let index = event.u64 as usize;
            let flags = event.events as libc::c_int;
            if flags & libc::EPOLLOUT != 0 {
                self.flush(index)?;
            }
            if flags & (libc::EPOLLIN | libc::EPOLLERR | libc::EPOLLHUP) != 0 {
                self.receive(index, closing)?;
            }
        }
        Ok(())
    }

    fn flush(&mut self, index: usize) -> io::Result<()> {
        let conn = &mut self.conns[index];
        while !conn.pending.is_empty() {
            match (&conn.stream).write(&conn.pending) {
                Ok(n) => {
                    conn.pending.drain(..n);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(err) => {
                    return Err(io::Error::new(
                        err.kind(),
                        format!("connection {index}: send: {err}"),
                    ))
                }
            }
        }
        if conn.want_write {
            conn.want_write = false;
            epoll_ctl(&self.epoll, libc::EPOLL_CTL_MOD, conn, index, false)?;
        }
        Ok(())
    }

    fn receive(&mut self, index: usize, closing: bool) -> io::Result<()> {
        let conn = &mut self.conns[index];
        let n = match (&conn.stream).read(&mut self.read_buf) {
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(err) => {
                return Err(io::Error::new(
                    err.kind(),
                    format!("connection {index}: receive: {err}"),
                ))
            }
        };
        if n == 0 {
            if !closing || conn.echo.echoed() != conn.echo.sent() {
                return Err(io::Error::other(format!(
                    "connection {index}: the server closed it with {} of {} echoes received",
                    conn.echo.echoed(),
                    conn.echo.sent()
                )));
            }
            conn.eof = true;
            return epoll_ctl(&self.epoll, libc::EPOLL_CTL_DEL, conn, index, false);
        }
        let completed = conn.echo.check(&self.read_buf[..n])?;
        for _ in 0..completed {
            let intended = conn
                .in_flight
                .pop_front()
                .expect("an echo completed for a message in flight");
            self.done.push((index, intended));
        }
        Ok(())
    }

    fn all_echoed(&self) -> bool {
        self.conns
            .iter()
            .all(|conn| conn.echo.echoed() == conn.echo.sent())
    }

    /// Waits until every message sent so far is echoed, handing the
    /// completions to `on_done`.
    fn drain(&mut self, mut on_done: impl FnMut(usize, u64)) -> io::Result<()> {
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        while !self.all_echoed() {
            let now = Instant::now();
            if now >= deadline {
                let missing: u64 = self
                    .conns
                    .iter()
                    .map(|conn| conn.echo.sent() - conn.echo.echoed())
                    .sum();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{missing} echoes still missing {:.0} s after the last send",
                        DRAIN_TIMEOUT.as_secs_f64()
                    ),
                ));
            }
            self.poll((deadline - now).min(Duration::from_millis(10)), false)?;
            for (index, intended) in self.done.drain(..) {
                on_done(index, intended);
            }
        }
        Ok(())
    }

    /// Closed loop: one message in flight per connection; `warm` unmeasured,
    /// then `measure` counted.
    pub fn closed_loop(&mut self, warm: Duration, measure: Duration) -> io::Result<ClosedLoop> {
        self.closed(warm, measure, false)
    }

    /// [`closed_loop`](Client::closed_loop) that also keeps the plain
    /// connections' latencies (the skewed workload's saturation figure).
    pub fn closed_loop_timed(
        &mut self,
        warm: Duration,
        measure: Duration,
    ) -> io::Result<ClosedLoop> {
        self.closed(warm, measure, true)
    }

    fn closed(&mut self, warm: Duration, measure: Duration, timed: bool) -> io::Result<ClosedLoop> {
        let start = Instant::now();
        let heavy = self.heavy;
        let mut latencies = Vec::new();
        let window_start = warm.as_nanos() as u64;
        let window_end = (warm + measure).as_nanos() as u64;
        for index in 0..self.conns.len() {
            self.send(index, 0)?;
        }
        let mut counted: u64 = 0;
        let mut done = Vec::new();
        loop {
            let now = start.elapsed().as_nanos() as u64;
            if now >= window_end {
                break;
            }
            let wait = Duration::from_nanos(window_end - now).min(Duration::from_millis(10));
            self.poll(wait, false)?;
            let now = start.elapsed().as_nanos() as u64;
            std::mem::swap(&mut done, &mut self.done);
            for &(index, sent) in &done {
                if timed && index >= heavy && sent >= window_start && sent < window_end {
                    latencies.push(now - sent);
                }
                if now < window_end {
                    if now >= window_start {
                        counted += 1;
                    }
                    self.send(index, now)?;
                }
            }
            done.clear();
        }
        self.drain(|index, sent| {
            if timed && index >= heavy && sent >= window_start {
                latencies.push(start.elapsed().as_nanos() as u64 - sent);
            }
        })?;
        latencies.sort_unstable();
        Ok(ClosedLoop {
            msgs_per_sec: counted as f64 / measure.as_secs_f64(),
            latencies_ns: latencies,
        })
    }

    /// Open loop at `rate` messages per second over all connections
    /// (message `g` goes to connection `g % n` at `g / rate` s): `warm`
    /// unmeasured, then a `measure` window over which `sample_cpu` is read
    /// at both ends and latencies are kept.
    pub fn open_loop(
        &mut self,
        rate: u64,
        warm: Duration,
        measure: Duration,
        sample_cpu: &mut dyn FnMut() -> io::Result<CpuSample>,
    ) -> io::Result<OpenLoop> {
        assert!(rate > 0, "an open loop needs a rate");
        let connections = self.conns.len() as u64;
        let window_start = warm.as_nanos() as u64;
        let window_end = (warm + measure).as_nanos() as u64;
        let intended_of = |g: u64| (u128::from(g) * 1_000_000_000 / u128::from(rate)) as u64;
        let mut latencies =
            Vec::with_capacity((rate as f64 * measure.as_secs_f64() * 1.1) as usize);
        let mut heavy_latencies = Vec::new();
        let heavy = self.heavy;
        let mut cpu_start: Option<(CpuSample, u64)> = None;
        let mut cpu_end: Option<(CpuSample, u64)> = None;
        let mut completed_in_window: u64 = 0;
        let mut max_lag: u64 = 0;
        let mut next: u64 = 0;
        let mut done = Vec::new();
        let start = Instant::now();
        loop {
            let mut now = start.elapsed().as_nanos() as u64;
            if cpu_start.is_none() && now >= window_start {
                cpu_start = Some((sample_cpu()?, start.elapsed().as_nanos() as u64));
            }
            if cpu_end.is_none() && now >= window_end {
                let sample = sample_cpu()?;
                cpu_end = Some((sample, start.elapsed().as_nanos() as u64));
            }
            while intended_of(next) <= now && intended_of(next) < window_end {
                let intended = intended_of(next);
                max_lag = max_lag.max(now - intended);
                self.send((next % connections) as usize, intended)?;
                next += 1;
                now = start.elapsed().as_nanos() as u64;
            }
            if intended_of(next) >= window_end && cpu_end.is_some() {
                break;
            }
            let mut due = if intended_of(next) < window_end {
                intended_of(next)
            } else {
                window_end
            };
            if cpu_start.is_none() {
                due = due.min(window_start);
            }
            self.poll(Duration::from_nanos(due.saturating_sub(now)), false)?;
            let now = start.elapsed().as_nanos() as u64;
            std::mem::swap(&mut done, &mut self.done);
            for &(conn, intended) in &done {
                if (window_start..window_end).contains(&intended) {
                    if conn < heavy {
                        heavy_latencies.push(now - intended);
                    } else {
                        latencies.push(now - intended);
                    }
                }
                if cpu_start.is_some() && cpu_end.is_none() {
                    completed_in_window += 1;
                }
            }
            done.clear();
        }
        // Echoes still in flight when the last message left: their latency
        // is taken when the drain sees them.
        self.drain(|conn, intended| {
            if (window_start..window_end).contains(&intended) {
                let latency = start.elapsed().as_nanos() as u64 - intended;
                if conn < heavy {
                    heavy_latencies.push(latency);
                } else {
                    latencies.push(latency);
                }
            }
        })?;
        latencies.sort_unstable();
        heavy_latencies.sort_unstable();
        let (cpu_start, started_ns) = cpu_start.expect("sampled when the window opened");
        let (cpu_end, ended_ns) = cpu_end.expect("sampled when the window closed");
        Ok(OpenLoop {
            offered_rate: rate,
            completed_in_window,
            window: Duration::from_nanos(ended_ns - started_ns),
            cpu_start,
            cpu_end,
            latencies_ns: latencies,
            heavy_latencies_ns: heavy_latencies,
            max_send_lag: Duration::from_nanos(max_lag),
        })
    }

    /// Checks that nothing is in flight, shuts down the sending side of
    /// every connection and waits for the server to close each one with no
    /// extra byte.
    pub fn finish(mut self) -> io::Result<()> {
        for conn in &self.conns {
            if conn.echo.echoed() != conn.echo.sent() || !conn.pending.is_empty() {
                return Err(io::Error::other(format!(
                    "connection {}: {} of {} echoes received at the end",
                    conn.echo.id(),
                    conn.echo.echoed(),
                    conn.echo.sent()
                )));
            }
            conn.stream.shutdown(Shutdown::Write)?;
        }
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        while !self.conns.iter().all(|conn| conn.eof) {
            let now = Instant::now();
            if now >= deadline {
                let open = self.conns.iter().filter(|conn| !conn.eof).count();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the server did not close {open} connections after the client's shutdown"
                    ),
                ));
            }
            self.poll((deadline - now).min(Duration::from_millis(10)), true)?;
        }
        Ok(())
    }
}

fn epoll_ctl(
    epoll: &OwnedFd,
    op: libc::c_int,
    conn: &ClientConn,
    index: usize,
    want_write: bool,
) -> io::Result<()> {
    let mut flags = libc::EPOLLIN;
    if want_write {
        flags |= libc::EPOLLOUT;
    }
    let mut event = libc::epoll_event {
        events: flags as u32,
        u64: index as u64,
    };
    // SAFETY: `event` is a live epoll_event (ignored for EPOLL_CTL_DEL); both
    // descriptors are open.
    let res =
        unsafe { libc::epoll_ctl(epoll.as_raw_fd(), op, conn.stream.as_raw_fd(), &mut event) };
    sys::check(res).map(drop)
}

#[cfg(test)]
mod tests {
    use super::EchoStream;

    fn sent_bytes(stream: &mut EchoStream, messages: usize, size: usize) -> Vec<u8> {
        let mut bytes = vec![0; messages * size];
        for message in bytes.chunks_mut(size) {
            stream.next_message(message);
        }
        bytes
    }

    #[test]
    fn an_exact_echo_in_odd_pieces_completes_every_message() {
        let mut sender = EchoStream::new(3, 100);
        let bytes = sent_bytes(&mut sender, 5, 100);
        let mut completed = 0;
        for piece in bytes.chunks(7) {
            completed += sender.check(piece).unwrap();
        }
        assert_eq!(completed, 5);
        assert_eq!(sender.echoed(), sender.sent());
    }

    #[test]
    fn a_changed_byte_is_an_error_in_the_header_or_the_body() {
        for position in [0, 5, 8, 150] {
            let mut stream = EchoStream::new(1, 100);
            let mut bytes = sent_bytes(&mut stream, 2, 100);
            bytes[position] ^= 1;
            assert!(stream.check(&bytes).is_err(), "byte {position}");
        }
    }

    #[test]
    fn messages_echoed_out_of_order_or_from_another_connection_are_errors() {
        let mut stream = EchoStream::new(1, 16);
        let bytes = sent_bytes(&mut stream, 2, 16);
        let mut swapped = bytes[16..].to_vec();
        swapped.extend_from_slice(&bytes[..16]);
        assert!(stream.check(&swapped).is_err());

        let mut other = EchoStream::new(2, 16);
        let foreign = sent_bytes(&mut other, 1, 16);
        let mut stream = EchoStream::new(1, 16);
        sent_bytes(&mut stream, 1, 16);
        assert!(stream.check(&foreign).is_err());
    }

    #[test]
    fn rewritten_headers_make_the_stream_a_receiving_side_accepts() {
        let mut sender = EchoStream::new(5, 32);
        let mut message = vec![0; 32];
        sender.next_message(&mut message);
        let mut bytes = message.clone();
        for _ in 0..3 {
            sender.next_header(&mut message);
            bytes.extend_from_slice(&message);
        }
        let mut receiver = EchoStream::receiving(5, 32);
        assert_eq!(receiver.check(&bytes[..50]).unwrap(), 1);
        assert_eq!(receiver.check(&bytes[50..]).unwrap(), 3);
        // A repeated message (its header unchanged) is an error.
        let mut receiver = EchoStream::receiving(5, 32);
        let mut repeated = bytes[..32].to_vec();
        repeated.extend_from_slice(&bytes[..32]);
        assert!(receiver.check(&repeated).is_err());
    }

    #[test]
    fn bytes_beyond_what_was_sent_are_an_error() {
        let mut stream = EchoStream::new(0, 10);
        let mut bytes = sent_bytes(&mut stream, 1, 10);
        bytes.push(0);
        assert!(stream.check(&bytes).is_err());
    }
}
