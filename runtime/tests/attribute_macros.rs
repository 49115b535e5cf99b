//! `#[ringwork::test]` and `#[ringwork::main]`'s arguments.

use ringwork::io::DriverKind;
use ringwork::Handle;

#[ringwork::test]
async fn a_ringwork_test_runs_its_body_on_a_ringwork_runtime() {
    let handle = Handle::current();
    assert!(handle.num_workers() >= 1);
    ringwork::time::sleep(std::time::Duration::from_millis(1)).await;
}

#[ringwork::test(worker_threads = 1, driver = "epoll")]
async fn arguments_choose_the_workers_and_the_driver() {
    let handle = Handle::current();
    assert_eq!(handle.num_workers(), 1);
    assert_eq!(handle.driver_kind(), Some(DriverKind::Epoll));
}

#[ringwork::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_may_return_a_result() -> std::io::Result<()> {
    let listener = ringwork::net::TcpListener::bind("127.0.0.1:0").await?;
    listener.local_addr()?;
    Ok(())
}

#[ringwork::test(flavor = "current_thread")]
async fn flavor_current_thread_runs_every_task_on_the_test_thread() {
    let handle = Handle::current();
    assert_eq!(
        handle.runtime_flavor(),
        ringwork::runtime::RuntimeFlavor::CurrentThread
    );
    let here = std::thread::current().id();
    let there = ringwork::spawn(async { std::thread::current().id() })
        .await
        .unwrap();
    assert_eq!(there, here);
}

/// Prints its run's seed; run by the next test in a child process.
#[ringwork::test(seeds = 4)]
async fn seed_probe() {
    println!("probe seed {:#x}", Handle::current().seed());
}

/// `seeds = 4` runs the body four times under four seeds; `RINGWORK_SEED`
/// replays one run under that seed.
#[test]
fn seeds_runs_the_body_under_that_many_seeds_and_ringwork_seed_replays_one() {
    let run = |seed: Option<&str>| -> Vec<String> {
        let mut command = std::process::Command::new(std::env::current_exe().unwrap());
        command.args([
            "--exact",
            "seed_probe",
            "--nocapture",
            "--test-threads",
            "1",
        ]);
        match seed {
            Some(seed) => command.env("RINGWORK_SEED", seed),
            None => command.env_remove("RINGWORK_SEED"),
        };
        let output = command.output().unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            // libtest may print "test seed_probe ... " on the same line.
            .filter_map(|l| {
                l.split_once("probe seed ")
                    .map(|(_, seed)| seed.trim().to_owned())
            })
            .collect()
    };
    let seeds = run(None);
    assert_eq!(seeds.len(), 4, "{seeds:?}");
    let distinct: std::collections::BTreeSet<_> = seeds.iter().collect();
    assert_eq!(distinct.len(), 4, "the runs shared a seed: {seeds:?}");
    assert_eq!(run(Some("0x2a")), vec!["0x2a".to_owned()]);
}
