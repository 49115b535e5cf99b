//! The echo servers of `tcp_echo`, run by the hidden `ringwork-bench serve`
//! subcommand in a child process of the benchmark, so that the benchmark can
//! read the server's CPU time without counting the load generator's.
//!
//! Protocol with the parent: the child pins itself to the requested CPU
//! (before any runtime thread exists, so every thread inherits it), binds a
//! listener on 127.0.0.1 with an ephemeral port and a backlog of
//! [`LISTEN_BACKLOG`], prints one line `ready <port> <description>` on
//! standard output and serves until its standard input reaches end of file
//! (the parent closed it, or died), then exits at once.
//!
//! Every server echoes each connection's bytes back in order, reading into a
//! buffer of [`ECHO_BUFFER`] bytes and writing all it read before reading
//! again; every accepted socket gets `TCP_NODELAY`.

use super::{floor, sys};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::thread;

/// Listen backlog of every server (ringwork's own default too): the kernel's
/// default of 128 drops SYNs when 100+ clients connect at once.
pub const LISTEN_BACKLOG: libc::c_int = 1024;

pub use super::ECHO_BUFFER;

/// The servers `serve` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// ringwork multi-thread runtime on its io_uring driver
    /// (`DriverKind::Uring`), a task per connection.
    RingworkUring,
    /// The io_uring server with `COOP_TASKRUN` off (the kernel interrupts
    /// a busy worker to post its completions).
    RingworkUringNoCoop,
    /// The same ringwork server on its epoll driver (`DriverKind::Epoll`).
    RingworkEpoll,
    /// tokio multi-thread runtime, a task per connection.
    Tokio,
    /// The hand-written single-thread io_uring loop of [`floor`].
    Floor,
}

impl ServerKind {
    /// Every server, in column order.
    pub const ALL: [ServerKind; 5] = [
        ServerKind::RingworkUring,
        ServerKind::RingworkUringNoCoop,
        ServerKind::RingworkEpoll,
        ServerKind::Tokio,
        ServerKind::Floor,
    ];

    /// The name used on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::RingworkUring => "ringwork-uring",
            ServerKind::RingworkUringNoCoop => "ringwork-uring-nocoop",
            ServerKind::RingworkEpoll => "ringwork-epoll",
            ServerKind::Tokio => "tokio",
            ServerKind::Floor => "floor",
        }
    }

    /// A short name for the narrow columns of the per-round table.
    pub fn short_name(self) -> &'static str {
        match self {
            ServerKind::RingworkUring => "uring",
            ServerKind::RingworkUringNoCoop => "nocoop",
            ServerKind::RingworkEpoll => "epoll",
            ServerKind::Tokio => "tokio",
            ServerKind::Floor => "floor",
        }
    }

    /// The server called `name`.
    pub fn from_name(name: &str) -> Option<ServerKind> {
        ServerKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// Every name, for error messages.
    pub fn names() -> String {
        let names: Vec<&str> = ServerKind::ALL.iter().map(|kind| kind.name()).collect();
        names.join(", ")
    }
}

/// Runs server `kind` as described in the module documentation; returns only
/// on an error (the process exits when standard input closes).
pub fn serve(kind: ServerKind, workers: usize, cpu: Option<usize>) -> io::Result<()> {
    if let Some(cpu) = cpu {
        sys::pin_current_thread(cpu)?;
    }
    let listener = listen_loopback()?;
    let port = listener.local_addr()?.port();
    thread::Builder::new()
        .name("serve-control".to_owned())
        .spawn(exit_when_stdin_closes)?;
    run_server(kind, listener, workers, move |description| {
        announce(port, description)
    })
}

/// Called once with the server's description when it is ready for
/// connections.
type Announce = Box<dyn FnOnce(&str) -> io::Result<()> + Send>;

