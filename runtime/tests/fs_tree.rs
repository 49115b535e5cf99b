//! `ringwork::fs` beyond single files: `create_dir_all`, `read_dir`,
//! `copy`, links, `canonicalize`, `set_permissions`, `remove_dir_all`,
//! `try_exists` — the same results and errors on both drivers.

mod common;

use common::{for_each_driver, watchdog, TempDir};
use futures_util::StreamExt;
use ringwork::fs;
use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

fn kind<T: std::fmt::Debug>(res: io::Result<T>) -> io::ErrorKind {
    res.expect_err("expected an error").kind()
}

fn mkfifo(path: &Path) {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path that lives across the call.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
}

#[test]
fn create_dir_all_makes_every_missing_parent_and_accepts_an_existing_tree() {
    watchdog(LIMIT, || {
        for_each_driver(2, |rt| {
            let dir = TempDir::new("mkdirs");
            rt.block_on(async {
                let deep = dir.join("a/b/c/d");
                fs::create_dir_all(&deep).await.unwrap();
                assert!(std::fs::metadata(&deep).unwrap().is_dir());
                // Again, and a prefix of it: nothing to do, no error.
                fs::create_dir_all(&deep).await.unwrap();
                fs::create_dir_all(dir.join("a/b")).await.unwrap();
                // A trailing slash and `..` are the kernel's business.
                fs::create_dir_all(dir.join("a/x/")).await.unwrap();
                fs::create_dir_all(dir.join("a/x/../y")).await.unwrap();
                assert!(std::fs::metadata(dir.join("a/y")).unwrap().is_dir());
                fs::create_dir_all("").await.unwrap();

                // Something other than a directory in the way.
                std::fs::write(dir.join("file"), b"x").unwrap();
                assert_eq!(
                    kind(fs::create_dir_all(dir.join("file")).await),
                    io::ErrorKind::AlreadyExists
                );
                assert_eq!(
                    kind(fs::create_dir_all(dir.join("file/sub/deeper")).await),
                    io::ErrorKind::NotADirectory
                );
                // A link to a directory is a directory.
                std::os::unix::fs::symlink(dir.join("a"), dir.join("to_a")).unwrap();
                fs::create_dir_all(dir.join("to_a/b/c")).await.unwrap();
            });
        })
    });
}

