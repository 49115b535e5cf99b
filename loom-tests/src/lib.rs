//! Loom models of ringwork's concurrency protocols.
//!
//! Build and run with `RUSTFLAGS="--cfg loom"` (see `ci/test.sh` and
//! `docs/loom.md`); without that flag this crate is empty. The models live in
//! `tests/` (task state machine, scheduler, run queues, shutdown, io_uring
//! op slot and unparker, timers) and run the code that ships: the runtime
//! takes every synchronization primitive from its `crate::loom` shim.
