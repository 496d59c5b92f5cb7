-- Per-collection statistics, maintained in the transaction of every
-- document change, so statistics over a collection of any size cost a few
-- rows instead of a scan of its documents. Plugins query them through the
-- `models` interface (`collection-stats`, `tag-counts`).

CREATE TABLE collection_stats (
    collection_id TEXT NOT NULL,
    owner         TEXT NOT NULL,
    format        TEXT NOT NULL,
    -- 1 for archived documents, 0 for active ones.
    archived      INTEGER NOT NULL,
    documents     BIGINT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    word_count    BIGINT NOT NULL,
    PRIMARY KEY (collection_id, format, archived)
);
CREATE INDEX collection_stats_owner ON collection_stats (owner);

CREATE TABLE collection_tag_counts (
    collection_id TEXT NOT NULL,
    owner         TEXT NOT NULL,
    tag           TEXT NOT NULL,
    documents     BIGINT NOT NULL,
    PRIMARY KEY (collection_id, tag)
);
CREATE INDEX collection_tag_counts_owner ON collection_tag_counts (owner, tag);

-- Existing documents.
INSERT INTO collection_stats (collection_id, owner, format, archived, documents, size_bytes, word_count)
SELECT collection_id, owner, format, CASE WHEN archived_at IS NULL THEN 0 ELSE 1 END,
       COUNT(*), SUM(size_bytes), SUM(word_count)
FROM documents
GROUP BY collection_id, owner, format, CASE WHEN archived_at IS NULL THEN 0 ELSE 1 END;

INSERT INTO collection_tag_counts (collection_id, owner, tag, documents)
SELECT collection_id, owner, tag, COUNT(*) FROM document_tags GROUP BY collection_id, owner, tag;
