//! Resource samples and the criterion that says whether one grew without
//! bound.
//!
//! The criterion: split the one-per-second samples of a run into thirds;
//! the resource **grew** if the median of the last third exceeds the median
//! of the middle third by more than the slack, `max(absolute, relative x
//! middle median)`. The first third is left out: it holds the warm-up
//! (allocator arenas, buffer pools, the blocking pool reaching its working
//! size). Medians, not means or maxima, so that a burst (a churn of
//! connections in flight at one sample, the blocking pool at its peak) moves
//! neither. A resource that leaks at a steady rate `r` per second is caught
//! once `r x (run / 3)` exceeds the slack: in a 60 s run that is about 0.8
//! fds/s, 0.4 threads/s or 0.8 MiB/s of RSS; in 30 minutes 0.027 fds/s,
//! 0.013 threads/s, 27 KiB/s. Slower leaks need longer runs; a leak that stops
//! before the middle third is not growth without bound and passes.

use std::fmt;

/// Fewest samples the criterion judges (three per third).
pub const MIN_SAMPLES: usize = 9;

/// One reading of the process's resources.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// Seconds since the soak started.
    pub secs: u64,
    /// `VmRSS` of `/proc/self/status`, in KiB.
    pub rss_kib: u64,
    /// Entries of `/proc/self/fd` (without the one reading it).
    pub fds: u64,
    /// `Threads` of `/proc/self/status`: ours and the kernel's io_uring
    /// workers (`iou-wrk-*`, which io-wq starts for work it cannot do
    /// inline and stops when idle) alike.
    pub threads: u64,
    /// Of `threads`, the kernel's io_uring workers.
    pub io_wq: u64,
}

impl Sample {
    /// Reads this process's numbers now.
    pub fn now(secs: u64) -> std::io::Result<Sample> {
        let status = std::fs::read_to_string("/proc/self/status")?;
        let field = |name: &str| -> std::io::Result<u64> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
                .ok_or_else(|| std::io::Error::other(format!("/proc/self/status has no {name}")))
        };
        Ok(Sample {
            secs,
            rss_kib: field("VmRSS")?,
            fds: open_fds()?,
            threads: field("Threads")?,
            io_wq: io_wq_threads(),
        })
    }
}

/// Threads of this process named `iou-wrk-*` (the kernel's io-wq workers).
fn io_wq_threads() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|comm| comm.starts_with("iou-wrk"))
        })
        .count() as u64
}

/// Open file descriptors of this process, not counting the directory handle
/// used to list them.
pub fn open_fds() -> std::io::Result<u64> {
    let entries = std::fs::read_dir("/proc/self/fd")?.count() as u64;
    Ok(entries.saturating_sub(1))
}

/// How much a resource may grow between the middle and the last third.
#[derive(Clone, Copy, Debug)]
pub struct Slack {
    /// Always allowed, in the resource's unit.
    pub absolute: f64,
    /// Allowed as a fraction of the middle third's median (0.25: +25 %).
    pub relative: f64,
}

/// The criterion's numbers for one resource.
#[derive(Clone, Copy, Debug)]
pub struct Verdict {
    /// Median of the middle third.
    pub middle: f64,
    /// Median of the last third.
    pub last: f64,
    /// The growth allowed: `max(absolute, relative x middle)`.
    pub allowed: f64,
}

impl Verdict {
    /// True if the last third's median exceeds the middle's by more than
    /// the slack.
    pub fn grew(&self) -> bool {
        self.last - self.middle > self.allowed
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "median {:.1} (middle third) -> {:.1} (last third), {:+.1}, allowed +{:.1}: {}",
            self.middle,
            self.last,
            self.last - self.middle,
            self.allowed,
            if self.grew() { "GREW" } else { "ok" }
        )
    }
}

