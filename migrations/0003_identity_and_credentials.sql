-- Identity and credentials: the capabilities the operator granted each
-- plugin, and the encrypted credential store.

-- The operator's decision on a plugin's requests: what was requested when
-- they decided, and what they granted (JSON capability sets), by whom and
-- when. A plugin runs only with what is granted; a version that requests
-- more than was decided on waits for a new decision.
CREATE TABLE plugin_grants (
    plugin       TEXT PRIMARY KEY,
    requested    TEXT NOT NULL,
    granted      TEXT NOT NULL,
    granted_by   TEXT,
    granted_at   BIGINT NOT NULL
);

-- Secrets, encrypted with AES-256-GCM. `secret` is
-- version || key_id || nonce || ciphertext+tag, bound to this row by its
-- associated data (id, owner, key id, version).
CREATE TABLE credentials (
    id              TEXT PRIMARY KEY,
    owner           TEXT NOT NULL,
    name            TEXT NOT NULL,
    service_type    TEXT NOT NULL,
    secret          BLOB NOT NULL,
    key_id          BIGINT NOT NULL,
    -- JSON array of plugin names the owner lets use this credential.
    allowed_plugins TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (owner, name)
);
CREATE INDEX credentials_key ON credentials (key_id);
