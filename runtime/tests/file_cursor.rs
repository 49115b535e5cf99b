//! `File::seek` / `stream_position`: the cursor that `read` and `write` use,
//! alike on both drivers; pipes and FIFOs refuse to seek and keep their
//! bytes.

mod common;

use common::{for_each_driver, watchdog, TempDir};
use ringwork::fs::{File, OpenOptions};
use std::io::{self, SeekFrom};
use std::path::Path;
use std::task::Poll;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

async fn open_rw(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .await
        .unwrap()
}

async fn read_n(file: &File, n: usize) -> Vec<u8> {
    let (res, buf) = file.read_exact(Vec::with_capacity(n)).await;
    res.unwrap();
    buf
}

#[test]
fn write_seek_back_and_read_sees_what_was_written() {
    watchdog(LIMIT, || {
        for_each_driver(2, |rt| {
            let dir = TempDir::new("cursor-seek");
            let path = dir.join("f");
            rt.block_on(async {
                let file = open_rw(&path).await;
                assert_eq!(file.stream_position().await.unwrap(), 0);
                file.write_all(b"hello, world".as_slice()).await.0.unwrap();
                assert_eq!(file.stream_position().await.unwrap(), 12);

                assert_eq!(file.seek(SeekFrom::Start(0)).await.unwrap(), 0);
                assert_eq!(read_n(&file, 12).await, b"hello, world");
                let (res, _) = file.read(Vec::with_capacity(8)).await;
                assert_eq!(res.unwrap(), 0, "at the end");

                assert_eq!(file.seek(SeekFrom::End(-5)).await.unwrap(), 7);
                assert_eq!(read_n(&file, 5).await, b"world");
                assert_eq!(file.seek(SeekFrom::Current(-5)).await.unwrap(), 7);
                file.write_all(b"there".as_slice()).await.0.unwrap();
                assert_eq!(file.seek(SeekFrom::Current(-12)).await.unwrap(), 0);
                assert_eq!(read_n(&file, 12).await, b"hello, there");

                // Past the end: a write there leaves a hole of zeros.
                assert_eq!(file.seek(SeekFrom::End(4)).await.unwrap(), 16);
                file.write_all(b"!".as_slice()).await.0.unwrap();
                assert_eq!(file.metadata().await.unwrap().len(), 17);
                assert_eq!(file.seek(SeekFrom::Start(12)).await.unwrap(), 12);
                assert_eq!(read_n(&file, 5).await, b"\0\0\0\0!");

                // Positional I/O neither uses nor moves the cursor.
                file.seek(SeekFrom::Start(3)).await.unwrap();
                let (res, _) = file.read_at(vec![0u8; 4], 0).await;
                res.unwrap();
                file.write_all_at(b"H".as_slice(), 0).await.0.unwrap();
                assert_eq!(file.stream_position().await.unwrap(), 3);
                assert_eq!(read_n(&file, 2).await, b"lo");
            });
        })
    });
}

#[test]
fn a_seek_before_the_start_is_invalid_input_and_keeps_the_position() {
    watchdog(LIMIT, || {
        for_each_driver(2, |rt| {
            let dir = TempDir::new("cursor-invalid");
            let path = dir.join("f");
            rt.block_on(async {
                let file = open_rw(&path).await;
                file.write_all(b"0123456789".as_slice()).await.0.unwrap();
                file.seek(SeekFrom::Start(4)).await.unwrap();
                for bad in [
                    SeekFrom::Current(-5),
                    SeekFrom::End(-11),
                    SeekFrom::Start(u64::MAX),
                    SeekFrom::Start(1 << 63),
                ] {
                    let err = file.seek(bad).await.unwrap_err();
                    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
                    assert_eq!(file.stream_position().await.unwrap(), 4, "{bad:?}");
                }
                assert_eq!(read_n(&file, 2).await, b"45");
            });
        })
    });
}

#[test]
fn pipes_and_fifos_cannot_seek_and_lose_no_bytes_for_trying() {
    watchdog(LIMIT, || {
        for_each_driver(2, |rt| {
            let dir = TempDir::new("cursor-pipe");
            let fifo = dir.join("fifo");
            let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: a NUL-terminated path that lives across the call.
            assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
            rt.block_on(async {
                let (reader, mut writer) = common::pipe();
                let reader = File::from_std(reader);
                std::io::Write::write_all(&mut writer, b"pipe bytes").unwrap();
                for pos in [SeekFrom::Start(0), SeekFrom::Current(0), SeekFrom::End(0)] {
                    let err = reader.seek(pos).await.unwrap_err();
                    assert_eq!(err.raw_os_error(), Some(libc::ESPIPE));
                    assert_eq!(err.kind(), io::ErrorKind::NotSeekable);
                }
                assert_eq!(
                    reader.stream_position().await.unwrap_err().raw_os_error(),
                    Some(libc::ESPIPE)
                );
                assert_eq!(read_n(&reader, 10).await, b"pipe bytes");

                // A FIFO opened by path: both ends at once.
                let fifo_reader = ringwork::spawn({
                    let fifo = fifo.clone();
                    async move { File::open(fifo).await.unwrap() }
                });
                let fifo_writer = OpenOptions::new().write(true).open(&fifo).await.unwrap();
                let fifo_reader = fifo_reader.await.unwrap();
                fifo_writer.write_all(b"fifo".as_slice()).await.0.unwrap();
                for file in [&fifo_reader, &fifo_writer] {
                    let err = file.seek(SeekFrom::Start(0)).await.unwrap_err();
                    assert_eq!(err.raw_os_error(), Some(libc::ESPIPE));
                }
                assert_eq!(read_n(&fifo_reader, 4).await, b"fifo");
            });
        })
    });
}

#[test]
fn a_seek_after_a_dropped_read_counts_from_what_the_caller_has_read() {
    watchdog(LIMIT, || {
        for_each_driver(2, |rt| {
            let dir = TempDir::new("cursor-dropped-read");
            let path = dir.join("f");
            let data = common::pattern(64 * 1024);
            std::fs::write(&path, &data).unwrap();
            rt.block_on(async {
                let file = File::open(&path).await.unwrap();
                let mut consumed = 0usize;
                for round in 0..20 {
                    // A read polled once and dropped: it may have read (its
                    // bytes are then kept for the next read) or not.
                    {
                        let woken = common::WakeFlag::new();
                        let mut read = Box::pin(file.read(Vec::with_capacity(1000)));
                        if let Poll::Ready((res, buf)) = common::poll_once(read.as_mut(), &woken) {
                            let n = res.unwrap();
                            assert!(buf[..n] == data[consumed..consumed + n]);
                            consumed += n;
                        }
                    }
                    // The position is what this caller consumed, whatever
                    // the dropped read did.
                    assert_eq!(
                        file.stream_position().await.unwrap(),
                        consumed as u64,
                        "round {round}"
                    );
                    let step = 7 * round as i64;
                    consumed = file.seek(SeekFrom::Current(step)).await.unwrap() as usize;
                    let got = read_n(&file, 10).await;
                    assert!(got == data[consumed..consumed + 10], "round {round}");
                    consumed += 10;
                }
            });
        })
    });
}
