//! Sync-primitive workloads: `ringwork::sync` against `tokio::sync`, each on
//! its own runtime (the same peers, 2 workers each by default, as the
//! scheduler workloads).
//!
//! Each workload is a struct holding its size, with one body generic over
//! [`SyncRuntime`], so both runtimes run the very same code with their own
//! channels, mutex and semaphore. Every body counts what it did (messages
//! and their sum, round trips, increments made under the lock, permits
//! taken) and the run fails when a count is off, so a broken primitive
//! stops the benchmark instead of reporting a fast time.
//!
//! | workload | what it stresses |
//! | --- | --- |
//! | `mpsc_1p` | a bounded `mpsc` channel (capacity 1024), one producer task, one consumer task |
//! | `mpsc_4p` | the same channel with four producer tasks: contended sends |
//! | `oneshot_ping_pong` | two tasks trading a value, a fresh `oneshot` channel per hop |
//! | `mutex_contended` | tasks incrementing a counter under one async `Mutex` |
//! | `semaphore` | tasks taking and giving back one of 2 `Semaphore` permits |
//!
//! The tasks are spawned from outside the runtime (its injection queue),
//! so which worker runs which task is the scheduler's choice, as it would be
//! in an application; with 2 workers, the mutex and the semaphore are
//! contended by the two workers.

use super::{Family, Scale, Workload, WorkloadError};
use crate::peer::{PeerRuntime, SchedulerRuntime, SyncRuntime};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Capacity of the bounded channel of `mpsc_1p` and `mpsc_4p`.
pub const MPSC_CAPACITY: usize = 1024;

/// Permits of the `semaphore` workload's semaphore.
pub const SEMAPHORE_PERMITS: usize = 2;

/// The sync workloads at `scale`, in report order.
///
/// `mutex_contended` and `semaphore` run 10 000 operations per task at the
/// quick scale and 50 000 at the full one: at 10 000 a run takes only a few
/// milliseconds, short enough for where the tasks happen to land to swing a
/// single run's time.
pub fn workloads(scale: Scale) -> Vec<Box<dyn Workload>> {
    match scale {
        Scale::Full => vec![
            Box::new(Mpsc {
                producers: 1,
                messages: 1_000_000,
            }),
            Box::new(Mpsc {
                producers: 4,
                messages: 1_000_000,
            }),
            Box::new(OneshotPingPong {
                round_trips: 100_000,
            }),
            Box::new(MutexContended {
                tasks: 8,
                locks_per_task: 50_000,
            }),
            Box::new(SemaphoreContended {
                tasks: 8,
                acquires_per_task: 50_000,
            }),
        ],
        Scale::Quick => vec![
            Box::new(Mpsc {
                producers: 1,
                messages: 200_000,
            }),
            Box::new(Mpsc {
                producers: 4,
                messages: 200_000,
            }),
            Box::new(OneshotPingPong {
                round_trips: 20_000,
            }),
            Box::new(MutexContended {
                tasks: 8,
                locks_per_task: 10_000,
            }),
            Box::new(SemaphoreContended {
                tasks: 8,
                acquires_per_task: 10_000,
            }),
        ],
    }
}

/// A workload whose body is generic over the runtime; `peer_workload!`'s
/// `run` (or `Mpsc`'s) picks the concrete runtime out of a `PeerRuntime`.
trait SyncWorkload {
    fn run_on<R: SyncRuntime>(&self, runtime: &R) -> Result<(), WorkloadError>;
}

/// `producers` tasks send `messages` `u64`s in all (`messages / producers`
/// each) through one bounded channel of capacity [`MPSC_CAPACITY`] to one
/// consumer task, which receives until every sender is gone.
///
/// Producer `p` sends `p, p + producers, p + 2 * producers, ...`, so the
/// messages are `0..messages` exactly once each and every producer's are
/// increasing: the consumer checks the count, the sum, and that each
/// producer's messages arrived in the order sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mpsc {
    /// Producer tasks (1 is `mpsc_1p`, 4 is `mpsc_4p`; others have no name).
    pub producers: u64,
    /// Messages per run, over all producers (a multiple of `producers`).
    pub messages: u64,
}