/// Runs server `kind` on `listener` forever (or until an error).
fn run_server(
    kind: ServerKind,
    listener: TcpListener,
    workers: usize,
    announce: impl FnOnce(&str) -> io::Result<()> + Send + 'static,
) -> io::Result<()> {
    let announce: Announce = Box::new(announce);
    match kind {
        ServerKind::RingworkUring => serve_ringwork(
            listener,
            workers,
            ringwork::io::DriverKind::Uring,
            true,
            announce,
        ),
        ServerKind::RingworkUringNoCoop => serve_ringwork(
            listener,
            workers,
            ringwork::io::DriverKind::Uring,
            false,
            announce,
        ),
        ServerKind::RingworkEpoll => serve_ringwork(
            listener,
            workers,
            ringwork::io::DriverKind::Epoll,
            true,
            announce,
        ),
        ServerKind::Tokio => serve_tokio(listener, workers, announce),
        ServerKind::Floor => floor::serve(listener, announce),
    }
}

/// Tells the parent the server is ready.
fn announce(port: u16, description: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "ready {port} {description}")?;
    stdout.flush()
}

fn exit_when_stdin_closes() {
    let mut stdin = io::stdin().lock();
    let mut sink = [0u8; 64];
    loop {
        match stdin.read(&mut sink) {
            Ok(0) | Err(_) => std::process::exit(0),
            Ok(_) => {}
        }
    }
}

/// A blocking TCP listener on 127.0.0.1 with an ephemeral port,
/// `SO_REUSEADDR` and a backlog of [`LISTEN_BACKLOG`] (the standard library
/// does not let one choose the backlog).
pub fn listen_loopback() -> io::Result<TcpListener> {
    // SAFETY: plain socket creation; the result is checked below.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    let raw = sys::check(raw)?;
    // SAFETY: `socket` returned a fresh descriptor nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let one: libc::c_int = 1;
    // SAFETY: the option value is a live `c_int` of the size passed.
    let res = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    sys::check(res)?;
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(Ipv4Addr::LOCALHOST).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `addr` is a live `sockaddr_in` of the length passed.
    let res = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    sys::check(res)?;
    // SAFETY: `listen` on a bound socket we own.
    let res = unsafe { libc::listen(fd.as_raw_fd(), LISTEN_BACKLOG) };
    sys::check(res)?;
    Ok(TcpListener::from(fd))
}

/// The ringwork echo server on the I/O driver `driver` (`Uring` or
/// `Epoll`), which it checks it really got: a server that runs on another
/// driver than its column says is an error, not a measurement.
fn serve_ringwork(
    listener: TcpListener,
    workers: usize,
    driver: ringwork::io::DriverKind,
    coop_taskrun: bool,
    announce: Announce,
) -> io::Result<()> {
    let runtime = ringwork::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("ringwork-echo")
        .driver(driver)
        .uring_coop_taskrun(coop_taskrun)
        .build()?;
    let handle = runtime.handle();
    let in_use = handle.driver_kind();
    if in_use != Some(driver) {
        return Err(io::Error::other(format!(
            "asked ringwork for the {driver:?} driver, its handle says {in_use:?}{}",
            handle
                .driver_fallback_reason()
                .map_or_else(String::new, |reason| format!(" ({reason})"))
        )));
    }
    let description = match handle.uring_features() {
        Some(features) if driver == ringwork::io::DriverKind::Uring => format!(
            "ringwork multi-thread, {workers} workers, task per connection, seed {:#x}; \
             driver io_uring (checked): sq={} cq={} coop_taskrun={} defer_taskrun={} \
             sqpoll={} fast_poll={}",
            handle.seed(),
            features.sq_entries,
            features.cq_entries,
            features.coop_taskrun,
            features.defer_taskrun,
            features.sqpoll,
            features.fast_poll
        ),
        _ => format!(
            "ringwork multi-thread, {workers} workers, task per connection, seed {:#x}; \
             driver {} (checked)",
            handle.seed(),
            match driver {
                ringwork::io::DriverKind::Epoll => "epoll",
                _ => "io_uring",
            }
        ),
    };
    let accept_loop = runtime.spawn(accept_ringwork(listener, description, announce));
    runtime
        .block_on(accept_loop)
        .map_err(|err| io::Error::other(format!("ringwork accept loop failed: {err}")))?
}

async fn accept_ringwork(
    listener: TcpListener,
    description: String,
    announce: Announce,
) -> io::Result<()> {
    let listener = ringwork::net::TcpListener::from_std(listener)?;
    announce(&description)?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        // Detached: the task runs on its own until the connection ends.
        drop(ringwork::spawn(async move {
            if let Err(err) = echo_ringwork(stream).await {
                report_connection_error("ringwork", &err);
            }
        }));
    }
}

