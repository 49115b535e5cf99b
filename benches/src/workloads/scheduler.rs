//! Scheduler workloads: spawning, yielding and waking, with no I/O.
//!
//! Each workload is a struct holding its size, with one body generic over
//! [`SchedulerRuntime`], so ringwork and tokio run the very same code. Every
//! body counts what it did (tasks completed, yields, round trips, chain links)
//! and the run fails when the count is not the expected one.
//!
//! | workload | what it stresses |
//! | --- | --- |
//! | `spawn_many` | spawning from a worker (the local queue) and joining |
//! | `spawn_many_remote` | spawning from a non-runtime thread (the injector) and joining |
//! | `yield_many` | requeueing: many tasks each yielding many times |
//! | `ping_pong` | wake-up latency: pairs of tasks bouncing a message |
//! | `chained_spawn` | spawn-to-run latency: each task spawns the next |

use super::{Family, Scale, Workload, WorkloadError};
use crate::handoff::Mailbox;
use crate::peer::SchedulerRuntime;
use std::sync::Arc;

/// The scheduler workloads at `scale`, in report order.
pub fn workloads(scale: Scale) -> Vec<Box<dyn Workload>> {
    match scale {
        Scale::Full => vec![
            Box::new(SpawnMany { tasks: 100_000 }),
            Box::new(SpawnManyRemote { tasks: 100_000 }),
            Box::new(YieldMany {
                tasks: 200,
                yields_per_task: 1_000,
            }),
            Box::new(PingPong {
                pairs: 100,
                round_trips: 1_000,
            }),
            Box::new(ChainedSpawn {
                depth: 1_000,
                chains: 100,
            }),
        ],
        Scale::Quick => vec![
            Box::new(SpawnMany { tasks: 50_000 }),
            Box::new(SpawnManyRemote { tasks: 50_000 }),
            Box::new(YieldMany {
                tasks: 100,
                yields_per_task: 1_000,
            }),
            Box::new(PingPong {
                pairs: 50,
                round_trips: 1_000,
            }),
            Box::new(ChainedSpawn {
                depth: 1_000,
                chains: 30,
            }),
        ],
    }
}

/// A workload whose body is generic over the runtime; `peer_workload!`'s
/// `run` picks the concrete runtime out of a `PeerRuntime`.
trait SchedulerWorkload {
    fn run_on<R: SchedulerRuntime>(&self, runtime: &R) -> Result<(), WorkloadError>;
}

/// Sum of `0..n`: what the spawn workloads' outputs must add up to.
pub(crate) fn sum_below(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

/// From inside a task (the worker-local spawn path), spawns `tasks` tasks and
/// awaits all their join handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpawnMany {
    /// Tasks spawned per run.
    pub tasks: u64,
}

impl SpawnMany {
    const NAME: &'static str = "spawn_many";
}

peer_workload!(
    SpawnMany,
    Family::Scheduler,
    fn size(&self) -> String {
        format!("{} tasks", self.tasks)
    }
);

impl SchedulerWorkload for SpawnMany {
    fn run_on<R: SchedulerRuntime>(&self, runtime: &R) -> Result<(), WorkloadError> {
        let tasks = self.tasks;
        let spawner = runtime.spawn(async move {
            let mut handles = Vec::with_capacity(tasks as usize);
            for index in 0..tasks {
                handles.push(R::spawn_current(async move { index }));
            }
            join_and_sum::<R>(handles).await
        });
        let joined = runtime.block_on(spawner);
        let (completed, sum) = flatten(Self::NAME, joined)?;
        WorkloadError::check_count(Self::NAME, "tasks completed", tasks, completed)?;
        WorkloadError::check_count(Self::NAME, "as the sum of outputs", sum_below(tasks), sum)
    }
}

/// Spawns `tasks` tasks from the calling thread, outside the runtime (the
/// injector path), then blocks on their join handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpawnManyRemote {
    /// Tasks spawned per run.
    pub tasks: u64,
}

impl SpawnManyRemote {
    const NAME: &'static str = "spawn_many_remote";
}

peer_workload!(
    SpawnManyRemote,
    Family::Scheduler,
    fn size(&self) -> String {
        format!("{} tasks", self.tasks)
    }
);

