//! `ringwork::fs`: files read and written at offsets through io_uring, and
//! directory-entry operations.

mod common;

use common::TempDir;

use common::watchdog;
use ringwork::fs::{self, File, OpenOptions};
use ringwork::runtime::Builder;
use ringwork::Runtime;
use std::future::Future;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, SystemTime};

const LIMIT: Duration = Duration::from_secs(60);

fn rt() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime builds")
}

/// splitmix64: a small deterministic generator (no dependencies).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// In `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let word = self.next().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.range(0, i);
            items.swap(i, j);
        }
    }
}

/// Splits `0..len` into chunks of random sizes in `1..=max`.
fn random_chunks(rng: &mut Rng, len: usize, max: usize) -> Vec<(usize, usize)> {
    let mut chunks = Vec::new();
    let mut at = 0;
    while at < len {
        let size = rng.range(1, max).min(len - at);
        chunks.push((at, at + size));
        at += size;
    }
    chunks
}

/// Spawns `f`, waits until its task has begun running it, then aborts the
/// task (usually while `f`'s operation is in flight).
async fn abort_once_started<F>(f: F)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let started = Arc::new(AtomicBool::new(false));
    let flag = started.clone();
    let task = ringwork::spawn(async move {
        flag.store(true, Ordering::SeqCst);
        f.await
    });
    while !started.load(Ordering::SeqCst) {
        ringwork::task::yield_now().await;
    }
    task.abort();
    let _ = task.await;
}

fn kind(res: io::Result<impl Sized>) -> io::ErrorKind {
    match res {
        Ok(_) => panic!("expected an error"),
        Err(err) => err.kind(),
    }
}

#[test]
fn random_offset_writes_of_16_mib_read_back_identically() {
    watchdog(LIMIT, || {
        const LEN: usize = 16 << 20;
        let dir = TempDir::new("random");
        let path = dir.join("data");
        let mut rng = Rng(0x00dd_ba11);
        let mut data = vec![0u8; LEN];
        rng.fill(&mut data);
        let data = Arc::new(data);
        let mut writes = random_chunks(&mut rng, LEN, 256 << 10);
        rng.shuffle(&mut writes);
        let mut reads = random_chunks(&mut rng, LEN, 192 << 10);
        rng.shuffle(&mut reads);

        rt().block_on(async {
            let file = Arc::new(
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .await
                    .expect("create"),
            );
            // Four writer tasks, each with a share of the shuffled chunks, so
            // writes from several rings land at random offsets concurrently.
            let writers: Vec<_> = (0..4)
                .map(|w| {
                    let (file, data) = (file.clone(), data.clone());
                    let mine: Vec<_> = writes.iter().copied().skip(w).step_by(4).collect();
                    ringwork::spawn(async move {
                        for (start, end) in mine {
                            let buf = data[start..end].to_vec();
                            let (res, buf) = file.write_all_at(buf, start as u64).await;
                            res.expect("write_all_at");
                            assert_eq!(buf.len(), end - start, "the buffer comes back whole");
                        }
                    })
                })
                .collect();
            for writer in writers {
                writer.await.expect("writer task");
            }
            assert_eq!(file.metadata().await.expect("metadata").len(), LEN as u64);

            // Read back in differently sized chunks, in random order.
            for (start, end) in reads {
                let (res, buf) = file
                    .read_exact_at(Vec::with_capacity(end - start), start as u64)
                    .await;
                res.expect("read_exact_at");
                assert!(
                    buf == data[start..end],
                    "bytes {start}..{end} differ from what was written"
                );
            }
            let whole = fs::read(&path).await.expect("fs::read");
            assert_eq!(whole.len(), LEN);
            assert!(whole == *data, "fs::read differs from what was written");
        });
    });
}

