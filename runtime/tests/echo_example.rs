//! The `echo` example: its server and client functions on both drivers,
//! and its two built binaries talking to each other.

mod common;
#[path = "../examples/echo.rs"]
mod echo;

use common::{for_each_driver, watchdog};
use ringwork::net::TcpListener;
use std::time::Duration;

#[test]
fn the_echo_example_client_checks_every_byte_against_its_server() {
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            rt.block_on(rt.spawn(async {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap().to_string();
                drop(ringwork::spawn(echo::serve(listener)));
                echo::client(&addr, 500).await.unwrap();
            }))
            .unwrap();
        })
    });
}

/// The built binaries (`cargo test` builds the examples): the client's
/// exit status says every echo matched.
#[test]
fn the_echo_binaries_talk_to_each_other() {
    use std::io::BufRead;
    let examples = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("examples"))
        .unwrap();
    let binary = examples.join("echo");
    assert!(
        binary.exists(),
        "{} was not built: `cargo test` builds the examples unless a `--test` filter is \
         given; else run `cargo build -p ringwork --all-features --examples` first",
        binary.display()
    );
    watchdog(Duration::from_secs(60), move || {
        let mut server = std::process::Command::new(&binary)
            .args(["server", "--addr", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let first = std::io::BufReader::new(server.stdout.take().unwrap())
            .lines()
            .next()
            .unwrap()
            .unwrap();
        let addr = first.strip_prefix("listening on ").unwrap().to_owned();
        let status = std::process::Command::new(&binary)
            .args(["client", "--addr", &addr, "--messages", "200"])
            .status()
            .unwrap();
        let _ = server.kill();
        let _ = server.wait();
        assert!(status.success(), "the echo client failed: {status}");
    });
}