impl SchedulerWorkload for SpawnManyRemote {
    fn run_on<R: SchedulerRuntime>(&self, runtime: &R) -> Result<(), WorkloadError> {
        let handles: Vec<_> = (0..self.tasks)
            .map(|index| runtime.spawn(async move { index }))
            .collect();
        let joined = runtime.block_on(join_and_sum::<R>(handles));
        let (completed, sum) =
            joined.map_err(|err| WorkloadError::task_failed(Self::NAME, &err))?;
        WorkloadError::check_count(Self::NAME, "tasks completed", self.tasks, completed)?;
        WorkloadError::check_count(
            Self::NAME,
            "as the sum of outputs",
            sum_below(self.tasks),
            sum,
        )
    }
}

/// Spawns `tasks` tasks from outside the runtime, each yielding
/// `yields_per_task` times before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YieldMany {
    /// Tasks per run.
    pub tasks: u64,
    /// `yield_now().await`s per task.
    pub yields_per_task: u64,
}

impl YieldMany {
    const NAME: &'static str = "yield_many";
}

peer_workload!(
    YieldMany,
    Family::Scheduler,
    fn size(&self) -> String {
        format!("{} tasks x {} yields", self.tasks, self.yields_per_task)
    }
);

impl SchedulerWorkload for YieldMany {
    fn run_on<R: SchedulerRuntime>(&self, runtime: &R) -> Result<(), WorkloadError> {
        let yields_per_task = self.yields_per_task;
        let handles: Vec<_> = (0..self.tasks)
            .map(|_| {
                runtime.spawn(async move {
                    let mut yielded = 0;
                    for _ in 0..yields_per_task {
                        R::yield_now().await;
                        yielded += 1;
                    }
                    yielded
                })
            })
            .collect();
        let joined = runtime.block_on(join_and_sum::<R>(handles));
        let (completed, yields) =
            joined.map_err(|err| WorkloadError::task_failed(Self::NAME, &err))?;
        WorkloadError::check_count(Self::NAME, "tasks completed", self.tasks, completed)?;
        WorkloadError::check_count(Self::NAME, "yields", self.tasks * yields_per_task, yields)
    }
}

/// Spawns `pairs` pairs of tasks from inside a task; in each pair, "ping"
/// sends a number through a [`Mailbox`] and waits for "pong" to send it back
/// plus one, `round_trips` times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingPong {
    /// Pairs of tasks per run.
    pub pairs: u64,
    /// Round trips per pair.
    pub round_trips: u64,
}

impl PingPong {
    const NAME: &'static str = "ping_pong";
}

peer_workload!(
    PingPong,
    Family::Scheduler,
    fn size(&self) -> String {
        format!("{} pairs x {} round trips", self.pairs, self.round_trips)
    }
);

impl SchedulerWorkload for PingPong {
    fn run_on<R: SchedulerRuntime>(&self, runtime: &R) -> Result<(), WorkloadError> {
        let PingPong { pairs, round_trips } = *self;
        let spawner = runtime.spawn(async move {
            let mut handles = Vec::with_capacity(2 * pairs as usize);
            for _ in 0..pairs {
                let to_pong = Arc::new(Mailbox::new());
                let to_ping = Arc::new(Mailbox::new());
                let (pong_inbox, pong_outbox) = (to_pong.clone(), to_ping.clone());
                handles.push(R::spawn_current(async move {
                    let mut answered = 0;
                    for _ in 0..round_trips {
                        let number: u64 = pong_inbox.recv().await;
                        pong_outbox.send(number + 1);
                        answered += 1;
                    }
                    answered
                }));
                handles.push(R::spawn_current(async move {
                    let mut correct_replies = 0;
                    for number in 0..round_trips {
                        to_pong.send(number);
                        if to_ping.recv().await == number + 1 {
                            correct_replies += 1;
                        }
                    }
                    correct_replies
                }));
            }
            join_and_sum::<R>(handles).await
        });
        let joined = runtime.block_on(spawner);
        let (completed, messages) = flatten(Self::NAME, joined)?;
        WorkloadError::check_count(Self::NAME, "tasks completed", 2 * pairs, completed)?;
        WorkloadError::check_count(
            Self::NAME,
            "messages answered correctly (two per round trip)",
            2 * pairs * round_trips,
            messages,
        )
    }
}

