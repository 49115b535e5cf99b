//! The error of a send into a channel nobody receives from, shared by
//! `mpsc`, `broadcast` and `watch`.

use std::fmt;

/// The channel has no receiver (it was dropped, or closed the channel);
/// the value was not sent and comes back in the error.
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending on a channel without a receiver")
    }
}

impl<T> std::error::Error for SendError<T> {}
