# Shared by the measurement scripts (sourced, not run): waiting for a
# server on 127.0.0.1:$port, writing the data scenario's documents through
# the REST API as the bearer of $token, and the wrk scripts that load them.

# Starts `kai serve` (the binary `$1`) in the background on the data and
# plugins folders under `$2`, with doc-versioning trusted and any further
# arguments as flags, its output discarded (RUST_LOG as the caller sets
# it). Waits until it is ready and sets $kai_pid.
start_kai() {
    local binary="$1" dir="$2"
    shift 2
    "$binary" serve --listen "127.0.0.1:$port" --data-dir "$dir/data" \
        --plugins-dir "$dir/plugins" --trust-plugin doc-versioning "$@" >/dev/null 2>&1 &
    kai_pid=$!
    wait_ready /readyz
}

# Waits until `$1` (a path) answers 200.
wait_ready() {
    for _ in $(seq 600); do
        curl -sf "127.0.0.1:$port$1" >/dev/null 2>&1 && return
        sleep 0.5
    done
    echo "the server did not start" >&2
    exit 1
}

# Calls the REST API: method, path and an optional JSON body.
api() {
    curl -sf -X "$1" "127.0.0.1:$port$2" -H "authorization: Bearer $token" \
        -H 'content-type: application/json' ${3:+-d "$3"}
}

# Creates a collection and `$1` documents of 11 versions each (created,
# then their content changed ten times) and prints their ids, one a line.
seed_documents() {
    local collection doc id
    collection="$(api POST /api/v1/collections '{"name":"bench"}' | sed 's/.*"id":"\([^"]*\)".*/\1/')"
    for i in $(seq "$1"); do
        doc="$(api POST "/api/v1/collections/$collection/documents" \
            "{\"title\":\"doc $i\",\"content\":\"some content\",\"tags\":[\"a\",\"b\"]}")"
        id="$(echo "$doc" | sed 's/.*"id":"\([^"]*\)".*/\1/')"
        for v in $(seq 10); do
            api PATCH "/api/v1/documents/$id" "{\"content\":\"revision $v\"}" >/dev/null
        done
        echo "$id"
    done
}

# Seeds the data scenario with the `kai` binary `$1` under the folder `$2`:
# 128 documents of 11 versions in `$2/base` (data dir and an empty plugins
# dir), and the wrk scripts `$2/read.lua` (versions lists of the first 64),
# `$2/update.lua` (title changes of the other 64, so updates do not
# lengthen the histories the reads page through) and `$2/hello.lua` (the
# bundled hello plugin's public route). Sets $token.
seed_data_scenario() {
    local kai="$1" work="$2" ids=() id
    mkdir -p "$work/base/plugins"
    start_kai "$kai" "$work/base"
    token="$(cat "$work/base/data/admin.token")"
    for id in $(seed_documents 128); do
        ids+=("\"$id\"")
    done
    kill "$kai_pid" && wait "$kai_pid" 2>/dev/null || true
    local read_ids write_ids
    read_ids="$(IFS=,; echo "${ids[*]:0:64}")"
    write_ids="$(IFS=,; echo "${ids[*]:64:64}")"
    cat >"$work/read.lua" <<LUA
ids = {$read_ids}
request = function()
  return wrk.format("GET", "/api/v1/documents/" .. ids[math.random(#ids)] .. "/versions", {["Authorization"] = "Bearer $token"})
end
LUA
    cat >"$work/hello.lua" <<LUA
request = function()
  return wrk.format("GET", "/api/v1/hello/world")
end
LUA
    cat >"$work/update.lua" <<LUA
ids = {$write_ids}
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("PATCH", "/api/v1/documents/" .. ids[math.random(#ids)], {["Authorization"] = "Bearer $token", ["Content-Type"] = "application/json"}, '{"title":"t' .. counter .. '"}')
end
LUA
}
