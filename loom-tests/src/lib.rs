//! Loom models of ringwork's concurrency protocols.
//!
//! Build and run with `RUSTFLAGS="--cfg loom"` (see `ci/test.sh`); without
//! that flag this crate is empty. The models arrive with the loom issue; the
//! runtime already routes every synchronization primitive through its
//! `crate::loom` shim so that they can check the code that ships.
