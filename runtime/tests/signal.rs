//! `ringwork::signal`: listeners see deliveries raised in-process, on both
//! drivers. Signals are process-wide, so the tests of this file take turns.

mod common;

use common::{for_each_driver, watchdog};
use ringwork::signal::unix::{signal, SignalKind};
use ringwork::time::timeout;
use std::time::Duration;

static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

fn raise(kind: SignalKind) {
    // SAFETY: raise(3) with a signal this process now handles.
    assert_eq!(unsafe { libc::raise(kind.as_raw()) }, 0);
}

const SOON: Duration = Duration::from_secs(2);
const QUIET: Duration = Duration::from_millis(100);

#[test]
fn every_listener_of_a_signal_sees_each_delivery_and_others_do_not() {
    let _turn = one_at_a_time();
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            rt.block_on(rt.spawn(async {
                let mut first = signal(SignalKind::user_defined1()).unwrap();
                let mut second = signal(SignalKind::user_defined1()).unwrap();
                let mut other = signal(SignalKind::hangup()).unwrap();
                for _ in 0..3 {
                    raise(SignalKind::user_defined1());
                    for listener in [&mut first, &mut second] {
                        let got = timeout(SOON, listener.recv()).await;
                        assert_eq!(got.expect("the delivery reached the listener"), Some(()));
                    }
                }
                assert!(
                    timeout(QUIET, other.recv()).await.is_err(),
                    "a SIGHUP listener saw SIGUSR1"
                );
                raise(SignalKind::hangup());
                assert_eq!(timeout(SOON, other.recv()).await.unwrap(), Some(()));
            }))
            .unwrap();
        })
    });
}

#[test]
fn deliveries_before_a_recv_coalesce_and_a_dropped_recv_loses_none() {
    let _turn = one_at_a_time();
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            rt.block_on(rt.spawn(async {
                let mut listener = signal(SignalKind::user_defined2()).unwrap();
                for _ in 0..3 {
                    raise(SignalKind::user_defined2());
                }
                ringwork::time::sleep(Duration::from_millis(50)).await;
                assert_eq!(timeout(SOON, listener.recv()).await.unwrap(), Some(()));
                assert!(
                    timeout(QUIET, listener.recv()).await.is_err(),
                    "three deliveries before one recv came out as more than one"
                );
                // The timed-out recv above was dropped while waiting; a
                // delivery now reaches the next one.
                raise(SignalKind::user_defined2());
                assert_eq!(timeout(SOON, listener.recv()).await.unwrap(), Some(()));
                // And as a stream.
                raise(SignalKind::user_defined2());
                let next = timeout(
                    SOON,
                    std::future::poll_fn(|cx| {
                        futures_core::Stream::poll_next(std::pin::Pin::new(&mut listener), cx)
                    }),
                )
                .await;
                assert_eq!(next.unwrap(), Some(()));
            }))
            .unwrap();
        })
    });
}

#[test]
fn ctrl_c_resolves_on_sigint() {
    let _turn = one_at_a_time();
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            rt.block_on(rt.spawn(async {
                // Installed by the call: the raise below, before the first
                // poll, is not lost (nor kills the process).
                let ctrl_c = ringwork::signal::ctrl_c();
                raise(SignalKind::interrupt());
                timeout(SOON, ctrl_c).await.unwrap().unwrap();
            }))
            .unwrap();
        })
    });
}

#[test]
fn signals_that_cannot_be_handled_are_invalid_input() {
    for raw in [libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, 0, 1000] {
        let err = signal(SignalKind::from_raw(raw)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "signal {raw}");
    }
}
