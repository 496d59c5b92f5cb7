# Shared by the measurement scripts (sourced, not run): waiting for a
# server on 127.0.0.1:$port, and writing the data scenario's documents
# through the REST API as the bearer of $token.

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
