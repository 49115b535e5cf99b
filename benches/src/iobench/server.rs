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
//!
//! What a connection gets is the server's [`Service`]: the echo (the
//! default), the echo with a [`Skew`], or the echo waiting for each read in
//! the runtime's lowest-memory way ([`Service::Idle`], `idle_conns.rs`), or
//! a stream of large messages ([`Service::Bulk`], `bulk.rs`), or hyper's
//! HTTP/1.1 server answering every request with a hello ([`Service::Http`],
//! `http.rs`; ringwork's and tokio's servers only).
//! Every server raises its soft `RLIMIT_NOFILE` to the hard limit first
//! (10,000 idle connections need it).
//!
//! With a [`Skew`] (the `skewed` workload, `serve --skew`), the connections
//! the client numbered below `Skew::heavy` are "heavy": before echoing, the
//! server spins `Skew::compute` of CPU for every message the bytes it read
//! completed (messages have a fixed size; the connection's number is in the
//! first message's header, see `loadgen::EchoStream`).

use super::{floor, floor_multishot, http, services, sys};
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
    /// The io_uring server with single-shot accepts
    /// (`uring_multishot_accept(false)`; not in `tcp_echo`).
    RingworkUringSingleAccept,
    /// The same ringwork server on its epoll driver (`DriverKind::Epoll`).
    RingworkEpoll,
    /// The same ringwork server with nothing set on its `Builder` but the
    /// worker count: the driver and every io_uring setting come from
    /// `RINGWORK_DRIVER` and `RINGWORK_URING` (the `matrix` command's
    /// profiles; not in `tcp_echo`).
    RingworkEnv,
    /// [`RingworkEnv`](ServerKind::RingworkEnv) echoing through
    /// `io::compat::Compat` and tokio's `AsyncReadExt`/`AsyncWriteExt`
    /// instead of the owned-buffer calls (the matrix's `*-compat-tokio`
    /// rows; echo services only).
    RingworkCompatTokio,
    /// The same through `futures-io`'s `AsyncRead`/`AsyncWrite` (the
    /// `*-compat-futures` rows).
    RingworkCompatFutures,
    /// The same, on ringwork's current-thread runtime: the accept loop and
    /// every connection on the one thread in `block_on`, driver and io_uring
    /// settings from the environment (the matrix's `*-ct` profiles).
    RingworkCurrentThread,
    /// tokio multi-thread runtime, a task per connection.
    Tokio,
    /// tokio current-thread runtime, a task per connection (not in
    /// `tcp_echo`).
    TokioCurrentThread,
    /// The hand-written single-thread io_uring loop of [`floor`].
    Floor,
    /// monoio: a thread-per-core io_uring runtime, one thread per worker,
    /// each with its own `SO_REUSEPORT` listener (not in `tcp_echo`).
    Monoio,
    /// The same loop with a multishot receive per connection into a
    /// provided-buffer ring ([`floor_multishot`]; not in `tcp_echo`).
    FloorMultishot,
    /// A thread per connection, blocking `std::net` I/O: the kernel's
    /// scheduler as the reference for the skewed workload (not in
    /// `tcp_echo`).
    StdThreads,
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

    /// The servers of the `skewed` workload, in column order (the floor has
    /// one thread, so it has no free core to use).
    pub const SKEWED: [ServerKind; 4] = [
        ServerKind::RingworkUring,
        ServerKind::RingworkEpoll,
        ServerKind::Tokio,
        ServerKind::StdThreads,
    ];

    /// The name used on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::RingworkUring => "ringwork-uring",
            ServerKind::RingworkUringNoCoop => "ringwork-uring-nocoop",
            ServerKind::RingworkUringSingleAccept => "ringwork-uring-single-accept",
            ServerKind::RingworkEpoll => "ringwork-epoll",
            ServerKind::RingworkEnv => "ringwork",
            ServerKind::RingworkCompatTokio => "ringwork-compat-tokio",
            ServerKind::RingworkCompatFutures => "ringwork-compat-futures",
            ServerKind::RingworkCurrentThread => "ringwork-ct",
            ServerKind::Tokio => "tokio",
            ServerKind::TokioCurrentThread => "tokio-ct",
            ServerKind::Floor => "floor",
            ServerKind::FloorMultishot => "floor-multishot",
            ServerKind::Monoio => "monoio",
            ServerKind::StdThreads => "std-threads",
        }
    }

    /// A short name for the narrow columns of the per-round table.
    pub fn short_name(self) -> &'static str {
        match self {
            ServerKind::RingworkUring => "uring",
            ServerKind::RingworkUringNoCoop => "nocoop",
            ServerKind::RingworkUringSingleAccept => "1accept",
            ServerKind::RingworkEpoll => "epoll",
            ServerKind::RingworkEnv => "env",
            ServerKind::RingworkCompatTokio => "compat-tk",
            ServerKind::RingworkCompatFutures => "compat-fu",
            ServerKind::RingworkCurrentThread => "env-ct",
            ServerKind::Tokio => "tokio",
            ServerKind::TokioCurrentThread => "tokio-ct",
            ServerKind::Floor => "floor",
            ServerKind::FloorMultishot => "floor-ms",
            ServerKind::Monoio => "monoio",
            ServerKind::StdThreads => "std",
        }
    }

    /// Every server, `tcp_echo`'s and the others.
    fn every() -> impl Iterator<Item = ServerKind> {
        ServerKind::ALL.into_iter().chain([
            ServerKind::RingworkUringSingleAccept,
            ServerKind::StdThreads,
            ServerKind::RingworkEnv,
            ServerKind::RingworkCurrentThread,
            ServerKind::TokioCurrentThread,
            ServerKind::FloorMultishot,
            ServerKind::Monoio,
            ServerKind::RingworkCompatTokio,
            ServerKind::RingworkCompatFutures,
        ])
    }

    /// Why this server cannot serve `service` (`None`: it can): only
    /// ringwork's and tokio's servers run hyper, and the compat servers
    /// measure the echo only.
    pub fn refuses(self, service: Service) -> Option<String> {
        let compat = matches!(
            self,
            ServerKind::RingworkCompatTokio | ServerKind::RingworkCompatFutures
        );
        match service {
            Service::Echo | Service::Skewed(_) => None,
            Service::Http if compat => Some(format!(
                "the {} server measures the echo through Compat only; http_hello runs hyper \
                 through ringwork's Compat on every other ringwork row",
                self.name()
            )),
            _ if compat => Some(format!(
                "the {} server measures the echo through Compat only (the echo, accept and \
                 skewed columns)",
                self.name()
            )),
            Service::Http => match self {
                ServerKind::Floor | ServerKind::FloorMultishot => {
                    Some("the floors are hand-written echo loops: no HTTP server".to_owned())
                }
                ServerKind::Monoio => Some(
                    "monoio has no hyper integration here (hyper needs its rt traits; \
                     monoio-compat is not a dependency)"
                        .to_owned(),
                ),
                ServerKind::StdThreads => {
                    Some("std-threads is a blocking echo: hyper needs an async runtime".to_owned())
                }
                _ => None,
            },
            Service::Idle | Service::Bulk(_) => None,
        }
    }

    /// The server called `name`.
    pub fn from_name(name: &str) -> Option<ServerKind> {
        ServerKind::every().find(|kind| kind.name() == name)
    }

    /// Every name, for error messages.
    pub fn names() -> String {
        let names: Vec<&str> = ServerKind::every().map(|kind| kind.name()).collect();
        names.join(", ")
    }
}

