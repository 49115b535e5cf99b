//! The results of a comparison: summarised per workload, printed as a table
//! and written as JSON.
//!
//! Per workload and peer: every round's time and their median. Per workload
//! and non-reference peer: the ratio `peer / reference` of every round, and
//! their median with its min–max range — the number to quote, since each
//! ratio compares two runs made under the same machine conditions.

use crate::machine::MachineInfo;
use crate::peer::Peer;
use crate::runner::{CompareSettings, WorkloadTimes};
use crate::stats::Summary;
use crate::table::{format_range, format_table};
use crate::workloads::{Family, Scale};
use serde::Serialize;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// Everything a comparison measured, and what it was measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The machine and build.
    pub machine: MachineInfo,
    /// How the comparison was run.
    pub settings: SettingsReport,
    /// The peers, in column order.
    pub peers: Vec<PeerReport>,
    /// One entry per workload, in the order they ran.
    pub workloads: Vec<WorkloadReport>,
    /// The other families' sections (timers, I/O, busy_worker, ...), each
    /// under its own key in the JSON, printed after the scheduler and sync
    /// tables in the order they were added.
    #[serde(flatten)]
    pub sections: std::collections::BTreeMap<&'static str, serde_json::Value>,
    /// The sections' tables, as printed.
    #[serde(skip)]
    rendered: Vec<String>,
}

/// A family of workloads with a report of its own: it renders its own table
/// and says under which key its numbers go in the JSON.
pub trait Section: Serialize {
    /// The JSON key ("timers", "io", ...).
    fn key(&self) -> &'static str;
    /// Its tables, as printed.
    fn render(&self) -> String;
}

/// How the comparison was run.
#[derive(Debug, Clone, Serialize)]
pub struct SettingsReport {
    /// "quick" or "full".
    pub scale: &'static str,
    /// Worker threads of every runtime.
    pub workers: usize,
    /// Measured rounds per workload (after one warm-up run per peer).
    pub rounds: usize,
    /// How long runtimes lived.
    pub runtime_lifetime: &'static str,
    /// The fixed ringwork seed, if one was given.
    pub ringwork_seed: Option<u64>,
}

/// One peer of the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct PeerReport {
    /// Its column name.
    pub name: &'static str,
    /// What was built.
    pub description: &'static str,
    /// Whether ratios are taken against it.
    pub is_reference: bool,
    /// The drivers its runtimes actually ran, as seen on the built runtimes
    /// (one entry unless they differed between workloads).
    pub drivers_in_use: Vec<String>,
}

/// One workload's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadReport {
    /// The workload's name.
    pub name: &'static str,
    /// The table it is printed in: "scheduler" or "sync".
    pub family: Family,
    /// Its size, in words.
    pub size: String,
    /// Per round, the peers in the order they ran.
    pub run_order: Vec<Vec<&'static str>>,
    /// Per peer, in column order.
    pub times: Vec<PeerTimes>,
    /// Per non-reference peer: its time over the reference's.
    pub ratios: Vec<Ratio>,
}

/// One peer's times for one workload.
#[derive(Debug, Clone, Serialize)]
pub struct PeerTimes {
    /// The peer's name.
    pub peer: &'static str,
    /// Every round's time, in milliseconds.
    pub per_round_ms: Vec<f64>,
    /// Median and range of those times.
    pub summary_ms: Summary,
}

/// `numerator / denominator` time ratios for one workload (below 1: the
/// numerator is faster).
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    /// The peer measured.
    pub numerator: &'static str,
    /// The reference peer.
    pub denominator: &'static str,
    /// Every round's ratio.
    pub per_round: Vec<f64>,
    /// Median and range of those ratios.
    pub summary: Summary,
}

impl Report {
    /// Summarises `results` measured on `peers` with `settings`.
    ///
    /// # Panics
    ///
    /// If `results` holds no rounds, or timings for another peer list.
    pub fn new(
        machine: MachineInfo,
        peers: &[Peer],
        scale: Scale,
        settings: &CompareSettings,
        results: &[WorkloadTimes],
    ) -> Report {
        let reference = peers.iter().position(|peer| peer.is_reference);
        Report {
            machine,
            settings: SettingsReport {
                scale: match scale {
                    Scale::Full => "full",
                    Scale::Quick => "quick",
                },
                workers: settings.peer_settings.workers,
                rounds: settings.rounds,
                runtime_lifetime: settings.runtime_lifetime.describe(),
                ringwork_seed: settings.peer_settings.ringwork_seed,
            },
            peers: peers
                .iter()
                .enumerate()
                .map(|(index, peer)| {
                    let mut drivers_in_use: Vec<String> = Vec::new();
                    for times in results {
                        if let Some(drivers) = times.drivers.get(index) {
                            if !drivers_in_use.contains(drivers) {
                                drivers_in_use.push(drivers.clone());
                            }
                        }
                    }
                    PeerReport {
                        name: peer.name,
                        description: peer.description,
                        is_reference: peer.is_reference,
                        drivers_in_use,
                    }
                })
                .collect(),
            workloads: results
                .iter()
                .map(|times| summarise_workload(peers, reference, times))
                .collect(),
            sections: std::collections::BTreeMap::new(),
            rendered: Vec::new(),
        }
    }

