//! `http_client`: fetches a URL path from an HTTP/1.1 server with hyper on
//! ringwork, reusing one keep-alive connection for `--count` requests, and
//! prints each status and body (`http_hello` is a server to try it on).
//!
//! ```text
//! cargo run --release -p ringwork --features hyper --example http_hello &
//! cargo run --release -p ringwork --features hyper --example http_client -- --addr 127.0.0.1:8080 --path /world --count 3
//! ```

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use ringwork::io::compat::Compat;
use ringwork::net::TcpStream;
use std::io;

/// `count` GETs of `path` on one connection to `addr`: each response's
/// status and body.
pub async fn fetch(addr: &str, path: &str, count: usize) -> io::Result<Vec<(u16, Bytes)>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(Compat::new(stream))
        .await
        .map_err(io::Error::other)?;
    let driver = ringwork::spawn(connection);
    let mut responses = Vec::with_capacity(count);
    for _ in 0..count {
        let request = Request::get(path)
            .header(hyper::header::HOST, addr)
            .body(Empty::<Bytes>::new())
            .map_err(io::Error::other)?;
        let response = sender
            .send_request(request)
            .await
            .map_err(io::Error::other)?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(io::Error::other)?
            .to_bytes();
        responses.push((status, body));
    }
    // Dropping the sender ends the connection.
    drop(sender);
    driver
        .await
        .map_err(io::Error::other)?
        .map_err(io::Error::other)?;
    Ok(responses)
}

#[allow(dead_code)] // a test includes this file as a module
fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut addr, mut path, mut count) = ("127.0.0.1:8080".to_owned(), "/".to_owned(), 1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().expect("--addr takes HOST:PORT"),
            "--path" => path = args.next().expect("--path takes /PATH"),
            "--count" => {
                count = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--count takes a number")
            }
            other => {
                eprintln!(
                    "unknown argument {other:?}; usage: http_client [--addr HOST:PORT] \
                     [--path /PATH] [--count N]"
                );
                std::process::exit(2);
            }
        }
    }
    let runtime = ringwork::Runtime::new()?;
    for (status, body) in runtime.block_on(fetch(&addr, &path, count))? {
        println!("{status} {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}
