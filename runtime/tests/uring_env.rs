//! `RINGWORK_URING`. The environment is process-wide, so this file holds
//! the only test that sets it.

use ringwork::io::DriverKind;
use ringwork::runtime::Builder;

#[test]
fn ringwork_uring_env_switches_features_the_builder_left_and_bad_values_are_errors() {
    // Single test in this binary: no other thread reads the environment.
    std::env::set_var(
        "RINGWORK_URING",
        "-multishot_accept, -coop_taskrun, entries=64, bufring=16x1024, submit_all, no_sqarray, \
         register_ring_fd",
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
    assert!(
        features.buf_ring && features.submit_all && features.no_sqarray,
        "{features:?}"
    );
    // The ring works with them: bytes through a socket pair, received into
    // the provided buffers.
    let received = rt
        .block_on(rt.spawn(async {
            let (a, b) = ringwork::net::UnixStream::pair()?;
            let (res, _) = a.write_all(&b"over the flags"[..]).await;
            res?;
            let buf = b.recv_buf().await?;
            Ok::<_, std::io::Error>((buf.to_vec(), buf.is_pooled()))
        }))
        .unwrap()
        .unwrap();
    assert_eq!(received, (b"over the flags".to_vec(), true));
    // The worker entered its ring by the registered ring fd.
    assert!(features.registered_ring_fd, "{features:?}");
    let states = rt.handle().uring_feature_states().unwrap();
    assert!(
        states.iter().any(|s| s.name == "register_ring_fd" && s.on),
        "{states:?}"
    );
    let io = rt.handle().metrics().workers[0].io.unwrap();
    assert!(
        io.registered_enters > 0 && io.ring_fd_refused == 0,
        "{io:?}"
    );
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
