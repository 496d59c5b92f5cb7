//! Execution history retention: ended executions older than the
//! operator's `execution_retention_days` are deleted with their timelines
//! and checkpoint threads, at start and every hour after, in batches so
//! that no transaction grows large. Every node sweeps; a row two nodes
//! both delete is simply gone for the second.

use super::Runner;
use crate::services::{Session, executions};
use crate::util::now_micros;
use std::sync::Arc;
use std::time::Duration;

/// How often the sweep runs.
pub const EVERY: Duration = Duration::from_secs(3600);
/// Executions deleted per transaction.
const BATCH: u32 = 500;

/// Sweeps until `stopped` resolves.
pub async fn run(runner: Arc<Runner>, days: u32, stopped: impl Future<Output = ()> + Send) {
    let mut stopped = std::pin::pin!(stopped);
    loop {
        if let Err(error) = sweep(&runner, days).await {
            tracing::warn!(%error, "deleting old workflow executions failed");
        }
        tokio::select! {
            _ = &mut stopped => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}

/// Deletes every execution that ended more than `days` ago; how many.
pub async fn sweep(runner: &Runner, days: u32) -> anyhow::Result<usize> {
    let cutoff = now_micros() - i64::from(days) * 86_400 * 1_000_000;
    let mut deleted = 0;
    loop {
        let session = Session::new(runner.hooks.services().core.db.clone());
        let count = executions::delete_ended_before(&session, cutoff, BATCH).await?;
        runner.hooks.services().core.commit(&session).await?;
        deleted += count;
        if count < BATCH as usize {
            break;
        }
    }
    if deleted > 0 {
        tracing::info!(
            deleted,
            days,
            "deleted ended workflow executions past their retention"
        );
    }
    Ok(deleted)
}
