//! `compat_cost`: what `io::compat::Compat` costs per message, against
//! ringwork's own owned-buffer calls, on the same work: 64-byte
//! ping-pongs over a Unix socket pair between two tasks, 50,000 round
//! trips per run, 7 rounds alternating the two, medians and the ratio.
//!
//! ```text
//! cargo run --release -p ringwork --features futures-io --example compat_cost
//! RINGWORK_DRIVER=epoll cargo run --release -p ringwork --features futures-io --example compat_cost
//! ```

use futures_io::{AsyncRead, AsyncWrite};
use ringwork::io::compat::Compat;
use ringwork::net::UnixStream;
use std::future::poll_fn;
use std::pin::Pin;
use std::time::{Duration, Instant};

const ROUND_TRIPS: usize = 50_000;
const MESSAGE: usize = 64;
const ROUNDS: usize = 7;

async fn native() -> Duration {
    let (a, b) = UnixStream::pair().unwrap();
    let echo = ringwork::spawn(async move {
        let mut buf = Vec::with_capacity(MESSAGE);
        for _ in 0..ROUND_TRIPS {
            let (res, back) = b.read_exact(buf).await;
            res.unwrap();
            let (res, back) = b.write_all(back).await;
            res.unwrap();
            buf = back;
            buf.clear();
        }
    });
    let started = Instant::now();
    let mut buf = vec![7u8; MESSAGE];
    for _ in 0..ROUND_TRIPS {
        let (res, back) = a.write_all(buf).await;
        res.unwrap();
        let mut back = back;
        back.clear();
        let (res, back) = a.read_exact(back).await;
        res.unwrap();
        buf = back;
    }
    let took = started.elapsed();
    echo.await.unwrap();
    took
}

async fn read_exact<T: AsyncRead + Unpin>(io: &mut T, mut buf: &mut [u8]) {
    while !buf.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *io).poll_read(cx, buf))
            .await
            .unwrap();
        assert!(n > 0, "closed early");
        buf = &mut buf[n..];
    }
}

async fn write_all<T: AsyncWrite + Unpin>(io: &mut T, mut buf: &[u8]) {
    while !buf.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *io).poll_write(cx, buf))
            .await
            .unwrap();
        buf = &buf[n..];
    }
    poll_fn(|cx| Pin::new(&mut *io).poll_flush(cx))
        .await
        .unwrap();
}

async fn compat() -> Duration {
    let (a, b) = UnixStream::pair().unwrap();
    let (mut a, mut b) = (Compat::new(a), Compat::new(b));
    let echo = ringwork::spawn(async move {
        let mut buf = [0u8; MESSAGE];
        for _ in 0..ROUND_TRIPS {
            read_exact(&mut b, &mut buf).await;
            write_all(&mut b, &buf).await;
        }
    });
    let started = Instant::now();
    let mut buf = [7u8; MESSAGE];
    for _ in 0..ROUND_TRIPS {
        write_all(&mut a, &buf).await;
        read_exact(&mut a, &mut buf).await;
    }
    let took = started.elapsed();
    echo.await.unwrap();
    took
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let rt = ringwork::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    println!(
        "driver: {:?}; {ROUND_TRIPS} round trips of {MESSAGE} B per run, {ROUNDS} rounds",
        rt.handle().driver_kind().unwrap()
    );
    let per_trip = |d: Duration| d.as_secs_f64() * 1e9 / ROUND_TRIPS as f64;
    let (mut natives, mut compats, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (n, c) = if round % 2 == 0 {
            let n = rt.block_on(rt.spawn(native())).unwrap();
            (n, rt.block_on(rt.spawn(compat())).unwrap())
        } else {
            let c = rt.block_on(rt.spawn(compat())).unwrap();
            (rt.block_on(rt.spawn(native())).unwrap(), c)
        };
        let (n, c) = (per_trip(n), per_trip(c));
        println!(
            "round {}: native {n:.0} ns, compat {c:.0} ns per round trip",
            round + 1
        );
        natives.push(n);
        compats.push(c);
        ratios.push(c / n);
    }
    println!(
        "median: native {:.0} ns, compat {:.0} ns per round trip; compat/native {:.2} (min {:.2}, max {:.2})",
        median(natives),
        median(compats),
        median(ratios.clone()),
        ratios.iter().cloned().fold(f64::INFINITY, f64::min),
        ratios.iter().cloned().fold(0.0, f64::max)
    );
}
