#!/usr/bin/env bash
# CPU, context switches and page faults per request of each phase of the
# data scenario, for `kai serve` and for the native handlers, in one server
# process per round: title updates (with doc-versioning's transactional
# hook), then versions reads (GET /api/v1/documents/{id}/versions), then
# updates again, each phase 1 s of warm-up and SECONDS of load at 32
# connections from `wrk -t1`.
#
# What `kai-bench --only data` reports as requests per second, this breaks
# down into what the server process spent per request (user + system CPU
# from /proc/<pid>/stat, voluntary + involuntary context switches summed
# over its threads, minor faults), so that a change between phases (the
# update after the reads) shows as work or as waiting.
#
# Usage: bench/scripts/phases.sh [rounds] (default 2; the servers
# alternate within each round). PAUSE=S idles S seconds between the reads and the second
# updates, SECONDS_PER_PHASE sets the load's length (default 5). KAI_ARGS
# adds flags to `kai serve` (e.g. "--plugin-concurrency 1").
# Needs wrk and curl, and `cargo build --release -p kai-host -p kai-bench`.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-2}"
seconds="${SECONDS_PER_PHASE:-5}"
kai="$PWD/target/release/kai"
# KAI_BASE names another build of `kai` (say, of the commit before a
# change), measured in the same rounds as `kai-base`.
servers="${KAI_BASE:+kai-base }kai native"
bench="$PWD/target/release/kai-bench"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=7312

# shellcheck source=bench/scripts/common.sh
source bench/scripts/common.sh

# The data, as the data scenario has it: 64 documents of 11 versions to
# read and 64 others to update, written through the REST API.
seed_data_scenario "$kai" "$work"

hz="$(getconf CLK_TCK)"
# user+system ticks and minor faults of the process, and its threads'
# context switches.
sample() {
    awk '{printf "%d %d ", $14 + $15, $10}' "/proc/$1/stat"
    cat /proc/"$1"/task/*/status | awk '/ctxt_switches/ {s += $2} END {print s}'
}
phase() {
    local pid="$1" name="$2" script="$3"
    wrk -t1 -c32 -d1s -s "$script" "http://127.0.0.1:$port" >/dev/null
    local before after out
    before=($(sample "$pid"))
    out="$(wrk -t1 -c32 -d"${seconds}s" -s "$script" "http://127.0.0.1:$port")"
    after=($(sample "$pid"))
    echo "$out" | awk -v name="$name" -v s="$seconds" -v hz="$hz" \
        -v cpu=$((after[0] - before[0])) -v flt=$((after[1] - before[1])) \
        -v ctx=$((after[2] - before[2])) '
        /requests in/ { n = $1 }
        END { printf "  %-22s %7.0f/s  CPU %6.1f us  switches %5.1f  faults %5.2f\n",
              name, n / s, cpu * 1e6 / hz / n, ctx / n, flt / n }'
}

printf 'per request: CPU (user + system), context switches, minor faults\n'
for round in $(seq "$rounds"); do
    for server in $servers; do
        rm -rf "$work/run" && cp -r "$work/base" "$work/run"
        if [ "$server" != native ]; then
            binary="$kai"
            [ "$server" = kai-base ] && binary="$KAI_BASE"
            # shellcheck disable=SC2086
            RUST_LOG=warn start_kai "$binary" "$work/run" ${KAI_ARGS:-}
            pid="$kai_pid"
        else
            "$bench" serve-native --listen "127.0.0.1:$port" \
                --database "$work/run/data/kai.db" >/dev/null 2>&1 &
            pid=$!
            wait_ready /healthz
        fi
        echo "round $round, $server:"
        phase "$pid" "updates, fresh server" "$work/update.lua"
        phase "$pid" "versions reads" "$work/read.lua"
        sleep "${PAUSE:-0}"
        phase "$pid" "updates after the reads" "$work/update.lua"
        kill "$pid" && wait "$pid" 2>/dev/null || true
    done
done
