//! Child processes: [`Command`] starts one, [`Child::wait`] awaits its exit
//! without a thread per child and without `SIGCHLD`: the child's pidfd
//! (`pidfd_open`, Linux 5.3+) becomes readable when it exits — awaited with
//! a `POLL_ADD` on io_uring or readiness on epoll — and `waitid(P_PIDFD)`
//! then reaps it. Its standard streams, when piped, are ringwork
//! [`File`]s over the pipes.
//!
//! A [`Child`] dropped before it was waited for is reaped in the
//! background (a task of the current runtime, or a thread outside one), so
//! no zombie is left; with [`Command::kill_on_drop`] it is killed first.
//!
//! ```
//! use ringwork::process::Command;
//! use std::process::Stdio;
//!
//! let runtime = ringwork::Runtime::new()?;
//! runtime.block_on(async {
//!     // asyncio's `create_subprocess_exec(...)` + `communicate(input)`:
//!     let mut child = Command::new("tr")
//!         .args(["a-z", "A-Z"])
//!         .stdin(Stdio::piped())
//!         .stdout(Stdio::piped())
//!         .spawn()?;
//!     let stdin = child.stdin.take().unwrap();
//!     let (written, _) = stdin.write_all(b"hello".to_vec()).await;
//!     written?;
//!     drop(stdin); // end of input
//!     let output = child.wait_with_output().await?;
//!     assert!(output.status.success());
//!     assert_eq!(output.stdout, b"HELLO");
//!
//!     // Or all at once, with `output`:
//!     let out = Command::new("echo").arg("hi").output().await?;
//!     assert_eq!(out.stdout, b"hi\n");
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

use crate::fs::File;
use crate::io::fd::SharedFd;
use crate::io::op::poll::{poll, Interest};
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};

/// A child's standard input: a pipe, written with [`File::write_all`].
pub type ChildStdin = File;
/// A child's standard output: a pipe, read with [`File::read`].
pub type ChildStdout = File;
/// A child's standard error: a pipe, read with [`File::read`].
pub type ChildStderr = File;

/// Builds and starts a child process, as `std::process::Command` does.
#[derive(Debug)]
pub struct Command {
    inner: std::process::Command,
    program: String,
    kill_on_drop: bool,
    /// `stdin` was set (else `output` gives the child `/dev/null`).
    stdin_set: bool,
}

impl Command {
    /// A command running `program` (looked up in `PATH` if it has no `/`).
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            program: program.as_ref().to_string_lossy().into_owned(),
            inner: std::process::Command::new(program),
            kill_on_drop: false,
            stdin_set: false,
        }
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env(key, value);
        self
    }

    /// Removes an environment variable.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env_remove(key);
        self
    }

    /// Starts from an empty environment.
    pub fn env_clear(&mut self) -> &mut Command {
        self.inner.env_clear();
        self
    }

    /// The child's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.inner.current_dir(dir);
        self
    }

    /// The child's standard input (inherited by default).
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.stdin_set = true;
        self.inner.stdin(cfg);
        self
    }

    /// The child's standard output (inherited by default).
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stdout(cfg);
        self
    }

    /// The child's standard error (inherited by default).
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stderr(cfg);
        self
    }

    /// Puts the child in process group `pgroup` (0: a new group of its own).
    pub fn process_group(&mut self, pgroup: i32) -> &mut Command {
        self.inner.process_group(pgroup);
        self
    }

    /// Runs the child as user `uid` (`setuid` in the child; needs the
    /// privilege to do so, else `spawn` fails with `PermissionDenied`).
    pub fn uid(&mut self, uid: u32) -> &mut Command {
        self.inner.uid(uid);
        self
    }

    /// Runs the child with group `gid` (`setgid` in the child).
    pub fn gid(&mut self, gid: u32) -> &mut Command {
        self.inner.gid(gid);
        self
    }

    /// Kill the child (`SIGKILL`) if its [`Child`] is dropped before it
    /// exited. Off by default: a dropped child runs on, and is reaped in
    /// the background when it exits.
    pub fn kill_on_drop(&mut self, kill: bool) -> &mut Command {
        self.kill_on_drop = kill;
        self
    }

    /// Starts the child. A program that cannot be started is an error of
    /// the kind the OS gave (`NotFound` for a missing one), naming it.
    pub fn spawn(&mut self) -> io::Result<Child> {
        let child = self.inner.spawn().map_err(|err| {
            io::Error::new(err.kind(), format!("starting {:?}: {err}", self.program))
        })?;
        Child::from_std(child, self.kill_on_drop)
    }

    /// Starts the child and waits for it to exit.
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        self.spawn()?.wait().await
    }

    /// Runs the child with its standard output and error captured (input
    /// from `/dev/null` unless set), reading both at once so that a child
    /// that fills one pipe while the other is read cannot deadlock.
    pub async fn output(&mut self) -> io::Result<Output> {
        if !self.stdin_set {
            self.inner.stdin(Stdio::null());
        }
        self.inner.stdout(Stdio::piped()).stderr(Stdio::piped());
        self.spawn()?.wait_with_output().await
    }
}

