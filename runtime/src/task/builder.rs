//! [`Builder`]: spawn a task with a name.

use crate::runtime::Handle;
use crate::task_core::JoinHandle;
use std::future::Future;
use std::io;
use std::sync::Arc;

/// Spawns a task with settings: for now, its name, which task dumps
/// ([`Handle::dump`]) and debug mode's reports show.
///
/// ```
/// let runtime = ringwork::Runtime::new()?;
/// runtime.block_on(async {
///     let handle = ringwork::task::Builder::new()
///         .name("accept-loop")
///         .spawn(async { 1 })?;
///     assert_eq!(handle.await.unwrap(), 1);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct Builder {
    name: Option<Arc<str>>,
}

impl Builder {
    /// A builder with no name set.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// The task's name.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Spawns `future` on the current runtime. `Err` outside any runtime
    /// (where [`crate::spawn`] would panic).
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> io::Result<JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let spawned_at = std::panic::Location::caller();
        Handle::with_current(|handle| match handle {
            Some(handle) => Ok(handle.spawn_named(future, spawned_at, self.name)),
            None => Err(io::Error::other(crate::runtime::TryCurrentError::new())),
        })
    }

    /// Spawns `future` on the runtime of `handle`.
    #[track_caller]
    pub fn spawn_on<F>(self, future: F, handle: &Handle) -> io::Result<JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Ok(handle.spawn_named(future, std::panic::Location::caller(), self.name))
    }
}
