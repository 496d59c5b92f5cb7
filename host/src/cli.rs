//! The `kai` command line: `kai serve` runs the server; the other commands
//! administer it.

use crate::config::ServeArgs;
use clap::{Parser, Subcommand};

/// KAI-Fusion: a backend host that runs sandboxed WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "kai", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server with the bundled plugins (embedded SQLite by default)
    Serve(ServeArgs),
}