/// Everything from `pipe` until end of file (nothing if there is none).
async fn read_all(pipe: Option<File>) -> io::Result<Vec<u8>> {
    let Some(pipe) = pipe else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    loop {
        let (read, chunk) = pipe.read(Vec::with_capacity(64 * 1024)).await;
        if read? == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&chunk);
    }
}

/// A started child process.
#[derive(Debug)]
pub struct Child {
    pid: u32,
    pidfd: SharedFd,
    status: Option<ExitStatus>,
    kill_on_drop: bool,
    /// Its standard input, if piped.
    pub stdin: Option<ChildStdin>,
    /// Its standard output, if piped.
    pub stdout: Option<ChildStdout>,
    /// Its standard error, if piped.
    pub stderr: Option<ChildStderr>,
}

impl Child {
    fn from_std(mut child: std::process::Child, kill_on_drop: bool) -> io::Result<Child> {
        let pid = child.id();
        // SAFETY: pidfd_open takes a pid and flags, no pointers.
        let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if raw < 0 {
            let err = io::Error::last_os_error();
            // Without a pidfd there is nothing to await the child with:
            // do not leave it running unwatched.
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(
                err.kind(),
                format!("pidfd_open for child {pid} (Linux 5.3+ is needed): {err}"),
            ));
        }
        // SAFETY: pidfd_open returned a new descriptor nothing else owns.
        let pidfd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
        let pipe = |fd: OwnedFd| File::from_std(std::fs::File::from(fd));
        Ok(Child {
            pid,
            pidfd: SharedFd::new(pidfd),
            status: None,
            kill_on_drop,
            stdin: child.stdin.take().map(|p| pipe(p.into())),
            stdout: child.stdout.take().map(|p| pipe(p.into())),
            stderr: child.stderr.take().map(|p| pipe(p.into())),
        })
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// Waits for the child to exit and reaps it. Its stdin, if piped, is
    /// closed first, so a child reading it to the end can finish.
    ///
    /// Cancel safe: dropping the future leaves the child running and
    /// unreaped; a later `wait` or `try_wait` (or the drop of the `Child`)
    /// reaps it.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            poll(&self.pidfd, Interest::Read).await?;
        }
    }

    /// Closes the child's stdin (if piped), reads its stdout and stderr
    /// (those that are piped) to the end at the same time — a child that
    /// fills one pipe while the other is read cannot deadlock — and waits
    /// for it to exit (asyncio's `communicate()`).
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let (stdout, stderr) = (self.stdout.take(), self.stderr.take());
        let (stdout, stderr) = crate::join!(read_all(stdout), read_all(stderr));
        let status = self.wait().await?;
        Ok(Output {
            status,
            stdout: stdout?,
            stderr: stderr?,
        })
    }

    /// The exit status if the child has exited (reaping it), else `None`.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let status = waitid(&self.pidfd, libc::WNOHANG)?;
        self.status = status;
        Ok(status)
    }

    /// Sends `SIGKILL` (if the child has not been reaped yet) and waits for
    /// it to exit.
    pub async fn kill(&mut self) -> io::Result<ExitStatus> {
        self.start_kill()?;
        self.wait().await
    }

    /// Sends `SIGKILL` without waiting. A child already reaped is not
    /// signalled (its pid may have been reused: the pidfd cannot be).
    pub fn start_kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        send_signal(&self.pidfd, libc::SIGKILL)
    }
}

