//! `RINGWORK_SEED`. One test per process section: the environment is
//! process-wide, so this file holds the only test that sets it.

use ringwork::runtime::Builder;

#[test]
fn ringwork_seed_env_sets_the_seed_and_bad_values_are_errors() {
    // SAFETY-free: `set_var` is safe in edition 2021; this binary has a
    // single test, so no other thread reads the environment concurrently.
    std::env::set_var("RINGWORK_SEED", "0x2a");
    let rt = Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    assert_eq!(rt.handle().seed(), 42);
    drop(rt);

    std::env::set_var("RINGWORK_SEED", "99");
    let rt = Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    assert_eq!(rt.handle().seed(), 99);
    drop(rt);

    // The builder's seed wins over the environment.
    let rt = Builder::new_multi_thread()
        .worker_threads(1)
        .seed(5)
        .build()
        .unwrap();
    assert_eq!(rt.handle().seed(), 5);
    drop(rt);

    std::env::set_var("RINGWORK_SEED", "not-a-number");
    let err = Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("RINGWORK_SEED"), "{err}");
    std::env::remove_var("RINGWORK_SEED");
}
