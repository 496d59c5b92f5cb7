//! The hello route through the `hello` plugin (a fresh instance per
//! request) against the same handler as a native axum route, and against a
//! `wasi:http` component under `wasmtime serve` when that is installed.
//! Configurations alternate round by round; medians are reported, with
//! the ratios to native.

use super::Section;
use crate::RunArgs;
use crate::load::{Stats, median};
use crate::load_wrk;
use crate::servers::ChildServer;

/// One measurement of the hello route on `server`.
async fn measure(server: &ChildServer, args: &RunArgs) -> anyhow::Result<Stats> {
    let url = format!("{}/api/v1/hello/world", server.base);
    load_wrk::get(&url, None, args.connections, args.seconds).await
}

pub async fn run(args: RunArgs) -> anyhow::Result<Section> {
    let mut kai: Vec<Stats> = Vec::new();
    let mut native: Vec<Stats> = Vec::new();
    for round in 0..args.rounds {
        eprintln!("  round {}", round + 1);
        let server = ChildServer::kai(&[]).await?;
        kai.push(measure(&server, &args).await?);
        drop(server);
        let server = ChildServer::native(None).await?;
        native.push(measure(&server, &args).await?);
    }
    let summary = |runs: &[Stats]| {
        (
            median(runs.iter().map(|s| s.per_second).collect()),
            median(runs.iter().map(|s| s.p50_us as f64).collect()),
            median(runs.iter().map(|s| s.p99_us as f64).collect()),
            runs.iter().map(|s| s.errors).sum::<u64>(),
        )
    };
    let (k_rps, k50, k99, k_err) = summary(&kai);
    let (n_rps, n50, n99, n_err) = summary(&native);
    let generator = if load_wrk::available() {
        "wrk (1 thread)"
    } else {
        "the built-in generator"
    };
    let wasmtime_row = if std::process::Command::new("wasmtime")
        .arg("--version")
        .output()
        .is_ok()
    {
        "| `wasmtime serve` (wasi:http) | not measured: no wasi:http hello component is built yet | | | | |".to_string()
    } else {
        "| `wasmtime serve` (wasi:http) | skipped: `wasmtime` is not installed (`cargo install wasmtime-cli --locked --version 48.0.8`) | | | | |".to_string()
    };
    let markdown = format!(
        "### Hello route: plugin against native\n\n\
         `GET /api/v1/hello/world`, {} connections from {generator}, {} s per measurement after a 1 s warm-up, \
         median of {} alternating rounds. The plugin runs in a fresh instance (fresh store, WASI context and \
         linear memory) for every request.\n\n\
         | server | requests/s | p50 ms | p99 ms | errors | vs native |\n|---|---:|---:|---:|---:|---:|\n\
         | native axum route | {n_rps:.0} | {:.2} | {:.2} | {n_err} | 1.00x |\n\
         | `hello` plugin in `kai serve` | {k_rps:.0} | {:.2} | {:.2} | {k_err} | {:.2}x throughput, {:.2}x p99 |\n\
         {wasmtime_row}\n",
        args.connections,
        args.seconds,
        args.rounds,
        n50 / 1000.0,
        n99 / 1000.0,
        k50 / 1000.0,
        k99 / 1000.0,
        k_rps / n_rps.max(1.0),
        k99 / n99.max(1.0),
    );
    Ok(Section {
        name: "hello".into(),
        markdown,
    })
}