#[test]
fn metadata_reports_length_type_permissions_and_mtime() {
    watchdog(LIMIT, || {
        let dir = TempDir::new("meta");
        let path = dir.join("file");
        let before = SystemTime::now() - Duration::from_secs(60);
        rt().block_on(async {
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .await
                .expect("create");
            file.write_all_at(vec![7u8; 1234], 0)
                .await
                .0
                .expect("write");
            let meta = file.metadata().await.expect("metadata");
            assert_eq!(meta.len(), 1234);
            assert!(meta.is_file() && !meta.is_dir() && !meta.is_symlink());
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
            let modified = meta.modified().expect("mtime");
            assert!(modified >= before && modified <= SystemTime::now() + Duration::from_secs(60));

            let by_path = fs::metadata(&path).await.expect("metadata by path");
            assert_eq!(by_path.len(), 1234);
            assert_eq!(by_path.ino(), meta.ino());

            let dir_meta = fs::metadata(&dir.0).await.expect("dir metadata");
            assert!(dir_meta.is_dir() && !dir_meta.is_file());

            std::os::unix::fs::symlink(&path, dir.join("link")).expect("symlink");
            assert!(fs::symlink_metadata(dir.join("link"))
                .await
                .expect("lstat")
                .is_symlink());
            assert!(fs::metadata(dir.join("link"))
                .await
                .expect("stat")
                .is_file());
        });
    });
}

#[test]
fn rename_moves_the_file_and_the_old_name_is_gone() {
    watchdog(LIMIT, || {
        let dir = TempDir::new("rename");
        let (from, to) = (dir.join("from"), dir.join("to"));
        rt().block_on(async {
            fs::write(&from, b"moved".as_slice()).await.expect("write");
            fs::rename(&from, &to).await.expect("rename");
            assert_eq!(fs::read(&to).await.expect("read new name"), b"moved");
            assert_eq!(kind(File::open(&from).await), io::ErrorKind::NotFound);
            assert_eq!(
                kind(fs::rename(&from, &to).await),
                io::ErrorKind::NotFound,
                "renaming a missing file"
            );
        });
    });
}

#[test]
fn remove_file_deletes_it_and_a_second_remove_is_not_found() {
    watchdog(LIMIT, || {
        let dir = TempDir::new("remove");
        let path = dir.join("gone");
        rt().block_on(async {
            fs::write(&path, b"x".as_slice()).await.expect("write");
            fs::remove_file(&path).await.expect("remove");
            assert!(!path.exists());
            assert_eq!(kind(fs::remove_file(&path).await), io::ErrorKind::NotFound);
        });
    });
}

#[test]
fn create_dir_then_remove_dir_and_an_existing_dir_is_already_exists() {
    watchdog(LIMIT, || {
        let dir = TempDir::new("mkdir");
        let sub = dir.join("sub");
        rt().block_on(async {
            fs::create_dir(&sub).await.expect("mkdir");
            assert!(fs::metadata(&sub).await.expect("stat").is_dir());
            assert_eq!(
                kind(fs::create_dir(&sub).await),
                io::ErrorKind::AlreadyExists
            );
            fs::remove_dir(&sub).await.expect("rmdir");
            assert!(!sub.exists());
        });
    });
}

#[test]
fn opening_a_missing_file_is_not_found() {
    watchdog(LIMIT, || {
        let dir = TempDir::new("missing");
        rt().block_on(async {
            let err = File::open(dir.join("nope"))
                .await
                .expect_err("missing file");
            assert_eq!(err.kind(), io::ErrorKind::NotFound);
            assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "OS code intact");
            assert_eq!(
                kind(fs::read(dir.join("nope")).await),
                io::ErrorKind::NotFound
            );
            assert_eq!(
                kind(fs::metadata(dir.join("nope")).await),
                io::ErrorKind::NotFound
            );
        });
    });
}