impl Workload for Mpsc {
    fn name(&self) -> &'static str {
        match self.producers {
            1 => "mpsc_1p",
            4 => "mpsc_4p",
            _ => "mpsc",
        }
    }

    fn family(&self) -> Family {
        Family::Sync
    }

    fn size(&self) -> String {
        if self.producers == 1 {
            format!("{} msgs, cap {MPSC_CAPACITY}", self.messages)
        } else {
            format!(
                "{} x {} msgs, cap {MPSC_CAPACITY}",
                self.producers,
                self.messages / self.producers
            )
        }
    }

    fn run(&self, runtime: &PeerRuntime) -> Result<(), WorkloadError> {
        match runtime {
            PeerRuntime::Ringwork(runtime) => self.run_on(runtime),
            PeerRuntime::Tokio(runtime) => self.run_on(runtime),
        }
    }
}

/// What the consumer of [`Mpsc`] saw.
#[derive(Debug, Default)]
struct Received {
    count: u64,
    sum: u64,
    /// Messages that arrived before an earlier-sent one of their producer.
    out_of_order: u64,
}

impl SyncWorkload for Mpsc {
    fn run_on<R: SyncRuntime>(&self, runtime: &R) -> Result<(), WorkloadError> {
        let name = self.name();
        let Mpsc {
            producers,
            messages,
        } = *self;
        assert!(
            producers >= 1 && messages % producers == 0,
            "{name}: messages must be a multiple of producers"
        );
        let per_producer = messages / producers;
        let (sender, mut receiver) = R::mpsc_channel::<u64>(MPSC_CAPACITY);
        let consumer = runtime.spawn(async move {
            let mut received = Received::default();
            // Per producer, the next message it may send (`message / producers`
            // is its sequence number within the producer).
            let mut next_sequence = vec![0_u64; producers as usize];
            while let Some(message) = R::mpsc_recv(&mut receiver).await {
                received.count += 1;
                received.sum += message;
                let producer = (message % producers) as usize;
                let sequence = message / producers;
                if sequence < next_sequence[producer] {
                    received.out_of_order += 1;
                } else {
                    next_sequence[producer] = sequence + 1;
                }
            }
            received
        });
        let producer_handles: Vec<_> = (0..producers)
            .map(|producer| {
                let sender = sender.clone();
                runtime.spawn(async move {
                    let mut sent = 0_u64;
                    for sequence in 0..per_producer {
                        if R::mpsc_send(&sender, sequence * producers + producer)
                            .await
                            .is_err()
                        {
                            break;
                        }
                        sent += 1;
                    }
                    sent
                })
            })
            .collect();
        // The consumer's loop ends when the producers' clones are gone.
        drop(sender);
        let joined = runtime.block_on(async move {
            let mut sent = 0;
            for handle in producer_handles {
                sent += handle.await?;
            }
            Ok::<_, R::JoinError>((sent, consumer.await?))
        });
        let (sent, received) = joined.map_err(|err| WorkloadError::task_failed(name, &err))?;
        WorkloadError::check_count(name, "messages sent", messages, sent)?;
        WorkloadError::check_count(name, "messages received", messages, received.count)?;
        WorkloadError::check_count(
            name,
            "as the sum of the messages received",
            super::scheduler::sum_below(messages),
            received.sum,
        )?;
        WorkloadError::check_count(
            name,
            "messages received out of their producer's order",
            0,
            received.out_of_order,
        )
    }
}

/// Two tasks trade a number `round_trips` times, each hop through a fresh
/// `oneshot` channel: every message carries the sender of the channel its
/// reply must come back on, so a round trip creates two channels, sends
/// twice and wakes each task once.
///
/// "ping" sends `n` and expects `n + 1` back; "pong" answers each number
/// plus one. Both are spawned from outside the runtime, one after the
/// other: with 2 idle workers they usually start on different workers, and
/// where they run afterwards is the scheduler's choice (a woken task may be
/// moved to the waker's worker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OneshotPingPong {
    /// Round trips per run.
    pub round_trips: u64,
}

impl OneshotPingPong {
    const NAME: &'static str = "oneshot_ping_pong";
}

/// One hop of [`OneshotPingPong`]: the number, and where to send the reply.
struct Hop<R: SyncRuntime> {
    number: u64,
    reply_to: R::OneshotSender<Hop<R>>,
}

peer_workload!(
    OneshotPingPong,
    Family::Sync,
    fn size(&self) -> String {
        format!("{} round trips", self.round_trips)
    }
);