/// The compute the `skewed` workload asks of its heavy connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skew {
    /// Connections numbered below this are heavy.
    pub heavy: u64,
    /// CPU spent per message of a heavy connection.
    pub compute: std::time::Duration,
    /// Bytes per message.
    pub size: usize,
}

impl Skew {
    /// As passed to `serve --skew`: `HEAVY:COMPUTE_US:SIZE`.
    pub fn to_arg(self) -> String {
        format!("{}:{}:{}", self.heavy, self.compute.as_micros(), self.size)
    }

    /// Parses [`Skew::to_arg`]'s form.
    pub fn parse(text: &str) -> Result<Skew, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let number = |part: &str| {
            part.parse::<u64>()
                .map_err(|err| format!("--skew {text:?}: {part:?}: {err}"))
        };
        match parts[..] {
            [heavy, compute, size] => {
                let size = number(size)? as usize;
                if size < 8 {
                    return Err(format!(
                        "--skew {text:?}: messages carry an 8-byte header, size {size} is too small"
                    ));
                }
                Ok(Skew {
                    heavy: number(heavy)?,
                    compute: std::time::Duration::from_micros(number(compute)?),
                    size,
                })
            }
            _ => Err(format!("--skew {text:?}: expected HEAVY:COMPUTE_US:SIZE")),
        }
    }
}

/// What the server does with each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Service {
    /// Echo every byte.
    #[default]
    Echo,
    /// Echo, spinning the skew's compute on heavy connections.
    Skewed(Skew),
    /// Echo, waiting for each read in the runtime's lowest-memory way
    /// (`idle_conns`).
    Idle,
    /// After the client's 8-byte hello (its connection number), send
    /// messages of this many bytes until the client goes away (`bulk`).
    Bulk(usize),
    /// hyper's HTTP/1.1 server, a hello for every request (`http.rs`).
    Http,
}

