//! [`JoinError`]: why a task produced no output.

use super::Id;
use std::any::Any;
use std::fmt;
use std::io;

/// Why awaiting a [`JoinHandle`](super::JoinHandle) gave no output: the task
/// was cancelled (aborted, or its runtime shut down), or it panicked.
pub struct JoinError {
    id: Id,
    repr: Repr,
}

enum Repr {
    Cancelled,
    Panic {
        payload: SyncWrapper<Box<dyn Any + Send + 'static>>,
        /// The payload's text when it is a string, kept for `Display`.
        message: Option<String>,
    },
}

/// Makes a `Send` value `Sync` by allowing access only through `&mut self` or
/// by value, so a shared reference can never reach the value.
struct SyncWrapper<T>(T);

// SAFETY: `SyncWrapper` gives no access to its contents through `&self` (it
// has no method taking `&self`), so sharing a reference between threads
// cannot race on `T`; moving it requires `T: Send`.
unsafe impl<T: Send> Sync for SyncWrapper<T> {}

impl JoinError {
    pub(crate) fn cancelled(id: Id) -> JoinError {
        JoinError {
            id,
            repr: Repr::Cancelled,
        }
    }

    /// A panic caught while polling or dropping the task's future.
    pub(crate) fn panic(id: Id, payload: Box<dyn Any + Send + 'static>) -> JoinError {
        let message = panic_message(&*payload).map(str::to_owned);
        JoinError {
            id,
            repr: Repr::Panic {
                payload: SyncWrapper(payload),
                message,
            },
        }
    }

    /// The task was cancelled (by `abort()` or runtime shutdown).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic { .. })
    }

    /// The panic payload, to resume with `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If the task was cancelled rather than panicking; see
    /// [`try_into_panic`](Self::try_into_panic).
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .expect("`JoinError::into_panic` called on a cancelled task's error")
    }

    /// The panic payload, or the error back when the task was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic { payload, .. } => Ok(payload.0),
            Repr::Cancelled => Err(self),
        }
    }

    /// The id of the task that failed.
    pub fn id(&self) -> Id {
        self.id
    }
}

/// The panic message, when the payload is a string.
fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Some(s)
    } else {
        payload.downcast_ref::<String>().map(String::as_str)
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => write!(f, "task {} was cancelled", self.id),
            Repr::Panic {
                message: Some(message),
                ..
            } => write!(f, "task {} panicked with message {:?}", self.id, message),
            Repr::Panic { message: None, .. } => write!(f, "task {} panicked", self.id),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => write!(f, "JoinError::Cancelled({})", self.id),
            Repr::Panic { message, .. } => {
                write!(
                    f,
                    "JoinError::Panic({}, {:?})",
                    self.id,
                    message.as_deref().unwrap_or("...")
                )
            }
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for io::Error {
    fn from(err: JoinError) -> io::Error {
        io::Error::other(err.to_string())
    }
}
