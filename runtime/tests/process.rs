//! `ringwork::process` on both drivers: piped streams checksummed through
//! `cat`, exit codes and signals, many short children all reaped, `output`
//! of a chatty child, and spawn errors.

mod common;

use common::{for_each_driver, pattern, watchdog};
use ringwork::process::Command;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

/// Held by every test here: one counts the process's zombie children,
/// which the others' children would add to for a moment.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// Zombie children of this process (state `Z` in /proc).
fn zombies() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            let Some(end) = stat.rfind(')') else {
                return false;
            };
            let fields: Vec<&str> = stat[end + 1..].split_whitespace().collect();
            fields.first() == Some(&"Z") && fields.get(1) == Some(&me.as_str())
        })
        .count()
}

#[test]
fn cat_echoes_sixteen_mib_through_its_pipes_byte_exact() {
    const LEN: usize = 16 << 20;
    let _turn = one_at_a_time();
    watchdog(Duration::from_secs(120), || {
        for_each_driver(2, |rt| {
            rt.block_on(rt.spawn(async {
                let mut child = Command::new("cat")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                let stdin = child.stdin.take().unwrap();
                let stdout = child.stdout.take().unwrap();
                let data = pattern(LEN);
                let expected = data.clone();
                let writer = ringwork::spawn(async move {
                    let (res, _) = stdin.write_all(data).await;
                    res.unwrap();
                    // Dropped: cat sees end of input.
                });
                let mut got = Vec::with_capacity(LEN);
                loop {
                    let (res, chunk) = stdout.read(Vec::with_capacity(256 * 1024)).await;
                    if res.unwrap() == 0 {
                        break;
                    }
                    got.extend_from_slice(&chunk);
                }
                writer.await.unwrap();
                assert_eq!(got.len(), LEN);
                assert!(got == expected, "cat's output differs from its input");
                assert!(child.wait().await.unwrap().success());
            }))
            .unwrap();
        })
    });
}

#[test]
fn exit_codes_and_signals_come_back_as_exit_statuses() {
    let _turn = one_at_a_time();
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            rt.block_on(rt.spawn(async {
                let status = Command::new("sh")
                    .args(["-c", "exit 7"])
                    .status()
                    .await
                    .unwrap();
                assert_eq!(status.code(), Some(7));
                let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
                assert!(
                    sleeper.try_wait().unwrap().is_none(),
                    "sleep 30 exited at once"
                );
                let status = sleeper.kill().await.unwrap();
                assert_eq!(status.signal(), Some(libc::SIGKILL));
                assert_eq!(status.code(), None);
            }))
            .unwrap();
        })
    });
}

#[test]
fn two_hundred_concurrent_children_are_all_reaped() {
    let _turn = one_at_a_time();
    watchdog(Duration::from_secs(120), || {
        for_each_driver(2, |rt| {
            rt.block_on(rt.spawn(async {
                let children: Vec<_> = (0..200)
                    .map(|i| {
                        ringwork::spawn(async move {
                            Command::new("sh")
                                .args(["-c", &format!("exit {}", i % 50)])
                                .status()
                                .await
                                .unwrap()
                                .code()
                        })
                    })
                    .collect();
                for (i, child) in children.into_iter().enumerate() {
                    assert_eq!(child.await.unwrap(), Some((i % 50) as i32));
                }
                // Dropped without a wait: reaped in the background.
                for _ in 0..20 {
                    drop(Command::new("true").spawn().unwrap());
                }
                let mut left = usize::MAX;
                for _ in 0..200 {
                    ringwork::time::sleep(Duration::from_millis(10)).await;
                    left = zombies();
                    if left == 0 {
                        break;
                    }
                }
                assert_eq!(left, 0, "zombie children left");
            }))
            .unwrap();
        })
    });
}

#[test]
fn output_reads_ten_mib_from_both_streams_without_deadlock() {
    let _turn = one_at_a_time();
    watchdog(Duration::from_secs(120), || {
        for_each_driver(2, |rt| {
            rt.block_on(rt.spawn(async {
                // Alternating writes to both pipes: reading one after the
                // other would deadlock once the unread pipe filled.
                let script = "i=0; while [ $i -lt 10 ]; do \
                              head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2; \
                              i=$((i+1)); done";
                let output = Command::new("sh")
                    .args(["-c", script])
                    .output()
                    .await
                    .unwrap();
                assert!(output.status.success());
                assert_eq!(output.stdout.len(), 10 << 20);
                assert_eq!(output.stderr.len(), 10 << 20);
            }))
            .unwrap();
        })
    });
}

#[test]
fn a_missing_program_is_not_found_with_its_name() {
    let _turn = one_at_a_time();
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            rt.block_on(rt.spawn(async {
                let err = Command::new("ringwork-no-such-program")
                    .spawn()
                    .unwrap_err();
                assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
                assert!(
                    err.to_string().contains("ringwork-no-such-program"),
                    "{err}"
                );
            }))
            .unwrap();
        })
    });
}