#[test]
fn create_new_on_an_existing_file_is_already_exists() {
    watchdog(LIMIT, || {
        let dir = TempDir::new("excl");
        let path = dir.join("exists");
        rt().block_on(async {
            fs::write(&path, b"first".as_slice()).await.expect("write");
            let err = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .await
                .expect_err("create_new on an existing file");
            assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
            assert_eq!(fs::read(&path).await.expect("read"), b"first", "untouched");
        });
    });
}

#[test]
fn fs_write_then_fs_read_round_trips() {
    watchdog(LIMIT, || {
        let dir = TempDir::new("roundtrip");
        let path = dir.join("file");
        rt().block_on(async {
            let mut rng = Rng(42);
            let mut contents = vec![0u8; 300_001];
            rng.fill(&mut contents);
            fs::write(&path, contents.clone()).await.expect("write");
            assert!(fs::read(&path).await.expect("read") == contents);

            // Overwriting truncates.
            fs::write(&path, "short text").await.expect("rewrite");
            assert_eq!(fs::read_to_string(&path).await.expect("read"), "short text");

            fs::write(&path, Vec::new()).await.expect("empty");
            assert!(fs::read(&path).await.expect("read empty").is_empty());
        });
    });
}

#[test]
fn sync_all_and_sync_data_succeed_after_writes() {
    watchdog(LIMIT, || {
        let dir = TempDir::new("sync");
        let path = dir.join("file");
        rt().block_on(async {
            let file = File::create(&path).await.expect("create");
            file.write_all_at(vec![1u8; 64 << 10], 0)
                .await
                .0
                .expect("write");
            file.sync_data().await.expect("sync_data");
            file.write_all_at(vec![2u8; 10], 64 << 10)
                .await
                .0
                .expect("write");
            file.sync_all().await.expect("sync_all");
            assert_eq!(
                file.metadata().await.expect("metadata").len(),
                (64 << 10) + 10
            );
        });
    });
}

#[test]
fn set_len_truncates_and_extends_with_zeros() {
    watchdog(LIMIT, || {
        let dir = TempDir::new("setlen");
        let path = dir.join("file");
        rt().block_on(async {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .await
                .expect("open");
            file.write_all_at(vec![9u8; 1000], 0)
                .await
                .0
                .expect("write");
            file.set_len(100).await.expect("shrink");
            assert_eq!(file.metadata().await.expect("metadata").len(), 100);
            file.set_len(4096).await.expect("grow");
            assert_eq!(file.metadata().await.expect("metadata").len(), 4096);
            let (res, buf) = file.read_exact_at(Vec::with_capacity(4096), 0).await;
            res.expect("read");
            assert!(buf[..100].iter().all(|&b| b == 9), "kept bytes");
            assert!(buf[100..].iter().all(|&b| b == 0), "extension is zeros");

            let read_only = File::open(&path).await.expect("open read-only");
            assert!(read_only.set_len(0).await.is_err(), "needs write access");
        });
    });
}

#[test]
fn file_ops_dropped_mid_flight_do_not_crash_and_the_file_stays_usable() {
    watchdog(LIMIT, || {
        const LEN: usize = 8 << 20;
        let dir = TempDir::new("dropped");
        let path = dir.join("file");
        let mut expected = vec![0u8; LEN];
        Rng(7).fill(&mut expected);
        rt().block_on(async {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .await
                .expect("open");
            file.write_all_at(expected.clone(), 0)
                .await
                .0
                .expect("write");

            for round in 0..32 {
                // Submit a large read, a large write of the same bytes and an
                // open, poll each once (submitted, not finished), then drop.
                let mut read = Box::pin(file.read_at(vec![0u8; LEN], 0));
                let mut write = Box::pin(file.write_at(expected.clone(), 0));
                let mut open = Box::pin(File::open(&path));
                std::future::poll_fn(|cx| {
                    let _ = read.as_mut().poll(cx);
                    let _ = write.as_mut().poll(cx);
                    let _ = open.as_mut().poll(cx);
                    Poll::Ready(())
                })
                .await;
                if round % 2 == 0 {
                    // Let the driver see the submissions (and maybe complete
                    // them) before the futures go.
                    ringwork::task::yield_now().await;
                }
                drop((read, write, open));
            }

            // The same from tasks aborted while their op is in flight.
            let file = Arc::new(file);
            for _ in 0..16 {
                let f = file.clone();
                abort_once_started(async move { f.read_at(vec![0u8; LEN], 0).await.0 }).await;
            }

            let (res, buf) = file.read_exact_at(Vec::with_capacity(LEN), 0).await;
            res.expect("read after drops");
            assert!(buf == expected, "contents intact after dropped operations");
            file.write_all_at(b"still writable".as_slice(), 0)
                .await
                .0
                .expect("write after drops");
            file.sync_all().await.expect("sync after drops");
        });
    });
}

