//! [`BufReader`]: lines and delimited records over an owned-buffer reader.
//!
//! The reader's buffer is the only place bytes wait between calls. A read
//! into it hands the kernel a buffer by value, so the one rule that keeps
//! the methods cancel safe is: **a buffer that holds unconsumed bytes is
//! never handed to a read.** When the buffer is empty it is read into
//! directly; when it holds part of a line, the next bytes go into a spare
//! buffer and are appended after the read completes. A dropped future can
//! then take only an empty buffer with it, and the inner reader keeps the
//! bytes the kernel delivers late (every [`AsyncReadOwned`] does).

use super::owned::{self, AsyncReadOwned, AsyncWriteOwned};
use crate::buf::{capacity_mut, IoBuf, IoBufMut};
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The default buffer size of a [`BufReader`] (8 KiB).
const DEFAULT_CAPACITY: usize = 8 * 1024;

/// The default longest line or record (64 KiB, asyncio's `StreamReader`
/// limit).
const DEFAULT_LINE_LIMIT: usize = 64 * 1024;

/// A buffered reader over a stream or file that reads with owned buffers:
/// asyncio's `readline`, `readuntil` and `async for line in reader`.
///
/// ```
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// use ringwork::io::BufReader;
/// use ringwork::net::UnixStream;
///
/// let (a, b) = UnixStream::pair()?;
/// a.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody".as_slice()).await.0?;
/// drop(a);
/// let mut reader = BufReader::new(b);
/// let mut line = String::new();
/// reader.read_line(&mut line).await?;
/// assert_eq!(line, "GET / HTTP/1.1\r\n");
/// assert_eq!(reader.next_line().await?.as_deref(), Some("Host: x"));
/// assert_eq!(reader.next_line().await?.as_deref(), Some(""));
/// let (res, rest) = reader.read_to_end(Vec::new()).await;
/// assert_eq!((res?, &rest[..]), (4, &b"body"[..]));
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
///
/// **Cancel safety.** `fill_buf`, `read_until`, `read_line`, `next_line`,
/// `read` and the [`lines`](BufReader::lines) stream are cancel safe: if
/// the future is dropped (a `timeout`, a `select!`), nothing is appended to
/// the caller's line and no byte is lost — bytes already read stay in the
/// reader's buffer, and bytes the kernel delivers later are kept by the
/// inner reader; the next call sees them all, in order. `read_to_end` is
/// not (the `Vec` goes with the future).
///
/// **Line limit.** A line (or record) longer than
/// [`line_limit`](BufReader::set_line_limit) bytes — 64 KiB unless set,
/// delimiter included — is an `InvalidData` error rather than a buffer that
/// grows without bound; its bytes stay in the reader
/// ([`buffer`](BufReader::buffer), [`consume`](BufReader::consume)).
pub struct BufReader<R> {
    inner: R,
    /// The buffered bytes are `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    /// Reads land here while `buf` holds unconsumed bytes (see the module
    /// docs); allocated the first time that happens.
    spare: Vec<u8>,
    /// Bytes asked of each read.
    capacity: usize,
    line_limit: usize,
}

impl<R: AsyncReadOwned> BufReader<R> {
    /// A reader with an 8 KiB buffer.
    pub fn new(inner: R) -> BufReader<R> {
        BufReader::with_capacity(DEFAULT_CAPACITY, inner)
    }

    /// A reader whose reads ask for `capacity` bytes each (at least 1).
    pub fn with_capacity(capacity: usize, inner: R) -> BufReader<R> {
        BufReader {
            inner,
            buf: Vec::new(),
            pos: 0,
            spare: Vec::new(),
            capacity: capacity.max(1),
            line_limit: DEFAULT_LINE_LIMIT,
        }
    }

    /// Sets the longest line or record `read_line`, `read_until`,
    /// `next_line` and `lines` accept, delimiter included (at least 1).
    pub fn set_line_limit(&mut self, limit: usize) {
        self.line_limit = limit.max(1);
    }

    /// The longest line or record accepted (64 KiB unless set).
    pub fn line_limit(&self) -> usize {
        self.line_limit
    }

    /// The inner reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The inner reader. Reading from it directly skips the buffered bytes.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The inner reader; the buffered bytes are dropped (take them first
    /// with [`buffer`](BufReader::buffer) if they matter).
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The bytes read from the inner reader and not yet consumed.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Marks `amount` buffered bytes as consumed (at most all of them).
    pub fn consume(&mut self, amount: usize) {
        self.pos = self.buf.len().min(self.pos + amount);
    }

