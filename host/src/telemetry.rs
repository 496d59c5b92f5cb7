//! Structured logs with `tracing`: text for people, JSON for collectors.
//! `RUST_LOG` overrides the default filter.

use tracing_subscriber::EnvFilter;

const DEFAULT_FILTER: &str = "info,sqlx=warn,wasmtime=warn,cranelift_codegen=warn";

/// Installs the global subscriber (once; later calls are ignored).
pub fn init(json: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
