//! The `http_hello` workload: a hyper 1.x HTTP/1.1 server answering every
//! `GET` with a fixed 13-byte body, on ringwork (through the runtime's
//! `hyper` feature: `Compat` + hyper's traits, as `runtime/examples/
//! http_hello.rs`) and on tokio (its `TcpStream` behind a small adapter to
//! hyper's traits, [`TokioIo`]), driven by `loadgen`'s client speaking
//! keep-alive HTTP/1.1 itself ([`HttpExchange`]).
//!
//! Both servers are configured alike: `http1::Builder` defaults, no timer
//! and no header-read timeout (hyper's header timer would cost a timer per
//! request, and tokio has no `hyper::rt::Timer` without hyper-util), a task
//! per connection, `TCP_NODELAY`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use std::convert::Infallible;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The request every connection sends (HTTP/1.1: keep-alive by default).
pub const REQUEST: &[u8] = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// The body of every response.
pub const BODY: &[u8] = b"Hello, World!";

/// The longest response head the client accepts.
const MAX_HEAD: usize = 8 * 1024;

/// One keep-alive connection's requests and the check of its responses:
/// each must be `HTTP/1.1 200` with a `content-length` body equal to
/// [`BODY`], in order, none beyond the requests sent.
#[derive(Debug, Clone)]
pub struct HttpExchange {
    id: u64,
    sent: u64,
    answered: u64,
    /// Response bytes not yet parsed into a whole response.
    partial: Vec<u8>,
}

impl HttpExchange {
    /// Connection `id`'s exchange.
    pub fn new(id: u64) -> HttpExchange {
        HttpExchange {
            id,
            sent: 0,
            answered: 0,
            partial: Vec::with_capacity(512),
        }
    }

    /// The connection's number.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Requests sent.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Responses received whole.
    pub fn answered(&self) -> u64 {
        self.answered
    }

    /// Puts the next request into `out` and counts it as sent.
    pub fn next_request(&mut self, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(REQUEST);
        self.sent += 1;
    }

    /// Takes `data`, the next bytes from the server; returns how many
    /// responses it completed. A malformed or unexpected response is an
    /// error naming the connection.
    pub fn check(&mut self, data: &[u8]) -> io::Result<u64> {
        self.partial.extend_from_slice(data);
        let mut completed = 0;
        let mut at = 0;
        while let Some(len) = self.response_len(&self.partial[at..])? {
            if self.answered >= self.sent {
                return Err(self.error("a response arrived beyond the requests sent"));
            }
            self.answered += 1;
            completed += 1;
            at += len;
        }
        self.partial.drain(..at);
        Ok(completed)
    }

    /// The length of the whole response at the start of `bytes`, checked;
    /// `None` if it is not all there yet.
    fn response_len(&self, bytes: &[u8]) -> io::Result<Option<usize>> {
        let Some(head_end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
            if bytes.len() > MAX_HEAD {
                return Err(self.error("a response head longer than 8 KiB"));
            }
            return Ok(None);
        };
        let head = std::str::from_utf8(&bytes[..head_end])
            .map_err(|_| self.error("a response head that is not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap_or_default();
        if !status.starts_with("HTTP/1.1 200 ") {
            return Err(self.error(&format!("status line {status:?}, expected HTTP/1.1 200")));
        }
        let mut length = None;
        for line in lines {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| self.error(&format!("header line {line:?}")))?;
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(self.error("a chunked response (expected a content-length)"));
            }
        }
        let length = length.ok_or_else(|| self.error("a response without content-length"))?;
        let body_start = head_end + 4;
        if bytes.len() < body_start + length {
            return Ok(None);
        }
        if &bytes[body_start..body_start + length] != BODY {
            return Err(self.error("a response body other than the hello"));
        }
        Ok(Some(body_start + length))
    }

    fn error(&self, what: &str) -> io::Error {
        io::Error::other(format!(
            "connection {}, response {}: {what}",
            self.id, self.answered
        ))
    }
}

/// The service of both servers.
async fn hello(_req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(BODY))))
}

/// hyper's HTTP/1.1 connection settings, the same for both servers.
fn http1() -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.header_read_timeout(None);
    builder
}

/// What both servers' descriptions say about hyper.
pub const HYPER_SETTINGS: &str = "hyper 1.x http1 server (keep-alive, no timer, no header-read \
                                  timeout), 13-byte body";

