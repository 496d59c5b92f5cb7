-- The WorkflowService's executions: a queue that every server node's
-- runner takes work from, and each execution's timeline.
--
-- An execution pins the workflow version it started on. A runner takes one
-- whose `due_at` has come and whose lease has run out, by one conditional
-- UPDATE (with FOR UPDATE SKIP LOCKED on PostgreSQL), and holds it by its
-- lease while it runs steps; each step's end moves the run's checkpoint on
-- the execution's StateManager thread (compare-and-swap), writes the step
-- into the timeline and renews the lease, in one transaction.
CREATE TABLE workflow_executions (
    id           TEXT PRIMARY KEY,
    workflow_id  TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    version      BIGINT NOT NULL,
    owner        TEXT NOT NULL,
    status       TEXT NOT NULL,
    input        TEXT NOT NULL,
    output       TEXT,
    error        TEXT,
    thread_id    TEXT NOT NULL,
    steps        BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT,
    updated_at   BIGINT NOT NULL,
    due_at       BIGINT NOT NULL,
    lease_owner  TEXT,
    lease_until  BIGINT
);
-- What a runner looks for: live executions by when they are due.
CREATE INDEX workflow_executions_due ON workflow_executions (due_at, id)
    WHERE status IN ('queued', 'running', 'waiting');
CREATE INDEX workflow_executions_by_workflow ON workflow_executions (workflow_id, created_at, id);
CREATE INDEX workflow_executions_finished ON workflow_executions (finished_at)
    WHERE finished_at IS NOT NULL;

-- The timeline: every attempt of every step, in order.
CREATE TABLE workflow_steps (
    execution_id TEXT NOT NULL REFERENCES workflow_executions (id) ON DELETE CASCADE,
    seq          BIGINT NOT NULL,
    node_id      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    attempt      BIGINT NOT NULL,
    status       TEXT NOT NULL,
    input        TEXT NOT NULL,
    output       TEXT,
    error        TEXT,
    started_at   BIGINT NOT NULL,
    duration_us  BIGINT NOT NULL,
    worker       TEXT NOT NULL,
    PRIMARY KEY (execution_id, seq)
);
