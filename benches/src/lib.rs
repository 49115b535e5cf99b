//! Benchmarks that run the same workloads on ringwork and on its peers
//! (tokio's multi-thread runtime; for the I/O workloads also ringwork on its
//! epoll driver and a hand-written io_uring floor) and compare them.
//!
//! The library holds everything the `ringwork-bench` binary and the criterion
//! benches share:
//!
//! - [`peer`]: the runtimes under comparison — a [`Peer`](peer::Peer) is one
//!   entry in a list (a runtime and its configuration), and
//!   [`SchedulerRuntime`](peer::SchedulerRuntime) is the small API every
//!   scheduler workload is written against, so one workload body runs
//!   unchanged on every peer;
//! - [`handoff`]: a std-only single-slot [`Mailbox`](handoff::Mailbox), used
//!   by workloads that pass messages, identical for every peer so that the
//!   comparison measures schedulers rather than channel implementations;
//! - [`workloads`]: the scheduler workloads, the sync-primitive workloads
//!   (`ringwork::sync` against `tokio::sync`: mpsc, oneshot, Mutex,
//!   Semaphore), and the timer workloads
//!   (`timer_churn`, `sleep_many`, each run in a fresh child process so
//!   that its peak RSS is its own);
//! - [`iobench`]: the I/O workloads (`tcp_echo` on ringwork-uring,
//!   ringwork-epoll, tokio and a hand-written io_uring floor;
//!   `file_randread` on ringwork-uring, ringwork-epoll and tokio; `skewed`:
//!   the plain connections' p99 next to a few CPU-heavy ones, against tokio
//!   and a thread per connection), with their servers, load generator and
//!   tables;
//! - [`matrix`]: the kernel-feature comparison (`ringwork-bench matrix`):
//!   ringwork under each io_uring profile and its peers against the echo
//!   and accept workloads, as tables, `report.md`, `report.json` and SVG
//!   charts;
//! - [`busy_worker`]: how late a neighbour's timer and read complete while
//!   their worker is stuck in one long poll (ringwork-uring,
//!   ringwork-epoll, tokio);
//! - [`soak`]: `ringwork-bench soak`, a long mixed workload on both
//!   drivers at once with checksums, cancellation and a hang watchdog,
//!   sampling RSS, fds and threads and failing if any grows without bound;
//! - [`runner`]: interleaved rounds, warm-up, hang watchdog;
//! - [`stats`]: medians and ranges;
//! - [`machine`]: what the numbers were measured on (CPU, kernel, revision);
//! - [`report`]: the printed table and the JSON file.

pub mod busy_worker;
pub mod handoff;
pub mod iobench;
pub mod machine;
pub mod matrix;
pub mod peer;
pub mod report;
pub mod runner;
pub mod soak;
pub mod stats;
pub mod table;
pub mod workloads;