    /// The buffered bytes; if there are none, reads once first (an empty
    /// slice then means end of stream). Cancel safe.
    pub async fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.buffer().is_empty() {
            self.read_more().await?;
        }
        Ok(self.buffer())
    }

    /// Reads once from the inner reader into the buffer, keeping what it
    /// holds; returns how many bytes came (`0`: end of stream).
    async fn read_more(&mut self) -> io::Result<usize> {
        if self.buffer().is_empty() {
            // Nothing buffered: read straight into the buffer. A dropped
            // read takes an empty buffer with it.
            let mut buf = std::mem::take(&mut self.buf);
            buf.clear();
            self.pos = 0;
            buf.reserve(self.capacity);
            loop {
                let (res, filled) = self.inner.read(buf.slice(..self.capacity)).await;
                buf = filled.into_inner();
                match res {
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    res => {
                        self.buf = buf;
                        return res;
                    }
                }
            }
        }
        // Bytes buffered: move them to the front, then read into the spare
        // buffer and append, so that a dropped read loses none of them.
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut spare = std::mem::take(&mut self.spare);
        spare.clear();
        spare.reserve(self.capacity);
        loop {
            let (res, filled) = self.inner.read(spare.slice(..self.capacity)).await;
            spare = filled.into_inner();
            match res {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                res => {
                    if res.is_ok() {
                        self.buf.extend_from_slice(&spare);
                    }
                    self.spare = spare;
                    return res;
                }
            }
        }
    }

    /// Reads until the buffer holds `delim` or the stream ends; returns the
    /// length of the record at the front of the buffer (through `delim`, or
    /// what is left at the end; `0`: end of stream). Consumes nothing.
    async fn fill_until(&mut self, delim: u8) -> io::Result<usize> {
        // Buffered bytes already known not to hold `delim`.
        let mut searched = 0;
        loop {
            let buffered = self.buffer();
            if let Some(at) = buffered[searched..].iter().position(|&b| b == delim) {
                let len = searched + at + 1;
                if len > self.line_limit {
                    return Err(self.too_long());
                }
                return Ok(len);
            }
            searched = buffered.len();
            if searched >= self.line_limit {
                return Err(self.too_long());
            }
            if self.read_more().await? == 0 {
                return Ok(self.buffer().len());
            }
        }
    }

    fn too_long(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "line longer than the reader's limit of {} bytes",
                self.line_limit
            ),
        )
    }

    /// Appends the bytes up to and including `delim` (or up to end of
    /// stream) to `out`; returns how many (`0`: end of stream). Cancel
    /// safe; a record longer than the line limit is `InvalidData` and stays
    /// in the reader.
    pub async fn read_until(&mut self, delim: u8, out: &mut Vec<u8>) -> io::Result<usize> {
        let len = self.fill_until(delim).await?;
        out.extend_from_slice(&self.buffer()[..len]);
        self.consume(len);
        Ok(len)
    }

    /// Appends the next line, with its `\n` (absent on a last line without
    /// one), to `line`; returns its length in bytes (`0`: end of stream).
    /// Cancel safe.
    ///
    /// A line that is not valid UTF-8 is `InvalidData`: it is consumed and
    /// `line` is left as it was. A line longer than the line limit is
    /// `InvalidData` and stays in the reader.
    pub async fn read_line(&mut self, line: &mut String) -> io::Result<usize> {
        let len = self.fill_until(b'\n').await?;
        let text = std::str::from_utf8(&self.buf[self.pos..self.pos + len]);
        let valid = text.map(|text| line.push_str(text)).is_ok();
        self.consume(len);
        if valid {
            Ok(len)
        } else {
            Err(owned::invalid_utf8())
        }
    }

    /// The next line without its `\n` or `\r\n`; `None` at end of stream.
    /// Cancel safe; errors as [`read_line`](BufReader::read_line).
    pub async fn next_line(&mut self) -> io::Result<Option<String>> {
        let mut line = String::new();
        if self.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        if line.ends_with('\n') {
            line.pop();
            if line.ends_with('\r') {
                line.pop();
            }
        }
        Ok(Some(line))
    }

    /// The lines, as [`next_line`](BufReader::next_line) returns them, as a
    /// [`futures_core::Stream`] that ends at end of stream, or after its
    /// first error (an item of its own). [`Lines::into_inner`] gives the
    /// reader back, with the bytes it still holds (a line over the limit).
    pub fn lines(self) -> Lines<R>
    where
        R: 'static,
    {
        Lines {
            state: LinesState::Idle(Box::new(self)),
        }
    }

    /// Reads into the start of `buf`: the buffered bytes first (as many as
    /// fit), otherwise one read of the inner reader (straight into `buf`
    /// when it is at least as large as the reader's buffer). `Ok(0)` is end
    /// of stream. Cancel safe.
    pub async fn read<B: IoBufMut>(&mut self, mut buf: B) -> (io::Result<usize>, B) {
        if buf.bytes_total() == 0 {
            return (
                Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "read into a buffer of zero capacity",
                )),
                buf,
            );
        }
        if self.buffer().is_empty() && buf.bytes_total() >= self.capacity {
            return self.inner.read(buf).await;
        }
        if let Err(err) = self.fill_buf().await {
            return (Err(err), buf);
        }
        let buffered = &self.buf[self.pos..];
        let n = buffered.len().min(buf.bytes_total());
        for (dst, src) in capacity_mut(&mut buf)[..n].iter_mut().zip(buffered) {
            dst.write(*src);
        }
        // SAFETY: the loop above wrote the first `n` bytes of `buf`'s
        // capacity (`n <= bytes_total()`).
        unsafe { buf.set_init(n) };
        self.consume(n);
        (Ok(n), buf)
    }

    /// Appends the buffered bytes and then everything up to end of stream
    /// to `buf`; returns how many bytes were appended. On an error the
    /// bytes read so far are in `buf`. Not cancel safe (the `Vec` goes with
    /// the future).
    pub async fn read_to_end(&mut self, mut buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        let buffered = self.buffer().len();
        buf.extend_from_slice(self.buffer());
        self.consume(buffered);
        let (res, buf) = owned::read_to_end(&self.inner, buf).await;
        (res.map(|n| n + buffered), buf)
    }

    /// Writes the buffered bytes, then copies the inner reader to its end
    /// of stream, to `writer` (see [`copy`](super::copy)); returns how many
    /// bytes were written. Not cancel safe.
    pub async fn copy_to<W: AsyncWriteOwned + ?Sized>(&mut self, writer: &W) -> io::Result<u64> {
        let buffered = self.buffer().to_vec();
        self.consume(buffered.len());
        let n = buffered.len() as u64;
        if n > 0 {
            writer.write_all(buffered).await.0?;
        }
        Ok(n + owned::copy(&self.inner, writer).await?)
    }
}

