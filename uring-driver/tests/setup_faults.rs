//! `io_uring_setup` failures, injected (feature `fault-injection`): a
//! refused optional flag is named by a forced setup and left off, with the
//! reason, by a best-effort one; `ENOMEM` halves the ring until it fits,
//! then names `RLIMIT_MEMLOCK`.
#![cfg(feature = "fault-injection")]

use ringwork_uring::{faults, Config, Driver};
use std::sync::Mutex;

/// The setup faults are the process's: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Clears the faults when the test ends, however it ends.
struct Clear;

impl Drop for Clear {
    fn drop(&mut self) {
        faults::clear();
    }
}

/// Whether this machine sets up a plain ring at all.
fn available() -> bool {
    match Driver::new(&Config::default()) {
        Ok(_) => true,
        Err(err) => {
            println!("skipped: io_uring unavailable ({err})");
            false
        }
    }
}

#[test]
fn a_refused_setup_flag_is_named_when_forced_and_left_off_with_best_effort() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _clear = Clear;
    if !available() {
        return;
    }
    for (flag, setup_name) in [
        ("submit_all", "IORING_SETUP_SUBMIT_ALL"),
        ("no_sqarray", "IORING_SETUP_NO_SQARRAY"),
    ] {
        let mut config = Config {
            submit_all: true,
            no_sqarray: true,
            ..Config::default()
        };
        // The kernel must have both for the test to mean anything: only the
        // injected refusal may fail the setup.
        if let Err(err) = Driver::new(&config) {
            println!("skipped: this kernel refuses submit_all + no_sqarray ({err})");
            return;
        }
        faults::refuse_setup_flag(Some(flag));

        let forced = Driver::new(&config).expect_err("a refused flag fails a forced setup");
        let text = forced.to_string();
        assert!(
            text.contains(setup_name) && text.contains(&format!("RINGWORK_URING=-{flag}")),
            "the error names the flag and how to turn it off: {text}"
        );
        assert_eq!(forced.kind(), std::io::ErrorKind::Unsupported);

        config.best_effort = true;
        let driver = Driver::new(&config).expect("best effort sets the ring up without it");
        let features = driver.features();
        let skipped: Vec<_> = features.skipped.iter().map(|s| s.name).collect();
        assert_eq!(skipped, [flag], "only the refused flag is left off");
        let why = &features.skipped[0].why;
        assert!(
            why.contains("best effort") && why.contains(setup_name),
            "the reason is kept: {why}"
        );
        let other_on = match flag {
            "submit_all" => features.no_sqarray,
            _ => features.submit_all,
        };
        assert!(other_on, "the flag that was not refused stays on");
        assert!(faults::setup_injected() > 0);
        faults::refuse_setup_flag(None);
    }
}

#[test]
fn enomem_at_setup_halves_the_ring_then_names_the_memlock_limit() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _clear = Clear;
    if !available() {
        return;
    }
    let config = Config {
        entries: 256,
        ..Config::default()
    };
    faults::fail_setups(libc::ENOMEM, 2);
    let driver = Driver::new(&config).expect("a smaller ring fits");
    assert_eq!(faults::setup_injected(), 2);
    assert_eq!(driver.features().sq_entries, 64, "halved twice");
    drop(driver);

    faults::fail_setups(libc::ENOMEM, 1000);
    let err = Driver::new(&config).expect_err("no ring fits");
    assert_eq!(err.raw_os_error(), None, "a sentence, not a bare errno");
    let text = err.to_string();
    assert!(text.contains("RLIMIT_MEMLOCK"), "{text}");
    assert!(text.contains("ENOMEM"), "{text}");
}