    /// Adds a family's section (printed after the scheduler and sync
    /// tables, in the order added).
    pub fn with(mut self, section: &impl Section) -> Report {
        let json = serde_json::to_value(section)
            .unwrap_or_else(|err| serde_json::Value::String(format!("not serialisable: {err}")));
        self.sections.insert(section.key(), json);
        self.rendered.push(section.render());
        self
    }

    /// Writes the report as pretty-printed JSON to `path`.
    pub fn write_json(&self, path: &Path) -> io::Result<()> {
        let json = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        std::fs::write(path, json + "\n")
    }

    /// The header and the tables, as printed by `compare`: the scheduler
    /// table and the sync-primitives table (each when some of its workloads
    /// ran), then the other families' sections.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_header(&mut out);
        for family in Family::ALL {
            let workloads: Vec<&WorkloadReport> = self
                .workloads
                .iter()
                .filter(|workload| workload.family == family)
                .collect();
            if !workloads.is_empty() {
                let _ = writeln!(out, "\n{}", family.title());
                self.render_table(&workloads, &mut out);
            }
        }
        for section in &self.rendered {
            out.push_str(section);
        }
        out
    }

    fn render_header(&self, out: &mut String) {
        let machine = &self.machine;
        let cpus = machine
            .cpus
            .map_or_else(|| "? CPUs".to_owned(), |cpus| format!("{cpus} CPUs"));
        let settings = &self.settings;
        let seed = settings.ringwork_seed.map_or_else(
            || "per runtime, from RINGWORK_SEED or the clock".to_owned(),
            |seed| format!("{seed} (--seed)"),
        );
        // `writeln!` into a `String` cannot fail.
        let _ = writeln!(out, "ringwork-bench compare");
        let _ = writeln!(
            out,
            "machine:   {cpus} ({}), kernel {}",
            machine.cpu_model, machine.kernel
        );
        let _ = writeln!(
            out,
            "revision:  {}, {}",
            machine.git_revision, machine.rustc
        );
        if self.workloads.is_empty() {
            // No scheduler or sync workload ran: its peers and method do not apply.
            return;
        }
        for peer in &self.peers {
            let role = if peer.is_reference {
                " [reference]"
            } else {
                ""
            };
            let _ = writeln!(out, "peer:      {}: {}{role}", peer.name, peer.description);
            if !peer.drivers_in_use.is_empty() {
                let _ = writeln!(
                    out,
                    "           in use: {}",
                    peer.drivers_in_use.join(" | ")
                );
            }
        }
        let _ = writeln!(
            out,
            "runtimes:  {} workers each; {}; ringwork seed {seed}",
            settings.workers, settings.runtime_lifetime
        );
        let _ = writeln!(
            out,
            "method:    {} sizes; per workload 1 warm-up run per peer, then {} rounds with \
             the peers interleaved (first peer rotates each round); ratio taken per round",
            settings.scale, settings.rounds
        );
    }

    fn render_table(&self, workloads: &[&WorkloadReport], out: &mut String) {
        let mut header = vec!["workload".to_owned(), "size".to_owned()];
        header.extend(
            self.peers
                .iter()
                .map(|peer| format!("{} (median)", peer.name)),
        );
        let ratio_names: Vec<String> = workloads
            .first()
            .map(|workload| {
                workload
                    .ratios
                    .iter()
                    .map(|ratio| {
                        format!("{}/{} median [min-max]", ratio.numerator, ratio.denominator)
                    })
                    .collect()
            })
            .unwrap_or_default();
        header.extend(ratio_names);

        let mut rows = vec![header];
        for workload in workloads {
            let mut row = vec![workload.name.to_owned(), workload.size.clone()];
            row.extend(
                workload
                    .times
                    .iter()
                    .map(|times| format_millis(times.summary_ms.median)),
            );
            row.extend(
                workload
                    .ratios
                    .iter()
                    .map(|ratio| format_range(&ratio.summary)),
            );
            rows.push(row);
        }

        // Names left-aligned, numbers right-aligned.
        out.push_str(&format_table(&rows, 2));
        let _ = writeln!(
            out,
            "\ntimes: median wall-clock time of one run over the rounds; ratio: median of the \
             per-round ratios, with their min-max; below 1 means faster than the reference."
        );
    }
}

