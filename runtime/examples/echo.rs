//! `echo`: a TCP echo server, and a client that checks the echo.
//!
//! ```text
//! cargo run --release -p ringwork --example echo -- server --addr 127.0.0.1:7000
//! cargo run --release -p ringwork --example echo -- client --addr 127.0.0.1:7000 --messages 1000
//! ```
//!
//! The server echoes every connection's bytes until the peer closes; it
//! prints `listening on ADDR`. The client sends `--messages` messages of
//! 1 KiB, checks each echo byte for byte, and prints the round trips per
//! second. `RINGWORK_DRIVER=epoll` runs either on the epoll driver.

use ringwork::net::{TcpListener, TcpStream};
use std::io;
use std::time::Instant;

/// Echoes one connection until the peer closes.
pub async fn echo(stream: TcpStream) -> io::Result<()> {
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        buf.clear();
        let (read, returned) = stream.read(buf).await;
        buf = returned;
        if read? == 0 {
            return Ok(());
        }
        let (written, returned) = stream.write_all(buf).await;
        buf = returned;
        written?;
    }
}

/// Accepts forever, a task per connection.
pub async fn serve(listener: TcpListener) -> io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        drop(ringwork::spawn(async move {
            if let Err(err) = echo(stream).await {
                eprintln!("{peer}: {err}");
            }
        }));
    }
}

/// Sends `messages` messages of 1 KiB and checks each echo.
pub async fn client(addr: &str, messages: usize) -> io::Result<()> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let started = Instant::now();
    for i in 0..messages {
        let message: Vec<u8> = (0..1024).map(|j| (i * 31 + j) as u8).collect();
        let (sent, message) = stream.write_all(message).await;
        sent?;
        let (received, echoed) = stream.read_exact(Vec::with_capacity(1024)).await;
        received?;
        if echoed != message {
            return Err(io::Error::other(format!("message {i}: the echo differs")));
        }
    }
    let elapsed = started.elapsed();
    println!(
        "{messages} round trips of 1 KiB in {elapsed:?} ({:.0}/s), every byte checked",
        messages as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

#[allow(dead_code)] // a test includes this file as a module
fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let role = args.next().unwrap_or_default();
    let mut addr = "127.0.0.1:7000".to_owned();
    let mut messages = 1000;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().expect("--addr takes HOST:PORT"),
            "--messages" => {
                messages = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--messages takes a count")
            }
            other => usage(other),
        }
    }
    let runtime = ringwork::Runtime::new()?;
    match role.as_str() {
        "server" => runtime.block_on(async {
            let listener = TcpListener::bind(addr.as_str()).await?;
            println!("listening on {}", listener.local_addr()?);
            serve(listener).await
        }),
        "client" => runtime.block_on(client(&addr, messages)),
        other => usage(other),
    }
}

fn usage(got: &str) -> ! {
    eprintln!(
        "unexpected {got:?}; usage: echo server [--addr HOST:PORT] | \
         echo client [--addr HOST:PORT] [--messages N]"
    );
    std::process::exit(2);
}