#[test]
fn paths_with_interior_nul_are_invalid_input_not_a_panic() {
    watchdog(LIMIT, || {
        let bad = Path::new("ringwork\0nul");
        rt().block_on(async {
            assert_eq!(kind(File::open(bad).await), io::ErrorKind::InvalidInput);
            assert_eq!(kind(File::create(bad).await), io::ErrorKind::InvalidInput);
            assert_eq!(kind(fs::read(bad).await), io::ErrorKind::InvalidInput);
            assert_eq!(kind(fs::write(bad, "x").await), io::ErrorKind::InvalidInput);
            assert_eq!(
                kind(fs::remove_file(bad).await),
                io::ErrorKind::InvalidInput
            );
            assert_eq!(
                kind(fs::rename(bad, "x").await),
                io::ErrorKind::InvalidInput
            );
            assert_eq!(
                kind(fs::rename("x", bad).await),
                io::ErrorKind::InvalidInput
            );
            assert_eq!(kind(fs::create_dir(bad).await), io::ErrorKind::InvalidInput);
            assert_eq!(kind(fs::metadata(bad).await), io::ErrorKind::InvalidInput);
        });
    });
}

#[test]
fn append_mode_writes_go_to_the_end_whatever_the_offset() {
    watchdog(LIMIT, || {
        let dir = TempDir::new("append");
        let path = dir.join("log");
        rt().block_on(async {
            fs::write(&path, "one,").await.expect("write");
            let file = OpenOptions::new()
                .append(true)
                .open(&path)
                .await
                .expect("open for append");
            file.write_all_at("two,", 0).await.0.expect("append");
            file.write_all_at("three", 0).await.0.expect("append");
            assert_eq!(
                fs::read_to_string(&path).await.expect("read"),
                "one,two,three"
            );
        });
    });
}

#[test]
fn invalid_open_option_combinations_are_invalid_input() {
    watchdog(LIMIT, || {
        let dir = TempDir::new("options");
        let path = dir.join("file");
        rt().block_on(async {
            let no_access = OpenOptions::new().open(&path).await;
            assert_eq!(kind(no_access), io::ErrorKind::InvalidInput);
            let create_read_only = OpenOptions::new().read(true).create(true).open(&path).await;
            assert_eq!(kind(create_read_only), io::ErrorKind::InvalidInput);
            let append_truncate = OpenOptions::new()
                .append(true)
                .truncate(true)
                .open(&path)
                .await;
            assert_eq!(kind(append_truncate), io::ErrorKind::InvalidInput);
            assert!(!path.exists(), "nothing was created");
        });
    });
}

#[test]
fn read_exact_at_past_the_end_is_unexpected_eof_and_read_at_the_end_is_zero() {
    watchdog(LIMIT, || {
        let dir = TempDir::new("eof");
        let path = dir.join("file");
        rt().block_on(async {
            fs::write(&path, "0123456789").await.expect("write");
            let file = File::open(&path).await.expect("open");
            let (res, buf) = file.read_exact_at(Vec::with_capacity(8), 5).await;
            assert_eq!(kind(res), io::ErrorKind::UnexpectedEof);
            assert_eq!(buf, b"56789", "the bytes before the end are kept");
            let (res, _) = file.read_at(Vec::with_capacity(8), 10).await;
            assert_eq!(res.expect("read at end"), 0);
            let (res, _) = file.read_at(Vec::with_capacity(8), u64::MAX).await;
            assert_eq!(kind(res), io::ErrorKind::InvalidInput);
        });
    });
}

