//! The io_uring driver of ringwork: one ring per thread, generation-tagged op
//! slots that own every resource the kernel may touch, a feature probe.
//!
//! This crate knows nothing of tasks or schedulers; it speaks only
//! [`std::task::Waker`], file descriptors, buffers and deadlines.
//!
//! Status: an empty member of the workspace. The driver lands with the
//! "io_uring driver" issue; the runtime currently parks its workers on a
//! `Mutex` + `Condvar` parker behind the same `Park` seam the driver will
//! implement.
