//! `ws_chat`: a WebSocket broadcast chat server on ringwork, with
//! tokio-tungstenite running over [`Compat`] (feature `tokio-io`; no tokio
//! runtime), and a client that checks what the server relays.
//!
//! ```text
//! cargo run --release -p ringwork --features tokio-io --example ws_chat -- --addr 127.0.0.1:8080
//! cargo run --release -p ringwork --features tokio-io --example ws_chat -- client --addr 127.0.0.1:8080 --messages 1000
//! ```
//!
//! The server prints `listening on ADDR`. Every text message a client sends
//! goes to every *other* connected client as `PEER: TEXT`, `PEER` being the
//! sender's address as the server sees it; when a client leaves, the others
//! get `PEER left`. A client sees every line sent after its handshake
//! completed. Binary messages are not relayed. A message over 64 KiB closes
//! its sender's connection with close code 1009; a request that is not a
//! WebSocket handshake gets `400 Bad Request`, and a handshake not finished
//! within 10 s is dropped. A client that reads slower than the others write
//! does not hold them up: once it is more than 256 lines behind, it is told
//! `* missed N lines` and goes on from the oldest line still kept. Ctrl-C
//! sends every client a close frame with code 1001 (going away), waits for
//! their answers (up to 2 s) and exits.
//!
//! `ws_chat client` opens two connections: one sends `--messages` messages,
//! the other checks that each arrives exactly once, in order, with the
//! same `PEER: ` prefix, then that the sender's leaving is announced; it
//! prints the messages relayed per second. Lines of other clients are
//! ignored. `RINGWORK_DRIVER=epoll` runs either on the epoll driver.

use futures_util::{SinkExt, StreamExt};
use ringwork::io::compat::Compat;
use ringwork::net::{TcpListener, TcpStream};
use ringwork::sync::broadcast::error::RecvError;
use ringwork::sync::{broadcast, watch, Semaphore};
use ringwork::task::JoinSet;
use ringwork::time::timeout;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

/// How long closing a connection may take: the close frame sent and
/// answered, the socket's last bytes written.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// The server's limits.
#[derive(Clone, Debug)]
pub struct Config {
    /// Lines kept for clients that fall behind (the broadcast channel's
    /// capacity): a client further behind is told how many it missed.
    pub backlog: usize,
    /// The largest message a client may send, in bytes: a larger one
    /// closes its connection with code 1009 (message too big).
    pub max_message: usize,
    /// How long a client may take to complete the WebSocket handshake.
    pub handshake_timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            backlog: 256,
            max_message: 64 * 1024,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// A line for every client but its sender.
#[derive(Clone, Debug)]
struct Line {
    from: SocketAddr,
    text: Utf8Bytes,
}

/// What the others see when `peer` sends `text`.
pub fn chat_line(peer: SocketAddr, text: &str) -> String {
    format!("{peer}: {text}")
}

/// What the others see when `peer` leaves.
pub fn leave_line(peer: SocketAddr) -> String {
    format!("{peer} left")
}

/// What a client that fell behind is told.
pub fn missed_line(missed: u64) -> String {
    format!("* missed {missed} lines")
}

/// Serves `listener` until `stop` changes (or its sender is dropped); then
/// closes every connection with code 1001 and returns once they are
/// closed.
pub async fn serve(listener: TcpListener, config: Config, mut stop: watch::Receiver<bool>) {
    let (chat, _) = broadcast::channel(config.backlog);
    let mut connections = JoinSet::new();
    loop {
        let accepted = ringwork::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => break,
        };
        // Forget the connections that ended.
        while connections.try_join_next().is_some() {}
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                connections.spawn(connection(
                    stream,
                    peer,
                    chat.clone(),
                    config.clone(),
                    stop.clone(),
                ));
            }
            // Out of descriptors and the like: `accept` already paused.
            Err(err) => eprintln!("accept: {err}"),
        }
    }
    // Each connection ends within its handshake timeout plus two close
    // timeouts; a margin more, then the stragglers are aborted.
    let limit = config.handshake_timeout + 3 * CLOSE_TIMEOUT;
    let drained = timeout(limit, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        eprintln!(
            "{} connections still open after {limit:?}",
            connections.len()
        );
        connections.shutdown().await;
    }
}

