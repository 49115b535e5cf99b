//! `ringwork-bench soak` fails when its workload goes wrong: each test
//! injects a fault (the hidden `--inject`) into a short run on each driver
//! and expects exit status 1 naming what was caught. A fault fires 2 s in;
//! the soak stops within a second of a failure. Bad arguments are refused
//! with a message, never a panic.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn soak(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringwork-bench"))
        .arg("soak")
        .args(args)
        .output()
        .expect("running ringwork-bench")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs a soak with `fault` injected on each driver alone (on both at once,
/// the first failure stops the other runtime, maybe before its own fault
/// fires): it must fail, quickly, saying one of `caught` (where an echoed
/// chunk was damaged decides which check sees it first: a frame's
/// checksum, its magic, its length, its sequence number, or the end of the
/// stream).
fn injected(fault: &str, caught: &[&str]) {
    for driver in ["uring", "epoll"] {
        let started = Instant::now();
        let output = soak(&[
            "--secs", "30", "--seed", "7", "--inject", fault, "--driver", driver,
        ]);
        let text = text(&output);
        if driver == "uring" && text.contains("building the uring runtime") {
            // As the other I/O tests: io_uring refused here, epoll alone.
            println!("skipped on io_uring: {}", text.trim());
            continue;
        }
        assert_eq!(output.status.code(), Some(1), "{driver}: {text}");
        assert!(
            text.lines().any(|line| line.contains("FAILURE")
                && line.contains(driver)
                && caught.iter().any(|caught| line.contains(caught))),
            "no {driver} failure saying any of {caught:?}:\n{text}"
        );
        assert!(text.contains("soak FAILED"), "{text}");
        // Well before the 30 s: the failure stopped it.
        assert!(
            started.elapsed() < Duration::from_secs(25),
            "{driver}: took {:?}:\n{text}",
            started.elapsed()
        );
    }
}

#[test]
fn a_corrupted_echo_fails_the_soak() {
    injected(
        "corrupt",
        &[
            "checksum mismatch",
            "no frame starts",
            "payload bytes",
            "lost data",
        ],
    );
}

#[test]
fn a_lost_echo_chunk_fails_the_soak() {
    injected(
        "lose",
        &[
            "frames lost",
            "lost data",
            "checksum mismatch",
            "no frame starts",
            "payload bytes",
        ],
    );
}

#[test]
fn a_panic_fails_the_soak() {
    injected("panic", &["panicked"]);
}

#[test]
fn bad_arguments_are_refused_with_a_message() {
    for (args, says) in [
        (&["--secs", "0"][..], "not in 10.."),
        (&["--secs", "9"][..], "not in 10.."),
        (&["--secs", "ten"][..], "invalid value"),
        (
            &["--secs", "20", "--driver", "kqueue"][..],
            "expected uring, epoll or both",
        ),
        (&["--secs", "20", "--workers", "0"][..], "not in 1..=64"),
        (&[][..], "--secs"),
    ] {
        let output = soak(args);
        let text = text(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {text}");
        assert!(text.contains(says), "{args:?}: {text}");
        assert!(!text.contains("panicked"), "{args:?}: {text}");
    }
}
