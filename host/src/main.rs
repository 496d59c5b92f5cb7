//! The `kai` binary: parses the command line, runs the command, and turns
//! a failure into a message on stderr and an exit code.

use clap::Parser;
use kai_host::cli::commands;
use kai_host::cli::{Cli, Command, Exit};
use kai_host::config::LogFormat;
use kai_host::server::{Server, shutdown_signal};
use std::process::ExitCode;

/// mimalloc rather than the system allocator: a plugin request allocates
/// on one tokio worker and frees on another, rows cross from SQLite's
/// worker threads, and glibc's malloc spent about a fifth of a data
/// route's CPU time on that (arena locks, `malloc_consolidate`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        restore_sigpipe();
    }
    let result = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run(cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The message and its causes, never a backtrace: a user error
            // is not a crash, whatever RUST_BACKTRACE says.
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(error.downcast_ref::<Exit>().map_or(1, Exit::code))
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let config = args.resolve()?;
            // Held until the server has stopped, so its last lines go out.
            let _logs = kai_host::telemetry::init(
                config.log_format == LogFormat::Json,
                config.log_buffer_bytes,
            );
            let listener = tokio::net::TcpListener::bind(config.listen).await?;
            let server = Server::prepare(config).await?;
            server.serve(listener, shutdown_signal()).await
        }
        Command::User(command) => commands::user(command).await,
        Command::Token(command) => commands::token(command).await,
        Command::Keys(command) => commands::keys(command).await,
        Command::Plugin(args) => commands::plugin(cli.remote, args).await,
    }
}

/// The administrative commands print to stdout, which may be a pipe that
/// closes early (`kai plugin list | head`): like other command-line tools
/// they then end quietly, by the default action of SIGPIPE, instead of
/// failing a write. The server keeps Rust's default (ignored), so a closed
/// socket is an error it handles.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: resetting a signal's disposition to its default, before the
    // runtime starts any thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
