//! Criterion benches of the scheduler workloads: one group per workload, with
//! a "ringwork" and a "tokio" function, running the same workload code as
//! `ringwork-bench compare` (at its `--quick` sizes; criterion repeats runs
//! itself).
//!
//! Criterion measures the peers one after the other, not interleaved, so on a
//! machine whose speed drifts its ringwork/tokio comparisons are weaker than
//! `compare`'s; these benches are for tracking one runtime over time.
//!
//! Each function builds its runtime once (outside the measurement) and reuses
//! it for every iteration. Samples are few and short so that `cargo bench -p
//! ringwork-bench` finishes in a few minutes.

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use ringwork_bench::peer::{default_peers, PeerSettings};
use ringwork_bench::workloads::{scheduler, Scale};
use std::time::Duration;

/// Worker threads of every runtime, as `compare`'s default.
const WORKERS: usize = 2;

fn scheduler_workloads(c: &mut Criterion) {
    let settings = PeerSettings {
        workers: WORKERS,
        ringwork_seed: None,
    };
    let peers = default_peers();
    for workload in scheduler::workloads(Scale::Quick) {
        let mut group = c.benchmark_group(workload.name());
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        for peer in &peers {
            let runtime = peer
                .build(&settings)
                .unwrap_or_else(|err| panic!("cannot build {}: {err}", peer.name));
            group.bench_function(peer.name, |bencher| {
                bencher.iter(|| {
                    workload
                        .run(&runtime)
                        .unwrap_or_else(|err| panic!("{} on {}: {err}", workload.name(), peer.name))
                });
            });
        }
        group.finish();
    }
}

criterion_group!(benches, scheduler_workloads);
criterion_main!(benches);
