-- The mount of a version that is a wasi:http component: the name, version,
-- path, public flag and outbound origins the operator gave at install, as
-- JSON. Such a component carries no manifest of its own, so a restart, a
-- rollback or another node reads its mount from here. NULL for kai:fusion
-- plugins, which describe themselves.
ALTER TABLE plugin_versions ADD COLUMN http_mount TEXT;