fn summarise_workload(
    peers: &[Peer],
    reference: Option<usize>,
    times: &WorkloadTimes,
) -> WorkloadReport {
    let per_peer_ms: Vec<Vec<f64>> = (0..peers.len())
        .map(|index| {
            times
                .rounds
                .iter()
                .map(|round| round.times[index].as_secs_f64() * 1e3)
                .collect()
        })
        .collect();
    let ratios = match reference {
        Some(reference) => (0..peers.len())
            .filter(|&index| index != reference)
            .map(|index| {
                let per_round: Vec<f64> = per_peer_ms[index]
                    .iter()
                    .zip(&per_peer_ms[reference])
                    .map(|(peer, reference)| peer / reference)
                    .collect();
                Ratio {
                    numerator: peers[index].name,
                    denominator: peers[reference].name,
                    summary: summary_of(&per_round),
                    per_round,
                }
            })
            .collect(),
        None => Vec::new(),
    };
    WorkloadReport {
        name: times.workload,
        family: times.family,
        size: times.size.clone(),
        run_order: times
            .rounds
            .iter()
            .map(|round| {
                round
                    .run_order
                    .iter()
                    .map(|&index| peers[index].name)
                    .collect()
            })
            .collect(),
        times: peers
            .iter()
            .zip(&per_peer_ms)
            .map(|(peer, per_round_ms)| PeerTimes {
                peer: peer.name,
                summary_ms: summary_of(per_round_ms),
                per_round_ms: per_round_ms.clone(),
            })
            .collect(),
        ratios,
    }
}

fn summary_of(samples: &[f64]) -> Summary {
    Summary::of(samples).expect("a measured workload has at least one round of finite times")
}

/// A time in milliseconds with about three significant digits and a unit.
fn format_millis(millis: f64) -> String {
    if millis >= 1_000.0 {
        format!("{:.2} s", millis / 1_000.0)
    } else if millis >= 100.0 {
        format!("{millis:.0} ms")
    } else if millis >= 10.0 {
        format!("{millis:.1} ms")
    } else if millis >= 1.0 {
        format!("{millis:.2} ms")
    } else {
        format!("{:.0} us", millis * 1_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::{format_millis, Report};
    use crate::machine::MachineInfo;
    use crate::peer::{default_peers, PeerSettings};
    use crate::runner::{CompareSettings, RoundTimes, RuntimeLifetime, WorkloadTimes};
    use crate::workloads::{Family, Scale};
    use std::time::Duration;

    fn times(workload: &'static str, family: Family, ringwork_ms: u64) -> WorkloadTimes {
        WorkloadTimes {
            workload,
            family,
            size: "some".to_owned(),
            rounds: vec![RoundTimes {
                run_order: vec![0, 1],
                times: vec![
                    Duration::from_millis(ringwork_ms),
                    Duration::from_millis(100),
                ],
            }],
            drivers: vec!["a".to_owned(), "b".to_owned()],
        }
    }

    #[test]
    fn scheduler_and_sync_workloads_get_a_table_each_and_ratios_in_json() {
        let settings = CompareSettings {
            rounds: 1,
            peer_settings: PeerSettings {
                workers: 2,
                ringwork_seed: None,
            },
            runtime_lifetime: RuntimeLifetime::PerWorkload,
            hang_timeout: Duration::from_secs(1),
            show_progress: false,
        };
        let results = [
            times("mpsc_1p", Family::Sync, 50),
            times("spawn_many", Family::Scheduler, 80),
        ];
        let report = Report::new(
            MachineInfo::detect(),
            &default_peers(),
            Scale::Quick,
            &settings,
            &results,
        );
        let rendered = report.render();
        let scheduler = rendered
            .find(Family::Scheduler.title())
            .expect("a scheduler table");
        let sync = rendered.find(Family::Sync.title()).expect("a sync table");
        let spawn_many = rendered.find("spawn_many").unwrap();
        let mpsc = rendered.find("mpsc_1p").unwrap();
        assert!(scheduler < spawn_many && spawn_many < sync && sync < mpsc);
        assert!(rendered.contains("0.50 [0.50-0.50]"), "{rendered}");

        let json = serde_json::to_value(&report).unwrap();
        let mpsc = &json["workloads"][0];
        assert_eq!(mpsc["name"], "mpsc_1p");
        assert_eq!(mpsc["family"], "sync");
        assert_eq!(mpsc["ratios"][0]["summary"]["median"], 0.5);
    }

    #[test]
    fn times_keep_about_three_significant_digits() {
        assert_eq!(format_millis(1234.0), "1.23 s");
        assert_eq!(format_millis(123.4), "123 ms");
        assert_eq!(format_millis(12.34), "12.3 ms");
        assert_eq!(format_millis(1.234), "1.23 ms");
        assert_eq!(format_millis(0.1234), "123 us");
    }
}
