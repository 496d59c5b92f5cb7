-- The StateManager: durable checkpoints of long-running work.
--
-- A thread is one run of some work, owned by a user and, when a plugin
-- made it, by that plugin ('' when made through the REST API). Its
-- checkpoints form a chain, each naming its parent. `head` is the id of the
-- newest checkpoint ('' before the first): a checkpoint is put only if the
-- head is still the one its writer read (compare-and-swap on this row), and
-- (thread_id, step) is unique, so two workers never both advance a thread.
CREATE TABLE state_threads (
    id                     TEXT PRIMARY KEY,
    owner                  TEXT NOT NULL,
    plugin                 TEXT NOT NULL,
    metadata               TEXT NOT NULL,
    -- How many checkpoints to keep, newest first; NULL keeps all.
    keep_last              BIGINT,
    head                   TEXT NOT NULL,
    -- The head's step; -1 before the first checkpoint.
    head_step              BIGINT NOT NULL,
    forked_from_thread     TEXT,
    forked_from_checkpoint TEXT,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL
);
CREATE INDEX state_threads_owner_order ON state_threads (owner, created_at, id);
CREATE INDEX state_threads_plugin_order ON state_threads (plugin, created_at, id);

CREATE TABLE state_checkpoints (
    id          TEXT PRIMARY KEY,
    thread_id   TEXT NOT NULL REFERENCES state_threads (id) ON DELETE CASCADE,
    parent_id   TEXT,
    step        BIGINT NOT NULL,
    -- The checkpoint's values and metadata, JSON.
    state       TEXT NOT NULL,
    metadata    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (thread_id, step)
);

-- Writes a step made from a checkpoint before it finished, in the order
-- each task made them, so that a resumed step sees what it already did.
CREATE TABLE state_pending_writes (
    checkpoint_id TEXT NOT NULL REFERENCES state_checkpoints (id) ON DELETE CASCADE,
    task          TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    channel       TEXT NOT NULL,
    value         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (checkpoint_id, task, seq)
);