impl Service {
    /// The arguments of `serve` that ask for it.
    pub fn args(self) -> Vec<String> {
        match self {
            Service::Echo => Vec::new(),
            Service::Skewed(skew) => vec!["--skew".to_owned(), skew.to_arg()],
            Service::Idle => vec!["--idle".to_owned()],
            Service::Bulk(size) => vec!["--bulk".to_owned(), size.to_string()],
            Service::Http => vec!["--http".to_owned()],
        }
    }

    fn skew(self) -> Option<SkewState> {
        match self {
            Service::Skewed(skew) => SkewState::new(Some(skew)),
            Service::Echo | Service::Idle | Service::Bulk(_) | Service::Http => None,
        }
    }
}

/// One connection's side of a [`Skew`]: which connection it is, and where
/// in its message stream the bytes read so far end.
#[derive(Debug, Clone)]
pub struct SkewState {
    skew: Skew,
    /// The first message's header, while it is incomplete.
    header: [u8; 8],
    /// Bytes read so far.
    read: u64,
    heavy: Option<bool>,
}

impl SkewState {
    /// A connection's state, if the server runs with a skew.
    pub fn new(skew: Option<Skew>) -> Option<SkewState> {
        skew.map(|skew| SkewState {
            skew,
            header: [0; 8],
            read: 0,
            heavy: None,
        })
    }

    /// Whether the connection is heavy, once its first header was read.
    pub fn heavy(&self) -> Option<bool> {
        self.heavy
    }

    /// `data`, the next bytes read, is about to be echoed: spins the
    /// compute of every message it completes if the connection is heavy.
    pub fn on_read(&mut self, data: &[u8]) {
        let before = self.read;
        if before < 8 {
            let take = data.len().min(8 - before as usize);
            self.header[before as usize..before as usize + take].copy_from_slice(&data[..take]);
        }
        self.read += data.len() as u64;
        if self.heavy.is_none() && self.read >= 8 {
            let id = u64::from_le_bytes(self.header) >> 40;
            self.heavy = Some(id < self.skew.heavy);
        }
        if self.heavy == Some(true) {
            let size = self.skew.size as u64;
            let completed = self.read / size - before / size;
            spin(self.skew.compute * completed as u32);
        }
    }
}

/// Burns `cpu` of CPU time on this thread (not wall time: a preempted spin
/// goes on until it has had its share).
fn spin(cpu: std::time::Duration) {
    if cpu.is_zero() {
        return;
    }
    let start = thread_cpu_time();
    while thread_cpu_time() - start < cpu {
        std::hint::spin_loop();
    }
}

fn thread_cpu_time() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live timespec; the clock id is a constant the
    // kernel always has.
    let res = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(res, 0, "CLOCK_THREAD_CPUTIME_ID is always available");
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs server `kind` as described in the module documentation; returns only
/// on an error (the process exits when standard input closes).
pub fn serve(
    kind: ServerKind,
    workers: usize,
    cpu: Option<usize>,
    service: Service,
) -> io::Result<()> {
    if let Some(cpu) = cpu {
        sys::pin_current_thread(cpu)?;
    }
    sys::raise_nofile_limit()?;
    let listener = listen_for(kind)?;
    let port = listener.local_addr()?.port();
    thread::Builder::new()
        .name("serve-control".to_owned())
        .spawn(exit_when_stdin_closes)?;
    run_server(kind, listener, workers, service, move |description| {
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
    service: Service,
    announce: impl FnOnce(&str) -> io::Result<()> + Send + 'static,
) -> io::Result<()> {
    let announce: Announce = Box::new(announce);
    if let Some(reason) = kind.refuses(service) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, reason));
    }
    match kind {
        ServerKind::RingworkUring
        | ServerKind::RingworkUringNoCoop
        | ServerKind::RingworkUringSingleAccept
        | ServerKind::RingworkEpoll => serve_ringwork(
            listener,
            workers,
            Some(RingworkProfile::of(kind)),
            (service, EchoApi::Owned),
            announce,
        ),
        ServerKind::RingworkEnv => {
            serve_ringwork(listener, workers, None, (service, EchoApi::Owned), announce)
        }
        ServerKind::RingworkCompatTokio => serve_ringwork(
            listener,
            workers,
            None,
            (service, EchoApi::CompatTokio),
            announce,
        ),
        ServerKind::RingworkCompatFutures => serve_ringwork(
            listener,
            workers,
            None,
            (service, EchoApi::CompatFutures),
            announce,
        ),
        ServerKind::RingworkCurrentThread => {
            serve_ringwork(listener, 0, None, (service, EchoApi::Owned), announce)
        }
        ServerKind::Tokio => serve_tokio(listener, workers, service, announce),
        ServerKind::TokioCurrentThread => serve_tokio_current_thread(listener, service, announce),
        ServerKind::Floor => match service {
            Service::Skewed(_) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the floor server has no skewed mode (one thread: no free core to use)",
            )),
            Service::Bulk(_) | Service::Http => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the floor server is an echo loop: it has no bulk-send or HTTP mode",
            )),
            Service::Echo => floor::serve(listener, announce),
            Service::Idle => floor::serve(
                listener,
                Box::new(move |description: &str| {
                    announce(&format!(
                        "{description}; {}a RECV into the connection's {} KiB buffer (zeroed \
                         at accept) always in flight",
                        services::PENDING_PREFIX,
                        ECHO_BUFFER / 1024
                    ))
                }),
            ),
        },
        ServerKind::FloorMultishot => match service {
            Service::Echo => floor_multishot::serve(listener, announce),
            Service::Idle => floor_multishot::serve(
                listener,
                Box::new(move |description: &str| {
                    announce(&format!(
                        "{description}; {}a multishot RECV armed on the provided-buffer ring: \
                         no buffer held while idle",
                        services::PENDING_PREFIX,
                    ))
                }),
            ),
            Service::Skewed(_) | Service::Bulk(_) | Service::Http => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the multishot floor is an echo loop on one thread: no skewed or bulk mode",
            )),
        },
        ServerKind::Monoio => serve_monoio(listener, workers, service, announce),
        ServerKind::StdThreads => serve_std_threads(listener, service, announce),
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
    listen_loopback_on(0, false)
}

