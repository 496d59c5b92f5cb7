-- What the database knows about the master keys of the credential store.
--
-- A check value per key id: a known text sealed under that key when the key
-- is first seen. Opening it tells a configured key that is wrong from a
-- credential that is damaged, without reading anyone's secret. A removed
-- key is retired, never deleted, so its id is never used again.
CREATE TABLE master_keys (
    key_id      BIGINT PRIMARY KEY,
    check_value BLOB NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);

-- The servers running on this database, each with the key it seals new
-- secrets under and the keys it holds; refreshed every few seconds, removed
-- when the server stops. `kai keys remove` and `kai keys rotate` read it.
CREATE TABLE key_ring_nodes (
    node_id     TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    sealing_key BIGINT NOT NULL,
    key_ids     TEXT NOT NULL,
    seen_at     BIGINT NOT NULL
);

-- Random secrets of this deployment, shared by every node: the key that
-- signs listing cursors.
CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
