//! # kai-host: the KAI-Fusion server
//!
//! The host owns the data models, the database and the credential store,
//! and runs plugins as sandboxed WebAssembly components that mount their
//! own HTTP routes. The binary is `kai` (`src/main.rs`).
//!
//! ## Layout
//!
//! Layers, bottom to top; each imports only those below it
//! (`docs/ARCHITECTURE.md`, kept true by `tests/architecture.rs`):
//!
//! - [`domain`]: the host's own types: the principal, the core models,
//!   events, values, filters, orders, aggregates, route patterns.
//! - [`store`]: the data layer: all SQL, the plugin query language compiled
//!   to bound SQL, plugin tables and their migrations.
//! - [`services`]: the rules: collections and documents, events and the
//!   outbox, the credential store and its keys.
//! - [`wit`]: the generated bindings of the WIT world and the plugin
//!   manifest.
//! - [`runtime`]: wasmtime: engine, loading, one call with its limits.
//! - [`capabilities`]: the host side of each imported WIT interface.
//! - [`plugins`]: the live plugin set and its routes, calls into plugins,
//!   install, upgrade, rollback, cluster.
//! - [`http`]: the HTTP API (core routes, auth, errors, plugin dispatch).
//! - [`server`], [`state`], [`cli`], [`config`]: wiring, the shared state,
//!   the command line and its settings.
//! - [`files`], [`telemetry`], [`util`]: private files, logging, small
//!   helpers.

pub mod capabilities;
pub mod cli;
pub mod config;
pub mod domain;
pub mod files;
pub mod http;
pub mod plugins;
pub mod runner;
pub mod runtime;
pub mod server;
pub mod services;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod util;
pub mod wit;