/// One client, from its handshake to its close.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    chat: broadcast::Sender<Line>,
    config: Config,
    mut stop: watch::Receiver<bool>,
) {
    // Subscribed before the handshake is answered: the client sees every
    // line sent after its handshake completed.
    let mut lines = chat.subscribe();
    let mut io = Compat::new(stream);
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(config.max_message))
        .max_frame_size(Some(config.max_message));
    let handshake = timeout(
        config.handshake_timeout,
        tokio_tungstenite::accept_async_with_config(&mut io, Some(ws_config)),
    )
    .await;
    let ws = match handshake {
        Ok(Ok(ws)) => ws,
        Ok(Err(err)) => return reject(io, err).await,
        Err(_) => {
            eprintln!(
                "{peer}: no WebSocket handshake within {:?}",
                config.handshake_timeout
            );
            return;
        }
    };
    let (mut sink, mut incoming) = ws.split();

    // Relays what the client says until it closes (`Ok`) or breaks the
    // protocol (the close frame to answer with).
    let reading = async {
        while let Some(message) = incoming.next().await {
            match message {
                Ok(Message::Text(text)) => {
                    let line = Line {
                        from: peer,
                        text: chat_line(peer, &text).into(),
                    };
                    // Fails only when nobody listens: nothing to do.
                    let _ = chat.send(line);
                }
                // Pings are answered and a close is acknowledged by
                // tungstenite itself; binary messages are not relayed.
                Ok(_) => {}
                Err(err) => return Err(close_frame_for(&err)),
            }
        }
        Ok(())
    };
    // Sends the client the others' lines; a lag becomes a notice.
    let writing = async {
        loop {
            let text = match lines.recv().await {
                Ok(line) if line.from == peer => continue,
                Ok(line) => line.text,
                Err(RecvError::Lagged(missed)) => missed_line(missed).into(),
                // The server holds a sender as long as connections run.
                Err(RecvError::Closed) => return,
            };
            if sink.send(Message::Text(text)).await.is_err() {
                return; // the client is gone
            }
        }
    };
    let close = ringwork::select! {
        read = reading => read.err().flatten(),
        _ = writing => None,
        _ = stop.changed() => Some(CloseFrame {
            code: CloseCode::Away,
            reason: "server shutting down".into(),
        }),
    };
    let _ = chat.send(Line {
        from: peer,
        text: leave_line(peer).into(),
    });
    if let Some(frame) = close {
        let _ = timeout(CLOSE_TIMEOUT, async {
            if sink.send(Message::Close(Some(frame))).await.is_ok() {
                // Until the client answers with its close frame (a stream
                // that failed ends at once).
                while let Some(Ok(_)) = incoming.next().await {}
            }
        })
        .await;
    }
    drop((sink, incoming));
    // The last bytes out, then the end of the stream.
    let _ = timeout(CLOSE_TIMEOUT, io.shutdown()).await;
}

/// The close frame for a client's protocol error (`None`: the stream
/// failed, nothing more can be sent).
fn close_frame_for(err: &WsError) -> Option<CloseFrame> {
    let (code, reason) = match err {
        WsError::Capacity(_) => (CloseCode::Size, "message too big"),
        WsError::Utf8(_) => (CloseCode::Invalid, "text is not UTF-8"),
        WsError::Protocol(_) => (CloseCode::Protocol, "protocol error"),
        _ => return None,
    };
    Some(CloseFrame {
        code,
        reason: reason.into(),
    })
}

/// Answers a failed handshake: `400 Bad Request` saying why (unless the
/// stream itself failed), then closes.
async fn reject(mut io: Compat<TcpStream>, err: WsError) {
    if let WsError::Io(_) = err {
        return;
    }
    let body = format!("this is a WebSocket chat server: {err}\n");
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = timeout(CLOSE_TIMEOUT, async {
        io.write_all(response.as_bytes()).await?;
        io.shutdown().await?;
        // Read what the client still sends until it closes (bounded): a
        // close with unread bytes would reset the connection and could
        // discard the response before the client reads it.
        let mut sink = [0u8; 4096];
        let mut drained = 0;
        while drained < 1 << 20 {
            match io.read(&mut sink).await? {
                0 => break,
                n => drained += n,
            }
        }
        io::Result::Ok(())
    })
    .await;
}

/// The messages per second a [`client`] run relayed.
#[derive(Debug)]
pub struct ClientReport {
    /// The sender's address as the server announced it.
    pub sender: String,
    pub messages: usize,
    pub elapsed: Duration,
}

/// How many messages the client's sender may have ahead of its checker
/// (well under the server's backlog, so that the checker never lags).
const CLIENT_WINDOW: usize = 32;
/// How long the client waits for any one line.
const CLIENT_WAIT: Duration = Duration::from_secs(10);

