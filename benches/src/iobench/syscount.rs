//! Counting what a server process asks of the kernel, from outside: its
//! system calls (`raw_syscalls:sys_enter`), its `io_uring_enter` calls
//! (`syscalls:sys_enter_io_uring_enter`), and the SQEs it submits and CQEs
//! posted for it (`io_uring:io_uring_submit_req`, `io_uring:io_uring_complete`),
//! with `perf stat -p PID` — for any server, whatever runtime it is.
//!
//! Counting costs the server: with these tracepoints counting, every
//! system call took ~270 ns longer here (`dd bs=1`, 4M syscalls: 1.05 s
//! plain, 2.15 s counted), and ~70 ns longer with the events merely
//! attached and disabled (a registered syscall tracepoint sends every
//! thread through the slow syscall path). So counts are taken in a window
//! of their own, and perf has exited (its events closed) before anything
//! else is measured: a [`PerfSession`] is attached (events created
//! disabled, `--delay=-1`), enabled and disabled through perf's control
//! FIFO (`--control fifo:CTL,ACK`) at the window's edges — writes that do
//! not wait — and then stopped.
//!
//! Events are counted per thread of the process as it was when perf
//! attached (perf's `-p`): attach after the server has every thread it
//! will use (after the client connected, for a thread-per-connection
//! server). An io_uring CQE posted from another task's context (a
//! completion run in the client's softirq) is not the server's event and
//! is not counted.

use std::ffi::CString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Every system call entered.
pub const SYSCALLS: &str = "raw_syscalls:sys_enter";
/// `io_uring_enter` calls.
pub const ENTERS: &str = "syscalls:sys_enter_io_uring_enter";
/// SQEs the kernel took from the server's rings.
pub const SQES: &str = "io_uring:io_uring_submit_req";
/// CQEs posted in the server's context.
pub const CQES: &str = "io_uring:io_uring_complete";

/// How long perf may take to attach, or to exit when told.
const PERF_TIMEOUT: Duration = Duration::from_secs(10);

/// The events this machine's perf can count (see [`probe`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerfEvents {
    /// Tracepoint names, in the order of [`Counts`]' fields that exist.
    pub events: Vec<&'static str>,
}

/// Finds out whether `perf stat` can count the four events here (the
/// io_uring ones may be missing on an old kernel: then the two syscall
/// ones alone), or why not: perf missing, tracepoints closed to this user
/// (`perf_event_paranoid`, no tracefs), and so on.
pub fn probe() -> Result<PerfEvents, String> {
    let try_events = |events: &[&'static str]| -> Result<PerfEvents, String> {
        let output = Command::new("perf")
            .args(["stat", "-x", ",", "-e", &events.join(","), "--", "true"])
            .stdin(Stdio::null())
            .output();
        match output {
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                Err("perf not installed: apt-get install linux-perf".to_owned())
            }
            Err(err) => Err(format!("could not run perf: {err}")),
            Ok(output) if !output.status.success() => {
                let said = String::from_utf8_lossy(&output.stderr);
                let line = said
                    .lines()
                    .map(str::trim)
                    .find(|line| !line.is_empty())
                    .unwrap_or("no message");
                Err(format!("perf stat -e {} failed: {line}", events.join(",")))
            }
            Ok(_) => Ok(PerfEvents {
                events: events.to_vec(),
            }),
        }
    };
    try_events(&[SYSCALLS, ENTERS, SQES, CQES]).or_else(|_| try_events(&[SYSCALLS, ENTERS]))
}

/// Events counted in one window (`None`: not counted here).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    /// System calls.
    pub syscalls: Option<u64>,
    /// `io_uring_enter` calls.
    pub enters: Option<u64>,
    /// SQEs submitted.
    pub sqes: Option<u64>,
    /// CQEs posted.
    pub cqes: Option<u64>,
}

impl Counts {
    /// Each count divided by `ops`.
    pub fn per(&self, ops: u64) -> PerOp {
        let per = |count: Option<u64>| count.map(|count| count as f64 / ops as f64);
        PerOp {
            syscalls: per(self.syscalls),
            enters: per(self.enters),
            sqes: per(self.sqes),
            cqes: per(self.cqes),
        }
    }
}

