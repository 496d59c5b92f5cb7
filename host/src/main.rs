//! The `kai` binary: parses the command line and runs the command.

use clap::Parser;
use kai_host::cli::{Cli, Command};
use kai_host::commands;
use kai_host::config::LogFormat;
use kai_host::server::{Server, shutdown_signal};

/// mimalloc rather than the system allocator: a plugin request allocates
/// on one tokio worker and frees on another, rows cross from SQLite's
/// worker threads, and glibc's malloc spent about a fifth of a data
/// route's CPU time on that (arena locks, `malloc_consolidate`). Measured
/// in docs/BENCHMARKS.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = args.resolve()?;
            // Held until the server has stopped, so its last lines go out.
            let _logs = kai_host::telemetry::init(config.log_format == LogFormat::Json);
            let listener = tokio::net::TcpListener::bind(config.listen).await?;
            let server = Server::prepare(config).await?;
            server.serve(listener, shutdown_signal()).await
        }
        Command::User(command) => commands::user(command).await,
        Command::Token(command) => commands::token(command).await,
        Command::Keys(command) => commands::keys(command).await,
        Command::Plugin(args) => commands::plugin(args).await,
    }
}