impl SyncWorkload for OneshotPingPong {
    fn run_on<R: SyncRuntime>(&self, runtime: &R) -> Result<(), WorkloadError> {
        let round_trips = self.round_trips;
        let (first_sender, first_receiver) = R::oneshot_channel::<Hop<R>>();
        let pong = runtime.spawn(async move {
            let mut inbox = first_receiver;
            let mut answered = 0_u64;
            for _ in 0..round_trips {
                let Some(hop) = R::oneshot_recv(inbox).await else {
                    break;
                };
                let (reply_to, next_inbox) = R::oneshot_channel();
                let reply = Hop {
                    number: hop.number + 1,
                    reply_to,
                };
                if R::oneshot_send(hop.reply_to, reply).is_err() {
                    break;
                }
                inbox = next_inbox;
                answered += 1;
            }
            answered
        });
        let ping = runtime.spawn(async move {
            let mut to_pong = first_sender;
            let mut correct_replies = 0_u64;
            for number in 0..round_trips {
                let (reply_to, replies) = R::oneshot_channel();
                if R::oneshot_send(to_pong, Hop { number, reply_to }).is_err() {
                    break;
                }
                let Some(reply) = R::oneshot_recv(replies).await else {
                    break;
                };
                if reply.number == number + 1 {
                    correct_replies += 1;
                }
                to_pong = reply.reply_to;
            }
            correct_replies
        });
        let joined =
            runtime.block_on(async move { Ok::<_, R::JoinError>((ping.await?, pong.await?)) });
        let (correct_replies, answered) =
            joined.map_err(|err| WorkloadError::task_failed(Self::NAME, &err))?;
        WorkloadError::check_count(Self::NAME, "hops answered by pong", round_trips, answered)?;
        WorkloadError::check_count(
            Self::NAME,
            "correct replies received by ping",
            round_trips,
            correct_replies,
        )
    }
}

/// `tasks` tasks each lock one shared async `Mutex<u64>` `locks_per_task`
/// times and increment the value under the lock (a read and a write, not
/// an atomic add, so a mutex that let two holders in would lose updates);
/// the final value must be `tasks * locks_per_task`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MutexContended {
    /// Tasks per run.
    pub tasks: u64,
    /// Lock/unlock pairs per task.
    pub locks_per_task: u64,
}

impl MutexContended {
    const NAME: &'static str = "mutex_contended";
}

peer_workload!(
    MutexContended,
    Family::Sync,
    fn size(&self) -> String {
        format!("{} tasks x {} locks", self.tasks, self.locks_per_task)
    }
);

impl SyncWorkload for MutexContended {
    fn run_on<R: SyncRuntime>(&self, runtime: &R) -> Result<(), WorkloadError> {
        let MutexContended {
            tasks,
            locks_per_task,
        } = *self;
        let counter = Arc::new(R::mutex(0_u64));
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let counter = counter.clone();
                runtime.spawn(async move {
                    for _ in 0..locks_per_task {
                        R::with_lock(&*counter, |value: &mut u64| {
                            // Deliberately not `+= 1` on an atomic: a read,
                            // then a write.
                            let read = std::hint::black_box(*value);
                            *value = read + 1;
                        })
                        .await;
                    }
                    locks_per_task
                })
            })
            .collect();
        let locked = runtime.block_on(join_and_sum::<R>(handles));
        let final_count = runtime.block_on(R::with_lock(&*counter, |value: &mut u64| *value));
        let (completed, locks) =
            locked.map_err(|err| WorkloadError::task_failed(Self::NAME, &err))?;
        WorkloadError::check_count(Self::NAME, "tasks completed", tasks, completed)?;
        WorkloadError::check_count(Self::NAME, "locks taken", tasks * locks_per_task, locks)?;
        WorkloadError::check_count(
            Self::NAME,
            "as the counter's final value",
            tasks * locks_per_task,
            final_count,
        )
    }
}

