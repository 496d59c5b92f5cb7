//! `kai:fusion/log`: a plugin's log lines go into the host's log, tagged with
//! the plugin's name and the request id. Lines are truncated and counted so
//! a chatty or hostile plugin cannot flood the log. What a plugin writes to
//! stderr arrives here too, eight bytes a call, and is kept (up to a cap)
//! for the warning logged if the call fails.

use super::CallState;
use crate::wit::bindings::kai::fusion::log::{Host, Level};

/// Longest line kept from a plugin, in bytes.
const MAX_LINE_BYTES: usize = 4 * 1024;

impl Host for CallState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        if self.log_budget == 0 {
            return Ok(());
        }
        self.log_budget -= 1;
        let message = truncate(&message, MAX_LINE_BYTES);
        let plugin = self.plugin_name.as_str();
        let request_id = self.context.request_id.as_str();
        match level {
            Level::Trace => tracing::trace!(target: "kai::plugin", plugin, request_id, "{message}"),
            Level::Debug => tracing::debug!(target: "kai::plugin", plugin, request_id, "{message}"),
            Level::Info => tracing::info!(target: "kai::plugin", plugin, request_id, "{message}"),
            Level::Warn => tracing::warn!(target: "kai::plugin", plugin, request_id, "{message}"),
            Level::Error => tracing::error!(target: "kai::plugin", plugin, request_id, "{message}"),
        }
        if self.log_budget == 0 {
            tracing::warn!(
                plugin,
                request_id,
                "plugin log budget exhausted; further lines of this call are dropped"
            );
        }
        Ok(())
    }

    async fn write_stderr(&mut self, bytes: u64, len: u8) -> wasmtime::Result<()> {
        // A guest may claim more than the eight bytes it can send.
        let len = usize::from(len).min(8);
        self.keep_stderr(&bytes.to_le_bytes()[..len]);
        Ok(())
    }
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
