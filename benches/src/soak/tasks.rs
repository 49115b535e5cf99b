//! The soak's lanes that need no sockets: timers, channels, the blocking
//! pool.
//!
//! - `timers`: rounds of sleeps of 0-20 ms that must never complete early;
//!   sleeps cut short by a `timeout` at least 3 ms sooner (which must
//!   report `Elapsed`, or else the sleep completed early); a sleep moved
//!   earlier with `reset`; and tasks sleeping 10 s that are aborted (their
//!   `JoinHandle` must say cancelled).
//! - `channels`: rounds of three producers sending numbered messages into
//!   a bounded `mpsc` channel (capacity 1-16) that one consumer receives,
//!   one receive in three under a `timeout` of at most 0.5 ms that may
//!   cancel it: every message arrives once, in order per producer. Then
//!   oneshot pairs whose receiver waits under cancelling timeouts and must
//!   get the value, and pairs whose receiver is gone, whose sender must get
//!   its value back.
//! - `blocking`: bursts of 1-4 `spawn_blocking` jobs checksumming a buffer
//!   (and sleeping up to 5 ms); the result must match the checksum computed
//!   on the worker.

use super::check::{fnv1a, Rng, SeqChecker};
use super::context::{bounded, joined, Ctx, Fault, Op};
use ringwork::sync::{mpsc, oneshot};
use ringwork::time::{sleep, timeout, Instant};
use std::sync::Arc;
use std::time::Duration;

/// The `timers` lane.
pub async fn timers_lane(ctx: Arc<Ctx>, mut rng: Rng) -> Result<(), String> {
    let mut leaked_at = std::time::Instant::now();
    while !ctx.stopping() {
        if ctx.injects(Fault::LeakMemory) && leaked_at.elapsed() >= Duration::from_millis(100) {
            leaked_at = std::time::Instant::now();
            // 200 KiB, every page written so that it is resident.
            std::hint::black_box(Vec::leak(vec![0x5au8; 200 * 1024]));
        }
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let wait = Duration::from_millis(rng.range(0, 20));
            tasks.push(ringwork::spawn(fired(ctx.clone(), wait)));
        }
        for _ in 0..8 {
            let limit = Duration::from_millis(rng.range(1, 5));
            let wait = limit + Duration::from_millis(rng.range(3, 30));
            tasks.push(ringwork::spawn(cut_short(ctx.clone(), limit, wait)));
        }
        let far = Duration::from_secs(10);
        let sleepers: Vec<_> = (0..4).map(|_| ringwork::spawn(sleep(far))).collect();

        // A sleep moved earlier fires at its new deadline, not before.
        let start = Instant::now();
        let target = Duration::from_millis(rng.range(1, 5));
        let mut moved = sleep(Duration::from_secs(1));
        moved.reset(start + target);
        bounded("a reset sleep", moved).await?;
        let took = start.elapsed();
        if took < target {
            return Err(format!(
                "a sleep reset to {target:?} completed after {took:?}"
            ));
        }
        ctx.count(Op::TimersFired, 1);

        sleep(Duration::from_millis(rng.range(0, 3))).await;
        for sleeper in sleepers {
            sleeper.abort();
            match bounded("an aborted sleeping task", sleeper).await? {
                Err(err) if err.is_cancelled() => ctx.count(Op::TasksAborted, 1),
                Err(_) => return Err("a sleeping task panicked".to_owned()),
                Ok(()) => {
                    return Err(format!(
                        "a {far:?} sleep completed within a round of the timers lane"
                    ))
                }
            }
        }
        for task in tasks {
            joined("a timer task", task).await?;
        }
        ctx.beat("timers");
    }
    Ok(())
}

/// Sleeps `wait`; it must not complete early, nor absurdly late.
async fn fired(ctx: Arc<Ctx>, wait: Duration) -> Result<(), String> {
    let start = Instant::now();
    bounded("a sleep", sleep(wait)).await?;
    let took = start.elapsed();
    if took < wait {
        return Err(format!("a {wait:?} sleep completed after {took:?} (early)"));
    }
    ctx.count(Op::TimersFired, 1);
    Ok(())
}

/// A sleep of `wait` under a `timeout` of `limit < wait`: the timeout wins.
async fn cut_short(ctx: Arc<Ctx>, limit: Duration, wait: Duration) -> Result<(), String> {
    let start = Instant::now();
    match bounded("a timed-out sleep", timeout(limit, sleep(wait))).await? {
        Err(_) => {
            let took = start.elapsed();
            if took < limit {
                return Err(format!(
                    "a {limit:?} timeout reported Elapsed after {took:?} (early)"
                ));
            }
            ctx.count(Op::TimersCancelled, 1);
        }
        Ok(()) => {
            let took = start.elapsed();
            // Legitimate only if the timeout's own timer was late past
            // the sleep's deadline; a sleep done before its deadline is not.
            if took < wait {
                return Err(format!(
                    "a {wait:?} sleep under a {limit:?} timeout completed after {took:?} (early)"
                ));
            }
            ctx.count(Op::TimersFired, 1);
        }
    }
    Ok(())
}

/// Producers per channel round.
const PRODUCERS: usize = 3;

/// The `channels` lane.
pub async fn channels_lane(ctx: Arc<Ctx>, mut rng: Rng) -> Result<(), String> {
    while !ctx.stopping() {
        if ctx.inject_once(Fault::Hang) {
            std::future::pending::<()>().await;
        }
        mpsc_round(&ctx, &mut rng).await?;
        oneshot_round(&ctx, &mut rng).await?;
        ctx.beat("channels");
    }
    Ok(())
}

