-- Data platform: core collections and documents, their tags, the event
-- outbox, the registry of plugin-declared models, and plugin key-value data.

CREATE TABLE collections (
    id          TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    metadata    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (owner, name)
);
CREATE INDEX collections_owner_order ON collections (owner, created_at, id);

CREATE TABLE documents (
    id            TEXT PRIMARY KEY,
    collection_id TEXT NOT NULL REFERENCES collections (id),
    owner         TEXT NOT NULL,
    title         TEXT NOT NULL,
    content       TEXT NOT NULL,
    format        TEXT NOT NULL,
    -- JSON array of strings; also one row per tag in document_tags.
    tags          TEXT NOT NULL,
    metadata      TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    word_count    BIGINT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    version       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    archived_at   BIGINT
);
-- Listing a collection in its stable order (created_at, id).
CREATE INDEX documents_collection_created ON documents (collection_id, created_at, id);
-- Updated-per-day series; most-edited lists (newest version first, then id).
CREATE INDEX documents_collection_updated ON documents (collection_id, updated_at);
CREATE INDEX documents_collection_version ON documents (collection_id, version DESC, id);
-- Covering index for per-collection statistics (counts, sizes, formats).
CREATE INDEX documents_collection_stats ON documents (collection_id, format, archived_at, size_bytes, word_count);
CREATE INDEX documents_owner ON documents (owner, created_at);

CREATE TABLE document_tags (
    document_id   TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    collection_id TEXT NOT NULL,
    owner         TEXT NOT NULL,
    tag           TEXT NOT NULL,
    PRIMARY KEY (document_id, tag)
);
CREATE INDEX document_tags_collection ON document_tags (collection_id, tag);
CREATE INDEX document_tags_owner ON document_tags (owner, tag);

-- Events for after-commit subscribers, written in the transaction of the
-- change and delivered (at least once, in order per subject) afterwards.
CREATE TABLE event_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    plugin          TEXT NOT NULL,
    kind            TEXT NOT NULL,
    subject         TEXT NOT NULL,
    payload         TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT
);
CREATE INDEX event_outbox_pending ON event_outbox (delivered_at, next_attempt_at, id);

-- The schema of every plugin-declared model, as last applied.
CREATE TABLE plugin_models (
    plugin         TEXT NOT NULL,
    model          TEXT NOT NULL,
    table_name     TEXT NOT NULL UNIQUE,
    definition     TEXT NOT NULL,
    schema_version BIGINT NOT NULL,
    plugin_version TEXT NOT NULL,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (plugin, model)
);

CREATE TABLE plugin_kv (
    plugin     TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      BLOB NOT NULL,
    expires_at BIGINT,
    PRIMARY KEY (plugin, key)
);
