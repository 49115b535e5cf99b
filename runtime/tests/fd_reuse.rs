//! A descriptor number that is reused never receives an old operation's
//! completion: a socket closed with a read in flight (its task aborted), then
//! a new connection that gets the same number, and the new connection's
//! bytes all reach the new socket's reader (RELIABILITY.md, "fd reuse").

mod common;

use common::{for_each_driver, watchdog};
use ringwork::net::TcpListener;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Rounds per driver.
const ROUNDS: usize = 150;

#[test]
fn a_reused_descriptor_number_never_gets_an_aborted_reads_data() {
    watchdog(Duration::from_secs(120), || {
        for_each_driver(2, |rt| {
            let (reused, rounds) = rt.block_on(async {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let mut reused = 0;
                for round in 0..ROUNDS {
                    let mut old_peer = std::net::TcpStream::connect(addr).unwrap();
                    let (old, _) = listener.accept().await.unwrap();
                    let old_fd = old.as_raw_fd();
                    // The read goes pending in its own task, which is then
                    // aborted: at once (the read may not have reached the
                    // kernel yet), after a yield, or after it surely has.
                    let reader = ringwork::spawn(async move { old.read(vec![0u8; 64]).await });
                    match round % 3 {
                        0 => {}
                        1 => ringwork::task::yield_now().await,
                        _ => ringwork::time::sleep(Duration::from_millis(1)).await,
                    }
                    // The new connection's client side first, so that its
                    // descriptor does not take the old number: the
                    // connection waits in the backlog until accepted.
                    let mut new_peer = std::net::TcpStream::connect(addr).unwrap();
                    reader.abort();
                    assert!(reader.await.is_err(), "the aborted read completed");
                    // Give the cancelled read time to finish and the old
                    // descriptor time to close, so that the number is free.
                    ringwork::time::sleep(Duration::from_millis(2)).await;

                    let (new, _) = listener.accept().await.unwrap();
                    if new.as_raw_fd() == old_fd {
                        reused += 1;
                    }
                    // Bytes for the old connection after its read was
                    // cancelled, and for the new one: each must stay where
                    // it was sent.
                    let _ = old_peer.write_all(b"old connection");
                    let message = format!("round {round}");
                    new_peer.write_all(message.as_bytes()).unwrap();
                    let mut got = Vec::new();
                    while got.len() < message.len() {
                        let read = ringwork::time::timeout(
                            Duration::from_secs(2),
                            new.read(vec![0u8; 64]),
                        )
                        .await;
                        let (res, buf) = read.unwrap_or_else(|_| {
                            panic!(
                                "round {round}: the new connection's bytes did not arrive \
                                 (got {got:?}; old fd {old_fd}, new fd {})",
                                new.as_raw_fd()
                            )
                        });
                        let n = res.unwrap();
                        assert!(n > 0, "round {round}: the new connection ended early");
                        got.extend_from_slice(&buf[..n]);
                    }
                    assert_eq!(
                        got,
                        message.as_bytes(),
                        "round {round}: the new connection read other bytes"
                    );
                }
                (reused, ROUNDS)
            });
            println!(
                "{:?}: the descriptor number was reused in {reused} of {rounds} rounds",
                rt.handle().driver_kind()
            );
            // Otherwise the test did not test what it says.
            assert!(reused > 0, "no round reused the descriptor number");
        })
    });
}
