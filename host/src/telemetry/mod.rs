//! Structured logs with `tracing`: text for people, JSON for collectors.
//! `RUST_LOG` overrides the default filter.
//!
//! Lines never make a request wait on whoever reads the logs: a log
//! shipper that falls behind, a pipe nobody drains or a terminal paused
//! with Ctrl-S would otherwise fill the pipe and block the tokio worker
//! that logged. A line is handed to `tracing-appender`'s non-blocking
//! writer, whose thread (`kai-log`) writes the lines queued meanwhile in
//! one go. When the output does not keep up, the queue stops at its limit
//! (`log_queue_lines`, [`QUEUED_LINES`] by default): later lines are
//! dropped and counted, and a warning reports how many. Dropping the [`LogGuard`] writes out what is queued,
//! waiting about a second at most so a stuck output cannot hold up exit.

use std::io::BufWriter;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

const DEFAULT_FILTER: &str = "info,sqlx=warn,wasmtime=warn,cranelift_codegen=warn";

/// Lines held by default while the output is slow: about 15,000 request
/// lines are a second of a busy server whose log reader stalled.
pub const QUEUED_LINES: usize = 16_384;

/// How often dropped lines are looked for and reported.
const DROP_CHECK: Duration = Duration::from_secs(1);

/// Keeps the log output going; dropping it writes out what is queued.
pub struct LogGuard {
    // Field order is drop order: stop the reporter first, so its last
    // warning is queued before the writer's final flush.
    stop_reporter: Option<mpsc::Sender<()>>,
    reporter: Option<JoinHandle<()>>,
    _writer: WorkerGuard,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        drop(self.stop_reporter.take());
        if let Some(reporter) = self.reporter.take() {
            let _ = reporter.join();
        }
    }
}

/// Installs the global subscriber, writing to stdout and holding up to
/// `queue_lines` lines while the output is slow. Keep the guard for as long
/// as the process logs. `None` when a subscriber was already installed.
#[must_use = "dropping the guard ends the log output"]
pub fn init(json: bool, queue_lines: usize) -> Option<LogGuard> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let (writer, worker) = NonBlockingBuilder::default()
        .buffered_lines_limit(queue_lines)
        .lossy(true)
        .thread_name("kai-log")
        .finish(BufWriter::with_capacity(64 << 10, std::io::stdout()));
    let dropped = writer.error_counter();
    // Colours only for a person at a terminal, never into a file or a pipe.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(writer);
    let installed = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    installed.ok()?;
    let (stop_reporter, stopped) = mpsc::channel();
    let reporter = std::thread::Builder::new()
        .name("kai-log-drops".into())
        .spawn(move || report_drops(&dropped, &stopped))
        .ok();
    Some(LogGuard {
        stop_reporter: Some(stop_reporter),
        reporter,
        _writer: worker,
    })
}

/// Warns, once a second at most, of lines dropped since the last warning
/// that got out, until `stopped` closes.
fn report_drops(dropped: &ErrorCounter, stopped: &mpsc::Receiver<()>) {
    let mut reported = 0;
    loop {
        let stopping = matches!(
            stopped.recv_timeout(DROP_CHECK),
            Err(RecvTimeoutError::Disconnected) | Ok(())
        );
        let total = dropped.dropped_lines();
        if let Some(lines) = unreported(total, reported) {
            tracing::warn!(
                dropped_lines = lines,
                "the log output fell behind; lines logged meanwhile were dropped"
            );
            // While the queue is full this warning is dropped too; then the
            // count stays unreported and the next warning carries it.
            if dropped.dropped_lines() == total {
                reported = total;
            }
        }
        if stopping {
            return;
        }
    }
}

/// How many of `total` dropped lines came after the `reported` ones.
fn unreported(total: usize, reported: usize) -> Option<usize> {
    let new = total.saturating_sub(reported);
    (new > 0).then_some(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_drops_after_the_last_report_are_new() {
        assert_eq!(unreported(0, 0), None);
        assert_eq!(unreported(7, 0), Some(7));
        assert_eq!(unreported(7, 7), None);
        assert_eq!(unreported(10, 7), Some(3));
    }
}
