#!/bin/bash
# Counts what a ringwork echo server does per completion under a closed
# loop: task-work runs, deferred (local) work runs, io_uring_enter calls,
# context switches, CPU time (perf tracepoints on the server process) and
# reschedule IPIs on the server's CPU (/proc/interrupts, RES).
#
#   benches/scripts/taskwork_count.sh RINGWORK_URING_SETTING [WORKERS] [SECS]
#
# e.g. `... -coop_taskrun,-defer_taskrun,-multishot_accept,bufring 2`.
# The server (`ringwork-bench serve`) runs pinned to CPU 0, the client
# (examples/closed_loop_client.rs) to CPU 1. Needs perf, root (tracepoints)
# and a release build of both: `cargo build --release -p ringwork-bench
# --bin ringwork-bench --example closed_loop_client`.
set -euo pipefail
setting="$1"; workers="${2:-2}"; secs="${3:-4}"
bin="$(cd "$(dirname "$0")/../.." && pwd)/target/release"
out="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$out"' EXIT

RINGWORK_DRIVER=uring RINGWORK_URING="$setting" taskset -c 0 \
    "$bin/ringwork-bench" serve --peer ringwork --workers "$workers" \
    >"$out/server" 2>&1 < <(sleep $((secs + 30))) &
server=$!
for _ in $(seq 100); do grep -q '^ready' "$out/server" && break; sleep 0.1; done
port=$(awk '/^ready/{print $2}' "$out/server")
[ -n "$port" ] || { cat "$out/server" >&2; exit 1; }

events=io_uring:io_uring_complete,io_uring:io_uring_task_work_run,io_uring:io_uring_local_work_run,syscalls:sys_enter_io_uring_enter,context-switches,task-clock
res_before=$(awk '/RES:/{print $2}' /proc/interrupts)
# perf counts the middle of the client's run (after its lead-in).
(sleep 0.5; perf stat -x, -e "$events" -p "$server" -- sleep $((secs - 1))) 2>"$out/perf" &
counter=$!
rate=$(taskset -c 1 "$bin/examples/closed_loop_client" "127.0.0.1:$port" "$secs")
wait "$counter"
res_after=$(awk '/RES:/{print $2}' /proc/interrupts)

awk -F, -v setting="$setting" -v rate="$rate" -v res=$((res_after - res_before)) '
{ v[$3] = $1 }
END {
    c = v["io_uring:io_uring_complete"]; if (c == 0) c = 1
    printf "%s: %s msgs/s; per completion (%d): task-work runs %.2f, local-work runs %.2f, enters %.3f, context switches %.3f, CPU %.1f us, RES IPIs on CPU 0 %.2f\n",
        setting, rate, c, v["io_uring:io_uring_task_work_run"] / c,
        v["io_uring:io_uring_local_work_run"] / c, v["syscalls:sys_enter_io_uring_enter"] / c,
        v["context-switches"] / c, v["task-clock"] * 1000 / c, res / c
}' "$out/perf"
