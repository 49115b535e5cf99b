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