/// The listener server `kind` starts with: [`listen_loopback`]'s, and for
/// monoio with `SO_REUSEPORT`, which it needs to bind one more listener per
/// thread on the same port.
fn listen_for(kind: ServerKind) -> io::Result<TcpListener> {
    listen_loopback_on(0, kind == ServerKind::Monoio)
}

/// [`listen_loopback`] on `port` (0: an ephemeral one), with `SO_REUSEPORT`
/// too if `reuse_port` (so that more listeners can bind the same port: the
/// monoio server's).
fn listen_loopback_on(port: u16, reuse_port: bool) -> io::Result<TcpListener> {
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
    if reuse_port {
        // SAFETY: the option value is a live `c_int` of the size passed.
        let res = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_REUSEPORT,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        sys::check(res)?;
    }
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
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

/// Which API a ringwork echo server's connections use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EchoApi {
    /// ringwork's owned-buffer `read`/`write_all` (or `recv_buf`).
    Owned,
    /// `Compat` + tokio's `AsyncReadExt`/`AsyncWriteExt`.
    CompatTokio,
    /// `Compat` + `futures-io`'s `AsyncRead`/`AsyncWrite`.
    CompatFutures,
}

/// How a ringwork server's runtime is built.
#[derive(Debug, Clone, Copy)]
struct RingworkProfile {
    driver: ringwork::io::DriverKind,
    coop_taskrun: bool,
    multishot_accept: bool,
}

impl RingworkProfile {
    fn of(kind: ServerKind) -> RingworkProfile {
        let uring = RingworkProfile {
            driver: ringwork::io::DriverKind::Uring,
            coop_taskrun: true,
            multishot_accept: true,
        };
        match kind {
            ServerKind::RingworkUringNoCoop => RingworkProfile {
                coop_taskrun: false,
                ..uring
            },
            ServerKind::RingworkUringSingleAccept => RingworkProfile {
                multishot_accept: false,
                ..uring
            },
            ServerKind::RingworkEpoll => RingworkProfile {
                driver: ringwork::io::DriverKind::Epoll,
                ..uring
            },
            _ => uring,
        }
    }
}

