//! `recv_buf` holds no read buffer while it waits, and waits without
//! spinning: an idle connection whose task waits in `recv_buf` costs its
//! task and socket state, not 16 KiB, and no CPU.
//! Measured with a counting global allocator (live heap bytes), so this
//! test has its own binary.

mod common;

use ringwork::net::{TcpListener, TcpStream};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

/// Live heap bytes of the whole process.
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Counting;

// SAFETY: every call is forwarded to `System` unchanged; the counter is
// only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc`, forwarded.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            // `Relaxed`: a statistic read after the threads it counts have
            // gone quiet (the sleep below), never used to order memory.
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc`, forwarded.
        unsafe { System.dealloc(ptr, layout) };
        // `Relaxed`: as above.
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const CONNECTIONS: usize = 64;

/// CPU time (user + system) of the whole process so far.
fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Echoes with `recv_buf` until the peer closes.
async fn echo(stream: TcpStream) {
    loop {
        let Ok(buf) = stream.recv_buf().await else {
            return;
        };
        if buf.is_empty() {
            return;
        }
        let (res, _) = stream.write_all(buf).await;
        if res.is_err() {
            return;
        }
    }
}

#[test]
fn an_idle_connection_waiting_in_recv_buf_holds_no_read_buffer_and_uses_no_cpu() {
    common::for_each_accept_path(2, |rt| {
        let listener = rt.block_on(async { TcpListener::bind("127.0.0.1:0").await.unwrap() });
        let addr = listener.local_addr().unwrap();
        drop(rt.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                drop(ringwork::spawn(echo(stream)));
            }
        }));
        // One connection first, so that whatever the runtime sets up once
        // (a buffer ring's bookkeeping, slabs) is in the baseline.
        let mut warm = std::net::TcpStream::connect(addr).unwrap();
        let mut echoed = [0u8; 64];
        warm.write_all(&[7; 64]).unwrap();
        warm.read_exact(&mut echoed).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let before = LIVE.load(Ordering::Relaxed);

        let mut clients = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            clients.push(std::net::TcpStream::connect(addr).unwrap());
        }
        for (i, client) in clients.iter_mut().enumerate() {
            client
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let message = [i as u8; 64];
            client.write_all(&message).unwrap();
            client.read_exact(&mut echoed).unwrap();
            assert_eq!(echoed, message);
        }
        // Every server task is back in `recv_buf`, waiting.
        std::thread::sleep(Duration::from_millis(100));
        // Waiting, not spinning: an idle wait that kept reporting stale
        // readiness would burn a core here.
        let cpu_before = process_cpu();
        std::thread::sleep(Duration::from_millis(300));
        let idle_cpu = process_cpu() - cpu_before;
        assert!(
            idle_cpu < Duration::from_millis(100),
            "{CONNECTIONS} idle connections used {idle_cpu:?} of CPU in 300 ms"
        );
        let after = LIVE.load(Ordering::Relaxed);
        let per_connection = (after - before) / CONNECTIONS as isize;
        println!("{per_connection} heap bytes per idle connection");
        assert!(
            per_connection < 8 * 1024,
            "an idle connection holds {per_connection} heap bytes: a 16 KiB read buffer is \
             pinned while it waits"
        );
        drop(clients);
        drop(warm);
    });
}
