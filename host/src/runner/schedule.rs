//! The triggers' clock: every second, each server node reloads the
//! workflows' event triggers (so that a save on another node applies here
//! within a second) and starts the runs of the schedules whose tick has
//! come (one node per tick: see `services::triggers`).

use super::Runner;
use crate::services::triggers;
use crate::util::now_micros;
use std::sync::Arc;
use std::time::Duration;

/// How often the triggers are looked at.
pub const EVERY: Duration = Duration::from_secs(1);

/// Runs until `stopped` resolves.
pub async fn run(runner: Arc<Runner>, stopped: impl Future<Output = ()> + Send) {
    let mut stopped = std::pin::pin!(stopped);
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
        if let Err(error) = pass(&runner).await {
            tracing::warn!(%error, "looking at the workflows' triggers failed");
        }
    }
}

/// One look: the event triggers reloaded, due schedules started.
async fn pass(runner: &Runner) -> anyhow::Result<()> {
    let core = &runner.hooks.services().core;
    core.triggers.reload(&core.db).await?;
    if !runner.registry.is_ready() {
        // The plugins that run steps are still loading.
        return Ok(());
    }
    let started = triggers::start_due_schedules(core, &*runner.hooks, now_micros()).await?;
    if started > 0 {
        runner.wake();
    }
    Ok(())
}