/// The ringwork echo server built with `profile`, whose driver it checks
/// it really got (a server that runs on another driver than its column says
/// is an error, not a measurement); with no profile, built with the
/// defaults, so that `RINGWORK_DRIVER` and `RINGWORK_URING` decide (the
/// driver in use is then named in the description).
fn serve_ringwork(
    listener: TcpListener,
    workers: usize,
    profile: Option<RingworkProfile>,
    (service, api): (Service, EchoApi),
    announce: Announce,
) -> io::Result<()> {
    // `workers == 0`: the current-thread runtime.
    let mut builder = if workers == 0 {
        ringwork::runtime::Builder::new_current_thread()
    } else {
        let mut builder = ringwork::runtime::Builder::new_multi_thread();
        builder.worker_threads(workers).thread_name("ringwork-echo");
        builder
    };
    if let Some(profile) = profile {
        builder
            .driver(profile.driver)
            .uring_coop_taskrun(profile.coop_taskrun)
            .uring_multishot_accept(profile.multishot_accept);
    }
    let runtime = builder.build()?;
    let handle = runtime.handle();
    let in_use = handle.driver_kind();
    if let Some(profile) = profile {
        if in_use != Some(profile.driver) {
            return Err(io::Error::other(format!(
                "asked ringwork for the {:?} driver, its handle says {in_use:?}{}",
                profile.driver,
                handle
                    .driver_fallback_reason()
                    .map_or_else(String::new, |reason| format!(" ({reason})"))
            )));
        }
    }
    let flavor = if workers == 0 {
        "current_thread, 1 thread".to_owned()
    } else {
        format!("multi-thread, {workers} workers")
    };
    let checked = if profile.is_some() {
        "checked"
    } else {
        "from the environment"
    };
    let mut description = match handle.uring_features() {
        Some(features) if in_use == Some(ringwork::io::DriverKind::Uring) => format!(
            "ringwork {flavor}, task per connection, seed {:#x}; \
             driver io_uring ({checked}): sq={} cq={} coop_taskrun={} defer_taskrun={} \
             sqpoll={} fast_poll={} multishot_accept={}",
            handle.seed(),
            features.sq_entries,
            features.cq_entries,
            features.coop_taskrun,
            features.defer_taskrun,
            features.sqpoll,
            features.fast_poll,
            features.multishot_accept
        ),
        _ => format!(
            "ringwork {flavor}, task per connection, seed {:#x}; \
             driver {} ({checked}){}",
            handle.seed(),
            match in_use {
                Some(ringwork::io::DriverKind::Epoll) => "epoll",
                Some(ringwork::io::DriverKind::Uring) => "io_uring",
                _ => "unknown",
            },
            handle
                .driver_fallback_reason()
                .map_or_else(String::new, |reason| format!(", fell back: {reason}"))
        ),
    };
    if service == Service::Idle {
        description.push_str(&format!(
            "; {}{}",
            services::PENDING_PREFIX,
            services::ringwork_pending_read(handle)
        ));
    }
    match (service, api) {
        (Service::Http, _) => description.push_str(&format!("; {}", http::HYPER_SETTINGS)),
        (_, EchoApi::Owned) => {}
        (_, EchoApi::CompatTokio) => description.push_str(
            "; echo through io::compat::Compat + tokio's AsyncReadExt::read / \
             AsyncWriteExt::write_all into a 16 KiB buffer",
        ),
        (_, EchoApi::CompatFutures) => description.push_str(
            "; echo through io::compat::Compat + futures-io poll_read / poll_write into a 16 \
             KiB buffer",
        ),
    }
    let accept_loop = runtime.spawn(accept_ringwork(
        listener,
        description,
        (service, api),
        announce,
    ));
    runtime
        .block_on(accept_loop)
        .map_err(|err| io::Error::other(format!("ringwork accept loop failed: {err}")))?
}

async fn accept_ringwork(
    listener: TcpListener,
    description: String,
    (service, api): (Service, EchoApi),
    announce: Announce,
) -> io::Result<()> {
    let listener = ringwork::net::TcpListener::from_std(listener)?;
    announce(&description)?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        // Detached: the task runs on its own until the connection ends.
        let task = match service {
            Service::Echo | Service::Skewed(_) if api == EchoApi::CompatTokio => {
                ringwork::spawn(report_errors(
                    "ringwork",
                    echo_tokio(ringwork::io::compat::Compat::new(stream), service.skew()),
                ))
            }
            Service::Echo | Service::Skewed(_) if api == EchoApi::CompatFutures => ringwork::spawn(
                report_errors("ringwork", echo_compat_futures(stream, service.skew())),
            ),
            Service::Echo | Service::Skewed(_) => ringwork::spawn(report_errors(
                "ringwork",
                echo_ringwork(stream, service.skew(), false),
            )),
            Service::Http => {
                ringwork::spawn(report_errors("ringwork", http::serve_ringwork(stream)))
            }
            // `recv_buf` holds no buffer while it waits (`idle_conns`).
            Service::Idle => {
                ringwork::spawn(report_errors("ringwork", echo_ringwork(stream, None, true)))
            }
            Service::Bulk(size) => ringwork::spawn(report_errors(
                "ringwork",
                services::bulk_ringwork(stream, size),
            )),
        };
        drop(task);
    }
}

/// Runs a connection's future and reports its error, if any.
async fn report_errors(
    server: &'static str,
    connection: impl std::future::Future<Output = io::Result<()>>,
) {
    if let Err(err) = connection.await {
        report_connection_error(server, &err);
    }
}

