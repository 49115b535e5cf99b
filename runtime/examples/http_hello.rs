//! `http_hello`: an HTTP/1.1 server on ringwork and hyper that answers every
//! request with `hello <path>`; keep-alive and pipelining on; a client that
//! stalls mid-header is dropped after 5 s; Ctrl-C stops accepting and lets
//! the open connections finish (up to 10 s).
//!
//! ```text
//! cargo run --release -p ringwork --features hyper --example http_hello -- --addr 127.0.0.1:8080
//! curl http://127.0.0.1:8080/world      # hello /world
//! ```
//!
//! `RINGWORK_DRIVER=epoll` runs it on the epoll driver. It prints
//! `listening on ADDR` once it accepts connections.

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use ringwork::hyper_rt::HyperTimer;
use ringwork::io::compat::Compat;
use ringwork::net::TcpListener;
use ringwork::sync::watch;
use std::convert::Infallible;
use std::time::Duration;

/// How long a client may take to send a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long open connections get to finish after Ctrl-C.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

async fn hello(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from(format!(
        "hello {}",
        req.uri().path()
    )))))
}

/// Serves `listener` until `stop` changes, then waits (up to
/// [`DRAIN_TIMEOUT`]) for the open connections to finish their requests.
pub async fn serve(listener: TcpListener, mut stop: watch::Receiver<bool>) {
    let mut connections = ringwork::task::JoinSet::new();
    loop {
        let accepted = ringwork::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            // Out of descriptors and the like: `accept` already paused.
            Err(err) => {
                eprintln!("accept: {err}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        // Forget the connections that have ended, so that a long-running
        // server's set holds only the open ones.
        while connections.try_join_next().is_some() {}
        let mut stop = stop.clone();
        connections.spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(HyperTimer)
                .header_read_timeout(HEADER_TIMEOUT)
                .pipeline_flush(true)
                .serve_connection(Compat::new(stream), service_fn(hello));
            let mut connection = std::pin::pin!(connection);
            ringwork::select! {
                // Errors are the client's (a reset, a malformed request):
                // the connection ends either way.
                _ = connection.as_mut() => {}
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    let drained = ringwork::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        eprintln!(
            "{} connections still open after {DRAIN_TIMEOUT:?}",
            connections.len()
        );
    }
}

#[allow(dead_code)] // a test includes this file as a module
fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:8080".to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().expect("--addr takes HOST:PORT"),
            other => {
                eprintln!("unknown argument {other:?}; usage: http_hello [--addr HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    let runtime = ringwork::Runtime::new()?;
    runtime.block_on(async {
        // Installed before the announcement, so that a Ctrl-C right after
        // it is a graceful stop, not the default kill.
        let ctrl_c = ringwork::signal::ctrl_c();
        let listener = TcpListener::bind(addr.as_str()).await?;
        println!("listening on {}", listener.local_addr()?);
        let (stop_tx, stop_rx) = watch::channel(false);
        drop(ringwork::spawn(async move {
            if ctrl_c.await.is_ok() {
                println!("Ctrl-C: finishing open connections");
                let _ = stop_tx.send(true);
            }
        }));
        serve(listener, stop_rx).await;
        Ok(())
    })
}
