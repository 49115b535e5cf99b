//! The few libc calls the I/O workloads make directly: CPU pinning, another
//! process's CPU time, and a checked-return helper.

use std::io;
use std::mem;
use std::time::Duration;

/// `Ok(value)` unless the call returned -1, in which case `errno`.
pub fn check(res: libc::c_int) -> io::Result<libc::c_int> {
    if res == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(res)
    }
}

/// `Ok(value)` unless the call returned -1, in which case `errno` (for calls
/// returning `ssize_t`).
pub fn check_size(res: libc::ssize_t) -> io::Result<usize> {
    if res < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(res as usize)
    }
}

/// Number of CPUs a `cpu_set_t` can name (1024 bits).
const CPU_SET_WORDS: usize = mem::size_of::<libc::cpu_set_t>() / mem::size_of::<libc::c_ulong>();

/// Restricts the calling thread (and the threads and processes it creates
/// afterwards) to CPU `cpu`.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    let bits = 8 * mem::size_of::<libc::c_ulong>();
    if cpu >= CPU_SET_WORDS * bits {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("CPU {cpu} is beyond what a cpu_set_t can name"),
        ));
    }
    // A `cpu_set_t` is an array of `c_ulong` bit words; build it by hand.
    let mut mask = [0 as libc::c_ulong; CPU_SET_WORDS];
    mask[cpu / bits] |= 1 << (cpu % bits);
    // SAFETY: `mask` has the size and layout of a `cpu_set_t` and outlives the
    // call; pid 0 is the calling thread.
    let res = unsafe {
        libc::sched_setaffinity(
            0,
            mem::size_of_val(&mask),
            mask.as_ptr().cast::<libc::cpu_set_t>(),
        )
    };
    check(res).map(drop).map_err(|err| {
        io::Error::new(
            err.kind(),
            format!("pinning a thread to CPU {cpu} (sched_setaffinity): {err}"),
        )
    })
}

/// The CPU time clock of another process: all its threads, live and exited,
/// user and system time together, with nanosecond resolution (unlike the
/// 10 ms ticks of `/proc/<pid>/stat`).
#[derive(Debug, Clone, Copy)]
pub struct ProcessCpuClock {
    pid: libc::pid_t,
    clock: libc::clockid_t,
}

impl ProcessCpuClock {
    /// The CPU clock of process `pid`.
    pub fn of(pid: u32) -> io::Result<ProcessCpuClock> {
        let pid = libc::pid_t::try_from(pid)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
        let mut clock: libc::clockid_t = 0;
        // SAFETY: `clock` is a live local the call writes one clockid into.
        let res = unsafe { libc::clock_getcpuclockid(pid, &mut clock) };
        if res != 0 {
            // This call returns the error number instead of setting errno.
            return Err(io::Error::from_raw_os_error(res));
        }
        Ok(ProcessCpuClock { pid, clock })
    }

    /// CPU time the process has used so far.
    pub fn read(&self) -> io::Result<Duration> {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a live local the call writes one timespec into.
        let res = unsafe { libc::clock_gettime(self.clock, &mut now) };
        check(res).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("reading the CPU clock of process {}: {err}", self.pid),
            )
        })?;
        Ok(Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
    }
}

/// `utime + stime` of process `pid` from `/proc/<pid>/stat`, converted from
/// clock ticks (`sysconf(_SC_CLK_TCK)`, 10 ms here): the coarse cross-check
/// of [`ProcessCpuClock`].
pub fn proc_stat_cpu(pid: u32) -> io::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces: the
    // fields after the last ')' start at field 3 (state).
    let after_name = stat
        .rfind(')')
        .map(|end| &stat[end + 1..])
        .ok_or_else(|| io::Error::other(format!("/proc/{pid}/stat has no command name")))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15, i.e. indices 11 and 12 here.
    let ticks = |index: usize| -> io::Result<u64> {
        fields
            .get(index)
            .and_then(|field| field.parse().ok())
            .ok_or_else(|| io::Error::other(format!("/proc/{pid}/stat: bad field {index}")))
    };
    ticks_to_duration(ticks(11)? + ticks(12)?)
}

/// Context switches of every thread of process `pid` so far: the sum of
/// `voluntary_ctxt_switches` and `nonvoluntary_ctxt_switches` over
/// `/proc/<pid>/task/*/status`. (A thread that exited takes its count with
/// it; the servers' threads live as long as the process.)
pub fn context_switches(pid: u32) -> io::Result<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let Ok(status) = std::fs::read_to_string(task?.path().join("status")) else {
            // The thread exited between the listing and the read.
            continue;
        };
        for line in status.lines() {
            let count = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"));
            if let Some(count) = count {
                total += count.trim().parse::<u64>().map_err(|err| {
                    io::Error::other(format!("/proc/{pid}/task/*/status: {line:?}: {err}"))
                })?;
            }
        }
    }
    Ok(total)
}

