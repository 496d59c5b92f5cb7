-- Foundation: principals, API tokens and the plugin registry.
-- Timestamps are microseconds since the Unix epoch (UTC) in BIGINT columns,
-- the same on SQLite and PostgreSQL.

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    email       TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    created_at  BIGINT NOT NULL,
    disabled_at BIGINT
);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    -- SHA-256 of the token; the token itself is never stored.
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    revoked_at   BIGINT,
    last_used_at BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- One row per plugin name: which version serves and whether it is enabled.
CREATE TABLE plugins (
    name       TEXT PRIMARY KEY,
    version    TEXT NOT NULL,
    -- 1 = serving, 0 = disabled (INTEGER on both backends: portable through sqlx Any).
    enabled    INTEGER NOT NULL DEFAULT 1,
    updated_at BIGINT NOT NULL
);

-- Every version ever installed, with its bytes, so a restart (or another
-- node) brings back exactly the same code.
CREATE TABLE plugin_versions (
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    wasm         BLOB NOT NULL,
    manifest     TEXT NOT NULL,
    source       TEXT NOT NULL,
    installed_at BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);