#[test]
fn create_dir_all_racing_on_one_tree_all_succeed() {
    watchdog(LIMIT, || {
        for_each_driver(2, |rt| {
            let dir = TempDir::new("mkdirs-race");
            let target = dir.join("p/q/r/s/t");
            rt.block_on(async {
                let tasks: Vec<_> = (0..8)
                    .map(|i| {
                        let target = target.clone();
                        ringwork::spawn(async move {
                            let path = if i % 2 == 0 { target } else { target.join("u") };
                            fs::create_dir_all(path).await
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap().unwrap();
                }
            });
            assert!(target.join("u").is_dir());
        })
    });
}

/// What a directory holds, by name: (is_dir, is_file, is_symlink, is_fifo).
type Listing = BTreeMap<String, (bool, bool, bool, bool)>;

/// Fills `dir` with `files` regular files, a directory, a symbolic link
/// and a FIFO; what `read_dir` should report.
fn populate(dir: &Path, files: usize) -> Listing {
    let mut expect = Listing::new();
    for i in 0..files {
        let name = format!("file-{i:03}");
        std::fs::write(dir.join(&name), i.to_string()).unwrap();
        expect.insert(name, (false, true, false, false));
    }
    std::fs::create_dir(dir.join("sub")).unwrap();
    expect.insert("sub".into(), (true, false, false, false));
    std::os::unix::fs::symlink("sub", dir.join("link")).unwrap();
    expect.insert("link".into(), (false, false, true, false));
    mkfifo(&dir.join("fifo"));
    expect.insert("fifo".into(), (false, false, false, true));
    expect
}

async fn describe(entry: &fs::DirEntry, dir: &Path) -> (String, (bool, bool, bool, bool)) {
    let name = entry.file_name().into_string().unwrap();
    assert_eq!(entry.path(), dir.join(&name));
    let std_meta = std::fs::symlink_metadata(entry.path()).unwrap();
    assert_eq!(entry.ino(), std_meta.ino(), "{name}");
    let t = entry.file_type().await.unwrap();
    // `metadata` does not follow the link either.
    let meta = entry.metadata().await.unwrap();
    assert_eq!(meta.file_type(), t, "{name}");
    assert_eq!(meta.ino(), std_meta.ino(), "{name}");
    (name, (t.is_dir(), t.is_file(), t.is_symlink(), t.is_fifo()))
}

#[test]
fn read_dir_lists_every_entry_once_with_its_type_across_batches() {
    watchdog(LIMIT, || {
        for_each_driver(2, |rt| {
            let dir = TempDir::new("read-dir");
            // 100 files: several batches of 32.
            let expect = populate(&dir.0, 100);
            rt.block_on(async {
                let mut got = Listing::new();
                let mut entries = fs::read_dir(&dir.0).await.unwrap();
                while let Some(entry) = entries.next_entry().await.unwrap() {
                    let (name, kinds) = describe(&entry, &dir.0).await;
                    assert!(got.insert(name, kinds).is_none(), "listed twice");
                }
                assert_eq!(got, expect);
                // The end stays the end.
                assert!(entries.next_entry().await.unwrap().is_none());

                // The same through `Stream`.
                let mut stream = fs::read_dir(&dir.0).await.unwrap();
                let mut names = Vec::new();
                while let Some(entry) = stream.next().await {
                    names.push(entry.unwrap().file_name().into_string().unwrap());
                }
                names.sort();
                assert_eq!(names, expect.keys().cloned().collect::<Vec<_>>());
                assert!(stream.next().await.is_none());
            });
        })
    });
}

#[test]
fn read_dir_of_an_empty_directory_ends_at_once() {
    watchdog(LIMIT, || {
        for_each_driver(2, |rt| {
            let dir = TempDir::new("read-dir-empty");
            rt.block_on(async {
                let mut entries = fs::read_dir(&dir.0).await.unwrap();
                assert!(entries.next_entry().await.unwrap().is_none());
            });
        })
    });
}

#[test]
fn read_dir_errors_name_the_kernel_reason() {
    watchdog(LIMIT, || {
        for_each_driver(2, |rt| {
            let dir = TempDir::new("read-dir-errors");
            std::fs::write(dir.join("file"), b"x").unwrap();
            rt.block_on(async {
                assert_eq!(
                    kind(fs::read_dir(dir.join("missing")).await),
                    io::ErrorKind::NotFound
                );
                assert_eq!(
                    kind(fs::read_dir(dir.join("file")).await),
                    io::ErrorKind::NotADirectory
                );
                let err = fs::read_dir("bad\0path").await.unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            });
        })
    });
}

#[test]
fn a_dropped_next_entry_loses_no_entry() {
    watchdog(LIMIT, || {
        for_each_driver(2, |rt| {
            let dir = TempDir::new("read-dir-cancel");
            let expect = populate(&dir.0, 200);
            rt.block_on(async {
                // A batch the pool reads before the first poll looks is not
                // pending: list again until some poll found one pending.
                let mut dropped = 0;
                for _ in 0..20 {
                    let mut entries = fs::read_dir(&dir.0).await.unwrap();
                    let mut names = Vec::new();
                    loop {
                        // Poll once and drop: when a batch is being read the
                        // future is pending, and the batch must stay.
                        let woken = common::WakeFlag::new();
                        let mut next = std::pin::pin!(entries.next_entry());
                        match common::poll_once(next.as_mut(), &woken) {
                            std::task::Poll::Ready(entry) => match entry.unwrap() {
                                Some(entry) => names.push(entry.file_name().into_string().unwrap()),
                                None => break,
                            },
                            std::task::Poll::Pending => {
                                dropped += 1;
                                ringwork::time::sleep(Duration::from_millis(1)).await;
                            }
                        }
                    }
                    names.sort();
                    assert_eq!(names, expect.keys().cloned().collect::<Vec<_>>());
                    if dropped > 0 {
                        break;
                    }
                }
                assert!(
                    dropped > 0,
                    "no batch was ever pending: the test proved nothing"
                );
            });
        })
    });
}

#[test]
fn copy_copies_bytes_and_permissions_and_refuses_a_directory_target() {
    watchdog(LIMIT, || {
        for_each_driver(2, |rt| {
            let dir = TempDir::new("copy");
            let data = common::pattern(300_000);
            std::fs::write(dir.join("from"), &data).unwrap();
            std::fs::set_permissions(dir.join("from"), PermissionsExt::from_mode(0o640)).unwrap();
            std::fs::create_dir(dir.join("subdir")).unwrap();
            std::fs::write(dir.join("existing"), vec![7u8; 1_000_000]).unwrap();
            rt.block_on(async {
                let n = fs::copy(dir.join("from"), dir.join("to")).await.unwrap();
                assert_eq!(n, data.len() as u64);
                assert!(std::fs::read(dir.join("to")).unwrap() == data);
                let mode = std::fs::metadata(dir.join("to")).unwrap().mode();
                assert_eq!(mode & 0o777, 0o640);
                // A longer existing target is truncated.
                fs::copy(dir.join("from"), dir.join("existing"))
                    .await
                    .unwrap();
                assert!(std::fs::read(dir.join("existing")).unwrap() == data);

                assert_eq!(
                    kind(fs::copy(dir.join("from"), dir.join("subdir")).await),
                    io::ErrorKind::IsADirectory
                );
                assert_eq!(
                    kind(fs::copy(dir.join("missing"), dir.join("nothing")).await),
                    io::ErrorKind::NotFound
                );
                assert!(
                    !dir.join("nothing").exists(),
                    "no target for a missing source"
                );
                assert_eq!(
                    kind(fs::copy(dir.join("subdir"), dir.join("dir-copy")).await),
                    io::ErrorKind::InvalidInput
                );
                assert_eq!(
                    kind(fs::copy(dir.join("from"), dir.join("no/such/dir/to")).await),
                    io::ErrorKind::NotFound
                );
            });
        })
    });
}

#[test]
fn symlinks_and_hard_links_are_made_read_and_refused_over_existing_names() {
    watchdog(LIMIT, || {
        for_each_driver(2, |rt| {
            let dir = TempDir::new("links");
            std::fs::write(dir.join("target"), b"content").unwrap();
            rt.block_on(async {
                fs::symlink("target", dir.join("rel")).await.unwrap();
                assert_eq!(
                    fs::read_link(dir.join("rel")).await.unwrap(),
                    Path::new("target")
                );
                assert_eq!(fs::read(dir.join("rel")).await.unwrap(), b"content");
                // A dangling link may be made; it does not "exist".
                fs::symlink("nowhere", dir.join("dangling")).await.unwrap();
                assert!(fs::symlink_metadata(dir.join("dangling"))
                    .await
                    .unwrap()
                    .is_symlink());
                assert!(!fs::try_exists(dir.join("dangling")).await.unwrap());
                assert_eq!(
                    kind(fs::symlink("target", dir.join("rel")).await),
                    io::ErrorKind::AlreadyExists
                );
                assert_eq!(
                    kind(fs::read_link(dir.join("target")).await),
                    io::ErrorKind::InvalidInput
                );
                assert_eq!(
                    kind(fs::read_link(dir.join("missing")).await),
                    io::ErrorKind::NotFound
                );

                fs::hard_link(dir.join("target"), dir.join("hard"))
                    .await
                    .unwrap();
                let meta = fs::metadata(dir.join("hard")).await.unwrap();
                assert_eq!(meta.nlink(), 2);
                assert_eq!(
                    meta.ino(),
                    std::fs::metadata(dir.join("target")).unwrap().ino()
                );
                // A hard link to a symbolic link links the link itself.
                fs::hard_link(dir.join("dangling"), dir.join("hard-dangling"))
                    .await
                    .unwrap();
                assert!(std::fs::symlink_metadata(dir.join("hard-dangling"))
                    .unwrap()
                    .is_symlink());
                assert_eq!(
                    kind(fs::hard_link(dir.join("missing"), dir.join("h2")).await),
                    io::ErrorKind::NotFound
                );
                assert_eq!(
                    kind(fs::hard_link(dir.join("target"), dir.join("hard")).await),
                    io::ErrorKind::AlreadyExists
                );
                assert_eq!(
                    kind(fs::symlink("a\0b", dir.join("nul")).await),
                    io::ErrorKind::InvalidInput
                );
                assert_eq!(
                    kind(fs::hard_link(dir.join("target"), "a\0b").await),
                    io::ErrorKind::InvalidInput
                );
            });
        })
    });
}

#[test]
fn canonicalize_resolves_links_dots_and_refuses_missing_components() {
    watchdog(LIMIT, || {
        for_each_driver(2, |rt| {
            let dir = TempDir::new("canon");
            std::fs::create_dir_all(dir.join("real/inner")).unwrap();
            std::os::unix::fs::symlink(dir.join("real"), dir.join("alias")).unwrap();
            rt.block_on(async {
                let expect = std::fs::canonicalize(dir.join("real/inner")).unwrap();
                let got = fs::canonicalize(dir.join("alias/./inner/../inner"))
                    .await
                    .unwrap();
                assert_eq!(got, expect);
                assert_eq!(
                    kind(fs::canonicalize(dir.join("alias/missing")).await),
                    io::ErrorKind::NotFound
                );
            });
        })
    });
}

#[test]
fn set_permissions_sets_the_mode_and_a_missing_path_is_not_found() {
    watchdog(LIMIT, || {
        for_each_driver(2, |rt| {
            let dir = TempDir::new("chmod");
            std::fs::write(dir.join("f"), b"x").unwrap();
            rt.block_on(async {
                for mode in [0o600, 0o755, 0o400] {
                    fs::set_permissions(dir.join("f"), PermissionsExt::from_mode(mode))
                        .await
                        .unwrap();
                    let meta = fs::metadata(dir.join("f")).await.unwrap();
                    assert_eq!(meta.permissions().mode(), mode);
                }
                assert_eq!(
                    kind(
                        fs::set_permissions(dir.join("missing"), PermissionsExt::from_mode(0o600))
                            .await
                    ),
                    io::ErrorKind::NotFound
                );
                // Through a symbolic link: the target's mode changes.
                std::os::unix::fs::symlink("f", dir.join("link")).unwrap();
                fs::set_permissions(dir.join("link"), PermissionsExt::from_mode(0o640))
                    .await
                    .unwrap();
                let mode = std::fs::metadata(dir.join("f")).unwrap().mode();
                assert_eq!(mode & 0o7777, 0o640);
            });
        })
    });
}

#[test]
fn remove_dir_all_removes_the_tree_but_not_what_its_links_point_to() {
    watchdog(LIMIT, || {
        for_each_driver(2, |rt| {
            let dir = TempDir::new("rmtree");
            let outside = dir.join("outside");
            std::fs::create_dir(&outside).unwrap();
            std::fs::write(outside.join("keep"), b"keep").unwrap();
            let tree = dir.join("tree");
            std::fs::create_dir_all(tree.join("a/b/c")).unwrap();
            std::fs::write(tree.join("a/b/c/f"), b"x").unwrap();
            std::os::unix::fs::symlink(&outside, tree.join("a/escape")).unwrap();
            std::fs::write(dir.join("plain"), b"x").unwrap();
            rt.block_on(async {
                fs::remove_dir_all(&tree).await.unwrap();
                assert!(!fs::try_exists(&tree).await.unwrap());
                assert!(outside.join("keep").exists(), "followed a link");
                assert_eq!(
                    kind(fs::remove_dir_all(&tree).await),
                    io::ErrorKind::NotFound
                );
                assert_eq!(
                    kind(fs::remove_dir_all(dir.join("plain")).await),
                    io::ErrorKind::NotADirectory
                );
            });
        })
    });
}

#[test]
fn try_exists_tells_present_absent_and_unknowable_apart() {
    watchdog(LIMIT, || {
        for_each_driver(2, |rt| {
            let dir = TempDir::new("exists");
            std::fs::write(dir.join("file"), b"x").unwrap();
            rt.block_on(async {
                assert!(fs::try_exists(dir.join("file")).await.unwrap());
                assert!(fs::try_exists(&dir.0).await.unwrap());
                assert!(!fs::try_exists(dir.join("missing")).await.unwrap());
                // A file used as a directory: neither yes nor no.
                assert_eq!(
                    kind(fs::try_exists(dir.join("file/child")).await),
                    io::ErrorKind::NotADirectory
                );
            });
        })
    });
}

#[test]
fn a_blocking_pool_call_whose_future_is_dropped_still_finishes() {
    watchdog(LIMIT, || {
        for_each_driver(2, |rt| {
            let dir = TempDir::new("rmtree-dropped");
            let tree = dir.join("tree");
            for i in 0..50 {
                std::fs::create_dir_all(tree.join(format!("d{i}"))).unwrap();
                std::fs::write(tree.join(format!("d{i}/f")), b"x").unwrap();
            }
            rt.block_on(async {
                let woken = common::WakeFlag::new();
                let mut remove = Box::pin(fs::remove_dir_all(&tree));
                let first = common::poll_once(remove.as_mut(), &woken);
                drop(remove);
                assert!(first.is_pending(), "removed 50 directories in one poll");
            });
            let deadline = Instant::now() + Duration::from_secs(10);
            while tree.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            assert!(!tree.exists(), "the dropped call did not finish");
        })
    });
}

#[test]
fn outside_a_runtime_calls_fail_with_an_error_not_a_panic() {
    let dir = TempDir::new("no-runtime");
    let err = common::block_on_plain(fs::copy(dir.join("a"), dir.join("b"))).unwrap_err();
    assert!(err.to_string().contains("no ringwork I/O driver"), "{err}");
    let err = common::block_on_plain(fs::create_dir_all(dir.join("x/y"))).unwrap_err();
    assert!(err.to_string().contains("no ringwork I/O driver"), "{err}");
}
