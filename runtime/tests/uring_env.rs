//! `RINGWORK_URING`. The environment is process-wide, so this file holds
//! the only test that sets it.

use ringwork::io::DriverKind;
use ringwork::runtime::Builder;

#[test]
fn ringwork_uring_env_switches_features_the_builder_left_and_bad_values_are_errors() {
    // Single test in this binary: no other thread reads the environment.
    std::env::set_var(
        "RINGWORK_URING",
        "-multishot_accept, -coop_taskrun, entries=64",
    );
    let rt = match Builder::new_multi_thread()
        .worker_threads(1)
        .driver(DriverKind::Uring)
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            println!("skipped: no io_uring here ({err})");
            return;
        }
    };
    let features = rt.handle().uring_features().unwrap();
    assert!(!features.multishot_accept, "{features:?}");
    assert!(!features.coop_taskrun, "{features:?}");
    assert_eq!(features.sq_entries, 64);
    drop(rt);

    // What the builder sets explicitly wins over the environment.
    let rt = Builder::new_multi_thread()
        .worker_threads(1)
        .driver(DriverKind::Uring)
        .uring_coop_taskrun(true)
        .build()
        .unwrap();
    let features = rt.handle().uring_features().unwrap();
    assert!(
        features.coop_taskrun && !features.multishot_accept,
        "{features:?}"
    );
    drop(rt);

    std::env::set_var("RINGWORK_URING", "multishot_accept,turbo");
    let err = Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("\"turbo\""), "{err}");
    std::env::remove_var("RINGWORK_URING");
}
