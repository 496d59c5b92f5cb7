//! The `kai` binary: parses the command line and runs the command.

use clap::Parser;
use kai_host::cli::{Cli, Command};
use kai_host::commands;
use kai_host::config::LogFormat;
use kai_host::server::{Server, shutdown_signal};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = args.resolve()?;
            kai_host::telemetry::init(config.log_format == LogFormat::Json);
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
