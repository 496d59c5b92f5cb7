#!/usr/bin/env bash
# Instructions per request of the doc-versioning history read
# (GET /api/v1/documents/{id}/versions), and of a document update with its
# versioning hook, in the whole server process, for `kai serve` and for the
# native axum handlers with the same SQL. Updates are counted twice: on the
# freshly started server, and again after the reads.
#
# Counted by valgrind's callgrind, so the figure does not depend on the
# machine's load or clock: it moves only when the code does. Each server
# runs under callgrind with instrumentation off, answers a warm-up, then
# counts exactly the requests sent. Under valgrind the pooling allocator
# cannot reserve its address space, so `kai` falls back to on-demand
# instance allocation; instantiation counts differ a little from `kai serve`.
#
# Usage: bench/scripts/instructions.sh [requests]   (default 500)
# SERVERS=kai (or native) counts one server only. CACHE_SIM=1 also
# simulates the caches (a fixed geometry, so machines compare: 32 KiB
# 8-way instruction and 48 KiB 12-way data level 1, 2 MiB 16-way last
# level, 64-byte lines) and prints the misses per request; a run takes
# about twice as long. KEEP=DIR keeps the
# callgrind files there (`callgrind.<server>.<n>`: 1 the fresh updates,
# 2 the reads, 3 the later updates), for callgrind_annotate.
# Needs valgrind and curl, and `cargo build --release -p kai-bench` first.
set -euo pipefail
[ -n "${TRACE:-}" ] && set -x
cd "$(dirname "$0")/../.."
requests="${1:-500}"
# KAI_BENCH names another build of kai-bench, to compare two commits.
bench="${KAI_BENCH:-$PWD/target/release/kai-bench}"
work="$(mktemp -d)"
keep() {
    [ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$work"/callgrind.*.* "$KEEP"/ 2>/dev/null
    return 0
}
trap 'kill $(jobs -p) 2>/dev/null || true; keep; rm -rf "$work"' EXIT
port=7311
mkdir -p "$work/plugins"

# shellcheck source=bench/scripts/common.sh
source bench/scripts/common.sh

# The data: 64 documents of 11 versions each, written through the REST API;
# the first 32 are read, the others updated (so updates do not lengthen the
# histories the reads page through).
"$bench" serve-kai --listen "127.0.0.1:$port" --data-dir "$work/data" \
    --plugins-dir "$work/plugins" --trust doc-versioning >/dev/null 2>&1 &
wait_ready /api/v1/hello/x
token="$(cat "$work/data/admin.token")"
mapfile -t ids < <(seed_documents 64)
kill %1 && wait %1 2>/dev/null || true

# Sends `n` reads over one connection (curl reuses it across URLs).
reads() {
    local urls=()
    for i in $(seq "$1"); do
        urls+=("127.0.0.1:$port/api/v1/documents/${ids[$((i % 32))]}/versions")
    done
    curl -sf -H "authorization: Bearer $token" "${urls[@]}" >/dev/null
}

# Sends `n` title updates over one connection (`--next` keeps it), each
# with a title of its own.
updates() {
    local args=(-sf)
    for i in $(seq "$1"); do
        args+=(--next -X PATCH -H "authorization: Bearer $token"
            -H 'content-type: application/json' -d "{\"title\":\"$2 $i\"}"
            "127.0.0.1:$port/api/v1/documents/${ids[$((32 + i % 32))]}")
    done
    curl "${args[@]}" >/dev/null
}

# Runs a command with instrumentation on, then dumps the counts (dumps
# are numbered from 1).
count() {
    callgrind_control -i on >/dev/null 2>&1
    "$@"
    callgrind_control -d >/dev/null 2>&1
    callgrind_control -i off >/dev/null 2>&1
}
# Instructions per request in dump `n` of `server`, for `requests` requests.
per_request() {
    # `totals`, not `summary`: the summary is wrong once instrumentation
    # has been switched off and on again.
    echo $(($(awk '/^totals:/ {print $2}' "$work/callgrind.$1.$2") / requests))
}

cache_sim=""
[ -n "${CACHE_SIM:-}" ] && cache_sim="--cache-sim=yes --I1=32768,8,64 --D1=49152,12,64 --LL=2097152,16,64"

# Misses per request in dump `n` of `server`: level-1 instruction, level-1
# data (reads and writes) and last-level (instruction and data).
misses_per_request() {
    awk -v n="$requests" '/^totals:/ {
        printf "I1 %d, D1 %d, LL %d", $5 / n, ($6 + $7) / n, ($8 + $9 + $10) / n }' \
        "$work/callgrind.$1.$2"
}

for server in ${SERVERS:-kai native}; do
    cp -r "$work/data" "$work/$server"
    if [ "$server" = kai ]; then
        command=("$bench" serve-kai --listen "127.0.0.1:$port" --data-dir "$work/$server" \
            --plugins-dir "$work/plugins" --trust doc-versioning)
    else
        command=("$bench" serve-native --listen "127.0.0.1:$port" --database "$work/$server/kai.db")
    fi
    # shellcheck disable=SC2086
    valgrind --tool=callgrind --instr-atstart=no $cache_sim \
        --callgrind-out-file="$work/callgrind.$server" "${command[@]}" >/dev/null 2>&1 &
    wait_ready /api/v1/hello/x
    reads 50
    updates 20 warm-up
    count updates "$requests" fresh
    count reads "$requests"
    count updates "$requests" later
    callgrind_control -k >/dev/null 2>&1 || true
    wait %% 2>/dev/null || true
    echo "$server, instructions per request ($requests of each):" \
        "versions read $(per_request "$server" 2)," \
        "update on a fresh server $(per_request "$server" 1)," \
        "update after the reads $(per_request "$server" 3)"
    if [ -n "$cache_sim" ]; then
        echo "$server, cache misses per request: versions read $(misses_per_request "$server" 2);" \
            "update on a fresh server $(misses_per_request "$server" 1);" \
            "update after the reads $(misses_per_request "$server" 3)"
    fi
done
