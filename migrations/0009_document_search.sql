-- Full-text search over documents: the title and the first 200,000
-- characters of the content, in words of letters and digits, lower-cased,
-- without stemming or folding accents, alike on both engines. Each index is kept in step with `documents` inside the
-- transaction of every change, by the database itself.

-- begin sqlite
-- An FTS5 index whose rows are numbered by `document_search_rows`: an
-- INTEGER PRIMARY KEY survives VACUUM, where the implicit rowid of
-- `documents` (a TEXT key) may not. Its text is read, for snippets, from
-- the view over the documents.
CREATE TABLE document_search_rows (
    search_row  INTEGER PRIMARY KEY,
    document_id TEXT NOT NULL UNIQUE
);
CREATE VIEW document_search_text AS
    SELECT r.search_row AS search_row, d.title AS title, substr(d.content, 1, 200000) AS content
    FROM document_search_rows r JOIN documents d ON d.id = r.document_id;
CREATE VIRTUAL TABLE documents_fts USING fts5(
    title, content,
    content = 'document_search_text', content_rowid = 'search_row',
    tokenize = 'unicode61 remove_diacritics 0'
);
INSERT INTO document_search_rows (document_id) SELECT id FROM documents ORDER BY created_at, id;
INSERT INTO documents_fts (rowid, title, content)
    SELECT r.search_row, d.title, substr(d.content, 1, 200000)
    FROM document_search_rows r JOIN documents d ON d.id = r.document_id;
CREATE TRIGGER documents_search_insert AFTER INSERT ON documents BEGIN
    INSERT INTO document_search_rows (document_id) VALUES (new.id);
    INSERT INTO documents_fts (rowid, title, content)
        VALUES ((SELECT search_row FROM document_search_rows WHERE document_id = new.id),
                new.title, substr(new.content, 1, 200000));
END;
CREATE TRIGGER documents_search_update AFTER UPDATE OF title, content ON documents
    WHEN old.title IS NOT new.title OR old.content IS NOT new.content BEGIN
    INSERT INTO documents_fts (documents_fts, rowid, title, content)
        VALUES ('delete', (SELECT search_row FROM document_search_rows WHERE document_id = old.id),
                old.title, substr(old.content, 1, 200000));
    INSERT INTO documents_fts (rowid, title, content)
        VALUES ((SELECT search_row FROM document_search_rows WHERE document_id = new.id),
                new.title, substr(new.content, 1, 200000));
END;
CREATE TRIGGER documents_search_delete AFTER DELETE ON documents BEGIN
    INSERT INTO documents_fts (documents_fts, rowid, title, content)
        VALUES ('delete', (SELECT search_row FROM document_search_rows WHERE document_id = old.id),
                old.title, substr(old.content, 1, 200000));
    DELETE FROM document_search_rows WHERE document_id = old.id;
END;
-- end sqlite

-- begin postgres
-- A generated tsvector (the title weighted above the content) and its GIN
-- index: PostgreSQL keeps both in step with every write. ASCII punctuation
-- becomes a space first, so that `3.14`, `a@b.c` or `x/y` split into words
-- as FTS5 splits them.
ALTER TABLE documents ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple'::regconfig,
        regexp_replace(title, '[!-/:-@[-`{-~]+', ' ', 'g')), 'A')
    || setweight(to_tsvector('simple'::regconfig,
        regexp_replace(left(content, 200000), '[!-/:-@[-`{-~]+', ' ', 'g')), 'B')
) STORED;
CREATE INDEX documents_search ON documents USING GIN (search);
-- end postgres
