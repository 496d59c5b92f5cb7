#!/usr/bin/env bash
# Two builds or two configurations of `kai serve` on one load, in
# alternating pairs: each measurement starts a fresh server on a fresh copy
# of one seeded database, warms it up for 1 s, then loads it for SECONDS
# (default 5) at 32 connections from `wrk -t1`. The order within a pair
# alternates (A B, then B A), so a machine that drifts during the run
# favours neither. Prints every measurement, then each side's median
# requests/s and CPU per request and the ratio B/A of the medians.
#
# This is the way to tell whether a change helped: on a shared 2-core
# machine one server's rate moves by a fifth from one process start to the
# next, so a single before-and-after pair says little.
#
# Usage: bench/scripts/ab.sh [pairs]   (default 6)
#   A, B        the `kai` binaries (default: target/release/kai for both)
#   A_ARGS, B_ARGS   extra `kai serve` flags for each side
#   A_LOG, B_LOG     RUST_LOG for each side (default warn, as kai-bench runs)
#   LOAD        read (doc-versioning's versions list, default), update
#               (a title change with the versioning hook) or hello (the
#               bundled hello plugin's public route)
#   SECONDS_PER_RUN  seconds of load per measurement (default 5)
# Example: A=/tmp/kai-before bench/scripts/ab.sh 8
#          A_LOG=info bench/scripts/ab.sh     (what request logging costs)
# Needs wrk and curl, and `cargo build --release -p kai-host`.
set -euo pipefail
cd "$(dirname "$0")/../.."
pairs="${1:-6}"
seconds="${SECONDS_PER_RUN:-5}"
load="${LOAD:-read}"
a="${A:-$PWD/target/release/kai}"
b="${B:-$PWD/target/release/kai}"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=7318

# shellcheck source=bench/scripts/common.sh
source bench/scripts/common.sh
seed_data_scenario "$a" "$work"

hz="$(getconf CLK_TCK)"
# Measures one side: prints "<requests/s> <CPU us per request>".
measure() {
    local binary="$1" args="$2" log="$3"
    rm -rf "$work/run" && cp -r "$work/base" "$work/run"
    # shellcheck disable=SC2086
    RUST_LOG="$log" start_kai "$binary" "$work/run" $args
    local pid="$kai_pid"
    wrk -t1 -c32 -d1s -s "$work/$load.lua" "http://127.0.0.1:$port" >/dev/null
    local before after out
    before="$(awk '{print $14 + $15}' "/proc/$pid/stat")"
    out="$(wrk -t1 -c32 -d"${seconds}s" -s "$work/$load.lua" "http://127.0.0.1:$port")"
    after="$(awk '{print $14 + $15}' "/proc/$pid/stat")"
    kill "$pid" && wait "$pid" 2>/dev/null || true
    echo "$out" | awk -v s="$seconds" -v hz="$hz" -v cpu=$((after - before)) '
        /requests in/ { n = $1 }
        END { printf "%.0f %.1f\n", n / s, cpu * 1e6 / hz / n }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

: >"$work/a" && : >"$work/b"
echo "load: $load, $seconds s per measurement, $pairs pairs"
for pair in $(seq "$pairs"); do
    order="a b"
    [ $((pair % 2)) -eq 0 ] && order="b a"
    for side in $order; do
        if [ "$side" = a ]; then
            result="$(measure "$a" "${A_ARGS:-}" "${A_LOG:-warn}")"
        else
            result="$(measure "$b" "${B_ARGS:-}" "${B_LOG:-warn}")"
        fi
        echo "$result" >>"$work/$side"
        read -r rate cpu <<<"$result"
        printf '  pair %d, %s: %6d requests/s, CPU %6.1f us per request\n' "$pair" "${side^^}" "$rate" "$cpu"
    done
done
a_rate="$(cut -d' ' -f1 "$work/a" | median)"
b_rate="$(cut -d' ' -f1 "$work/b" | median)"
a_cpu="$(cut -d' ' -f2 "$work/a" | median)"
b_cpu="$(cut -d' ' -f2 "$work/b" | median)"
printf 'medians: A %.0f requests/s at %.1f us, B %.0f requests/s at %.1f us; B/A %.3fx throughput, %.3fx CPU per request\n' \
    "$a_rate" "$a_cpu" "$b_rate" "$b_cpu" "$(echo "$b_rate / $a_rate" | bc -l)" "$(echo "$b_cpu / $a_cpu" | bc -l)"
