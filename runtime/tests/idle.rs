//! An idle runtime burns no CPU: its workers sleep in their drivers and the
//! monitor (`handoff.rs`) sleeps without a timeout once every worker has
//! been parked for a few ticks. One test in its own binary, so that no other
//! test's threads run in the process while it measures.

mod common;

use std::time::Duration;

/// CPU time (user + system) of the whole process so far.
fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[test]
fn an_idle_runtime_uses_no_cpu_for_two_seconds() {
    common::for_each_driver(2, |rt| {
        // Some work first, so that every thread (and the monitor) has been
        // awake, with timers and I/O registered.
        rt.block_on(async {
            let handles: Vec<_> = (0..100)
                .map(|_| {
                    ringwork::spawn(async {
                        ringwork::time::sleep(Duration::from_millis(5)).await;
                    })
                })
                .collect();
            for h in handles {
                h.await.unwrap();
            }
        });
        std::thread::sleep(Duration::from_millis(100)); // settle
        let before = process_cpu();
        std::thread::sleep(Duration::from_secs(2));
        let used = process_cpu() - before;
        println!(
            "{:?}: {used:?} of CPU in 2 s idle",
            rt.handle().driver_kind()
        );
        // Zero in principle; a few wake-ups of the kernel's bookkeeping are
        // allowed for. A monitor that kept ticking would use tens of ms.
        assert!(
            used < Duration::from_millis(5),
            "an idle runtime used {used:?} of CPU in 2 s"
        );
    });
}
