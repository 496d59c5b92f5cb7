-- The WorkflowService's definitions: a workflow and every version of it.
--
-- Each save makes a new version (1, 2, ...); `workflows` holds the newest
-- and `workflow_versions` every one, so that a run pins the version it
-- started on. A graph is JSON: nodes (`id`, `kind`, `config`) and edges
-- (`from`, `to`, `condition`).
CREATE TABLE workflows (
    id           TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    version      BIGINT NOT NULL,
    graph        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX workflows_owner_order ON workflows (owner, created_at, id);
CREATE INDEX workflows_order ON workflows (created_at, id);

CREATE TABLE workflow_versions (
    workflow_id  TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    version      BIGINT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    graph        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (workflow_id, version)
);
