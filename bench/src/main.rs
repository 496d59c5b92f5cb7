//! `kai-bench`: KAI-Fusion's benchmark runner.
//!
//! Servers under test run in child processes (this same binary, in a
//! server mode); load comes from this process over loopback, with a fixed
//! number of connections for a bounded time after a warm-up. Comparisons
//! are ratios of servers measured in the same run, alternating over several
//! rounds, reporting medians. The result is printed and written as markdown
//! into `docs/PERFORMANCE.md` (between markers, so prose around it stays).
//!
//! ```text
//! cargo run --release -p kai-bench            # everything, writes the report
//! cargo run --release -p kai-bench -- --smoke # a quick round, no report
//! ```
//!
//! Layout: [`servers`] starts and stops child servers; [`native`] is the
//! hand-written axum baseline; [`load`] generates load and measures it;
//! [`scenarios`] holds one module per measurement; [`report`] renders and
//! writes the markdown.

mod load;
mod load_wrk;
mod native;
mod report;
mod scenarios;
mod servers;
mod wasi_http;

use clap::{Parser, Subcommand};

/// The allocator `kai` ships with, for both servers under test (they are
/// this binary in a server mode), so neither is measured on a different one.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "kai-bench",
    about = "Measure KAI-Fusion against native baselines"
)]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// A short round of every scenario to check the runner works; writes no report
    #[arg(long)]
    pub smoke: bool,
    /// Only these scenarios (by name)
    #[arg(long)]
    pub only: Vec<String>,
    /// Seconds of load per measurement
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Rounds per comparison (the median is reported)
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Concurrent connections
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Where to write the report
    #[arg(long, default_value = "docs/PERFORMANCE.md")]
    pub out: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// (internal) Run `kai serve` in this process
    #[command(hide = true)]
    ServeKai(servers::KaiArgs),
    /// (internal) Run the native axum baseline in this process
    #[command(hide = true)]
    ServeNative(servers::NativeArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.mode {
        Some(Mode::ServeKai(args)) => runtime.block_on(servers::serve_kai(args)),
        Some(Mode::ServeNative(args)) => runtime.block_on(native::serve(args)),
        None => runtime.block_on(run(cli.run)),
    }
}

async fn run(mut args: RunArgs) -> anyhow::Result<()> {
    if args.smoke {
        args.seconds = 1;
        args.rounds = 1;
        args.connections = args.connections.min(8);
    }
    let mut sections = Vec::new();
    for scenario in scenarios::all() {
        if !args.only.is_empty() && !args.only.iter().any(|o| o == scenario.name) {
            continue;
        }
        eprintln!("== {} ==", scenario.name);
        let section = (scenario.run)(args.clone()).await?;
        println!("{}", section.markdown);
        sections.push(section);
    }
    if !args.smoke {
        report::write(&args, &sections)?;
        eprintln!("report written to {}", args.out.display());
    }
    Ok(())
}
