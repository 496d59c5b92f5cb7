-- Every change of the plugin set: who, when, which action, from which
-- version to which, and the migration plan it ran.
CREATE TABLE plugin_events (
    id           TEXT PRIMARY KEY,
    plugin       TEXT NOT NULL,
    action       TEXT NOT NULL,
    from_version TEXT,
    to_version   TEXT,
    actor        TEXT,
    plan         TEXT,
    at           BIGINT NOT NULL
);
CREATE INDEX plugin_events_plugin ON plugin_events (plugin, at);
