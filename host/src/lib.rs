//! # kai-host: the KAI-Fusion server
//!
//! The host owns the data models, the database and the credential store,
//! and runs plugins as sandboxed WebAssembly components that mount their
//! own HTTP routes. The binary is `kai` (`src/main.rs`).
//!
//! ## Layout
//! - [`cli`], [`config`]: the command line and the settings it resolves.
//! - [`commands`]: the administrative commands (users, tokens, keys).
//! - [`server`]: assembling and running the server; first-run admin.
//! - [`state`]: what every handler shares.
//! - [`http`]: the HTTP API (core routes, auth, errors, plugin dispatch).
//! - [`routing`]: route patterns and the plugin route table.
//! - [`runtime`]: wasmtime: engine, loading, per-request calls, limits.
//! - [`capabilities`]: the host side of each imported WIT interface.
//! - [`models`]: the core models (collections, documents) and their rules.
//! - [`events`]: core events, transactional hooks and the durable outbox.
//! - [`query`]: the plugin query language compiled to bound SQL.
//! - [`schema`]: plugin-declared models as real tables, and migrations.
//! - [`secrets`]: the encrypted credential store and its master keys.
//! - [`plugins`]: the live plugin set, start-up loading, bundled plugins.
//! - [`db`]: database access and migrations (SQLite or PostgreSQL).
//! - [`files`]: the data directory and files only the server user reads.
//! - [`telemetry`], [`util`]: logging and small helpers.

pub mod capabilities;
pub mod cli;
pub mod commands;
pub mod config;
pub mod db;
pub mod events;
pub mod files;
pub mod http;
pub mod models;
pub mod plugins;
pub mod query;
pub mod routing;
pub mod runtime;
pub mod schema;
pub mod secrets;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod util;
