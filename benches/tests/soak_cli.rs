//! `ringwork-bench soak` fails when its workload goes wrong: each test
//! injects a fault (the hidden `--inject`) into a short run on both drivers
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

/// Runs a soak with `fault` injected: it must fail, quickly, saying `caught`
/// for each driver.
fn injected(fault: &str, caught: &str) {
    let started = Instant::now();
    let output = soak(&["--secs", "30", "--seed", "7", "--inject", fault]);
    let text = text(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    for driver in ["uring", "epoll"] {
        assert!(
            text.lines().any(|line| line.contains("FAILURE")
                && line.contains(driver)
                && line.contains(caught)),
            "no {driver} failure saying {caught:?}:\n{text}"
        );
    }
    assert!(text.contains("soak FAILED"), "{text}");
    // Well before the 30 s: the failure stopped it.
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_corrupted_echo_fails_the_soak() {
    injected("corrupt", "checksum mismatch");
}

#[test]
fn a_lost_echo_chunk_fails_the_soak() {
    injected("lose", "lost");
}

#[test]
fn a_panic_fails_the_soak() {
    injected("panic", "panicked");
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