/// `pidfd_send_signal(2)`: signals exactly this child, never a process
/// that reused its pid. `ESRCH` (it exited, not yet reaped) is success.
fn send_signal(pidfd: &SharedFd, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: a pidfd we own, a signal number, no siginfo (NULL), flags 0.
    let res = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if res < 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ESRCH) {
            return Err(err);
        }
    }
    Ok(())
}

/// `waitid(P_PIDFD, ...)` with `WEXITED | flags`: the exit status, or
/// `None` if (with `WNOHANG`) it has not exited.
fn waitid(pidfd: &SharedFd, flags: libc::c_int) -> io::Result<Option<ExitStatus>> {
    /// `P_PIDFD` (linux/wait.h).
    const P_PIDFD: libc::idtype_t = 3;
    // SAFETY: all-zero bytes are a valid `siginfo_t`.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `info` is a live siginfo_t the call fills in.
        let res = unsafe {
            libc::waitid(
                P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED | flags,
            )
        };
        if res == 0 {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    // SAFETY: waitid filled `info` for a child-state change (or left the
    // zeroed pid for "not exited yet" under WNOHANG): the SIGCHLD fields
    // are the ones to read.
    let pid = unsafe { info.si_pid() };
    if pid == 0 {
        return Ok(None);
    }
    // SAFETY: as above; a state change was reported, so `si_status` is set.
    let status = unsafe { info.si_status() };
    // Back to the `wait(2)` status word `ExitStatus` is made from.
    let raw = match info.si_code {
        libc::CLD_EXITED => (status & 0xff) << 8,
        libc::CLD_KILLED => status & 0x7f,
        libc::CLD_DUMPED => (status & 0x7f) | 0x80,
        other => {
            return Err(io::Error::other(format!(
                "waitid reported child state {other}, not an exit"
            )))
        }
    };
    Ok(Some(ExitStatus::from_raw(raw)))
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        if self.kill_on_drop {
            let _ = send_signal(&self.pidfd, libc::SIGKILL);
        }
        if let Ok(Some(_)) = self.try_wait() {
            return;
        }
        // Reaped in the background when it exits: no zombie.
        let pidfd = self.pidfd.clone();
        if crate::context::runtime().is_some() {
            // Moved into the task: if the runtime shuts down before the
            // child was reaped (the task dropped, even before its first
            // poll), a thread takes over the wait.
            let mut reaper = ReapOnDrop(Some(pidfd));
            drop(crate::spawn(async move {
                let pidfd = reaper.0.clone().expect("set above");
                // `Ok(Some)`: reaped; `Err`: cannot be (ECHILD: someone
                // else did).
                while let Ok(None) = waitid(&pidfd, libc::WNOHANG) {
                    if poll(&pidfd, Interest::Read).await.is_err() {
                        // No driver left to wait with: block for it here.
                        let _ = waitid(&pidfd, 0);
                        break;
                    }
                }
                reaper.done();
            }));
        } else {
            reap_on_a_thread(pidfd);
        }
    }
}

/// Reaps a child on a thread of its own (blocking in `waitid`): for a child
/// dropped outside a runtime, or whose background reaper was dropped with
/// its runtime.
fn reap_on_a_thread(pidfd: SharedFd) {
    let _ = std::thread::Builder::new()
        .name("ringwork-reap".to_owned())
        .spawn(move || {
            let _ = waitid(&pidfd, 0);
        });
}

/// Hands the wait to a thread if the background reaper is dropped before
/// the child was reaped.
struct ReapOnDrop(Option<SharedFd>);

impl ReapOnDrop {
    /// The child was reaped (or cannot be): nothing left to do.
    fn done(&mut self) {
        self.0 = None;
    }
}

impl Drop for ReapOnDrop {
    fn drop(&mut self) {
        if let Some(pidfd) = self.0.take() {
            if let Ok(None) = waitid(&pidfd, libc::WNOHANG) {
                reap_on_a_thread(pidfd);
            }
        }
    }
}
