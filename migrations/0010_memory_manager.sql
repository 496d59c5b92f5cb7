-- The MemoryManager: conversation memory.
--
-- A session belongs to a user; `plugin` names the plugin that made it ('' when
-- made through the REST API), `workflow` and `agent` are optional labels of
-- what uses it. `next_seq` numbers its messages: an append moves it on by the
-- number of messages in one conditional UPDATE, which also serialises appends
-- to one session, so the order of its messages is strict. Retention (most
-- messages, oldest age) is applied in the transaction of each append.
CREATE TABLE memory_sessions (
    id                  TEXT PRIMARY KEY,
    owner               TEXT NOT NULL,
    name                TEXT NOT NULL,
    plugin              TEXT NOT NULL,
    workflow            TEXT,
    agent               TEXT,
    metadata            TEXT NOT NULL,
    max_messages        BIGINT,
    max_age_seconds     BIGINT,
    summary             TEXT,
    summary_through     BIGINT,
    summary_updated_at  BIGINT,
    -- The seq of the session's first system message, which a window can
    -- pin and retention keeps.
    system_seq          BIGINT,
    next_seq            BIGINT NOT NULL,
    message_count       BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX memory_sessions_owner_order ON memory_sessions (owner, created_at, id);
CREATE INDEX memory_sessions_order ON memory_sessions (created_at, id);

-- Messages are numbered `num` for the full-text index (an INTEGER PRIMARY
-- KEY on SQLite survives VACUUM; AUTOINCREMENT never hands a removed
-- message's number to another); within a session they are ordered by `seq`.
-- A message is never changed once appended, only removed.
-- begin sqlite
CREATE TABLE memory_messages (
    num           INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id    TEXT NOT NULL REFERENCES memory_sessions (id) ON DELETE CASCADE,
    seq           BIGINT NOT NULL,
    role          TEXT NOT NULL,
    content       TEXT NOT NULL,
    name          TEXT,
    tool_calls    TEXT,
    tool_call_id  TEXT,
    metadata      TEXT NOT NULL,
    tokens        BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE (session_id, seq)
);
-- end sqlite
-- begin postgres
CREATE TABLE memory_messages (
    num           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id    TEXT NOT NULL REFERENCES memory_sessions (id) ON DELETE CASCADE,
    seq           BIGINT NOT NULL,
    role          TEXT NOT NULL,
    content       TEXT NOT NULL,
    name          TEXT,
    tool_calls    TEXT,
    tool_call_id  TEXT,
    metadata      TEXT NOT NULL,
    tokens        BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE (session_id, seq)
);
-- end postgres
CREATE INDEX memory_messages_age ON memory_messages (session_id, created_at);

-- Full-text search over the first 200,000 characters of each message, in
-- the same words as document search (`0009_document_search.sql`).
-- begin sqlite
CREATE VIRTUAL TABLE memory_messages_fts USING fts5(
    content,
    content = 'memory_messages', content_rowid = 'num',
    tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TRIGGER memory_messages_search_insert AFTER INSERT ON memory_messages BEGIN
    INSERT INTO memory_messages_fts (rowid, content) VALUES (new.num, substr(new.content, 1, 200000));
END;
CREATE TRIGGER memory_messages_search_delete AFTER DELETE ON memory_messages BEGIN
    INSERT INTO memory_messages_fts (memory_messages_fts, rowid, content)
        VALUES ('delete', old.num, substr(old.content, 1, 200000));
END;
-- end sqlite
-- begin postgres
ALTER TABLE memory_messages ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('simple'::regconfig,
        regexp_replace(left(content, 200000), '[!-/:-@[-`{-~]+', ' ', 'g'))
) STORED;
CREATE INDEX memory_messages_search ON memory_messages USING GIN (search);
-- end postgres