/// Serves one connection with hyper on ringwork (through `Compat`).
pub async fn serve_ringwork(stream: ringwork::net::TcpStream) -> io::Result<()> {
    http1()
        .serve_connection(ringwork::io::compat::Compat::new(stream), service_fn(hello))
        .await
        .map_err(hyper_error)
}

/// Serves one connection with hyper on tokio.
pub async fn serve_tokio(stream: tokio::net::TcpStream) -> io::Result<()> {
    http1()
        .serve_connection(TokioIo(stream), service_fn(hello))
        .await
        .map_err(hyper_error)
}

/// A hyper error as an I/O error; a client that goes away mid-request is
/// a reset, which the servers do not report.
fn hyper_error(err: hyper::Error) -> io::Error {
    let kind = if err.is_incomplete_message() || err.is_canceled() {
        io::ErrorKind::ConnectionReset
    } else {
        io::ErrorKind::Other
    };
    io::Error::new(kind, err)
}

/// tokio's `TcpStream` with hyper's `rt::Read`/`rt::Write` (what
/// hyper-util's `TokioIo` does; written here to add no dependency). Reads go
/// straight into hyper's buffer, as with hyper-util.
#[derive(Debug)]
pub struct TokioIo(pub tokio::net::TcpStream);

impl hyper::rt::Read for TokioIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let stream = &mut self.get_mut().0;
        // SAFETY: `as_mut` requires that no initialized byte of the cursor
        // be de-initialized; the slice goes only into a `tokio::io::ReadBuf`,
        // which never writes uninitialized bytes into its storage.
        let spare: &mut [MaybeUninit<u8>] = unsafe { buf.as_mut() };
        let mut read_buf = tokio::io::ReadBuf::uninit(spare);
        match tokio::io::AsyncRead::poll_read(Pin::new(stream), cx, &mut read_buf) {
            Poll::Ready(Ok(())) => {
                let n = read_buf.filled().len();
                // SAFETY: `ReadBuf::filled` is initialized: the first `n`
                // bytes of the cursor's spare room were written by the read.
                unsafe { buf.advance(n) };
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl hyper::rt::Write for TokioIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(Pin::new(&mut self.get_mut().0), cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write_vectored(Pin::new(&mut self.get_mut().0), cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        tokio::io::AsyncWrite::is_write_vectored(&self.0)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(Pin::new(&mut self.get_mut().0), cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(Pin::new(&mut self.get_mut().0), cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\ndate: x\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[test]
    fn responses_in_odd_pieces_complete_one_per_request() {
        let mut exchange = HttpExchange::new(1);
        let mut out = Vec::new();
        for _ in 0..3 {
            exchange.next_request(&mut out);
        }
        assert_eq!(out, REQUEST);
        let bytes: Vec<u8> = (0..3).flat_map(|_| response("Hello, World!")).collect();
        let mut completed = 0;
        for piece in bytes.chunks(7) {
            completed += exchange.check(piece).unwrap();
        }
        assert_eq!(completed, 3);
        assert_eq!(exchange.answered(), exchange.sent());
    }

    #[test]
    fn a_wrong_status_body_or_extra_response_is_an_error() {
        let mut out = Vec::new();
        let mut exchange = HttpExchange::new(2);
        exchange.next_request(&mut out);
        let mut bad = response("Hello, World!");
        bad[9] = b'5'; // "HTTP/1.1 500"
        assert!(exchange.check(&bad).is_err());

        let mut exchange = HttpExchange::new(3);
        exchange.next_request(&mut out);
        assert!(exchange.check(&response("Hello, there!")).is_err());

        let mut exchange = HttpExchange::new(4);
        exchange.next_request(&mut out);
        let two: Vec<u8> = (0..2).flat_map(|_| response("Hello, World!")).collect();
        let err = exchange.check(&two).unwrap_err();
        assert!(
            err.to_string().contains("beyond the requests sent"),
            "{err}"
        );

        let mut exchange = HttpExchange::new(5);
        exchange.next_request(&mut out);
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nd\r\n";
        assert!(exchange.check(chunked).is_err());
        let mut exchange = HttpExchange::new(6);
        exchange.next_request(&mut out);
        assert!(exchange.check(&vec![b'x'; MAX_HEAD + 1]).is_err());
    }
}