async fn echo_ringwork(stream: ringwork::net::TcpStream) -> io::Result<()> {
    let mut buf = Vec::with_capacity(ECHO_BUFFER);
    loop {
        // Reads fill from the start of the capacity; `len` then says how much.
        buf.clear();
        let (res, returned) = stream.read(buf).await;
        buf = returned;
        if res? == 0 {
            return Ok(());
        }
        let (res, returned) = stream.write_all(buf).await;
        buf = returned;
        res?;
    }
}

fn serve_tokio(listener: TcpListener, workers: usize, announce: Announce) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("tokio-echo")
        // Like ringwork, whose workers always carry a timer wheel: the I/O
        // and the time driver.
        .enable_all()
        .build()?;
    let description = format!(
        "tokio multi_thread, {workers} workers, task per connection; enable_all(): I/O driver \
         (epoll, via mio) and time driver"
    );
    let accept_loop = runtime.spawn(accept_tokio(listener, description, announce));
    runtime
        .block_on(accept_loop)
        .map_err(|err| io::Error::other(format!("tokio accept loop failed: {err}")))?
}

async fn accept_tokio(
    listener: TcpListener,
    description: String,
    announce: Announce,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    announce(&description)?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        // Detached: the task runs on its own until the connection ends.
        drop(tokio::spawn(async move {
            if let Err(err) = echo_tokio(stream).await {
                report_connection_error("tokio", &err);
            }
        }));
    }
}

async fn echo_tokio(mut stream: tokio::net::TcpStream) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; ECHO_BUFFER];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

/// A connection that ended with an error: printed, since the client checks
/// every byte and will report the run as failed if it mattered. Resets are
/// the client going away and not worth a line.
pub fn report_connection_error(server: &str, err: &io::Error) {
    if !matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    ) {
        eprintln!("ringwork-bench serve ({server}): connection error: {err}");
    }
}

/// The parsed `ready` line of a child server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it is.
    pub description: String,
}

impl Ready {
    /// Parses `ready <port> <description>`.
    pub fn parse(line: &str) -> Option<Ready> {
        let rest = line.trim_end().strip_prefix("ready ")?;
        let (port, description) = rest.split_once(' ').unwrap_or((rest, ""));
        Some(Ready {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port.parse().ok()?)),
            description: description.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{listen_loopback, run_server, Ready, ServerKind};
    use crate::iobench::loadgen::{Client, CpuSample};
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn ready_lines_parse() {
        let ready = Ready::parse("ready 4242 floor: one thread\n").unwrap();
        assert_eq!(ready.addr.port(), 4242);
        assert_eq!(ready.description, "floor: one thread");
        assert_eq!(Ready::parse("listening on 4242"), None);
    }

    /// Every server, run in a thread of the test (left running), echoes the
    /// exact bytes through both load phases and closes when the client does.
    #[test]
    fn every_server_echoes_every_byte_of_both_phases() {
        let ms = Duration::from_millis;
        for kind in ServerKind::ALL {
            let listener = listen_loopback().unwrap();
            let addr = listener.local_addr().unwrap();
            let (ready_tx, ready_rx) = mpsc::channel();
            thread::spawn(move || {
                let result = run_server(kind, listener, 2, move |_| {
                    let _ = ready_tx.send(());
                    Ok(())
                });
                panic!("{} server stopped: {result:?}", kind.name());
            });
            ready_rx
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("{} server not ready", kind.name()));
            for size in [100, 1024] {
                let mut client = Client::connect(addr, 8, size).unwrap();
                let closed = client.closed_loop(ms(10), ms(50)).unwrap();
                assert!(closed.msgs_per_sec > 0.0, "{}", kind.name());
                let mut no_cpu = || {
                    Ok(CpuSample {
                        clock: Duration::ZERO,
                        stat: Duration::ZERO,
                    })
                };
                let open = client
                    .open_loop(4_000, ms(10), ms(50), &mut no_cpu)
                    .unwrap();
                assert!(open.completed_in_window > 0, "{}", kind.name());
                assert!(!open.latencies_ns.is_empty(), "{}", kind.name());
                client.finish().unwrap();
            }
        }
    }
}