/// `ticks` clock ticks (`sysconf(_SC_CLK_TCK)`) as a duration.
fn ticks_to_duration(ticks: u64) -> io::Result<Duration> {
    // SAFETY: `sysconf` only reads a configuration value.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks_per_second <= 0 {
        return Err(io::Error::other("sysconf(_SC_CLK_TCK) failed"));
    }
    Ok(Duration::from_secs_f64(
        ticks as f64 / ticks_per_second as f64,
    ))
}

/// Process flag of kernel threads (`PF_KTHREAD`, field 9 of
/// `/proc/<pid>/stat`).
const PF_KTHREAD: u64 = 0x0020_0000;

/// CPU time used so far by every user-space process except `exclude`,
/// including what their exited and reaped children used (`cutime`,
/// `cstime`), so that the difference of two readings counts short-lived
/// processes too (a compiler job that starts and ends in between shows up in
/// its parent's children time). Kernel threads are left out. Resolution:
/// clock ticks.
///
/// On a shared machine this tells whether something else competed for the
/// CPUs during a measurement.
pub fn other_processes_cpu(exclude: &[u32]) -> io::Result<Duration> {
    // SAFETY: `sysconf` only reads a configuration value.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks_per_second <= 0 {
        return Err(io::Error::other("sysconf(_SC_CLK_TCK) failed"));
    }
    let mut total_ticks: u64 = 0;
    for entry in std::fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        if exclude.contains(&pid) {
            continue;
        }
        // A process may exit while we look: skip what cannot be read.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(end) = stat.rfind(')') else { continue };
        let fields: Vec<&str> = stat[end + 1..].split_whitespace().collect();
        let field = |index: usize| -> u64 {
            fields
                .get(index)
                .and_then(|field| field.parse::<i64>().ok())
                .map_or(0, |value| value.max(0) as u64)
        };
        if field(6) & PF_KTHREAD != 0 {
            continue;
        }
        total_ticks += field(11) + field(12) + field(13) + field(14);
    }
    Ok(Duration::from_secs_f64(
        total_ticks as f64 / ticks_per_second as f64,
    ))
}

/// Sets the calling thread's timer slack (how late the kernel may end its
/// timed waits, 50 us by default) to `nanos`: the load generator's waits
/// until the next scheduled send must not drift by tens of microseconds.
pub fn set_timer_slack(nanos: libc::c_ulong) -> io::Result<()> {
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and touches no
    // memory of ours.
    let res = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, nanos, 0, 0, 0) };
    check(res).map(drop)
}

/// Time the hypervisor ran something else while this machine's CPUs wanted
/// to run (the `steal` column of `/proc/stat`'s `cpu` line), summed over
/// every CPU. Zero on bare metal.
pub fn steal_time() -> io::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat
        .lines()
        .find(|line| line.starts_with("cpu "))
        .ok_or_else(|| io::Error::other("/proc/stat has no `cpu` line"))?;
    // cpu user nice system idle iowait irq softirq steal ...
    let steal: u64 = line
        .split_whitespace()
        .nth(8)
        .and_then(|field| field.parse().ok())
        .ok_or_else(|| io::Error::other(format!("/proc/stat: no steal column in {line:?}")))?;
    ticks_to_duration(steal)
}

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit (10,000
/// connections need more than the usual soft 1024); returns the new soft
/// limit.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a live rlimit the call fills.
    check(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) })?;
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: `limit` is a live rlimit the call reads; raising the soft
        // limit up to the hard one needs no privilege.
        check(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) })?;
    }
    Ok(limit.rlim_cur)
}

/// The resident set size of process `pid` (`VmRSS` of
/// `/proc/<pid>/status`), KiB.
pub fn vm_rss_kib(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| io::Error::other(format!("/proc/{pid}/status has no VmRSS line")))
}

#[cfg(test)]
mod tests {
    use super::context_switches;
    use std::time::Duration;

    /// Sleeping gives the CPU up: each sleep is a voluntary switch that the
    /// count over the process's threads must show.
    #[test]
    fn context_switches_count_a_sleeping_threads_switches() {
        let pid = std::process::id();
        let before = context_switches(pid).unwrap();
        let sleeper = std::thread::spawn(|| {
            for _ in 0..20 {
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        // Read while the sleeper is alive: an exited thread's count leaves
        // the process's task list.
        std::thread::sleep(Duration::from_millis(10));
        let during = context_switches(pid).unwrap();
        sleeper.join().unwrap();
        assert!(
            during >= before + 5,
            "{before} switches before, {during} while a thread slept in 1 ms steps"
        );
    }
}