async fn echo_ringwork(
    stream: ringwork::net::TcpStream,
    mut skew: Option<SkewState>,
    recv_buf: bool,
) -> io::Result<()> {
    // With provided buffers (a profile's `bufring`), echo the buffer the
    // kernel filled: no copy on the way in, and the send gives it back.
    // `recv_buf` also where asked: it waits without a buffer.
    let pooled = ringwork::Handle::current()
        .uring_features()
        .is_some_and(|f| f.buf_ring);
    if pooled || recv_buf {
        loop {
            let buf = stream.recv_buf().await?;
            if buf.is_empty() {
                return Ok(());
            }
            if let Some(skew) = &mut skew {
                skew.on_read(&buf);
            }
            let (res, _) = stream.write_all(buf).await;
            res?;
        }
    }
    let mut buf = Vec::with_capacity(ECHO_BUFFER);
    loop {
        // Reads fill from the start of the capacity; `len` then says how much.
        buf.clear();
        let (res, returned) = stream.read(buf).await;
        buf = returned;
        if res? == 0 {
            return Ok(());
        }
        if let Some(skew) = &mut skew {
            skew.on_read(&buf);
        }
        let (res, returned) = stream.write_all(buf).await;
        buf = returned;
        res?;
    }
}

fn serve_tokio(
    listener: TcpListener,
    workers: usize,
    service: Service,
    announce: Announce,
) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("tokio-echo")
        // Like ringwork, whose workers always carry a timer wheel: the I/O
        // and the time driver.
        .enable_all()
        .build()?;
    let description = format!(
        "tokio multi_thread, {workers} workers, task per connection; enable_all(): I/O driver \
         (epoll, via mio) and time driver{}{}",
        services::tokio_pending_read(service == Service::Idle),
        tokio_http(service)
    );
    let accept_loop = runtime.spawn(accept_tokio(listener, description, service, announce));
    runtime
        .block_on(accept_loop)
        .map_err(|err| io::Error::other(format!("tokio accept loop failed: {err}")))?
}

async fn accept_tokio(
    listener: TcpListener,
    description: String,
    service: Service,
    announce: Announce,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    announce(&description)?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        // Detached: the task runs on its own until the connection ends.
        let task = match service {
            Service::Echo | Service::Skewed(_) => {
                tokio::spawn(report_errors("tokio", echo_tokio(stream, service.skew())))
            }
            Service::Idle => tokio::spawn(report_errors("tokio", services::idle_tokio(stream))),
            Service::Bulk(size) => {
                tokio::spawn(report_errors("tokio", services::bulk_tokio(stream, size)))
            }
            Service::Http => tokio::spawn(report_errors("tokio", http::serve_tokio(stream))),
        };
        drop(task);
    }
}

/// The echo over tokio's I/O traits: tokio's own streams, and ringwork's
/// behind `io::compat::Compat` (the matrix's `*-compat-tokio` rows, as a
/// tokio-io library would drive a ringwork stream).
async fn echo_tokio<S>(mut stream: S, mut skew: Option<SkewState>) -> io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; ECHO_BUFFER];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        if let Some(skew) = &mut skew {
            skew.on_read(&buf[..n]);
        }
        stream.write_all(&buf[..n]).await?;
    }
}

/// The echo through `ringwork::io::compat::Compat` and `futures-io`'s traits (`poll_read`, then
/// `poll_write` until all is written), driven with `poll_fn`: the
/// `*-compat-futures` rows.
async fn echo_compat_futures(
    stream: ringwork::net::TcpStream,
    mut skew: Option<SkewState>,
) -> io::Result<()> {
    use futures_io::{AsyncRead, AsyncWrite};
    use std::future::poll_fn;
    use std::pin::Pin;
    let mut stream = ringwork::io::compat::Compat::new(stream);
    let mut buf = vec![0u8; ECHO_BUFFER];
    loop {
        let n = poll_fn(|cx| Pin::new(&mut stream).poll_read(cx, &mut buf)).await?;
        if n == 0 {
            return Ok(());
        }
        if let Some(skew) = &mut skew {
            skew.on_read(&buf[..n]);
        }
        let mut written = 0;
        while written < n {
            let wrote =
                poll_fn(|cx| Pin::new(&mut stream).poll_write(cx, &buf[written..n])).await?;
            if wrote == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            written += wrote;
        }
    }
}

