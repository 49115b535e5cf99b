//! A burst of connects larger than the listen backlog, alone in its test
//! binary: it asserts that the accept loop keeps pace with the kernel, which
//! other tests running at the same time on the same two CPUs (as the tests
//! of one binary do) could make it miss for reasons of their own.

mod common;

use ringwork::net::{TcpListener, TcpStream};
use std::time::Duration;

/// SYN retransmissions a connected socket went through (`TCP_INFO`).
fn syn_and_data_retransmits(stream: &TcpStream) -> u32 {
    // SAFETY: all-zero bytes are a valid `tcp_info`.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` and `len` live across the call and describe the
    // buffer's size; the descriptor is open (owned by `stream`).
    let rc = unsafe {
        libc::getsockopt(
            std::os::fd::AsRawFd::as_raw_fd(stream),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "TCP_INFO: {}", std::io::Error::last_os_error());
    info.tcpi_total_retrans
}

/// A burst of connects (more than the listen backlog of 1024) is accepted
/// without the kernel dropping SYNs: the accept loop drains the queue as
/// fast as it fills. (With one ring round trip per accept the queue
/// overflowed and clients waited out 1 s SYN retransmits.)
#[test]
fn a_burst_of_4000_connects_is_accepted_without_a_syn_retransmit() {
    require_opcodes!(Accept, Connect);
    const CONNECTS: usize = 4000;
    common::watchdog(Duration::from_secs(120), || {
        common::for_each_driver(2, |rt| {
            let retransmits = rt.block_on(async {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let acceptor = ringwork::spawn(async move {
                    let mut accepted = Vec::with_capacity(CONNECTS);
                    for _ in 0..CONNECTS {
                        accepted.push(listener.accept().await.unwrap().0);
                    }
                    accepted
                });
                let connects: Vec<_> = (0..CONNECTS)
                    .map(|_| {
                        ringwork::spawn(async move { TcpStream::connect(addr).await.unwrap() })
                    })
                    .collect();
                let mut clients = Vec::with_capacity(CONNECTS);
                for c in connects {
                    clients.push(c.await.unwrap());
                }
                assert_eq!(acceptor.await.unwrap().len(), CONNECTS);
                clients.iter().map(syn_and_data_retransmits).sum::<u32>()
            });
            assert_eq!(retransmits, 0, "SYNs were dropped and retransmitted");
        })
    });
}