impl<R: fmt::Debug> fmt::Debug for BufReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufReader")
            .field("inner", &self.inner)
            .field("buffered", &(self.buf.len() - self.pos))
            .field("capacity", &self.capacity)
            .field("line_limit", &self.line_limit)
            .finish()
    }
}

type NextLine<R> =
    Pin<Box<dyn Future<Output = (Box<BufReader<R>>, io::Result<Option<String>>)> + Send>>;

/// The lines of a [`BufReader`] as a [`futures_core::Stream`]; see
/// [`BufReader::lines`].
///
/// Cancel safe: dropping the stream between items loses nothing that
/// [`into_inner`](Lines::into_inner) cannot give back; dropping it while a
/// line is being read drops the reader with it.
pub struct Lines<R> {
    state: LinesState<R>,
}

enum LinesState<R> {
    Idle(Box<BufReader<R>>),
    /// A `next_line` in progress; it owns the reader and gives it back.
    Reading(NextLine<R>),
    /// After end of stream.
    Done(Box<BufReader<R>>),
    /// Only while switching states.
    Empty,
}

impl<R: AsyncReadOwned + 'static> Lines<R> {
    /// The reader, unless a line is being read (a stream polled to
    /// `Pending` and not to its next item).
    pub fn into_inner(self) -> Option<BufReader<R>> {
        match self.state {
            LinesState::Idle(reader) | LinesState::Done(reader) => Some(*reader),
            LinesState::Reading(_) | LinesState::Empty => None,
        }
    }
}

impl<R: AsyncReadOwned + 'static> futures_core::Stream for Lines<R> {
    type Item = io::Result<String>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Only `Box`es inside: `Lines` is `Unpin`.
        let this = self.get_mut();
        loop {
            match std::mem::replace(&mut this.state, LinesState::Empty) {
                LinesState::Idle(mut reader) => {
                    this.state = LinesState::Reading(Box::pin(async move {
                        let line = reader.next_line().await;
                        (reader, line)
                    }));
                }
                LinesState::Reading(mut next) => match next.as_mut().poll(cx) {
                    Poll::Pending => {
                        this.state = LinesState::Reading(next);
                        return Poll::Pending;
                    }
                    Poll::Ready((reader, line)) => {
                        return match line {
                            Ok(Some(line)) => {
                                this.state = LinesState::Idle(reader);
                                Poll::Ready(Some(Ok(line)))
                            }
                            Ok(None) => {
                                this.state = LinesState::Done(reader);
                                Poll::Ready(None)
                            }
                            Err(err) => {
                                this.state = LinesState::Done(reader);
                                Poll::Ready(Some(Err(err)))
                            }
                        };
                    }
                },
                LinesState::Done(reader) => {
                    this.state = LinesState::Done(reader);
                    return Poll::Ready(None);
                }
                LinesState::Empty => return Poll::Ready(None),
            }
        }
    }
}

impl<R> fmt::Debug for Lines<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            LinesState::Idle(_) => "idle",
            LinesState::Reading(_) => "reading",
            LinesState::Done(_) => "done",
            LinesState::Empty => "empty",
        };
        f.debug_struct("Lines").field("state", &state).finish()
    }
}
