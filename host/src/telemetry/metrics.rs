//! Prometheus metrics. One process-wide recorder of the `metrics` crate,
//! so any layer records with its macros and the names below; `GET
//! /metrics` renders it in Prometheus' text format (see [`render`]).
//!
//! Counters and histograms are recorded where things happen; gauges of
//! state that lives elsewhere (the database pools, the outbox, the compile
//! cache) are set by whoever renders, just before rendering. Labels stay
//! few and bounded: route templates, never raw paths; plugin names and
//! versions; never a user, a value or a secret.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// HTTP requests answered, by `method`, `route` (the template) and
/// `status`.
pub const HTTP_REQUESTS: &str = "kai_http_requests_total";
/// Their latency, by `method` and `route`.
pub const HTTP_DURATION: &str = "kai_http_request_duration_seconds";
/// Calls into plugins, by `plugin`, `version`, `call` (`request` or
/// `event`) and `outcome` (`ok`, `trap`, `timeout`, `memory_exceeded`,
/// `busy`).
pub const PLUGIN_CALLS: &str = "kai_plugin_calls_total";
/// Their duration from the first instruction to the answer, by `plugin`
/// and `version`.
pub const PLUGIN_CALL_DURATION: &str = "kai_plugin_call_duration_seconds";
/// Time a request waited for one of its plugin's turns, by `plugin`.
pub const PLUGIN_QUEUE_WAIT: &str = "kai_plugin_queue_wait_seconds";
/// Instances alive now (calls running), by `plugin`.
pub const PLUGIN_INSTANCES: &str = "kai_plugin_instances";
/// Changes of the plugin set, by `plugin` and `action` (`installed`,
/// `upgraded`, `rolled_back`, `enabled`, `disabled`, `removed`, ...).
pub const PLUGIN_CHANGES: &str = "kai_plugin_changes_total";
/// Compiled components found in, and missing from, the on-disk cache.
pub const COMPILE_CACHE_HITS: &str = "kai_compile_cache_hits_total";
pub const COMPILE_CACHE_MISSES: &str = "kai_compile_cache_misses_total";
/// Database connections, by `pool` (`reader`, `writer`) and `state`
/// (`in_use`, `idle`); `kai_db_pool_max` is each pool's ceiling.
pub const DB_POOL_CONNECTIONS: &str = "kai_db_pool_connections";
pub const DB_POOL_MAX: &str = "kai_db_pool_max";
/// Events waiting in the outbox, and the age of the oldest.
pub const OUTBOX_PENDING: &str = "kai_outbox_pending";
pub const OUTBOX_OLDEST_AGE: &str = "kai_outbox_oldest_age_seconds";
/// Failed deliveries of after-commit events, by `plugin`.
pub const EVENT_DELIVERY_FAILURES: &str = "kai_event_delivery_failures_total";
/// Credentials a plugin read (`reveal`) or had the host inject into a
/// request (`inject`), by `plugin` and `use`: counts, never values.
pub const CREDENTIAL_USES: &str = "kai_credential_uses_total";

/// Histogram buckets, in seconds: from 100 us (a hello plugin call) to 30 s
/// (past any deadline).
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// How often histograms are folded, so memory stays bounded between
/// scrapes.
const UPKEEP: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder, once (a second server in the same
/// process shares it), and starts its upkeep on the current runtime.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder was installed first; /metrics stays empty");
        }
        describe();
        let upkeep = handle.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(UPKEEP);
            loop {
                tick.tick().await;
                upkeep.run_upkeep();
            }
        });
        handle
    })
}

/// The text exposition of every metric.
pub fn render() -> String {
    install().render()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered");
    describe_histogram!(HTTP_DURATION, Unit::Seconds, "HTTP request latency");
    describe_counter!(PLUGIN_CALLS, "Calls into plugins, by outcome");
    describe_histogram!(PLUGIN_CALL_DURATION, Unit::Seconds, "Plugin call duration");
    describe_histogram!(PLUGIN_QUEUE_WAIT, Unit::Seconds, "Wait for a plugin's turn");
    describe_gauge!(PLUGIN_INSTANCES, "Plugin instances alive");
    describe_counter!(PLUGIN_CHANGES, "Changes of the plugin set");
    describe_counter!(COMPILE_CACHE_HITS, "Compiled components found in the cache");
    describe_counter!(COMPILE_CACHE_MISSES, "Components compiled anew");
    describe_gauge!(DB_POOL_CONNECTIONS, "Database connections by state");
    describe_gauge!(DB_POOL_MAX, "Database pool ceilings");
    describe_gauge!(OUTBOX_PENDING, "Events waiting for delivery");
    describe_gauge!(
        OUTBOX_OLDEST_AGE,
        Unit::Seconds,
        "Age of the oldest waiting event"
    );
    describe_counter!(EVENT_DELIVERY_FAILURES, "Failed event deliveries");
    describe_counter!(
        CREDENTIAL_USES,
        "Credentials revealed to or injected for plugins"
    );
}
