-- Sub-runs and triggers of the WorkflowService.
--
-- An execution may be a sub-run: another run's `workflow` node started it
-- and waits for it (`parent_id`); `root_id` is the run at the top of its
-- tree, by which the sub-runs one run may start in all are counted.
-- `started_by` says what started a run: manual, event, schedule, webhook
-- or workflow.
ALTER TABLE workflow_executions ADD COLUMN parent_id TEXT;
ALTER TABLE workflow_executions ADD COLUMN root_id TEXT;
ALTER TABLE workflow_executions ADD COLUMN started_by TEXT NOT NULL DEFAULT 'manual';
CREATE INDEX workflow_executions_parent ON workflow_executions (parent_id)
    WHERE parent_id IS NOT NULL;
CREATE INDEX workflow_executions_root ON workflow_executions (root_id)
    WHERE root_id IS NOT NULL;

-- A workflow's triggers as saved (a JSON array), and the SHA-256 of its
-- webhook's secret: the secret itself is shown once and never stored.
ALTER TABLE workflows ADD COLUMN triggers TEXT NOT NULL DEFAULT '[]';
ALTER TABLE workflows ADD COLUMN webhook_secret_hash TEXT;

-- The triggers of every workflow, one row each, rewritten on each save:
-- event triggers by the event and collection they wait for, schedules by
-- their next tick, which the node that starts the tick's run moves on by
-- compare-and-swap.
CREATE TABLE workflow_triggers (
    workflow_id   TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    position      BIGINT NOT NULL,
    owner         TEXT NOT NULL,
    kind          TEXT NOT NULL,
    event         TEXT,
    collection_id TEXT,
    cron          TEXT,
    next_at       BIGINT,
    PRIMARY KEY (workflow_id, position)
);
CREATE INDEX workflow_triggers_events ON workflow_triggers (kind, event, collection_id);
CREATE INDEX workflow_triggers_due ON workflow_triggers (next_at) WHERE kind = 'schedule';
