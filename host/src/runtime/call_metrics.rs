//! The metrics of one plugin's calls (names in `crate::telemetry::metrics`):
//! how many, by outcome; how long they ran and waited for a turn; how many
//! instances are alive. The handles are registered once, at load, so a call
//! only touches atomics (the recorder must be installed before plugins load:
//! `telemetry::metrics::install`).

use super::call::CallError;
use crate::telemetry::metrics::{
    PLUGIN_CALL_DURATION, PLUGIN_CALLS, PLUGIN_INSTANCES, PLUGIN_QUEUE_WAIT,
};
use metrics::{Counter, Gauge, Histogram, SharedString};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// What a call was: a request or an event delivery.
#[derive(Debug, Clone, Copy)]
pub enum CallKind {
    Request = 0,
    Event = 1,
    /// A workflow step (`run-node`).
    Node = 2,
}

impl CallKind {
    fn as_str(self) -> &'static str {
        match self {
            CallKind::Request => "request",
            CallKind::Event => "event",
            CallKind::Node => "node",
        }
    }
}

/// The outcomes a call is counted under, in [`CallMetrics::calls`] order.
const OUTCOMES: [&str; 5] = ["ok", "trap", "timeout", "memory_exceeded", "busy"];

/// One plugin version's metric handles, registered once at load (so a
/// call only touches atomics), and the recording of its calls.
#[derive(Debug, Clone)]
pub struct CallMetrics {
    /// By kind (request, event, node), then by outcome ([`OUTCOMES`]).
    calls: [[Counter; OUTCOMES.len()]; 3],
    duration: Histogram,
    queue_wait: Histogram,
    /// Calls running now; the gauge is set from it when metrics are read
    /// ([`CallMetrics::publish_instances`]): an integer add per call costs
    /// less than a float gauge's compare-and-swap loop.
    alive: Arc<AtomicI64>,
    instances: Gauge,
}

impl CallMetrics {
    pub fn new(plugin: &str, version: &str) -> Self {
        let plugin = SharedString::from(Arc::<str>::from(plugin));
        let version = SharedString::from(Arc::<str>::from(version));
        let calls = [CallKind::Request, CallKind::Event, CallKind::Node].map(|kind| {
            OUTCOMES.map(|outcome| {
                metrics::counter!(
                    PLUGIN_CALLS,
                    "plugin" => plugin.clone(),
                    "version" => version.clone(),
                    "call" => kind.as_str(),
                    "outcome" => outcome
                )
            })
        });
        Self {
            calls,
            duration: metrics::histogram!(
                PLUGIN_CALL_DURATION,
                "plugin" => plugin.clone(),
                "version" => version
            ),
            queue_wait: metrics::histogram!(PLUGIN_QUEUE_WAIT, "plugin" => plugin.clone()),
            alive: Arc::default(),
            instances: metrics::gauge!(PLUGIN_INSTANCES, "plugin" => plugin),
        }
    }

    /// Records a wait for a turn, whether or not one came.
    pub fn waited(&self, wait: Duration) {
        self.queue_wait.record(wait.as_secs_f64());
    }

    /// A call starting: counted alive until it finishes (or is dropped
    /// midway). Recorded around the call's own future rather than wrapping
    /// it, which would move that large future once more per call.
    pub fn start(&self) -> Running<'_> {
        self.alive.fetch_add(1, Ordering::Relaxed);
        Running {
            metrics: self,
            started: Instant::now(),
        }
    }

    /// Sets the instances gauge from the calls running now.
    pub fn publish_instances(&self) {
        self.instances
            .set(self.alive.load(Ordering::Relaxed) as f64);
    }

    /// Counts a call that ended with `error` (`None`: it answered).
    pub fn count(&self, kind: CallKind, error: Option<&CallError>) {
        let outcome = match error {
            None => 0,
            Some(CallError::Trap { .. }) => 1,
            Some(CallError::Timeout { .. }) => 2,
            Some(CallError::MemoryExhausted { .. }) => 3,
            Some(CallError::Busy { .. }) => 4,
        };
        self.calls[kind as usize][outcome].increment(1);
    }
}

/// A call in progress, from [`CallMetrics::start`].
pub struct Running<'a> {
    metrics: &'a CallMetrics,
    started: Instant,
}

impl Running<'_> {
    /// Records the call's duration and outcome (`error`: how it failed).
    pub fn finish(self, kind: CallKind, error: Option<&CallError>) {
        self.metrics
            .duration
            .record(self.started.elapsed().as_secs_f64());
        self.metrics.count(kind, error);
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.metrics.alive.fetch_sub(1, Ordering::Relaxed);
    }
}