/// Opens a checker and a sender connection to `addr`; the sender sends
/// `messages` messages, the checker checks each arrives once and in order,
/// then that the sender's leaving is announced.
pub async fn client(addr: &str, messages: usize) -> io::Result<ClientReport> {
    let mut checker = connect(addr).await?;
    let mut sender = connect(addr).await?;
    // Tells this run's messages from other clients'.
    let nonce = format!(
        "{:x}-{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    let window = Semaphore::new(CLIENT_WINDOW);
    let started = Instant::now();
    let send = async {
        for i in 0..messages {
            window.acquire().await.map_err(io::Error::other)?.forget();
            let text = format!("{nonce} {i}");
            sender
                .send(Message::text(text))
                .await
                .map_err(io::Error::other)?;
        }
        io::Result::Ok(())
    };
    let check = async {
        let mut prefix = None;
        for i in 0..messages {
            let (from, n) = loop {
                let line = next_text(&mut checker).await?;
                if line.starts_with("* ") {
                    return Err(io::Error::other(format!("the checker lagged: {line}")));
                }
                let Some((from, text)) = line.rsplit_once(": ") else {
                    continue; // someone's leaving
                };
                match text.strip_prefix(&nonce).and_then(|n| n.strip_prefix(' ')) {
                    Some(n) => break (from.to_owned(), n.to_owned()),
                    None => continue, // another client's line
                }
            };
            if n != i.to_string() {
                return Err(io::Error::other(format!("expected message {i}, got {n}")));
            }
            match &prefix {
                None => prefix = Some(from),
                Some(seen) if *seen != from => {
                    return Err(io::Error::other(format!(
                        "message {i} came from {from}, the others from {seen}"
                    )))
                }
                Some(_) => {}
            }
            window.add_permits(1);
        }
        io::Result::Ok(prefix)
    };
    let (sent, checked) = ringwork::join!(send, check);
    sent?;
    let prefix = checked?;
    let elapsed = started.elapsed();
    let sender_name = prefix.unwrap_or_default();
    // The sender leaves; the checker must hear of it.
    sender.close(None).await.map_err(io::Error::other)?;
    while let Some(Ok(_)) = timeout(CLIENT_WAIT, sender.next()).await.ok().flatten() {}
    if messages > 0 {
        let left = format!("{sender_name} left");
        while next_text(&mut checker).await? != left {}
    }
    checker.close(None).await.map_err(io::Error::other)?;
    Ok(ClientReport {
        sender: sender_name,
        messages,
        elapsed,
    })
}

type WebSocket = tokio_tungstenite::WebSocketStream<Compat<TcpStream>>;

/// A WebSocket connection to the server at `addr` (`HOST:PORT`).
pub async fn connect(addr: &str) -> io::Result<WebSocket> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let url = format!("ws://{addr}/");
    let (ws, _) = tokio_tungstenite::client_async(url, Compat::new(stream))
        .await
        .map_err(io::Error::other)?;
    Ok(ws)
}

/// The next text message (within [`CLIENT_WAIT`]); the server closing
/// is an error.
async fn next_text(ws: &mut WebSocket) -> io::Result<String> {
    loop {
        let message = timeout(CLIENT_WAIT, ws.next())
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no line within 10 s"))?;
        match message {
            Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_owned()),
            Some(Ok(Message::Close(frame))) => {
                return Err(io::Error::other(format!("the server closed: {frame:?}")))
            }
            Some(Ok(_)) => {}
            Some(Err(err)) => return Err(io::Error::other(err)),
            None => return Err(io::ErrorKind::UnexpectedEof.into()),
        }
    }
}

#[allow(dead_code)] // a test includes this file as a module
fn main() -> io::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let client_mode = match args.first().map(String::as_str) {
        Some("client") => {
            args.remove(0);
            true
        }
        Some("server") => {
            args.remove(0);
            false
        }
        _ => false,
    };
    let mut addr = "127.0.0.1:8080".to_owned();
    let mut messages = 1000;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} takes a value")))
        };
        match arg.as_str() {
            "--addr" => addr = value(),
            "--messages" if client_mode => {
                let count = value();
                messages = count
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("--messages takes a count, got {count:?}")));
            }
            _ => usage(&format!("unexpected argument {arg:?}")),
        }
    }
    let runtime = ringwork::Runtime::new()?;
    if client_mode {
        let report = runtime.block_on(client(&addr, messages))?;
        println!(
            "{} messages relayed from {} in {:?} ({:.0}/s), each once and in order; \
             its leaving announced",
            report.messages,
            report.sender,
            report.elapsed,
            report.messages as f64 / report.elapsed.as_secs_f64()
        );
        return Ok(());
    }
    runtime.block_on(async {
        // Installed before the announcement, so that a Ctrl-C right after
        // it is a graceful stop, not the default kill.
        let ctrl_c = ringwork::signal::ctrl_c();
        let listener = TcpListener::bind(addr.as_str()).await?;
        println!("listening on {}", listener.local_addr()?);
        let (stop_tx, stop_rx) = watch::channel(false);
        drop(ringwork::spawn(async move {
            if ctrl_c.await.is_ok() {
                println!("Ctrl-C: closing every connection");
                let _ = stop_tx.send(true);
            }
        }));
        serve(listener, Config::default(), stop_rx).await;
        Ok(())
    })
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}; usage: ws_chat [server] [--addr HOST:PORT] | \
         ws_chat client [--addr HOST:PORT] [--messages N]"
    );
    std::process::exit(2);
}
