//! Registered buffers (`Builder::uring_fixed_buffers`): files written and
//! read through them hold the same bytes on both drivers, the pool hands
//! out each buffer once and waits when all are out, buffers go back from
//! any thread, and bad sizes are build errors.

mod common;

use common::{pattern, watchdog, TempDir};
use ringwork::fs::OpenOptions;
use ringwork::io::DriverKind;
use ringwork::runtime::Builder;
use ringwork::Runtime;
use std::time::Duration;

const COUNT: u16 = 4;
const SIZE: usize = 64 * 1024;

fn runtime(kind: DriverKind) -> Option<Runtime> {
    common::build_on(
        kind,
        Builder::new_multi_thread()
            .worker_threads(2)
            .uring_fixed_buffers(Some((COUNT, SIZE))),
    )
}

#[test]
fn a_file_written_and_read_through_registered_buffers_holds_the_bytes() {
    watchdog(Duration::from_secs(60), || {
        for kind in [DriverKind::Uring, DriverKind::Epoll] {
            let Some(rt) = runtime(kind) else {
                continue;
            };
            if kind == DriverKind::Uring {
                let features = rt.handle().uring_features().unwrap();
                assert!(features.fixed_buffers.is_some(), "{features:?}");
            }
            let dir = TempDir::new("fixed");
            let path = dir.join("data");
            let pool = rt.handle().fixed_buffers().expect("a pool");
            assert_eq!((pool.count(), pool.buf_size()), (4, SIZE));
            const LEN: usize = 1 << 20;
            let back = rt
                .block_on(rt.spawn(async move {
                    let data = pattern(LEN);
                    let file = OpenOptions::new()
                        .read(true)
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .open(&path)
                        .await?;
                    for (i, chunk) in data.chunks(SIZE).enumerate() {
                        let mut buf = pool.get().await;
                        assert_eq!(buf.fill_from(chunk), chunk.len());
                        let (res, _) = file.write_fixed_at(buf, (i * SIZE) as u64).await;
                        assert_eq!(res?, chunk.len());
                    }
                    file.sync_all().await?;
                    let mut back = Vec::new();
                    let mut offset = 0u64;
                    loop {
                        let buf = pool.get().await;
                        let (res, buf) = file.read_fixed_at(buf, offset).await;
                        let n = res?;
                        assert_eq!(n, buf.len());
                        if n == 0 {
                            break;
                        }
                        back.extend_from_slice(buf.as_slice());
                        offset += n as u64;
                    }
                    assert_eq!(pool.available(), 4, "every buffer went back");
                    Ok::<_, std::io::Error>(back)
                }))
                .unwrap()
                .unwrap();
            assert!(back == pattern(LEN), "{kind:?}: the bytes differ");
            assert!(std::fs::read(dir.join("data")).unwrap() == pattern(LEN));
            // On io_uring every read and write named its buffer by index
            // (16 writes, 17 reads: the last one finds the end).
            let fixed: u64 = rt
                .handle()
                .metrics()
                .workers
                .iter()
                .filter_map(|w| w.io)
                .map(|io| io.fixed_buffer_ops)
                .sum();
            let expected = if kind == DriverKind::Uring { 33 } else { 0 };
            assert_eq!(fixed, expected, "{kind:?}");
        }
    });
}

#[test]
fn the_pool_hands_out_each_buffer_once_and_waits_when_all_are_out() {
    watchdog(Duration::from_secs(30), || {
        let Some(rt) = runtime(DriverKind::Uring).or_else(|| runtime(DriverKind::Epoll)) else {
            return;
        };
        let pool = rt.handle().fixed_buffers().unwrap();
        let held: Vec<_> = (0..COUNT).map(|_| pool.try_get().unwrap()).collect();
        let mut indexes: Vec<u16> = held.iter().map(|b| b.index()).collect();
        indexes.sort_unstable();
        assert_eq!(indexes, vec![0, 1, 2, 3], "each buffer once");
        assert!(pool.try_get().is_none(), "all four are out");
        // A waiter gets the buffer dropped on another thread.
        let waiter = {
            let pool = pool.clone();
            rt.spawn(async move { pool.get().await.index() })
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "nothing was free");
        let mut held = held;
        let given = held.pop().unwrap();
        let index = given.index();
        std::thread::spawn(move || drop(given)).join().unwrap();
        assert_eq!(rt.block_on(waiter).unwrap(), index);
        drop(held);
        assert_eq!(pool.available(), usize::from(COUNT));
    });
}

#[test]
fn bad_registered_buffer_sizes_are_build_errors() {
    for (count, size) in [(0, 4096), (4, 0), (20000, 4096)] {
        let err = Builder::new_multi_thread()
            .uring_fixed_buffers(Some((count, size)))
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("fixed buffers"), "{err}");
    }
}
