//! The hello route through the `hello` plugin (a fresh instance per
//! request) against the same handler as a native axum route, against the
//! same route as a `wasi:http` component mounted in `kai serve`, and
//! against that component under `wasmtime serve` when that is installed.
//! Configurations alternate round by round; medians are reported, with
//! the ratios to native.

use super::Section;
use crate::RunArgs;
use crate::load::{Stats, median};
use crate::load_wrk;
use crate::servers::ChildServer;
use crate::wasi_http;

/// One measurement of the hello route on `server`.
async fn measure(server: &ChildServer, args: &RunArgs) -> anyhow::Result<Stats> {
    measure_at(server, "", args).await
}

/// One measurement of the hello route under `prefix` on `server`.
async fn measure_at(server: &ChildServer, prefix: &str, args: &RunArgs) -> anyhow::Result<Stats> {
    let url = format!("{}{prefix}/api/v1/hello/world", server.base);
    load_wrk::get(&url, None, args.connections, args.seconds).await
}

/// Where the component is mounted in `kai serve`.
const MOUNT: &str = "/wasi-hello";

/// Installs `component` on `server` at [`MOUNT`], public, and grants that.
async fn mount(server: &ChildServer, component: &std::path::Path) -> anyhow::Result<()> {
    let token = server.admin_token()?;
    let client = reqwest::Client::new();
    let installed = client
        .post(format!(
            "{}/api/v1/admin/plugins?name=wasi-hello&mount={MOUNT}&public=true",
            server.base
        ))
        .bearer_auth(&token)
        .header("content-type", "application/wasm")
        .body(std::fs::read(component)?)
        .send()
        .await?;
    anyhow::ensure!(
        installed.status() == 202,
        "install answered {}",
        installed.status()
    );
    let granted = client
        .post(format!(
            "{}/api/v1/admin/plugins/wasi-hello/grants",
            server.base
        ))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "accept_requested": true }))
        .send()
        .await?;
    anyhow::ensure!(
        granted.status() == 200,
        "grant answered {}",
        granted.status()
    );
    Ok(())
}

/// Medians over rounds of one server's measurements.
struct Summary {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

impl Summary {
    fn of(runs: &[Stats]) -> Summary {
        Summary {
            per_second: median(runs.iter().map(|s| s.per_second).collect()),
            p50_ms: median(runs.iter().map(|s| s.p50_us as f64).collect()) / 1000.0,
            p99_ms: median(runs.iter().map(|s| s.p99_us as f64).collect()) / 1000.0,
            errors: runs.iter().map(|s| s.errors).sum(),
        }
    }

    fn row(&self, server: &str, versus: &str) -> String {
        format!(
            "| {server} | {:.0} | {:.2} | {:.2} | {} | {versus} |\n",
            self.per_second, self.p50_ms, self.p99_ms, self.errors
        )
    }

    /// Throughput and p99 relative to `base`.
    fn ratios(&self, base: &Summary) -> (f64, f64) {
        (
            self.per_second / base.per_second.max(1.0),
            self.p99_ms / base.p99_ms.max(0.001),
        )
    }
}

pub async fn run(args: RunArgs) -> anyhow::Result<Section> {
    // The wasi:http component is built (and `wasmtime` found) up front, so
    // a missing tool is a notice in the report, not a failed run.
    let component = wasi_http::build().map_err(anyhow::Error::msg)?;
    let wasmtime = match wasi_http::check_wasmtime() {
        Ok(()) => Ok(component.clone()),
        Err(why) => {
            eprintln!("  wasmtime serve skipped: {why}");
            Err(why)
        }
    };
    let (mut kai, mut native, mut wasmtime_runs) = (Vec::new(), Vec::new(), Vec::new());
    let mut mounted = Vec::new();
    for round in 0..args.rounds {
        eprintln!("  round {}", round + 1);
        let server = ChildServer::kai(&[]).await?;
        kai.push(measure(&server, &args).await?);
        mount(&server, &component).await?;
        mounted.push(measure_at(&server, MOUNT, &args).await?);
        drop(server);
        let server = ChildServer::native(None).await?;
        native.push(measure(&server, &args).await?);
        drop(server);
        if let Ok(component) = &wasmtime {
            let server = ChildServer::wasmtime_serve(component).await?;
            wasmtime_runs.push(measure(&server, &args).await?);
        }
    }
    let (kai, native) = (Summary::of(&kai), Summary::of(&native));
    let (kai_throughput, kai_p99) = kai.ratios(&native);
    let mounted = Summary::of(&mounted);
    let (mounted_throughput, mounted_p99) = mounted.ratios(&native);
    let wasmtime_row = match &wasmtime {
        Ok(_) => {
            let serve = Summary::of(&wasmtime_runs);
            let (throughput, p99) = serve.ratios(&native);
            serve.row(
                &format!("`wasmtime serve` {} (wasi:http)", wasi_http::version()),
                &format!("{throughput:.2}x throughput, {p99:.2}x p99"),
            ) + &format!(
                "\nThe plugin route serves {:.1}x the requests of `wasmtime serve`.\n",
                kai.per_second / serve.per_second.max(1.0)
            )
        }
        Err(why) => format!("| `wasmtime serve` (wasi:http) | skipped: {why} | | | | |\n"),
    };
    let generator = if load_wrk::available() {
        "wrk (1 thread)"
    } else {
        "the built-in generator"
    };
    let markdown = format!(
        "### Hello route: plugin against native\n\n\
         `GET /api/v1/hello/world`, {} connections from {generator}, {} s per measurement after a 1 s warm-up, \
         median of {} alternating rounds. The plugin runs in a fresh instance (fresh store, WASI context and \
         linear memory) for every request, and so does the `wasi:http` component (`bench/wasi-http-hello`), \
         mounted at `{MOUNT}` (public).\n\n\
         | server | requests/s | p50 ms | p99 ms | errors | vs native |\n|---|---:|---:|---:|---:|---:|\n\
         {}{}{}{wasmtime_row}",
        args.connections,
        args.seconds,
        args.rounds,
        native.row("native axum route", "1.00x"),
        kai.row(
            "`hello` plugin in `kai serve`",
            &format!("{kai_throughput:.2}x throughput, {kai_p99:.2}x p99")
        ),
        mounted.row(
            "the `wasi:http` component mounted in `kai serve`",
            &format!("{mounted_throughput:.2}x throughput, {mounted_p99:.2}x p99")
        ),
    );
    Ok(Section {
        name: "hello".into(),
        markdown,
    })
}
