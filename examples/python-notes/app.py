"""A KAI-Fusion plugin written in Python, against the `kai:fusion` WIT.

Notes per user: an owned model with a list of tags, a counter
incremented in the database, an aggregate by tag, kv, a core document
read as the caller, and a public route.
Built with componentize-py (see ../../sdk/README.md, "Other languages"):

    componentize-py -d ../../wit -w kai:fusion/plugin componentize app -o py-notes.wasm
"""

import json
import os
import struct
import time

import wit_world
from componentize_py_types import Err
from wit_world.exports import describe as d
from wit_world.exports import handler as h
from wit_world.imports import kv, models, persistence, query as q, types as t

NAME = "py-notes"
BASE = "/api/v1/py-notes"


class Describe(wit_world.exports.Describe):
    def describe(self) -> d.Manifest:
        def field(name, ty, default=None, nullable=False):
            return d.Field(name, ty, nullable, False, False, default, None)

        note = d.Model(
            name="note",
            fields=[
                field("title", d.FieldType.STRING),
                field("tags", d.FieldType.STRING_LIST, t.Value_Json("[]")),
                field("stars", d.FieldType.INT, t.Value_Integer(0)),
            ],
            indexes=[],
            exported=False,
            owned=True,
        )
        routes = [
            d.Route("POST", BASE, False),
            d.Route("GET", BASE, False),
            d.Route("GET", BASE + "/tags", False),
            d.Route("GET", BASE + "/hello", True),
            d.Route("GET", BASE + "/{id}", False),
            d.Route("POST", BASE + "/{id}/star", False),
            d.Route("GET", BASE + "/documents/{id}", False),
            d.Route("GET", BASE + "/sandbox", False),
        ]
        capabilities = d.Capabilities(
            # componentize-py imports every function of `models` (the events
            # export uses its records), and the host refuses an import whose
            # capability is not requested: this plugin reads documents.
            core_models=[d.CoreModelAccess(d.CoreModel.DOCUMENTS, False)],
            plugin_models=[],
            credentials=[],
            reveal_credentials=False,
            outbound_hosts=[],
            kv=True,
        )
        return d.Manifest(
            name=NAME,
            version="1.0.0",
            description="Notes per user, written in Python",
            host_api="^0.2",
            routes=routes,
            limits=d.Limits(timeout_ms=None, memory_mib=None),
            models=[note],
            subscriptions=[],
            capabilities=capabilities,
            dependencies=[],
        )


    def route_docs(self):
        # The API reference (/docs) shows these schemas for the routes.
        note = {
            "type": "object",
            "required": ["id", "title"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "title": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "stars": {"type": "integer"},
            },
        }
        new_note = {
            "type": "object",
            "required": ["title"],
            "properties": {
                "title": {"type": "string", "minLength": 1},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
        }
        return [
            d.RouteDoc("POST", BASE, "Writes a note for the caller",
                       json.dumps(new_note), json.dumps({"type": "object", "required": ["id"]}), 201),
            d.RouteDoc("GET", BASE + "/{id}", "One of the caller's notes",
                       None, json.dumps(note), None),
        ]

    def services(self):
        # Host services beyond the manifest's capabilities (kai:fusion 0.2.2):
        # this plugin uses none.
        return []

    def node_kinds(self):
        # Workflow node kinds (kai:fusion 0.2.4): this plugin runs none.
        return []


class Events(wit_world.exports.Events):
    def on_event(self, event) -> None:
        return None


def respond(status, body):
    headers = [("content-type", "application/json")]
    return h.Response(status, headers, json.dumps(body).encode())


def error(status, code, message):
    return respond(status, {"error": {"code": code, "message": message}})


# How a host error reaches the client: its kind's status and message.
HOST_ERRORS = {
    t.Error_Denied: (403, "forbidden"),
    t.Error_NotFound: (404, "not_found"),
    t.Error_Conflict: (409, "conflict"),
    t.Error_Invalid: (422, "validation_failed"),
    t.Error_Unavailable: (503, "unavailable"),
}


def to_json(value):
    """A `types.value` as JSON (json and list fields parsed)."""
    if isinstance(value, t.Value_Null):
        return None
    if isinstance(value, t.Value_Json):
        return json.loads(value.value)
    return value.value


def entity_json(entity):
    out = {"id": entity.id}
    for name, value in entity.fields:
        out[name] = to_json(value)
    return out


def read_page(data):
    """Decodes a packed page (the layout in persistence.wit) into dicts."""
    pos = 0

    def u32():
        nonlocal pos
        (n,) = struct.unpack_from("<I", data, pos)
        pos += 4
        return n

    def raw():
        nonlocal pos
        n = u32()
        out = data[pos : pos + n]
        pos += n
        return out

    def text(rows):
        ends = [u32() for _ in range(rows)]
        blob = raw()
        starts = [0] + ends[:-1]
        return [blob[a:b].decode() for a, b in zip(starts, ends)]

    rows = u32()
    columns = u32()
    out = [{"id": i} for i in text(rows)]
    for _ in range(columns):
        name = raw().decode()
        kind = data[pos]
        pos += 1
        nulls = set(u32() for _ in range(u32()))
        if kind == 0:
            values = [bool(b) for b in data[pos : pos + rows]]
            pos += rows
        elif kind in (1, 3):
            values = list(struct.unpack_from("<%dq" % rows, data, pos))
            pos += 8 * rows
        elif kind == 2:
            values = list(struct.unpack_from("<%dd" % rows, data, pos))
            pos += 8 * rows
        else:
            values = text(rows)
            if kind == 5:
                values = [json.loads(v) if v else None for v in values]
        for i, row in enumerate(out):
            row[name] = None if i in nulls else values[i]
    return out


def contains(field, value):
    return [q.FilterNode_Condition(q.Condition(field, q.Op.CONTAINS, [t.Value_Text(value)]))]


def by_id(id):
    return [q.FilterNode_Condition(q.Condition("id", q.Op.EQ, [t.Value_Uuid(id)]))]


def create(request):
    body = json.loads(request.body or b"{}")
    title = body.get("title")
    if not isinstance(title, str) or not title:
        return error(422, "validation_failed", "title: required text")
    tags = body.get("tags", [])
    fields = [("title", t.Value_Text(title)), ("tags", t.Value_Json(json.dumps(tags)))]
    note_id = persistence.insert("note", fields)
    kv.set("last-title", title.encode(), None)
    return respond(201, {"id": note_id})


def list_notes(request):
    tag = dict(request.query).get("tag")
    select = persistence.Select(
        fields=["title", "tags", "stars"],
        filter=contains("tags", tag) if tag else [],
        order=[q.Order("title", False)],
        limit=100,
        cursor=None,
    )
    page = persistence.query("note", select)
    last = kv.get("last-title")
    return respond(200, {"items": read_page(page.data), "last_title": last.decode() if last else None})


def tags(request):
    rows = persistence.aggregate(
        "note",
        q.AggregateQuery(
            filter=[],
            group_by=[q.GroupKey_Field("tags")],
            aggregates=[q.Aggregate(q.AggregateFunction.COUNT, None), q.Aggregate(q.AggregateFunction.SUM, "stars")],
            order=[q.Order("key:0", False)],
            limit=None,
        ),
    )
    return respond(200, [{"tag": to_json(r.keys[0]), "notes": to_json(r.values[0]), "stars": to_json(r.values[1])} for r in rows])


def hello(request):
    who = request.principal.id if request.principal else None
    return respond(200, {"hello": "from Python", "caller": who})


def get_note(request):
    note = persistence.get("note", dict(request.params)["id"])
    if note is None:
        return error(404, "not_found", "no such note")
    return respond(200, entity_json(note))


def star(request):
    change = persistence.Change_Increment(t.Value_Integer(1))
    updated = persistence.update_where("note", by_id(dict(request.params)["id"]), [("stars", change)], True)
    if not updated.rows:
        return error(404, "not_found", "no such note")
    return respond(200, entity_json(updated.rows[0]))


def document_title(request):
    """A core document, read as the caller: another user's is not found."""
    document = models.get_document(dict(request.params)["id"])
    return respond(200, {"title": document.title, "version": document.version})


def sandbox(request):
    """What the plugin finds of the world outside: nothing."""
    try:
        os.listdir("/")
        files = "readable"
    except OSError as e:
        files = type(e).__name__
    return respond(200, {"environment": dict(os.environ), "files": files, "time": time.time()})


ROUTES = {
    ("POST", BASE): create,
    ("GET", BASE): list_notes,
    ("GET", BASE + "/tags"): tags,
    ("GET", BASE + "/hello"): hello,
    ("GET", BASE + "/{id}"): get_note,
    ("POST", BASE + "/{id}/star"): star,
    ("GET", BASE + "/documents/{id}"): document_title,
    ("GET", BASE + "/sandbox"): sandbox,
}


class Handler(wit_world.exports.Handler):
    def run_node(self, request: h.NodeRequest) -> str:
        # Never called: the plugin declares no node kinds.
        raise Err(h.NodeError_Failed("py-notes runs no workflow nodes"))

    def handle(self, request: h.Request) -> h.Response:
        route = ROUTES.get((request.method, request.route))
        if route is None:
            return error(404, "not_found", "no route")
        try:
            return route(request)
        except Err as e:
            status, code = HOST_ERRORS[type(e.value)]
            return error(status, code, e.value.value)
        except (ValueError, KeyError) as e:
            return error(400, "bad_request", str(e))
