//! Builder settings: valid ones take effect, invalid ones are errors.

mod common;

use ringwork::runtime::Builder;
use std::io::ErrorKind;

fn build_err(f: impl FnOnce(&mut Builder) -> &mut Builder) -> std::io::Error {
    let mut builder = Builder::new_multi_thread();
    f(&mut builder)
        .build()
        .expect_err("invalid settings are rejected")
}

#[test]
fn zero_workers_is_an_error() {
    let err = build_err(|b| b.worker_threads(0));
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("worker_threads"), "{err}");
}

#[test]
fn absurd_worker_count_is_an_error() {
    let err = build_err(|b| b.worker_threads(1 << 20));
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn zero_or_huge_intervals_are_errors() {
    for err in [
        build_err(|b| b.global_queue_interval(0)),
        build_err(|b| b.global_queue_interval(u32::MAX)),
        build_err(|b| b.event_interval(0)),
        build_err(|b| b.event_interval(1 << 30)),
    ] {
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("interval"), "{err}");
    }
}

#[test]
fn tiny_stack_is_an_error() {
    let err = build_err(|b| b.thread_stack_size(1024));
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("thread_stack_size"), "{err}");
}

#[test]
fn valid_settings_take_effect() {
    let rt = Builder::new_multi_thread()
        .worker_threads(3)
        .thread_name("custom-name")
        .thread_stack_size(256 * 1024)
        .global_queue_interval(1)
        .event_interval(1)
        .seed(1234)
        .build()
        .unwrap();
    assert_eq!(rt.handle().num_workers(), 3);
    assert_eq!(rt.handle().seed(), 1234);
    let name = rt
        .block_on(rt.spawn(async { std::thread::current().name().map(str::to_owned) }))
        .unwrap();
    assert_eq!(name.as_deref(), Some("custom-name"));
    // Intervals of 1 still run everything (a hang here is a failure).
    let rt = std::sync::Arc::new(rt);
    let rt2 = rt.clone();
    let sum = common::watchdog(std::time::Duration::from_secs(30), move || {
        rt2.block_on(async {
            let hs: Vec<_> = (0..100u32)
                .map(|i| ringwork::spawn(async move { i }))
                .collect();
            let mut s = 0;
            for h in hs {
                s += h.await.unwrap();
            }
            s
        })
    });
    assert_eq!(sum, 4950);
}

#[test]
fn thread_name_fn_names_each_worker() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name_fn(move || format!("pool-{}", next.fetch_add(1, Ordering::SeqCst)))
        .build()
        .unwrap();
    let name = rt
        .block_on(rt.spawn(async { std::thread::current().name().map(str::to_owned) }))
        .unwrap()
        .unwrap();
    assert!(name == "pool-0" || name == "pool-1", "{name}");
}

#[test]
fn default_runtime_uses_available_parallelism() {
    let rt = ringwork::Runtime::new().unwrap();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(rt.handle().num_workers(), cpus);
}

#[test]
fn a_typed_uring_config_is_taken_whole_and_each_feature_says_why_it_is_on_or_off() {
    use ringwork::runtime::{BufRingConfig, UringConfig};
    let config = UringConfig {
        buf_ring: Some(BufRingConfig::default()),
        multishot_accept: false,
        send_zc_threshold: Some(1 << 16),
        ..UringConfig::default()
    };
    let rt = match ringwork::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .driver(ringwork::io::DriverKind::Uring)
        .uring_config(config)
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            println!("skipped: no io_uring here ({err})");
            return;
        }
    };
    let states = rt.handle().uring_feature_states().unwrap();
    let state = |name: &str| {
        states
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} in {states:?}"))
            .clone()
    };
    assert!(state("bufring").on && state("send_zc").on, "{states:?}");
    let accept = state("multishot_accept");
    assert!(!accept.on && accept.why == "not asked for", "{accept:?}");
    assert!(!state("sqpoll").on);
    assert!(state("coop_taskrun").on, "the default stays on");
}