/// `wait` closes a piped stdin first (a `cat` reading it finishes); a
/// dropped `wait` leaves the child to a later one; `kill_on_drop` kills
/// and reaps a dropped child.
#[test]
fn wait_closes_stdin_is_cancel_safe_and_kill_on_drop_kills() {
    let _turn = one_at_a_time();
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            rt.block_on(rt.spawn(async {
                let mut cat = Command::new("cat")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap();
                assert!(cat.stdin.is_some());
                let status = ringwork::time::timeout(Duration::from_secs(10), cat.wait())
                    .await
                    .expect("cat ended once wait closed its stdin")
                    .unwrap();
                assert!(status.success());

                let mut sleeper = Command::new("sleep").arg("0.3").spawn().unwrap();
                assert!(
                    ringwork::time::timeout(Duration::from_millis(20), sleeper.wait())
                        .await
                        .is_err(),
                    "sleep 0.3 ended within 20 ms"
                );
                assert!(sleeper.wait().await.unwrap().success());

                let doomed = Command::new("sleep")
                    .arg("30")
                    .kill_on_drop(true)
                    .spawn()
                    .unwrap();
                let proc_dir = std::path::PathBuf::from(format!("/proc/{}", doomed.id()));
                drop(doomed);
                let mut gone = false;
                for _ in 0..200 {
                    if !proc_dir.exists() {
                        gone = true;
                        break;
                    }
                    ringwork::time::sleep(Duration::from_millis(10)).await;
                }
                assert!(
                    gone,
                    "a kill_on_drop child outlived its drop (or stayed a zombie)"
                );
            }))
            .unwrap();
        })
    });
}

#[test]
fn output_gives_the_child_dev_null_as_stdin_unless_set() {
    let _turn = one_at_a_time();
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            rt.block_on(rt.spawn(async {
                let out = Command::new("readlink")
                    .arg("/proc/self/fd/0")
                    .output()
                    .await
                    .unwrap();
                assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "/dev/null");
                // Set explicitly, it is what was set (here a pipe).
                let out = Command::new("readlink")
                    .arg("/proc/self/fd/0")
                    .stdin(std::process::Stdio::piped())
                    .output()
                    .await
                    .unwrap();
                assert!(
                    String::from_utf8_lossy(&out.stdout).starts_with("pipe:"),
                    "{out:?}"
                );
            }))
            .unwrap();
        })
    });
}

#[test]
fn wait_with_output_closes_stdin_and_reads_both_streams() {
    let _turn = one_at_a_time();
    watchdog(Duration::from_secs(60), || {
        for_each_driver(2, |rt| {
            rt.block_on(rt.spawn(async {
                // Copies stdin to stdout and a count to stderr: finishes only
                // once stdin closes.
                let mut child = Command::new("sh")
                    .args(["-c", "cat; echo done >&2"])
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                let stdin = child.stdin.take().unwrap();
                // Under one pipe buffer (64 KiB): nothing reads stdout until
                // wait_with_output, so more could fill both pipes and block
                // this write (the deadlock `communicate` exists to avoid).
                let data: Vec<u8> = (0..60_000u32).map(|i| (i % 251) as u8).collect();
                // Keep a handle so that wait_with_output is what closes it.
                let (r, _) = stdin.write_all(data.clone()).await;
                r.unwrap();
                child.stdin = Some(stdin);
                let out = child.wait_with_output().await.unwrap();
                assert!(out.status.success());
                assert!(out.stdout == data, "stdout differs");
                assert_eq!(out.stderr, b"done\n");
            }))
            .unwrap();
        })
    });
}

#[test]
fn uid_and_gid_run_the_child_as_that_user_or_fail_clearly() {
    let _turn = one_at_a_time();
    watchdog(Duration::from_secs(60), || {
        for_each_driver(1, |rt| {
            rt.block_on(rt.spawn(async {
                // SAFETY: geteuid has no preconditions.
                let root = unsafe { libc::geteuid() } == 0;
                let result = Command::new("sh")
                    .args(["-c", "echo $(id -u) $(id -g)"])
                    .uid(65534)
                    .gid(65534)
                    .output()
                    .await;
                if root {
                    let out = result.unwrap();
                    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "65534 65534");
                } else {
                    let err = result.unwrap_err();
                    assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied, "{err}");
                }
            }))
            .unwrap();
        })
    });
}

#[test]
fn a_dropped_child_is_reaped_even_when_its_runtime_shuts_down_first() {
    let _turn = one_at_a_time();
    watchdog(Duration::from_secs(60), || {
        for kind in [
            ringwork::io::DriverKind::Uring,
            ringwork::io::DriverKind::Epoll,
        ] {
            let runtime = ringwork::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .driver(kind)
                .build()
                .unwrap();
            runtime.block_on(async {
                // Outlives the runtime: its background reaper is dropped with it.
                drop(Command::new("sleep").arg("0.3").spawn().unwrap());
            });
            drop(runtime);
            // The child exits 0.3 s after it started; a zombie would show
            // from then on. Give a reaper time to act after that.
            std::thread::sleep(Duration::from_millis(400));
            let mut left = usize::MAX;
            for _ in 0..300 {
                left = zombies();
                if left == 0 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            assert_eq!(left, 0, "{kind:?}: a zombie child was left");
        }
    });
}
