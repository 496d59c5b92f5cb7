//! A closed-loop load generator: `connections` workers each send a request,
//! wait for the answer, and send the next, for a fixed time after a
//! warm-up. Latencies are recorded per request.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one measurement saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub errors: u64,
    pub per_second: f64,
    pub p50_us: u64,
    pub p99_us: u64,
}

/// Runs `request(worker, sequence)` from `connections` workers for
/// `duration` after `warmup`. A request returns whether it succeeded.
pub async fn run<F, Fut>(
    connections: usize,
    warmup: Duration,
    duration: Duration,
    request: F,
) -> Stats
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let request = Arc::new(request);
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut workers = Vec::new();
    for worker in 0..connections {
        let request = request.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut sequence = 0u64;
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let ok = request(worker, sequence).await;
                sequence += 1;
                if sent >= measure_from {
                    latencies.push(sent.elapsed().as_micros() as u64);
                    if !ok {
                        errors += 1;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (l, e) = worker.await.expect("worker panicked");
        latencies.extend(l);
        errors += e;
    }
    latencies.sort_unstable();
    let percentile = |p: f64| -> u64 {
        if latencies.is_empty() {
            return 0;
        }
        latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)]
    };
    Stats {
        errors,
        per_second: latencies.len() as f64 / duration.as_secs_f64(),
        p50_us: percentile(0.50),
        p99_us: percentile(0.99),
    }
}

/// The median of some numbers.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    if values.is_empty() {
        0.0
    } else {
        values[values.len() / 2]
    }
}
