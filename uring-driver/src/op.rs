//! [`Op`]: the future side of one submitted operation.

use crate::remote::{CancelRequest, Remote};
use crate::slot::{DropOutcome, Slot};
use crate::sync::Arc;
use crate::Completion;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A submitted operation. Await it (or poll it) for the completion and the
/// resources handed to [`Driver::submit`](crate::Driver::submit).
///
/// It may be polled and dropped on any thread. Dropping it before the final
/// completion cancels the operation (`IORING_OP_ASYNC_CANCEL`, sent by the
/// owner thread); the resources stay alive until the kernel's final
/// completion for it arrives.
pub struct Op<R: Send + 'static> {
    slot: Arc<Slot<R>>,
    user_data: u64,
    remote: Arc<Remote>,
    finished: bool,
}

impl<R: Send + 'static> Op<R> {
    pub(crate) fn new(slot: Arc<Slot<R>>, user_data: u64, remote: Arc<Remote>) -> Op<R> {
        Op {
            slot,
            user_data,
            remote,
            finished: false,
        }
    }

    /// Polls for the final completion.
    ///
    /// # Panics
    /// If polled again after it returned `Ready`.
    pub fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<(Completion, R)> {
        let ready = self.slot.poll_complete(cx);
        if ready.is_ready() {
            self.finished = true;
        }
        ready
    }

    /// Polls a multishot operation: each non-final completion as
    /// `(completion, None)`, then the final one with the resources.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<(Completion, Option<R>)> {
        let ready = self.slot.poll_next(cx);
        if let Poll::Ready((_, Some(_))) = &ready {
            self.finished = true;
        }
        ready
    }

    /// Whether this operation (submitted with
    /// [`Driver::submit_capped`](crate::Driver::submit_capped)) was
    /// cancelled because its unread completions reached the cap.
    pub fn hit_cap(&self) -> bool {
        self.slot.hit_cap()
    }

    /// The `user_data` this operation was submitted with.
    pub fn user_data(&self) -> u64 {
        self.user_data
    }

    pub(crate) fn belongs_to(&self, remote: &Arc<Remote>) -> bool {
        Arc::ptr_eq(&self.remote, remote)
    }

    /// Ends the future side as `Drop` does, but leaves the cancellation
    /// request to the caller (the owner, which submits it at once): returns
    /// it if the operation is still in the kernel.
    pub(crate) fn detach_for_cancel(mut self) -> Option<CancelRequest> {
        let unfinished = !self.finished;
        self.finished = true; // `Drop` has nothing left to do
        (unfinished && self.slot.drop_op() == DropOutcome::CancelInFlight)
            .then(|| self.cancel_request())
    }

    fn cancel_request(&self) -> CancelRequest {
        CancelRequest {
            user_data: self.user_data,
            slot: self.slot.clone(),
        }
    }
}

impl<R: Send + 'static> Future for Op<R> {
    type Output = (Completion, R);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // `Op` is `Unpin`: it only holds `Arc`s and plain values.
        self.get_mut().poll_complete(cx)
    }
}

impl<R: Send + 'static> Drop for Op<R> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if self.slot.drop_op() == DropOutcome::CancelInFlight {
            self.remote.request_cancel(self.cancel_request());
        }
    }
}

impl<R: Send + 'static> fmt::Debug for Op<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Op")
            .field("user_data", &format_args!("{:#x}", self.user_data))
            .field("finished", &self.finished)
            .finish()
    }
}