/// [`Counts`] per operation.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PerOp {
    /// System calls per operation.
    pub syscalls: Option<f64>,
    /// `io_uring_enter` calls per operation.
    pub enters: Option<f64>,
    /// SQEs per operation.
    pub sqes: Option<f64>,
    /// CQEs per operation.
    pub cqes: Option<f64>,
}

/// Reads `perf stat -x ,` output: `VALUE,UNIT,EVENT,...` lines; a counter
/// that never ran while enabled (`<not counted>`: no thread of the process
/// was on a CPU) counts 0, one perf could not count (`<not supported>`) is
/// `None`, like an event not listed.
pub fn parse_perf_stat(text: &str) -> Counts {
    let mut counts = Counts::default();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(',').collect();
        let [value, _unit, event, ..] = fields[..] else {
            continue;
        };
        let value = match value.trim() {
            "<not counted>" => Some(0),
            other => other.parse::<u64>().ok(),
        };
        let slot = match event.trim() {
            SYSCALLS => &mut counts.syscalls,
            ENTERS => &mut counts.enters,
            SQES => &mut counts.sqes,
            CQES => &mut counts.cqes,
            _ => continue,
        };
        *slot = value;
    }
    counts
}

/// A `perf stat` attached to a process, its events disabled until
/// [`enable`](PerfSession::enable).
#[derive(Debug)]
pub struct PerfSession {
    child: Child,
    /// perf's control FIFO (we write commands).
    control: File,
    /// perf's acknowledgement FIFO (it writes `ack\n` per command).
    ack: File,
    /// Commands not yet acknowledged.
    unacked: usize,
    dir: PathBuf,
    output: PathBuf,
}

impl PerfSession {
    /// Attaches `perf stat` with `events` to process `pid` and waits until
    /// it has created its (disabled) events. perf runs with the CPU
    /// affinity of the calling thread.
    pub fn attach(pid: u32, events: &PerfEvents) -> io::Result<PerfSession> {
        let dir = std::env::temp_dir().join(format!(
            "ringwork-bench-perf-{}-{pid}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.subsec_nanos())
        ));
        fs::create_dir(&dir)?;
        let removal = RemoveDir(dir.clone());
        let (control_path, ack_path) = (dir.join("control"), dir.join("ack"));
        mkfifo(&control_path)?;
        mkfifo(&ack_path)?;
        // Opened read-write, a FIFO's open does not wait for the other end
        // (Linux), and a write cannot fail for want of a reader.
        let open = |path: &Path| fs::OpenOptions::new().read(true).write(true).open(path);
        let (control, ack) = (open(&control_path)?, open(&ack_path)?);
        let output = dir.join("counts");
        let child = Command::new("perf")
            .arg("stat")
            .args(["-x", ","])
            .args(["-e", &events.events.join(",")])
            .arg("--delay=-1")
            .arg(format!(
                "--control=fifo:{},{}",
                control_path.display(),
                ack_path.display()
            ))
            .arg("-o")
            .arg(&output)
            .args(["-p", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        std::mem::forget(removal);
        let mut session = PerfSession {
            child,
            control,
            ack,
            unacked: 0,
            dir,
            output,
        };
        // An acknowledged command means the events exist (disabled).
        session.command("disable")?;
        session.wait_acks()?;
        Ok(session)
    }

    /// Starts counting (does not wait for perf to act on it).
    pub fn enable(&mut self) -> io::Result<()> {
        self.command("enable")
    }

    /// Stops counting (does not wait for perf to act on it).
    pub fn disable(&mut self) -> io::Result<()> {
        self.command("disable")
    }

    fn command(&mut self, command: &str) -> io::Result<()> {
        self.control.write_all(format!("{command}\n").as_bytes())?;
        self.unacked += 1;
        Ok(())
    }

    /// Waits for every command's acknowledgement.
    fn wait_acks(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + PERF_TIMEOUT;
        let mut seen = String::new();
        while self.unacked > 0 {
            if let Some(status) = self.child.try_wait()? {
                return Err(self.failed(&format!("perf exited ({status})")));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "perf did not acknowledge {} control command(s) in {PERF_TIMEOUT:?} \
                         (it answered {seen:?})",
                        self.unacked
                    ),
                ));
            }
            let mut pollfd = libc::pollfd {
                fd: self.ack.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one live pollfd, its count passed; the timeout is
            // bounded (at most 100 ms, so that a dead perf is noticed).
            let ready = unsafe { libc::poll(&mut pollfd, 1, left.as_millis().min(100) as i32) };
            super::sys::check(ready)?;
            if ready == 0 {
                continue;
            }
            let mut buf = [0u8; 64];
            let n = self.ack.read(&mut buf)?;
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            while let Some(end) = seen.find('\n') {
                // perf writes the tag with its C string's NUL ("ack\n\0"):
                // the NUL starts the next line.
                let line = seen[..end].trim_matches(|c: char| c.is_whitespace() || c == '\0');
                if line == "ack" {
                    self.unacked -= 1;
                }
                seen.drain(..=end);
            }
        }
        Ok(())
    }

