//! The owned-buffer read and write traits the streams and files share, and
//! the conveniences built on them: [`read_to_end`](AsyncReadOwned) and
//! `read_to_string` (inherent on each type), and [`copy`].
//!
//! Each stream type already has inherent `read`, `write` and `write_all`
//! methods; the traits only let generic code — [`BufReader`](super::BufReader),
//! [`copy`] — take any of them. They are sealed: the cancel-safety promises
//! the conveniences make rest on every implementor's `read` keeping bytes
//! that arrive for a dropped read (see [`AsyncReadOwned`]).

use crate::buf::{IoBuf, IoBufMut};
use crate::fs::File;
use crate::net::{OwnedReadHalf, OwnedWriteHalf, TcpStream, UnixStream};
use std::future::Future;
use std::io;
use std::sync::Arc;

/// Something to read from with owned buffers: [`TcpStream`],
/// [`OwnedReadHalf`], [`UnixStream`], [`File`], and `&T` or `Arc<T>` of
/// those.
///
/// Every implementor's `read` is cancel safe: if the future is dropped,
/// bytes the kernel delivers for it are kept and returned by the next read.
/// The trait is sealed so that this stays true.
pub trait AsyncReadOwned: sealed::Sealed + Send + Sync {
    /// Reads up to `buf.bytes_total()` bytes into the start of `buf`;
    /// `Ok(0)` is end of stream. The same as the type's inherent `read`.
    fn read<B: IoBufMut>(&self, buf: B) -> impl Future<Output = (io::Result<usize>, B)> + Send;
}

/// Something to write to with owned buffers: [`TcpStream`],
/// [`OwnedWriteHalf`], [`UnixStream`], [`File`], and `&T` or `Arc<T>` of
/// those. Sealed, like [`AsyncReadOwned`].
pub trait AsyncWriteOwned: sealed::Sealed + Send + Sync {
    /// Writes some of `buf`'s initialized bytes; returns how many. The same
    /// as the type's inherent `write`.
    fn write<B: IoBuf>(&self, buf: B) -> impl Future<Output = (io::Result<usize>, B)> + Send;

    /// Writes all of `buf`'s initialized bytes. The same as the type's
    /// inherent `write_all`.
    fn write_all<B: IoBuf>(&self, buf: B) -> impl Future<Output = (io::Result<()>, B)> + Send;
}

mod sealed {
    /// Only ringwork's own types (their reads keep late bytes).
    pub trait Sealed {}
}

macro_rules! impl_read_owned {
    ($($ty:ty),* $(,)?) => {$(
        impl sealed::Sealed for $ty {}
        impl AsyncReadOwned for $ty {
            fn read<B: IoBufMut>(
                &self,
                buf: B,
            ) -> impl Future<Output = (io::Result<usize>, B)> + Send {
                <$ty>::read(self, buf)
            }
        }
    )*};
}

macro_rules! impl_write_owned {
    ($($ty:ty),* $(,)?) => {$(
        impl AsyncWriteOwned for $ty {
            fn write<B: IoBuf>(
                &self,
                buf: B,
            ) -> impl Future<Output = (io::Result<usize>, B)> + Send {
                <$ty>::write(self, buf)
            }
            fn write_all<B: IoBuf>(
                &self,
                buf: B,
            ) -> impl Future<Output = (io::Result<()>, B)> + Send {
                <$ty>::write_all(self, buf)
            }
        }
    )*};
}

impl_read_owned!(TcpStream, OwnedReadHalf, UnixStream, File);
impl sealed::Sealed for OwnedWriteHalf {}
impl_write_owned!(TcpStream, OwnedWriteHalf, UnixStream, File);

impl<T: sealed::Sealed> sealed::Sealed for &T {}
impl<T: sealed::Sealed> sealed::Sealed for Arc<T> {}

impl<T: AsyncReadOwned> AsyncReadOwned for &T {
    fn read<B: IoBufMut>(&self, buf: B) -> impl Future<Output = (io::Result<usize>, B)> + Send {
        T::read(self, buf)
    }
}

impl<T: AsyncReadOwned> AsyncReadOwned for Arc<T> {
    fn read<B: IoBufMut>(&self, buf: B) -> impl Future<Output = (io::Result<usize>, B)> + Send {
        T::read(self, buf)
    }
}

impl<T: AsyncWriteOwned> AsyncWriteOwned for &T {
    fn write<B: IoBuf>(&self, buf: B) -> impl Future<Output = (io::Result<usize>, B)> + Send {
        T::write(self, buf)
    }
    fn write_all<B: IoBuf>(&self, buf: B) -> impl Future<Output = (io::Result<()>, B)> + Send {
        T::write_all(self, buf)
    }
}

