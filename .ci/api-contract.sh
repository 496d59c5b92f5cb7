#!/usr/bin/env bash
# Runs Schemathesis against the live OpenAPI document of a real `kai serve`
# (the bundled plugins loaded, a fresh data directory, DATABASE_URL if set):
# every documented operation, core and plugin, with an admin token, a
# bounded number of generated cases each. It fails when an answer is a 5xx
# or does not conform to the document (status, content type, headers,
# body schema).
#
# Usage: .ci/api-contract.sh <kai binary> <schemathesis `st`> [cases per operation]
set -euo pipefail
kai="$(realpath "$1")"
st="$(realpath "$2")"
cases="${3:-25}"

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
"$kai" serve --listen "127.0.0.1:$port" --data-dir "$work/data" \
    --auth-failures-per-minute 100000 >"$work/server.log" 2>&1 &
server=$!
stop() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap stop EXIT

for _ in $(seq 1 600); do
    curl -fsS "$base/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "$base/readyz" >/dev/null || { cat "$work/server.log"; exit 1; }
token="$(cat "$work/data/admin.token")"

# Removing, disabling or rolling back a bundled plugin takes its routes
# out of the live document while the run still calls them, so those three
# run last, in a pass of their own (without the stateful phase, which
# chains them into the other operations). Uploads (`plugins_install`) are
# covered by the test suite: a generated body is never a component.
changes_plugins=(--exclude-operation-id plugins_remove
    --exclude-operation-id plugins_disable
    --exclude-operation-id plugins_rollback)
run() {
    (cd "$work" && "$st" run "$base/api/v1/openapi.json" \
        --header "Authorization: Bearer $token" \
        --checks all \
        --exclude-checks positive_data_acceptance \
        --exclude-operation-id plugins_install \
        --max-examples "$cases" \
        --request-timeout 10 \
        --seed 20261206 \
        --no-color "$@")
}
status=0
# From the scratch directory, where Schemathesis keeps its cache.
run "${changes_plugins[@]}" || status=$?
if [ "$status" -eq 0 ]; then
    run --include-operation-id plugins_remove \
        --include-operation-id plugins_disable \
        --include-operation-id plugins_rollback \
        --phases examples,coverage,fuzzing || status=$?
fi
if [ "$status" -ne 0 ]; then
    echo "--- the server's log (last 60 lines) ---"
    tail -n 60 "$work/server.log"
fi
exit "$status"
