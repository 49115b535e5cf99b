//! The public types are `Send`/`Sync` where users need them to be.

use ringwork::runtime::{Builder, EnterGuard, RuntimeMetrics, TryCurrentError, WorkerMetrics};
use ringwork::task::{AbortHandle, Id, JoinError, JoinHandle};
use ringwork::{Handle, Runtime};

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn send_sync<T: Send + Sync>() {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<Runtime>();
    send_sync::<Handle>();
    send_sync::<Builder>();
    send_sync::<JoinHandle<u32>>();
    send_sync::<JoinHandle<std::cell::Cell<u32>>>(); // output Send, not Sync
    send_sync::<AbortHandle>();
    send_sync::<JoinError>();
    send_sync::<Id>();
    send_sync::<RuntimeMetrics>();
    send_sync::<WorkerMetrics>();
    send_sync::<TryCurrentError>();
    sync::<EnterGuard<'static>>();
    send::<ringwork::task::JoinError>();
}

#[test]
fn join_error_is_a_std_error() {
    fn is_error<E: std::error::Error + Send + Sync + 'static>() {}
    is_error::<JoinError>();
    is_error::<TryCurrentError>();
}

#[test]
fn fs_types_and_their_futures_are_send() {
    use ringwork::fs::{self, DirEntry, File, FileType, ReadDir};
    fn future_is_send<F: std::future::Future + Send>(_: F) {}
    send_sync::<DirEntry>();
    send_sync::<FileType>();
    // `&ReadDir` can do nothing (`next_entry` takes `&mut self`).
    send::<ReadDir>();
    // Built, never polled: each call can be awaited in a spawned task.
    future_is_send(fs::read_dir("."));
    future_is_send(async {
        let mut dir = fs::read_dir(".").await?;
        while let Some(entry) = dir.next_entry().await? {
            entry.file_type().await?;
            entry.metadata().await?;
        }
        Ok::<(), std::io::Error>(())
    });
    future_is_send(fs::create_dir_all("a"));
    future_is_send(fs::remove_dir_all("a"));
    future_is_send(fs::copy("a", "b"));
    future_is_send(fs::symlink("a", "b"));
    future_is_send(fs::hard_link("a", "b"));
    future_is_send(fs::read_link("a"));
    future_is_send(fs::canonicalize("a"));
    future_is_send(fs::set_permissions(
        "a",
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    ));
    future_is_send(fs::try_exists("a"));
    future_is_send(async {
        let file = File::open("a").await?;
        file.seek(std::io::SeekFrom::Start(0)).await?;
        file.stream_position().await
    });
}