/// monoio, thread per core: `workers` threads, each a monoio runtime on its
/// own io_uring with its own listener on the same port (`SO_REUSEPORT`: the
/// kernel spreads new connections over the listeners by a hash of their
/// addresses), a task per connection that never leaves its thread.
fn serve_monoio(
    listener: TcpListener,
    workers: usize,
    service: Service,
    announce: Announce,
) -> io::Result<()> {
    let port = listener.local_addr()?.port();
    let mut listeners = vec![listener];
    for _ in 1..workers {
        // Bound (and listening) before the announcement, so that every
        // connection the client makes can land on any of them.
        listeners.push(listen_loopback_on(port, true)?);
    }
    let (started, all_started) = std::sync::mpsc::channel::<io::Result<()>>();
    let threads: Vec<_> = listeners
        .into_iter()
        .enumerate()
        .map(|(index, listener)| {
            let started = started.clone();
            thread::Builder::new()
                .name(format!("monoio-echo-{index}"))
                .spawn(move || -> io::Result<()> {
                    let runtime = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
                        .with_entries(1024)
                        .enable_timer()
                        .build();
                    let mut runtime = match runtime {
                        Ok(runtime) => runtime,
                        Err(err) => {
                            let said = io::Error::new(err.kind(), err.to_string());
                            let _ = started.send(Err(err));
                            return Err(said);
                        }
                    };
                    runtime.block_on(async move {
                        listener.set_nonblocking(true)?;
                        let listener = monoio::net::TcpListener::from_std(listener)?;
                        let _ = started.send(Ok(()));
                        loop {
                            let (stream, _) = listener.accept().await?;
                            stream.set_nodelay(true)?;
                            drop(monoio::spawn(async move {
                                let served = match service {
                                    Service::Bulk(size) => {
                                        services::bulk_monoio(stream, size).await
                                    }
                                    _ => echo_monoio(stream, service.skew(), index).await,
                                };
                                if let Err(err) = served {
                                    report_connection_error("monoio", &err);
                                }
                            }));
                        }
                    })
                })
        })
        .collect::<io::Result<_>>()?;
    drop(started);
    for _ in 0..workers {
        all_started
            .recv()
            .map_err(|_| io::Error::other("a monoio thread ended before it started"))??;
    }
    let idle = if service == Service::Idle {
        format!(
            "; {}read(Vec) of {} KiB: the pending RECV owns the buffer (the kernel holds it)",
            services::PENDING_PREFIX,
            ECHO_BUFFER / 1024
        )
    } else {
        String::new()
    };
    announce(&format!(
        "monoio 0.2, thread per core: {workers} threads, each a runtime on its own io_uring \
         (1024 entries, timer on) with its own SO_REUSEPORT listener, task per connection{idle}"
    ))?;
    for thread in threads {
        thread
            .join()
            .map_err(|_| io::Error::other("a monoio thread panicked"))??;
    }
    Ok(())
}

/// What a monoio thread prints on standard error, followed by its index,
/// when a heavy connection of a skewed load turns out to be one of its
/// own: how `SO_REUSEPORT` split the heavy connections over the threads.
pub const HEAVY_ON_THREAD: &str = "skewed: heavy connection on monoio thread ";

async fn echo_monoio(
    mut stream: monoio::net::TcpStream,
    mut skew: Option<SkewState>,
    thread: usize,
) -> io::Result<()> {
    use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
    let mut buf = Vec::with_capacity(ECHO_BUFFER);
    let mut reported = false;
    loop {
        buf.clear();
        let (read, returned) = stream.read(buf).await;
        buf = returned;
        if read? == 0 {
            return Ok(());
        }
        if let Some(skew) = &mut skew {
            skew.on_read(&buf);
            if !reported && skew.heavy() == Some(true) {
                reported = true;
                eprintln!("{HEAVY_ON_THREAD}{thread}");
            }
        }
        let (written, returned) = stream.write_all(buf).await;
        buf = returned;
        written?;
    }
}

/// tokio's current-thread runtime: the accept loop and every connection's
/// task on one thread.
fn serve_tokio_current_thread(
    listener: TcpListener,
    service: Service,
    announce: Announce,
) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let description = format!(
        "tokio current_thread, 1 thread, task per connection; enable_all(): I/O driver (epoll, \
         via mio) and time driver{}{}",
        services::tokio_pending_read(service == Service::Idle),
        tokio_http(service)
    );
    runtime.block_on(accept_tokio(listener, description, service, announce))
}

/// A tokio server's description suffix for [`Service::Http`].
fn tokio_http(service: Service) -> String {
    if service == Service::Http {
        format!(
            "; {}, tokio's TcpStream behind hyper's traits (a TokioIo-like adapter)",
            http::HYPER_SETTINGS
        )
    } else {
        String::new()
    }
}

/// A thread per connection, blocking reads and writes.
fn serve_std_threads(
    listener: TcpListener,
    service: Service,
    announce: Announce,
) -> io::Result<()> {
    let mut description = "std::net, a thread per connection, blocking I/O".to_owned();
    if service == Service::Idle {
        description.push_str(&format!(
            "; {}a blocking read() into the thread's {} KiB Vec (allocated zeroed at accept), \
             on a thread with the default 2 MiB stack",
            services::PENDING_PREFIX,
            ECHO_BUFFER / 1024
        ));
    }
    announce(&description)?;
    loop {
        let (stream, _) = listener.accept()?;
        stream.set_nodelay(true)?;
        thread::Builder::new()
            .name("std-echo".to_owned())
            .spawn(move || {
                let result = match service {
                    Service::Bulk(size) => services::bulk_std(stream, size),
                    _ => echo_std(stream, service.skew()),
                };
                if let Err(err) = result {
                    report_connection_error("std-threads", &err);
                }
            })?;
    }
}