/// Descriptors of this process open on `path` (from `/proc/self/fd`), so
/// other tests running at the same time do not disturb the count.
fn fds_open_on(path: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target == path)
        .count()
}

#[test]
fn an_open_dropped_mid_flight_does_not_leak_its_descriptor() {
    watchdog(LIMIT, || {
        let dir = TempDir::new("openleak");
        let path = dir.join("file");
        std::fs::write(&path, b"x").expect("write");
        rt().block_on(async {
            // Futures polled once (submitted) and dropped, some before and
            // some after the driver saw their completion.
            for round in 0..64 {
                let mut open = Box::pin(File::open(&path));
                std::future::poll_fn(|cx| {
                    let _ = open.as_mut().poll(cx);
                    Poll::Ready(())
                })
                .await;
                if round % 2 == 0 {
                    ringwork::task::yield_now().await;
                }
                drop(open);
            }
            // Tasks aborted while opening, on the workers' rings.
            for _ in 0..64 {
                let p = path.clone();
                abort_once_started(async move { File::open(&p).await.map(drop) }).await;
            }
            // Orphaned descriptors are closed when their completion is
            // reaped: give the rings a moment.
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while fds_open_on(&path) > 0 && std::time::Instant::now() < deadline {
                ringwork::task::yield_now().await;
                std::thread::sleep(Duration::from_millis(5));
            }
            assert_eq!(fds_open_on(&path), 0, "every dropped open closed its fd");
        });
    });
}

/// The results both drivers must give alike for one kind of file.
fn pipe_files() -> (File, std::fs::File) {
    let (reader, writer) = common::pipe();
    (File::from_std(reader), writer)
}

#[test]
fn pipes_read_sequentially_and_refuse_positional_io_alike_on_both_drivers() {
    watchdog(Duration::from_secs(60), || {
        common::for_each_driver(2, |rt| {
            rt.block_on(async {
                let (file, mut writer) = pipe_files();
                // `pread` on a pipe is ESPIPE, on every driver.
                let (res, _) = file.read_at(vec![0u8; 8], 0).await;
                assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::ESPIPE));
                let (res, _) = file.write_at(b"x".as_slice(), 0).await;
                assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::ESPIPE));
                // Sequential reads see the bytes in order, then end-of-file
                // once the writer is gone.
                let feeder = std::thread::spawn(move || {
                    for chunk in [&b"hello "[..], b"pipe"] {
                        std::thread::sleep(Duration::from_millis(20));
                        std::io::Write::write_all(&mut writer, chunk).unwrap();
                    }
                });
                let mut got = Vec::new();
                loop {
                    let (res, buf) = file.read(Vec::with_capacity(64)).await;
                    let n = res.unwrap();
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                feeder.join().unwrap();
                assert_eq!(got, b"hello pipe");
            })
        })
    });
}

#[test]
fn a_pipe_writer_file_writes_everything_even_when_the_pipe_is_full() {
    watchdog(Duration::from_secs(60), || {
        common::for_each_driver(2, |rt| {
            rt.block_on(async {
                let (mut reader, writer) = common::pipe();
                let file = File::from_std(writer);
                // 1 MiB: sixteen times the default pipe capacity.
                let data: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
                let expected = data.clone();
                let drain = std::thread::spawn(move || {
                    let mut got = Vec::new();
                    std::io::Read::read_to_end(&mut reader, &mut got).unwrap();
                    got
                });
                let (res, _) = file.write_all(data).await;
                res.unwrap();
                drop(file);
                assert!(drain.join().unwrap() == expected);
            })
        })
    });
}

