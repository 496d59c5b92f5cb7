//! Structured logs with `tracing`: text for people, JSON for collectors.
//! `RUST_LOG` overrides the default filter.
//!
//! Lines go to stdout through [`output`], which buffers them so that no
//! request waits on whoever reads the logs. [`metrics`] holds the
//! Prometheus metrics and their names; [`otlp`] exports spans to an
//! OpenTelemetry collector when one is configured.

pub mod metrics;
pub mod otlp;
pub mod output;

use output::{LogGuard, LogOutput, OutputSettings};
use tracing_subscriber::EnvFilter;

const DEFAULT_FILTER: &str = "info,sqlx=warn,wasmtime=warn,cranelift_codegen=warn";

/// The log buffer's default size: about 15,000 request lines, a second of
/// a busy server whose log reader stalled.
pub const BUFFER_BYTES: usize = OutputSettings::DEFAULT_MAX_BYTES;

/// Installs the global subscriber, writing to stdout through a buffer of
/// at most `buffer_bytes`. Keep the guard for as long as the process logs:
/// dropping it writes out what is still buffered. `None` when a subscriber
/// was already installed.
#[must_use = "dropping the guard ends the log output"]
pub fn init(json: bool, buffer_bytes: usize) -> Option<LogGuard> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let settings = OutputSettings {
        max_bytes: buffer_bytes,
        ..OutputSettings::default()
    };
    let (output, guard) = LogOutput::start(std::io::stdout(), settings, |lines| {
        tracing::warn!(
            dropped_lines = lines,
            "the log output fell behind; lines logged meanwhile were dropped"
        )
    });
    // Colours only for a person at a terminal, never into a file or a pipe.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(output);
    let installed = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    installed.is_ok().then_some(guard)
}
