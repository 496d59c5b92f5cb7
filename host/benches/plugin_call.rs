//! Per-request cost of the plugin boundary, measured in-process with no
//! HTTP in the way:
//!
//! - `request/hello`: one plugin request as the proxy makes it (a fresh
//!   store, WASI context and instance from the `InstancePre`, the handler
//!   call with its request and response copied across, then everything
//!   dropped), on the pooling allocator `kai serve` uses.
//! - `host-call/log` and `host-call/kv-get`: one call from the guest into
//!   the host. The `call-cost` fixture makes `n` calls per request; each
//!   sample subtracts the time of an empty request, so what is left is the
//!   calls alone. `kv.get` reads SQLite (an absent key, through the index);
//!   `log` at trace level is the boundary and the grant-free bookkeeping.
//!
//! Run with `cargo bench -p kai-host --bench plugin_call`.

use criterion::{Criterion, criterion_group, criterion_main};
use kai_host::capabilities::Plugin;
use kai_host::config::Config;
use kai_host::plugins::invoke::{PluginRequest, invoke};
use kai_host::server::Server;
use kai_host::state::AppState;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The allocator `kai` ships with (host/src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Host calls per request in the host-call benchmarks: large enough that
/// the request around them is a small share, and within the per-call log
/// budget.
const CALLS_PER_REQUEST: u64 = 500;

/// A prepared server state (SQLite in a temporary directory) with a plugin
/// loaded into its runtime.
struct Bench {
    state: AppState,
    _data: tempfile::TempDir,
}

impl Bench {
    async fn new() -> Bench {
        let data = tempfile::tempdir().expect("temporary directory");
        let server = Server::prepare(Config::with_data_dir(data.path()))
            .await
            .expect("server state");
        Bench {
            state: server.state().clone(),
            _data: data,
        }
    }

    async fn load(&self, crate_name: &str) -> Arc<Plugin> {
        let wasm = kai_test_plugins::wasm(crate_name);
        Arc::new(
            self.state
                .control
                .runtime
                .load(&wasm)
                .await
                .expect("plugin loads"),
        )
    }

    /// One request as the HTTP proxy makes it (`plugins::invoke`): a
    /// session for its writes, the caller's grant, a fresh instance, the
    /// commit; the answer must be a success.
    async fn request(
        &self,
        plugin: &Arc<Plugin>,
        route: &str,
        path: String,
        params: Vec<(String, String)>,
    ) {
        let grant = Arc::new(plugin.manifest.requested_grant());
        let request = PluginRequest {
            method: "GET".into(),
            path,
            route: route.into(),
            params,
            query: Vec::new(),
            headers: vec![("accept".into(), "application/json".into())],
            body: Vec::new(),
            principal: None,
            request_id: "bench".into(),
            traceparent: None,
        };
        let response = invoke(&self.state.hooks, plugin, &grant, request)
            .await
            .expect("the call succeeds");
        assert!(response.status < 400, "status {}", response.status);
    }
}

fn benchmarks(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (bench, hello, call_cost) = tokio.block_on(async {
        let bench = Bench::new().await;
        let hello = bench.load("hello").await;
        let call_cost = bench.load("call-cost").await;
        (bench, hello, call_cost)
    });

    c.bench_function("request/hello", |b| {
        b.to_async(&tokio).iter(|| {
            bench.request(
                &hello,
                "/api/v1/hello/{name}",
                "/api/v1/hello/world".into(),
                vec![("name".into(), "world".into())],
            )
        })
    });

    for kind in ["log", "kv-get"] {
        let route = format!("/api/v1/call-cost/{kind}/{{n}}");
        c.bench_function(&format!("host-call/{kind}"), |b| {
            b.to_async(&tokio).iter_custom(|iters| {
                let (bench, plugin, route) = (&bench, &call_cost, route.clone());
                async move { host_calls(bench, plugin, &route, iters).await }
            })
        });
    }
}

/// Time spent in `iters` host calls: requests of up to
/// [`CALLS_PER_REQUEST`] calls, each less an empty request's time.
async fn host_calls(bench: &Bench, plugin: &Arc<Plugin>, route: &str, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(CALLS_PER_REQUEST);
        left -= n;
        let started = Instant::now();
        call_n(bench, plugin, route, n).await;
        let with_calls = started.elapsed();
        let started = Instant::now();
        call_n(bench, plugin, route, 0).await;
        total += with_calls.saturating_sub(started.elapsed());
    }
    total
}

async fn call_n(bench: &Bench, plugin: &Arc<Plugin>, route: &str, n: u64) {
    let path = route.replace("{n}", &n.to_string());
    bench
        .request(plugin, route, path, vec![("n".into(), n.to_string())])
        .await;
}

criterion_group! {
    name = plugin_call;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benchmarks
}
criterion_main!(plugin_call);
