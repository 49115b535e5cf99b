//! The op slot's protocol, exposed to the loom models in `loom-tests/` only
//! under `--cfg loom`. Not part of the public API.

use crate::slot::{Completable, DropOutcome, Slot};
pub use crate::slot::{Completion, Orphan};
use std::task::{Context, Poll};

/// An op slot without a ring: the model plays the kernel.
#[derive(Debug)]
pub struct ModelSlot<R: Send + 'static>(Slot<R>);

impl<R: Send + 'static> ModelSlot<R> {
    /// A slot holding `resources`, as `Driver::submit` makes it.
    pub fn new(resources: R) -> Self {
        ModelSlot(Slot::new(resources, Orphan::Drop))
    }

    /// The future polls (as `Op::poll_complete`).
    pub fn poll_complete(&self, cx: &mut Context<'_>) -> Poll<(Completion, R)> {
        self.0.poll_complete(cx)
    }

    /// The future is dropped (as `Op::drop`); `true` if a cancel must be sent.
    pub fn drop_op(&self) -> bool {
        self.0.drop_op() == DropOutcome::CancelInFlight
    }

    /// The kernel's final CQE arrives (as the driver's `deliver`).
    pub fn complete(&self, result: i32) {
        self.0.complete(Completion { result, flags: 0 }, false);
    }
}

impl<R> std::fmt::Debug for Slot<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").finish_non_exhaustive()
    }
}