impl<T: AsyncWriteOwned> AsyncWriteOwned for Arc<T> {
    fn write<B: IoBuf>(&self, buf: B) -> impl Future<Output = (io::Result<usize>, B)> + Send {
        T::write(self, buf)
    }
    fn write_all<B: IoBuf>(&self, buf: B) -> impl Future<Output = (io::Result<()>, B)> + Send {
        T::write_all(self, buf)
    }
}

/// Room made in `buf` before each read of a `read_to_end`: at least this
/// much spare capacity (growth past it is `Vec`'s doubling).
const READ_TO_END_CHUNK: usize = 8 * 1024;

/// Appends everything up to end of stream to `buf`; returns how many bytes
/// were appended. On an error the bytes read so far stay in `buf`.
pub(crate) async fn read_to_end<R: AsyncReadOwned + ?Sized>(
    reader: &R,
    mut buf: Vec<u8>,
) -> (io::Result<usize>, Vec<u8>) {
    let start = buf.len();
    loop {
        if buf.capacity() - buf.len() < READ_TO_END_CHUNK / 2 {
            buf.reserve(READ_TO_END_CHUNK);
        }
        let len = buf.len();
        // A read into the view past the initialized bytes appends: the
        // view starts at `len`, so the `Vec`'s length grows by the count.
        let (res, view) = reader.read(buf.slice(len..)).await;
        buf = view.into_inner();
        match res {
            Ok(0) => return (Ok(buf.len() - start), buf),
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return (Err(err), buf),
        }
    }
}

/// Appends everything up to end of stream to `string`, if it is valid
/// UTF-8; on any error `string` comes back as it was given.
pub(crate) async fn read_to_string<R: AsyncReadOwned + ?Sized>(
    reader: &R,
    string: String,
) -> (io::Result<usize>, String) {
    let start = string.len();
    let (res, bytes) = read_to_end(reader, string.into_bytes()).await;
    match (res, String::from_utf8(bytes)) {
        (Ok(n), Ok(string)) => (Ok(n), string),
        (res, read) => {
            let mut bytes = match read {
                Ok(string) => string.into_bytes(),
                Err(err) => err.into_bytes(),
            };
            bytes.truncate(start);
            // The first `start` bytes are the `String` we were given.
            let string = String::from_utf8(bytes).unwrap_or_default();
            (Err(res.err().unwrap_or_else(invalid_utf8)), string)
        }
    }
}

pub(crate) fn invalid_utf8() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "stream did not contain valid UTF-8",
    )
}

/// The buffer size of [`copy`]: each read takes up to this many bytes.
const COPY_BUFFER: usize = 64 * 1024;

/// Copies everything `reader` yields, up to its end of stream, to
/// `writer`; returns how many bytes were copied. (asyncio's
/// `writer.write(await reader.read(-1))` without holding it all in memory.)
///
/// One 64 KiB buffer goes back and forth: read into it, write all of it,
/// and again. Reader and writer may be the same stream (an echo):
///
/// ```
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// use ringwork::net::{TcpListener, TcpStream};
/// use std::net::Shutdown;
///
/// let listener = TcpListener::bind("127.0.0.1:0").await?;
/// let addr = listener.local_addr()?;
/// let echo = ringwork::spawn(async move {
///     let (stream, _) = listener.accept().await?;
///     let copied = ringwork::io::copy(&stream, &stream).await?;
///     stream.shutdown(Shutdown::Write)?;
///     Ok::<_, std::io::Error>(copied)
/// });
/// let client = TcpStream::connect(addr).await?;
/// client.write_all(b"hello".as_slice()).await.0?;
/// client.shutdown(Shutdown::Write)?;
/// let (res, reply) = client.read_to_end(Vec::new()).await;
/// assert_eq!((res?, &reply[..]), (5, &b"hello"[..]));
/// assert_eq!(echo.await??, 5);
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
///
/// Not cancel safe: if the future is dropped, bytes it had read but not yet
/// written are lost (what was written stays written).
pub async fn copy<R, W>(reader: &R, writer: &W) -> io::Result<u64>
where
    R: AsyncReadOwned + ?Sized,
    W: AsyncWriteOwned + ?Sized,
{
    let mut buf = Vec::with_capacity(COPY_BUFFER);
    let mut copied = 0u64;
    loop {
        buf.clear();
        let (res, filled) = reader.read(buf).await;
        buf = filled;
        match res {
            Ok(0) => return Ok(copied),
            Ok(n) => {
                // `read` into an empty `Vec` leaves its length at `n`.
                debug_assert_eq!(buf.len(), n);
                let (res, written) = writer.write_all(buf).await;
                buf = written;
                res?;
                copied += n as u64;
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}