/// `tasks` tasks each acquire and release one permit of a shared
/// [`SEMAPHORE_PERMITS`]-permit semaphore `acquires_per_task` times. Under
/// the permit, a task counts itself in and out of a holders counter; the run
/// fails if a holder ever saw more than [`SEMAPHORE_PERMITS`] holders.
///
/// The permit is not held across an await: with 2 workers at most 2 tasks
/// hold one at a time, so this measures the acquire/release paths under
/// cross-worker contention on the semaphore's state, rarely its wait queue
/// (`mutex_contended`, with one "permit", queues often).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SemaphoreContended {
    /// Tasks per run.
    pub tasks: u64,
    /// Acquire/release pairs per task.
    pub acquires_per_task: u64,
}

impl SemaphoreContended {
    const NAME: &'static str = "semaphore";
}

peer_workload!(
    SemaphoreContended,
    Family::Sync,
    fn size(&self) -> String {
        format!(
            "{} tasks x {} acquires, {SEMAPHORE_PERMITS} permits",
            self.tasks, self.acquires_per_task
        )
    }
);

/// The holders counter of [`SemaphoreContended`].
#[derive(Debug, Default)]
struct Holders {
    current: AtomicU64,
    /// Times a new holder found `SEMAPHORE_PERMITS` or more already in.
    oversubscribed: AtomicU64,
    /// Permits taken, over all tasks.
    taken: AtomicU64,
}

impl SyncWorkload for SemaphoreContended {
    fn run_on<R: SyncRuntime>(&self, runtime: &R) -> Result<(), WorkloadError> {
        let SemaphoreContended {
            tasks,
            acquires_per_task,
        } = *self;
        let semaphore = Arc::new(R::semaphore(SEMAPHORE_PERMITS));
        let holders = Arc::new(Holders::default());
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let semaphore = semaphore.clone();
                let holders = holders.clone();
                runtime.spawn(async move {
                    let mut taken = 0;
                    for _ in 0..acquires_per_task {
                        R::with_permit(&*semaphore, || {
                            let before = holders.current.fetch_add(1, Ordering::AcqRel);
                            if before >= SEMAPHORE_PERMITS as u64 {
                                holders.oversubscribed.fetch_add(1, Ordering::Relaxed);
                            }
                            holders.current.fetch_sub(1, Ordering::AcqRel);
                        })
                        .await;
                        taken += 1;
                    }
                    holders.taken.fetch_add(taken, Ordering::Relaxed);
                    taken
                })
            })
            .collect();
        let acquired = runtime.block_on(join_and_sum::<R>(handles));
        let (completed, acquires) =
            acquired.map_err(|err| WorkloadError::task_failed(Self::NAME, &err))?;
        let expected = tasks * acquires_per_task;
        WorkloadError::check_count(Self::NAME, "tasks completed", tasks, completed)?;
        WorkloadError::check_count(Self::NAME, "permits taken", expected, acquires)?;
        WorkloadError::check_count(
            Self::NAME,
            "permits counted by the holders",
            expected,
            holders.taken.load(Ordering::Relaxed),
        )?;
        WorkloadError::check_count(
            Self::NAME,
            "acquires that exceeded the permits",
            0,
            holders.oversubscribed.load(Ordering::Relaxed),
        )
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

#[cfg(test)]
mod tests {
    use super::{Mpsc, MutexContended, OneshotPingPong, SemaphoreContended};
    use crate::peer::{default_peers, PeerSettings};
    use crate::workloads::{Family, Scale, Workload};

    /// Every workload, small enough for a unit test.
    fn tiny_workloads() -> Vec<Box<dyn Workload>> {
        vec![
            Box::new(Mpsc {
                producers: 1,
                messages: 5_000,
            }),
            Box::new(Mpsc {
                producers: 4,
                messages: 5_000,
            }),
            Box::new(OneshotPingPong { round_trips: 500 }),
            Box::new(MutexContended {
                tasks: 8,
                locks_per_task: 300,
            }),
            Box::new(SemaphoreContended {
                tasks: 8,
                acquires_per_task: 300,
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
    fn the_named_workloads_exist_at_both_scales() {
        for scale in [Scale::Full, Scale::Quick] {
            let names: Vec<_> = super::workloads(scale)
                .iter()
                .inspect(|workload| assert_eq!(workload.family(), Family::Sync))
                .map(|workload| workload.name())
                .collect();
            assert_eq!(
                names,
                [
                    "mpsc_1p",
                    "mpsc_4p",
                    "oneshot_ping_pong",
                    "mutex_contended",
                    "semaphore"
                ]
            );
        }
    }
}
