//! How many io_uring rings (and provided-buffer rings) fit under this
//! process's `RLIMIT_MEMLOCK`: the arithmetic of docs/scaling.md.
//!
//! ```text
//! cargo build --release -p ringwork-bench --example ring_memlock
//! setpriv --inh-caps=-ipc_lock --bounding-set=-ipc_lock -- \
//!     prlimit --memlock=8388608 target/release/examples/ring_memlock 4096
//! ```
//!
//! Creates rings of `ENTRIES` submission entries (argument, default 256)
//! until the kernel refuses one, and prints how many it made and the error;
//! then, 2 s after closing them, on one fresh ring, registers buffer rings of
//! 4096 entries until refused.

use io_uring::IoUring;

fn main() {
    let entries: u32 = std::env::args()
        .nth(1)
        .map(|arg| arg.parse().expect("ENTRIES: a number"))
        .unwrap_or(256);
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for the call.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) };
    assert_eq!(rc, 0);
    println!("RLIMIT_MEMLOCK soft {} KiB", limit.rlim_cur / 1024);
    let mut rings = Vec::new();
    let error = loop {
        match IoUring::new(entries) {
            Ok(ring) => rings.push(ring),
            Err(err) => break err,
        }
        if rings.len() == 10_000 {
            break std::io::Error::other("stopped at 10000 rings");
        }
    };
    println!("{} rings of {entries} entries, then: {error}", rings.len());
    drop(rings);
    // The kernel frees a closed ring (and uncharges its memory) in a work
    // item after `close`, not in it: give it time, or the buffer rings below
    // would still see the rings' charge.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let ring = match IoUring::new(8) {
        Ok(ring) => ring,
        Err(err) => {
            println!("no ring left for the buffer rings: {err}");
            return;
        }
    };
    let mut mappings = Vec::new();
    let error = loop {
        let bytes = 4096usize * 16;
        // SAFETY: an anonymous private mapping of the kernel's choice.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED);
        let group = mappings.len() as u16;
        // SAFETY: the mapping holds 4096 zeroed entries and is never
        // unmapped while the ring lives (leaked until exit).
        let registered = unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(ptr as u64, 4096, group, 0)
        };
        match registered {
            Ok(()) => mappings.push(ptr),
            Err(err) => break err,
        }
        if mappings.len() == 1000 {
            break std::io::Error::other("stopped at 1000 buffer rings");
        }
    };
    println!(
        "{} buffer rings of 4096 entries (64 KiB of entries each), then: {error}",
        mappings.len()
    );
}