async fn mpsc_round(ctx: &Ctx, rng: &mut Rng) -> Result<(), String> {
    let (tx, mut rx) = mpsc::channel::<(usize, u64)>(rng.range_usize(1, 16));
    let mut sent = Vec::new();
    let mut producers = Vec::new();
    for producer in 0..PRODUCERS {
        let count = rng.range(100, 1000);
        sent.push(count);
        let tx = tx.clone();
        let mut rng = rng.fork();
        producers.push(ringwork::spawn(async move {
            for seq in 0..count {
                if bounded("mpsc send", tx.send((producer, seq)))
                    .await?
                    .is_err()
                {
                    return Err("mpsc send: the receiver went away".to_owned());
                }
                if rng.one_in(64) {
                    sleep(Duration::from_micros(rng.range(0, 1000))).await;
                } else if rng.one_in(8) {
                    ringwork::task::yield_now().await;
                }
            }
            Ok(())
        }));
    }
    drop(tx);
    let mut checker = SeqChecker::new(PRODUCERS);
    loop {
        let received = if rng.one_in(3) {
            match timeout(Duration::from_micros(rng.range(0, 500)), rx.recv()).await {
                Err(_) => {
                    ctx.count(Op::RecvsCancelled, 1);
                    continue;
                }
                Ok(received) => received,
            }
        } else {
            bounded("mpsc recv", rx.recv()).await?
        };
        let Some((producer, seq)) = received else {
            break;
        };
        checker
            .observe(producer, seq)
            .map_err(|err| format!("mpsc: {err}"))?;
        ctx.count(Op::ChannelMessages, 1);
    }
    checker
        .finish(&sent)
        .map_err(|err| format!("mpsc: {err}"))?;
    for producer in producers {
        joined("an mpsc producer", producer).await?;
    }
    Ok(())
}

async fn oneshot_round(ctx: &Ctx, rng: &mut Rng) -> Result<(), String> {
    let mut pairs = Vec::new();
    for _ in 0..8 {
        let value = rng.next_u64();
        let (tx, mut rx) = oneshot::channel();
        let delay = Duration::from_micros(rng.range(0, 3000));
        let sender = ringwork::spawn(async move {
            sleep(delay).await;
            tx.send(value)
                .map_err(|_| "oneshot: the receiver went away".to_owned())
        });
        let mut rng = rng.fork();
        let ctx_cancels = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let cancels = ctx_cancels.clone();
        let receiver = ringwork::spawn(async move {
            loop {
                let wait = Duration::from_micros(rng.range(0, 2000));
                match timeout(wait, &mut rx).await {
                    Err(_) => {
                        cancels.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Ok(Ok(got)) if got == value => return Ok(()),
                    Ok(Ok(got)) => {
                        return Err(format!("oneshot: received {got:#x}, sent {value:#x}"))
                    }
                    Ok(Err(_)) => return Err("oneshot: the sender went away unsent".to_owned()),
                }
            }
        });
        pairs.push((sender, receiver, ctx_cancels));
    }
    for (sender, receiver, cancels) in pairs {
        joined("a oneshot receiver", receiver).await?;
        joined("a oneshot sender", sender).await?;
        ctx.count(
            Op::RecvsCancelled,
            cancels.load(std::sync::atomic::Ordering::Relaxed),
        );
        ctx.count(Op::Oneshots, 1);
    }
    // A receiver gone before the send: the value comes back.
    let value = rng.next_u64();
    let (tx, rx) = oneshot::channel();
    drop(rx);
    match tx.send(value) {
        Err(back) if back == value => ctx.count(Op::Oneshots, 1),
        Err(back) => {
            return Err(format!(
                "oneshot: a send to a dropped receiver returned {back:#x}, sent {value:#x}"
            ))
        }
        Ok(()) => return Err("oneshot: a send to a dropped receiver succeeded".to_owned()),
    }
    Ok(())
}

/// The `blocking` lane.
pub async fn blocking_lane(ctx: Arc<Ctx>, mut rng: Rng) -> Result<(), String> {
    while !ctx.stopping() {
        let mut jobs = Vec::new();
        for _ in 0..rng.range(1, 4) {
            let seed = rng.next_u64();
            let len = rng.range_usize(1, 256 * 1024);
            let nap = Duration::from_micros(rng.range(0, 5000));
            let panic = ctx.inject_once(Fault::Panic);
            let job = ringwork::task::spawn_blocking(move || {
                assert!(!panic, "injected: a blocking job panics");
                let sum = fnv1a(&Rng::new(seed).bytes(len));
                std::thread::sleep(nap);
                sum
            });
            jobs.push((seed, len, job));
        }
        for (seed, len, job) in jobs {
            let got = match bounded("a blocking job", job).await? {
                Ok(sum) => sum,
                Err(err) if err.is_panic() => return Err("a blocking job panicked".to_owned()),
                Err(err) => return Err(format!("a blocking job was cancelled: {err}")),
            };
            let expected = fnv1a(&Rng::new(seed).bytes(len));
            if got != expected {
                return Err(format!(
                    "a blocking job returned {got:#x}, the checksum is {expected:#x}"
                ));
            }
            ctx.count(Op::BlockingJobs, 1);
        }
        ctx.beat("blocking");
        sleep(Duration::from_millis(rng.range(0, 20))).await;
    }
    Ok(())
}