/// `chains` times in a row: a chain of `depth` tasks, each spawning the next
/// from inside the runtime; the last one reports through a [`Mailbox`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainedSpawn {
    /// Tasks per chain (at least 1).
    pub depth: u64,
    /// Chains run one after the other per run.
    pub chains: u64,
}

impl ChainedSpawn {
    const NAME: &'static str = "chained_spawn";
}

peer_workload!(
    ChainedSpawn,
    Family::Scheduler,
    fn size(&self) -> String {
        format!("{} chains x {} deep", self.chains, self.depth)
    }
);

impl SchedulerWorkload for ChainedSpawn {
    fn run_on<R: SchedulerRuntime>(&self, runtime: &R) -> Result<(), WorkloadError> {
        let ChainedSpawn { depth, chains } = *self;
        assert!(depth >= 1, "a chain has at least one task");
        let links = runtime.block_on(async move {
            let mut links = 0;
            for _ in 0..chains {
                let done = Arc::new(Mailbox::new());
                let last_link_reports_to = done.clone();
                // Dropping the join handle detaches the task; the chain's
                // last link reports through the mailbox instead.
                drop(R::spawn_current(async move {
                    run_chain_link::<R>(depth - 1, 0, last_link_reports_to);
                }));
                links += done.recv().await;
            }
            links
        });
        WorkloadError::check_count(Self::NAME, "chain links run", chains * depth, links)
    }
}

/// One task of a chain: counts itself, then spawns the next link, or, with no
/// links `remaining`, reports the count.
fn run_chain_link<R: SchedulerRuntime>(remaining: u64, links_before: u64, done: Arc<Mailbox<u64>>) {
    let links = links_before + 1;
    if remaining == 0 {
        done.send(links);
    } else {
        drop(R::spawn_current(async move {
            run_chain_link::<R>(remaining - 1, links, done);
        }));
    }
}

/// Awaits every handle in order; returns how many tasks completed and the sum
/// of their outputs, or the first join error.
async fn join_and_sum<R: SchedulerRuntime>(
    handles: Vec<R::JoinHandle<u64>>,
) -> Result<(u64, u64), R::JoinError> {
    let mut completed = 0;
    let mut sum = 0;
    for handle in handles {
        sum += handle.await?;
        completed += 1;
    }
    Ok((completed, sum))
}

/// Turns the join result of a task that itself joined others into the inner
/// output, or a [`WorkloadError`] naming whichever join failed.
fn flatten<T, E: std::error::Error>(
    workload: &'static str,
    joined: Result<Result<T, E>, E>,
) -> Result<T, WorkloadError> {
    match joined {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(err)) | Err(err) => Err(WorkloadError::task_failed(workload, &err)),
    }
}

#[cfg(test)]
mod tests {
    use super::{ChainedSpawn, PingPong, SpawnMany, SpawnManyRemote, YieldMany};
    use crate::peer::{default_peers, PeerSettings};
    use crate::workloads::{Workload, WorkloadError};

    /// Every workload, small enough for a unit test.
    fn tiny_workloads() -> Vec<Box<dyn Workload>> {
        vec![
            Box::new(SpawnMany { tasks: 500 }),
            Box::new(SpawnManyRemote { tasks: 500 }),
            Box::new(YieldMany {
                tasks: 10,
                yields_per_task: 20,
            }),
            Box::new(PingPong {
                pairs: 4,
                round_trips: 50,
            }),
            Box::new(ChainedSpawn {
                depth: 30,
                chains: 3,
            }),
        ]
    }

    #[test]
    fn every_workload_passes_its_checks_on_every_peer() {
        let settings = PeerSettings {
            workers: 2,
            ringwork_seed: Some(1),
        };
        for peer in default_peers() {
            let runtime = peer.build(&settings).unwrap();
            for workload in tiny_workloads() {
                for _ in 0..3 {
                    if let Err(err) = workload.run(&runtime) {
                        panic!("{} on {}: {err}", workload.name(), peer.name);
                    }
                }
            }
        }
    }

    #[test]
    fn a_wrong_count_is_an_error() {
        assert_eq!(WorkloadError::check_count("w", "tasks", 3, 3), Ok(()));
        let err = WorkloadError::check_count("w", "tasks", 3, 2).unwrap_err();
        assert_eq!(err.to_string(), "w: expected 3 tasks, got 2");
    }
}