    /// An error with the end of perf's standard error.
    fn failed(&mut self, what: &str) -> io::Error {
        let mut said = String::new();
        if let Some(stderr) = self.child.stderr.as_mut() {
            let _ = stderr.read_to_string(&mut said);
        }
        let line = said
            .lines()
            .map(str::trim)
            .rfind(|line| !line.is_empty())
            .unwrap_or("");
        io::Error::other(format!("{what}: {line}"))
    }

    /// Waits for the last commands' acknowledgements, stops perf (SIGINT:
    /// it writes its counts and closes its events) and reads the counts.
    pub fn finish(mut self) -> io::Result<Counts> {
        self.wait_acks()?;
        // SAFETY: signalling our own child, still running (not waited for).
        let res = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        super::sys::check(res)?;
        let deadline = Instant::now() + PERF_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "perf did not exit after SIGINT",
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let text = fs::read_to_string(&self.output)
            .map_err(|err| self.failed(&format!("perf ({status}) wrote no counts: {err}")))?;
        Ok(parse_perf_stat(&text))
    }
}

impl Drop for PerfSession {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Removes a directory tree when dropped (until forgotten).
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn mkfifo(path: &Path) -> io::Result<()> {
    let path = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: `path` is a NUL-terminated string that lives across the call.
    let res = unsafe { libc::mkfifo(path.as_ptr(), 0o600) };
    super::sys::check(res).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_stat_csv_gives_each_event_its_count() {
        let text = "# started on Thu Dec  3 19:02:33 2026\n\n\
            8379,,raw_syscalls:sys_enter,109210670,100.00,,\n\
            <not counted>,,syscalls:sys_enter_io_uring_enter,0,100.00,,\n\
            <not supported>,,io_uring:io_uring_submit_req,0,100.00,,\n\
            12,,some:other_event,109210670,100.00,,\n\
            Events disabled\n";
        let counts = parse_perf_stat(text);
        assert_eq!(counts.syscalls, Some(8379));
        assert_eq!(counts.enters, Some(0));
        assert_eq!(counts.sqes, None);
        assert_eq!(counts.cqes, None);
        let per = counts.per(1000);
        assert_eq!(per.syscalls, Some(8.379));
        assert_eq!(per.enters, Some(0.0));
        assert_eq!(per.sqes, None);
    }

    /// Attaches to a child that makes system calls, when perf can count
    /// here; says so and passes when it cannot (no perf, no tracepoints).
    #[test]
    fn a_session_counts_only_while_enabled() {
        let events = match probe() {
            Ok(events) => events,
            Err(reason) => {
                eprintln!("skipped: {reason}");
                return;
            }
        };
        // A shell starting `cat` after `cat`: its own forks and waits are
        // system calls, counted only while enabled.
        struct KillOnDrop(Child);
        impl Drop for KillOnDrop {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let child = KillOnDrop(
            Command::new("sh")
                .args(["-c", "while :; do cat /dev/null; done"])
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let session = PerfSession::attach(child.0.id(), &events).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let idle = session.finish().unwrap();
        assert_eq!(idle.syscalls.unwrap_or(0), 0, "{idle:?}");
        let mut session = PerfSession::attach(child.0.id(), &events).unwrap();
        session.enable().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        session.disable().unwrap();
        let counted = session.finish().unwrap();
        drop(child);
        // The shell forks a `cat` per loop: at least a few system calls.
        assert!(counted.syscalls.unwrap() > 0, "{counted:?}");
    }
}