fn echo_std(mut stream: std::net::TcpStream, mut skew: Option<SkewState>) -> io::Result<()> {
    let mut buf = vec![0u8; ECHO_BUFFER];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        if let Some(skew) = &mut skew {
            skew.on_read(&buf[..n]);
        }
        stream.write_all(&buf[..n])?;
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
    use super::{
        listen_for, run_server, thread_cpu_time, Ready, ServerKind, Service, Skew, SkewState,
    };
    use crate::iobench::loadgen::{Client, CpuSample};
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    /// A heavy connection's server spins its compute once per message the
    /// bytes complete, however the bytes are split; a plain one never does.
    #[test]
    fn a_skew_spins_per_completed_message_of_heavy_connections_only() {
        let skew = Skew {
            heavy: 2,
            compute: Duration::from_millis(2),
            size: 16,
        };
        let message = |id: u64, seq: u64| {
            let mut bytes = ((id << 40) | seq).to_le_bytes().to_vec();
            bytes.resize(16, 0xAB);
            bytes
        };
        // Connection 1 (heavy): 3 messages, split at odd places.
        let stream: Vec<u8> = (0..3).flat_map(|seq| message(1, seq)).collect();
        let mut heavy = SkewState::new(Some(skew)).unwrap();
        let start = thread_cpu_time();
        for piece in [&stream[..5], &stream[5..20], &stream[20..31], &stream[31..]] {
            heavy.on_read(piece);
        }
        let spent = thread_cpu_time() - start;
        assert!(
            spent >= Duration::from_millis(6),
            "spun {spent:?} for 3 messages"
        );
        // Connection 2 (plain): nothing spun.
        let stream: Vec<u8> = (0..3).flat_map(|seq| message(2, seq)).collect();
        let mut plain = SkewState::new(Some(skew)).unwrap();
        let start = thread_cpu_time();
        plain.on_read(&stream);
        let spent = thread_cpu_time() - start;
        assert!(
            spent < Duration::from_millis(2),
            "a plain connection spun {spent:?}"
        );
        assert_eq!(Skew::parse(&skew.to_arg()), Ok(skew));
        assert!(Skew::parse("1:2").is_err());
        assert!(
            Skew::parse("1:2:4").is_err(),
            "messages carry an 8-byte header"
        );
    }

    #[test]
    fn ready_lines_parse() {
        let ready = Ready::parse("ready 4242 floor: one thread\n").unwrap();
        assert_eq!(ready.addr.port(), 4242);
        assert_eq!(ready.description, "floor: one thread");
        assert_eq!(Ready::parse("listening on 4242"), None);
    }

    /// Every server that runs hyper answers the HTTP client through both
    /// load phases, every response checked; the others refuse, saying why.
    #[test]
    fn ringwork_and_tokio_servers_answer_http_and_the_others_refuse() {
        let ms = Duration::from_millis;
        for kind in ServerKind::every() {
            let listener = listen_for(kind).unwrap();
            let addr = listener.local_addr().unwrap();
            if let Some(reason) = kind.refuses(Service::Http) {
                let err = run_server(kind, listener, 2, Service::Http, |_| Ok(())).unwrap_err();
                assert_eq!(err.to_string(), reason);
                continue;
            }
            let (ready_tx, ready_rx) = mpsc::channel();
            thread::spawn(move || {
                let result = run_server(kind, listener, 2, Service::Http, move |description| {
                    assert!(description.contains("hyper"), "{description}");
                    let _ = ready_tx.send(());
                    Ok(())
                });
                panic!("{} server stopped: {result:?}", kind.name());
            });
            ready_rx
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("{} server not ready", kind.name()));
            let mut client = Client::connect_http(addr, 8).unwrap();
            let closed = client.closed_loop(ms(10), ms(50)).unwrap();
            assert!(closed.msgs_per_sec > 0.0, "{}", kind.name());
            let mut no_cpu = || {
                Ok(CpuSample {
                    clock: Duration::ZERO,
                    stat: Duration::ZERO,
                    switches: 0,
                })
            };
            let open = client
                .open_loop(2_000, ms(10), ms(50), &mut no_cpu)
                .unwrap();
            assert!(open.completed_in_window > 0, "{}", kind.name());
            client.finish().unwrap();
        }
    }

    /// Every server, run in a thread of the test (left running), echoes the
    /// exact bytes through both load phases and closes when the client does.
    #[test]
    fn every_server_echoes_every_byte_of_both_phases() {
        let ms = Duration::from_millis;
        for kind in ServerKind::every() {
            let listener = listen_for(kind).unwrap();
            let addr = listener.local_addr().unwrap();
            let (ready_tx, ready_rx) = mpsc::channel();
            thread::spawn(move || {
                let result = run_server(kind, listener, 2, Service::Echo, move |_| {
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
                        switches: 0,
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
