#!/usr/bin/env bash
# Every check CI runs; developers run the same script locally.
#   ./ci/test.sh            all steps
#   STEPS="fmt test" ./ci/test.sh   a subset of: fmt clippy doc test faults soak loom
set -euo pipefail
cd "$(dirname "$0")/.."

STEPS=${STEPS:-"fmt clippy doc test faults soak loom"}
has() { [[ " $STEPS " == *" $1 "* ]]; }
step() { printf '\n==> %s\n' "$*"; }

# A hang anywhere is a failure, not a stuck CI job.
TEST_TIMEOUT=${TEST_TIMEOUT:-1200}

if has fmt; then
    step "cargo fmt --all --check"
    cargo fmt --all --check
fi

if has clippy; then
    step "cargo clippy --workspace --all-targets -- -D warnings (and with every feature)"
    cargo clippy --workspace --all-targets -- -D warnings
    cargo clippy -p ringwork --all-targets --all-features -- -D warnings
fi

if has doc; then
    step "cargo doc --workspace --no-deps (rustdoc warnings are errors)"
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features
fi

if has test; then
    step "cargo test --workspace (default driver: io_uring where available)"
    timeout "$TEST_TIMEOUT" cargo test --workspace
    step "cargo test -p ringwork again with RINGWORK_DRIVER=epoll (the fallback driver)"
    RINGWORK_DRIVER=epoll timeout "$TEST_TIMEOUT" cargo test -p ringwork
    # Every io_uring feature on (RINGWORK_URING sets what a test's Builder
    # leaves): the stream, cancellation and file suites over provided
    # buffers with multishot receives, zero-copy sends, registered buffers
    # the optional setup flags, the registered ring fd and fixed files.
    ALL_ON="bufring=64x4096x8,send_zc=16384,fixed_buffers=8x65536,submit_all,no_sqarray,register_ring_fd,fixed_files=256"
    step "the I/O suites with every io_uring feature on: RINGWORK_URING=$ALL_ON"
    RINGWORK_URING="$ALL_ON" timeout "$TEST_TIMEOUT" cargo test -p ringwork \
        --test tcp --test unix --test cancel_safety --test io_cancel --test fs --test fs_tree --test file_cursor \
        --test drop_in_every_state --test fd_reuse --test concurrent_waiters --test buffer_sizes \
        --test send_zc --test buf_ring --test stream_reading
    step "the feature-gated layers: cargo test -p ringwork --all-features --test compat --test compat_tokio --test hyper --test http_hello --test ws_chat --test tracing_spans --doc"
    # The example binaries the tests run (a `--test` filter builds none).
    cargo build -p ringwork --all-features --examples
    timeout "$TEST_TIMEOUT" cargo test -p ringwork --all-features --test compat --test compat_tokio --test hyper --test http_hello --test ws_chat --test tracing_spans
    # ws_chat's tests run each driver themselves (for_each_driver, and the
    # binaries with RINGWORK_DRIVER set); with epoll the default, their
    # helper runtimes built from the environment use it too.
    RINGWORK_DRIVER=epoll timeout "$TEST_TIMEOUT" cargo test -p ringwork --all-features --test tracing_spans --test ws_chat
    timeout "$TEST_TIMEOUT" cargo test -p ringwork --all-features --doc compat
    RINGWORK_URING="$ALL_ON" timeout "$TEST_TIMEOUT" cargo test -p ringwork --all-features \
        --test compat --test compat_tokio --test hyper --test ws_chat
fi

if has faults; then
    # Feature `fault-injection` (test only): the syscall boundary of both
    # drivers fails on a seeded schedule (docs/reliability.md, "Fault
    # injection"). The stress tests with their own plans, then with every
    # point at 10% on two more seeds, then suites that assume nothing about
    # errors under the faults a caller never sees (interrupted enters and
    # waits, spurious readiness, a saturated eventfd, late timers), on both
    # drivers. A failure prints the RINGWORK_FAULTS line that replays it.
    step "fault injection: cargo test --features fault-injection (faults, setup_faults; then seeded sweeps)"
    timeout "$TEST_TIMEOUT" cargo test -p ringwork-uring --features fault-injection --test setup_faults
    timeout "$TEST_TIMEOUT" cargo test -p ringwork --features fault-injection --test faults
    for seed in 101 102; do
        RINGWORK_FAULTS="seed=$seed,ppm=100000,points=all" timeout "$TEST_TIMEOUT" \
            cargo test -p ringwork --features fault-injection --test faults
    done
    QUIET_FAULTS="seed=103,ppm=50000,points=enter+epoll_wait+spurious+eventfd_full+timer_late"
    for driver in uring epoll; do
        RINGWORK_DRIVER=$driver RINGWORK_FAULTS="$QUIET_FAULTS" timeout "$TEST_TIMEOUT" \
            cargo test -p ringwork --features fault-injection \
            --test tcp --test cancel_safety --test stream_reading --test time
    done
fi

if has soak; then
    # Both drivers at once, a runtime each, for 60 s: checksummed echo with
    # cancelled reads, connect/close churn with cancelled accepts, timers,
    # channels, files, spawn_blocking; fails on a wrong result, a panic, a
    # hang, fds left open, or RSS / fds / threads growing (see
    # docs/reliability.md). The build comes first so that the timeout
    # bounds the run.
    step "soak: cargo run --release -p ringwork-bench -- soak --secs 60 (io_uring and epoll at once)"
    cargo build --release -p ringwork-bench
    timeout "$TEST_TIMEOUT" cargo run --release -p ringwork-bench -- soak --secs 60
fi

if has loom; then
    # Separate target dir: --cfg loom changes every crate's fingerprint.
    # The `loom` profile is release with debug assertions (see Cargo.toml).
    step "loom models (RUSTFLAGS=\"--cfg loom\", LOOM_MAX_PREEMPTIONS=2)"
    RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 timeout "$TEST_TIMEOUT" \
        cargo test -p ringwork-loom-tests --profile loom --target-dir target-loom
fi

step "all steps passed: $STEPS"
