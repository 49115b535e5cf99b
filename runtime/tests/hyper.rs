//! hyper 1.x on ringwork with no user glue (feature `hyper`): a server and a
//! client over loopback, HTTP/1.1 keep-alive and HTTP/2, on both drivers.
#![cfg(feature = "hyper")]

mod common;

use bytes::Bytes;
use common::{for_each_driver, watchdog};
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use ringwork::hyper_rt::{HyperExecutor, HyperTimer};
use ringwork::io::compat::Compat;
use ringwork::net::{TcpListener, TcpStream};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

const REQUESTS: usize = 50;

async fn hello(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from(format!(
        "hello {}",
        req.uri().path()
    )))))
}

/// Serves every connection of `listener` with hyper, HTTP/1.1 or HTTP/2.
async fn serve(listener: TcpListener, http2: bool) {
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let io = Compat::new(stream);
        drop(ringwork::spawn(async move {
            let served = if http2 {
                hyper::server::conn::http2::Builder::new(HyperExecutor)
                    .timer(HyperTimer)
                    .serve_connection(io, service_fn(hello))
                    .await
            } else {
                hyper::server::conn::http1::Builder::new()
                    .timer(HyperTimer)
                    .serve_connection(io, service_fn(hello))
                    .await
            };
            served.unwrap();
        }));
    }
}

async fn start(http2: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(ringwork::spawn(serve(listener, http2)));
    addr
}

fn request(i: usize) -> Request<Empty<Bytes>> {
    Request::get(format!("http://127.0.0.1/r{i}"))
        .body(Empty::<Bytes>::new())
        .unwrap()
}

async fn check(response: Response<hyper::body::Incoming>, i: usize) {
    assert!(response.status().is_success());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, format!("hello /r{i}").as_bytes());
}

#[test]
fn hyper_http1_keep_alive_server_and_client_run_on_ringwork() {
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            rt.block_on(rt.spawn(async {
                let addr = start(false).await;
                let io = Compat::new(TcpStream::connect(addr).await.unwrap());
                let (mut sender, connection) =
                    hyper::client::conn::http1::handshake(io).await.unwrap();
                drop(ringwork::spawn(connection));
                // Every request on the one connection: keep-alive.
                for i in 0..REQUESTS {
                    check(sender.send_request(request(i)).await.unwrap(), i).await;
                }
            }))
            .unwrap();
        })
    });
}

#[test]
fn hyper_http2_server_and_client_run_on_ringwork() {
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            rt.block_on(rt.spawn(async {
                let addr = start(true).await;
                let io = Compat::new(TcpStream::connect(addr).await.unwrap());
                let (mut sender, connection) =
                    hyper::client::conn::http2::Builder::new(HyperExecutor)
                        .timer(HyperTimer)
                        .handshake(io)
                        .await
                        .unwrap();
                drop(ringwork::spawn(connection));
                for i in 0..REQUESTS {
                    check(sender.send_request(request(i)).await.unwrap(), i).await;
                }
            }))
            .unwrap();
        })
    });
}
