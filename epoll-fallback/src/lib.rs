//! The epoll fallback driver of ringwork: one edge-triggered reactor per
//! thread, for kernels or sandboxes without io_uring.
//!
//! This crate knows nothing of tasks or schedulers; it speaks only
//! [`std::task::Waker`], file descriptors and deadlines.
//!
//! Status: an empty member of the workspace. The reactor lands with the
//! "epoll fallback driver" issue.
