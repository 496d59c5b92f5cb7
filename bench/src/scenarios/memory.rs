//! Resident memory of `kai serve` with the bundled plugins: idle after
//! start, and its peak while 64 connections keep plugin requests in flight.

use super::Section;
use crate::RunArgs;
use crate::load_wrk;
use crate::servers::ChildServer;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

pub async fn run(args: RunArgs) -> anyhow::Result<Section> {
    let server = Arc::new(ChildServer::kai(&[]).await?);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = server.rss_kib().unwrap_or(0);
    let peak = Arc::new(AtomicU64::new(idle));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (server, peak, done) = (server.clone(), peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if let Some(rss) = server.rss_kib() {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let stats = load_wrk::get(
        &format!("{}/api/v1/hello/world", server.base),
        None,
        64,
        args.seconds,
    )
    .await?;
    done.store(true, Ordering::Relaxed);
    sampler.await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = server.rss_kib().unwrap_or(0);
    let peak = peak.load(Ordering::Relaxed);
    let mib = |kib: u64| kib as f64 / 1024.0;
    let markdown = format!(
        "### Memory of `kai serve`\n\n\
         Resident set size (VmRSS) of the server with the bundled plugins loaded, idle, then during {} s of \
         64 concurrent hello requests ({:.0} requests/s).\n\n\
         | idle MiB | peak under load MiB | growth MiB | after the load MiB |\n|---:|---:|---:|---:|\n\
         | {:.1} | {:.1} | {:.1} | {:.1} |\n",
        args.seconds,
        stats.per_second,
        mib(idle),
        mib(peak),
        mib(peak.saturating_sub(idle)),
        mib(after),
    );
    Ok(Section {
        name: "memory".into(),
        markdown,
    })
}
