//! The WorkflowService on a real server (SQLite or PostgreSQL), with the
//! real compiled plugins, in one test binary:
//!
//! - [`definitions`]: saving workflows, versions, the graph's rules;
//! - [`nodes`]: node kinds from plugins, their schemas, grants and sandbox;
//! - [`executions`]: runs walking their graphs, retries, cancel, http and
//!   host-service nodes, sub-runs;
//! - [`triggers`]: runs started by events, schedules and webhooks;
//! - [`crash`]: runs surviving `kill -9` of the server;
//! - [`cluster`]: two server processes draining one queue (PostgreSQL).

#[path = "../support/mod.rs"]
mod support;

mod cluster;
mod crash;
mod definitions;
mod executions;
mod nodes;
mod triggers;