#[test]
fn a_pipe_in_non_blocking_mode_is_read_and_written_like_any_other() {
    watchdog(Duration::from_secs(60), || {
        common::for_each_driver(2, |rt| {
            rt.block_on(async {
                let (reader, writer) = common::pipe();
                // Its creator made both ends non-blocking (io_uring then
                // answers EAGAIN instead of waiting).
                for fd in [
                    std::os::fd::AsRawFd::as_raw_fd(&reader),
                    std::os::fd::AsRawFd::as_raw_fd(&writer),
                ] {
                    // SAFETY: F_SETFL on descriptors owned above.
                    let rc = unsafe { libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK) };
                    assert_eq!(rc, 0);
                }
                let reader = File::from_std(reader);
                let writer = File::from_std(writer);
                let pending_read = ringwork::spawn(async move {
                    let (res, buf) = reader.read(Vec::with_capacity(16)).await;
                    buf[..res.unwrap()].to_vec()
                });
                ringwork::time::sleep(Duration::from_millis(30)).await; // the read waits
                writer.write_all(b"late".as_slice()).await.0.unwrap();
                assert_eq!(pending_read.await.unwrap(), b"late");
            })
        })
    });
}

#[test]
fn a_fifo_opened_by_path_carries_bytes_alike_on_both_drivers() {
    watchdog(Duration::from_secs(60), || {
        common::for_each_driver(2, |rt| {
            let dir = TempDir::new("fifo");
            let path = dir.join("fifo");
            let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: a NUL-terminated path that lives across the call.
            assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
            rt.block_on(async {
                // Opening one end of a FIFO waits for the other: open both
                // concurrently.
                let reader = ringwork::spawn({
                    let path = path.clone();
                    async move { File::open(path).await.unwrap() }
                });
                let writer = OpenOptions::new().write(true).open(&path).await.unwrap();
                let reader = reader.await.unwrap();
                writer
                    .write_all(b"through the fifo".as_slice())
                    .await
                    .0
                    .unwrap();
                drop(writer);
                let mut got = Vec::new();
                loop {
                    let (res, buf) = reader.read(Vec::with_capacity(7)).await;
                    match res.unwrap() {
                        0 => break,
                        n => got.extend_from_slice(&buf[..n]),
                    }
                }
                assert_eq!(got, b"through the fifo");
                let (res, _) = reader.read_at(vec![0u8; 4], 0).await;
                assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::ESPIPE));
            })
        })
    });
}

#[test]
fn a_regular_file_read_and_written_at_its_position_moves_the_position() {
    watchdog(Duration::from_secs(60), || {
        common::for_each_driver(2, |rt| {
            let dir = TempDir::new("cursor");
            let path = dir.join("f");
            rt.block_on(async {
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&path)
                    .await
                    .unwrap();
                file.write_all(b"abc".as_slice()).await.0.unwrap();
                file.write_all(b"def".as_slice()).await.0.unwrap();
                // Positional I/O neither uses nor moves the position.
                let (res, buf) = file.read_at(vec![0u8; 6], 0).await;
                assert_eq!(&buf[..res.unwrap()], b"abcdef");
                file.write_all(b"gh".as_slice()).await.0.unwrap();
                assert_eq!(std::fs::read(&path).unwrap(), b"abcdefgh");
                // A second handle reads sequentially from the start.
                let again = File::open(&path).await.unwrap();
                let (res, buf) = again.read_exact(Vec::with_capacity(3)).await;
                res.unwrap();
                assert_eq!(buf, b"abc");
                let (res, buf) = again.read(Vec::with_capacity(64)).await;
                assert_eq!(&buf[..res.unwrap()], b"defgh");
                let (res, _) = again.read(Vec::with_capacity(64)).await;
                assert_eq!(res.unwrap(), 0, "end of file");
            })
        })
    });
}