/// Judges `series` (one value per second, in order); `None` with fewer than
/// [`MIN_SAMPLES`] values.
pub fn judge(series: &[f64], slack: Slack) -> Option<Verdict> {
    if series.len() < MIN_SAMPLES {
        return None;
    }
    let third = series.len() / 3;
    let middle = median(&series[third..2 * third]);
    let last = median(&series[series.len() - third..]);
    Some(Verdict {
        middle,
        last,
        allowed: slack.absolute.max(slack.relative * middle),
    })
}

/// The median (the mean of the two middle values for an even count).
///
/// # Panics
/// On an empty slice (callers pass thirds of at least three).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soak::check::Rng;

    const FDS: Slack = Slack {
        absolute: 16.0,
        relative: 0.0,
    };
    const RSS_MIB: Slack = Slack {
        absolute: 16.0,
        relative: 0.25,
    };

    fn noise(rng: &mut Rng, amplitude: f64) -> f64 {
        (rng.next_u64() % 10_001) as f64 / 10_000.0 * 2.0 * amplitude - amplitude
    }

    #[test]
    fn a_steady_leak_is_growth() {
        // One fd a second for a minute: +20 between the thirds' medians.
        let series: Vec<f64> = (0..60).map(|t| 40.0 + t as f64).collect();
        let verdict = judge(&series, FDS).unwrap();
        assert!(verdict.grew(), "{verdict}");
        // 100 KiB/s of RSS over 30 minutes.
        let series: Vec<f64> = (0..1800).map(|t| 30.0 + t as f64 * 0.1).collect();
        assert!(judge(&series, RSS_MIB).unwrap().grew());
    }

    #[test]
    fn a_leak_with_noise_on_top_is_still_growth() {
        let mut rng = Rng::new(11);
        let series: Vec<f64> = (0..120)
            .map(|t| 50.0 + t as f64 * 0.5 + noise(&mut rng, 10.0))
            .collect();
        assert!(judge(&series, FDS).unwrap().grew());
    }

    #[test]
    fn a_flat_noisy_series_is_not_growth() {
        let mut rng = Rng::new(12);
        for _ in 0..100 {
            // fds swinging +-15 around 60 with connections in flight.
            let series: Vec<f64> = (0..60).map(|_| 60.0 + noise(&mut rng, 15.0)).collect();
            let verdict = judge(&series, FDS).unwrap();
            assert!(!verdict.grew(), "{verdict}");
        }
    }

    #[test]
    fn warm_up_in_the_first_third_and_bursts_are_not_growth() {
        let mut rng = Rng::new(13);
        let series: Vec<f64> = (0..90)
            .map(|t| {
                // RSS climbs to its working size in 20 s, then stays, with
                // a burst every 7 s.
                let base = 20.0 + (t.min(20) as f64) * 2.0;
                let burst = if t % 7 == 0 { 30.0 } else { 0.0 };
                base + burst + noise(&mut rng, 2.0)
            })
            .collect();
        let verdict = judge(&series, RSS_MIB).unwrap();
        assert!(!verdict.grew(), "{verdict}");
    }

    #[test]
    fn the_relative_slack_scales_with_the_working_size() {
        // 1000 MiB working set growing by 200 MiB: under 25 %.
        let mut series = vec![1000.0; 30];
        series.extend(vec![1200.0; 15]);
        let verdict = judge(&series, RSS_MIB).unwrap();
        assert_eq!(verdict.allowed, 250.0);
        assert!(!verdict.grew());
        // ... by 300 MiB: over.
        let mut series = vec![1000.0; 30];
        series.extend(vec![1300.0; 15]);
        assert!(judge(&series, RSS_MIB).unwrap().grew());
    }

    #[test]
    fn too_few_samples_are_not_judged() {
        assert!(judge(&[1.0; MIN_SAMPLES - 1], FDS).is_none());
        assert!(judge(&[1.0; MIN_SAMPLES], FDS).is_some());
    }

    #[test]
    fn this_process_can_be_sampled() {
        let sample = Sample::now(0).unwrap();
        assert!(sample.rss_kib > 0 && sample.fds >= 3 && sample.threads >= 1);
    }
}
