//! Where log lines go: a bounded buffer in front of the real output, so
//! that logging never makes a request wait on whoever reads the logs.
//!
//! Writing each line straight to stdout, as `tracing_subscriber` does by
//! default, ties every request to the reader of the logs: a log shipper
//! that falls behind, a pipe nobody drains or a terminal paused with
//! Ctrl-S fills the pipe, and the next write blocks the tokio worker that
//! made it. With stdout piped into a process that did not read it,
//! `kai serve` stopped answering altogether, `/healthz` included, after 173
//! requests. Each line also cost a system call on the request's thread.
//!
//! Here a line is appended to an in-memory buffer and one thread
//! (`kai-log`) writes the buffer out in batches: when the buffer has waited
//! [`OutputSettings::interval`], sooner once it holds
//! [`OutputSettings::batch_bytes`], and at once when a warning or an error
//! arrives (what an operator needs right before a crash should not sit in
//! memory). Lines keep the order they were logged in.
//!
//! When the output does not keep up, the buffer stops at
//! [`OutputSettings::max_bytes`]: later lines are dropped and counted, and
//! once a batch goes out again the `report` callback is told how many were
//! lost (`kai serve` logs that as a warning; that line is let past the
//! bound, so no count is lost with it). If the output fails for good
//! (its reader is gone), lines are discarded from then on. Dropping the
//! [`LogGuard`] writes out what is buffered, waiting at most
//! [`OutputSettings::shutdown_wait`] so a stuck output cannot hold up exit.
//!
//! Why not `tracing-appender`'s non-blocking writer: it keeps the same
//! guarantee, but hands over, wakes its thread and writes once per line; at
//! `info` the hello route then took 29.4 instead of 18.9 us of CPU per
//! request (`bench/scripts/ab.sh`, `LOAD=hello`).

use std::cell::Cell;
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// How the buffer behaves.
#[derive(Debug, Clone, Copy)]
pub struct OutputSettings {
    /// How long a line may wait for others to share its write.
    pub interval: Duration,
    /// A buffer this full is written out without waiting for the interval.
    pub batch_bytes: usize,
    /// The buffer never grows past this; lines that do not fit are dropped.
    pub max_bytes: usize,
    /// How long dropping the guard waits for the buffer to go out.
    pub shutdown_wait: Duration,
}

impl OutputSettings {
    /// The buffer's default limit, 4 MiB.
    pub const DEFAULT_MAX_BYTES: usize = 4 << 20;
}

impl Default for OutputSettings {
    /// A line is out within 50 ms; a buffer of 4 MiB holds about 15,000
    /// request lines, a second of a busy server whose log reader stalled.
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(50),
            batch_bytes: 64 << 10,
            max_bytes: Self::DEFAULT_MAX_BYTES,
            shutdown_wait: Duration::from_secs(5),
        }
    }
}

/// The `tracing_subscriber` writer: hands out an [`EventWriter`] per event.
pub struct LogOutput {
    shared: Arc<Shared>,
}

/// Writes out what is buffered when dropped; see the module docs.
#[must_use = "dropping the guard ends the log output"]
pub struct LogGuard {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the output thread: lines arrived in an empty buffer, or the
    /// buffer must go out now, or the guard was dropped.
    wake: Condvar,
    /// Wakes the dropped guard once the output thread has finished.
    finished: Condvar,
    settings: OutputSettings,
}

#[derive(Default)]
struct State {
    lines: Vec<u8>,
    /// When the oldest line in `lines` arrived: the interval runs from it.
    oldest: Option<Instant>,
    /// The buffer should go out without waiting for the interval.
    write_now: bool,
    /// Lines dropped since the last report.
    dropped: u64,
    /// Lines dropped since start (for tests and diagnostics).
    dropped_total: u64,
    /// The output failed; lines are discarded.
    failed: bool,
    /// The guard was dropped: write out what is left, then stop.
    closing: bool,
    finished: bool,
}

thread_local! {
    /// Set on the output thread while `report` runs: the report's own line
    /// is let past the bound, because dropping it would lose the count it
    /// carries (it is one line, once per batch).
    static REPORTING: Cell<bool> = const { Cell::new(false) };
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; if something did, the
        // buffer is still a buffer of whole lines.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends one line (a whole formatted event); never waits on the output.
    fn append(&self, line: &[u8], urgent: bool) {
        let mut state = self.lock();
        if state.failed {
            return;
        }
        let was_empty = state.lines.is_empty();
        if state.lines.len() + line.len() > self.settings.max_bytes && !REPORTING.get() {
            state.dropped += 1;
            state.dropped_total += 1;
            drop(state);
            // Normally the buffer is full and the thread busy writing it;
            // a single line larger than the bound finds it asleep.
            if was_empty {
                self.wake.notify_one();
            }
            return;
        }
        if was_empty {
            state.oldest = Some(Instant::now());
        }
        state.lines.extend_from_slice(line);
        // The output thread sleeps until an empty buffer gets a line, then
        // waits out the interval; only a line that ends that wait early
        // needs to wake it again, so a busy server wakes it about once per
        // interval rather than once per line.
        let now = urgent || state.lines.len() >= self.settings.batch_bytes;
        let wake = was_empty || (now && !state.write_now);
        state.write_now |= now;
        drop(state);
        if wake {
            self.wake.notify_one();
        }
    }
}

impl LogOutput {
    /// Starts the output thread writing to `sink`. `report` is called on
    /// that thread with the number of lines dropped since its last call,
    /// once the thread has written out (or had nothing to write) after the
    /// drops; never once the output has failed.
    pub fn start<W>(
        sink: W,
        settings: OutputSettings,
        report: impl Fn(u64) + Send + 'static,
    ) -> (LogOutput, LogGuard)
    where
        W: Write + Send + 'static,
    {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            finished: Condvar::new(),
            settings,
        });
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("kai-log".into())
            .spawn(move || write_out(&thread_shared, sink, report))
            .expect("could not start the log output thread");
        (
            LogOutput {
                shared: shared.clone(),
            },
            LogGuard { shared },
        )
    }

    /// Lines dropped since start because the output fell behind.
    pub fn dropped_lines(&self) -> u64 {
        self.shared.lock().dropped_total
    }
}

/// The output thread: waits for lines, lets them gather, writes them out.
fn write_out(shared: &Shared, mut sink: impl Write, report: impl Fn(u64)) {
    let mut batch = Vec::new();
    loop {
        let (dropped, closing) = {
            let mut state = shared.lock();
            while state.lines.is_empty() && state.dropped == 0 && !state.closing {
                state = shared
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            // From the oldest line's arrival, so lines that came in while
            // the last batch was being written wait no longer than others.
            let deadline = state.oldest.unwrap_or_else(Instant::now) + shared.settings.interval;
            while !state.write_now && !state.closing {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                state = shared
                    .wake
                    .wait_timeout(state, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            std::mem::swap(&mut state.lines, &mut batch);
            state.oldest = None;
            state.write_now = false;
            (std::mem::take(&mut state.dropped), state.closing)
        };
        if !batch.is_empty() {
            if let Err(error) = write_patiently(&mut sink, &batch) {
                // The reader is gone (or the device failed): nobody will see
                // later lines either, so stop keeping them, including those
                // that arrived during this write.
                let mut state = shared.lock();
                state.failed = true;
                state.lines = Vec::new();
                drop(state);
                eprintln!("kai: the log output failed ({error}); further log lines are discarded");
            }
            batch.clear();
        }
        if dropped > 0 && !shared.lock().failed {
            // Logged through the subscriber, so it lands in the buffer and
            // goes out with the next batch, in the configured format.
            REPORTING.set(true);
            report(dropped);
            REPORTING.set(false);
        }
        let mut state = shared.lock();
        let done = state.lines.is_empty() && state.dropped == 0;
        if closing && (done || state.failed) {
            state.finished = true;
            shared.finished.notify_all();
            return;
        }
    }
}

/// Writes `bytes` out whole. An output that would block (stdout inherited
/// in non-blocking mode) is waited on, as a full pipe is; lines keep
/// gathering in the buffer meanwhile. Any other error is returned.
fn write_patiently(sink: &mut impl Write, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match sink.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => bytes = &bytes[written..],
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(error) => return Err(error),
        }
    }
    sink.flush()
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closing = true;
        self.shared.wake.notify_one();
        let deadline = Instant::now() + self.shared.settings.shutdown_wait;
        while !state.finished {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            state = self
                .shared
                .finished
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// Takes one formatted event (`tracing_subscriber` writes each with a
/// single `write_all`) into the buffer.
pub struct EventWriter<'a> {
    shared: &'a Shared,
    urgent: bool,
}

impl Write for EventWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.shared.append(bytes, self.urgent);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogOutput {
    type Writer = EventWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter {
            shared: &self.shared,
            urgent: false,
        }
    }

    /// Warnings and errors go out at once.
    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        EventWriter {
            shared: &self.shared,
            urgent: matches!(*meta.level(), Level::WARN | Level::ERROR),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// An output the test reads back, counting the writes that filled it.
    #[derive(Clone, Default)]
    struct Collected(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Collected {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().0.clone()).unwrap()
        }

        fn writes(&self) -> usize {
            self.0.lock().unwrap().1
        }

        /// Waits (up to a minute: a hang guard, not a timing check) until
        /// the output contains `needle`.
        fn wait_for(&self, needle: &str) -> String {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let text = self.text();
                if text.contains(needle) {
                    return text;
                }
                assert!(
                    Instant::now() < deadline,
                    "`{needle}` never arrived in {text:?}"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    impl Write for Collected {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let mut inner = self.0.lock().unwrap();
            inner.0.extend_from_slice(bytes);
            inner.1 += 1;
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// An output whose writes wait until the test opens it, like a pipe
    /// whose reader stopped reading.
    struct Stalled {
        open: mpsc::Receiver<()>,
        opened: bool,
        inner: Collected,
    }

    impl Write for Stalled {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            if !self.opened {
                self.open.recv().ok();
                self.opened = true;
            }
            self.inner.write(bytes)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// An output whose reader is gone.
    struct Broken(Arc<Mutex<u32>>);

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            *self.0.lock().unwrap() += 1;
            Err(io::ErrorKind::BrokenPipe.into())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn settings(interval: Duration) -> OutputSettings {
        OutputSettings {
            interval,
            ..OutputSettings::default()
        }
    }

    fn log_line(output: &LogOutput, line: &str) {
        output.make_writer().write_all(line.as_bytes()).unwrap();
    }

    /// Runs `body` on a thread and fails if it does not finish within a
    /// minute: for code that must not block.
    fn finishes(body: impl FnOnce() + Send + 'static) {
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            body();
            done.send(()).unwrap();
        });
        finished
            .recv_timeout(Duration::from_secs(60))
            .expect("blocked on the log output");
    }

    #[test]
    fn lines_from_many_threads_are_held_then_arrive_whole_and_in_order_when_the_guard_drops() {
        let sink = Collected::default();
        // An hour's interval and no batch size: only the guard sends them.
        let settings = OutputSettings {
            batch_bytes: usize::MAX,
            ..settings(Duration::from_secs(3600))
        };
        let (output, guard) = LogOutput::start(sink.clone(), settings, |_| {});
        let output = Arc::new(output);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let output = output.clone();
                std::thread::spawn(move || {
                    for i in 0..500 {
                        log_line(
                            &output,
                            &format!("thread {t} line {i} {}\n", "x".repeat(i % 90)),
                        );
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(sink.writes(), 0, "lines are held for the interval");
        drop(guard);
        let text = sink.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2000);
        for t in 0..4 {
            let numbers: Vec<usize> = lines
                .iter()
                .filter_map(|l| l.strip_prefix(&format!("thread {t} line ")))
                .map(|rest| {
                    let (i, padding) = rest.split_once(' ').unwrap();
                    let i: usize = i.parse().unwrap();
                    assert_eq!(
                        padding,
                        "x".repeat(i % 90),
                        "line {i} of thread {t} was cut"
                    );
                    i
                })
                .collect();
            assert_eq!(numbers, (0..500).collect::<Vec<_>>(), "thread {t}'s lines");
        }
        assert_eq!(output.dropped_lines(), 0);
    }

    #[test]
    fn a_line_goes_out_after_the_interval_without_more_lines_or_a_shutdown() {
        let sink = Collected::default();
        let (output, _guard) =
            LogOutput::start(sink.clone(), settings(Duration::from_millis(20)), |_| {});
        log_line(&output, "lonely line\n");
        sink.wait_for("lonely line\n");
    }

    #[test]
    fn a_warning_goes_out_at_once_after_the_lines_before_it() {
        let sink = Collected::default();
        let (output, _guard) =
            LogOutput::start(sink.clone(), settings(Duration::from_secs(3600)), |_| {});
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(output)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("first, routine");
            tracing::warn!("second, a warning");
        });
        // With an hour's interval, only the warning can have sent them.
        let text = sink.wait_for("second, a warning");
        let first = text
            .find("first, routine")
            .expect("the info line went out too");
        assert!(first < text.find("second, a warning").unwrap(), "{text}");
    }

    #[test]
    fn a_full_buffer_goes_out_before_the_interval() {
        let sink = Collected::default();
        let settings = OutputSettings {
            batch_bytes: 1024,
            ..settings(Duration::from_secs(3600))
        };
        let (output, guard) = LogOutput::start(sink.clone(), settings, |_| {});
        for i in 0..100 {
            log_line(&output, &format!("line {i:03} of some length\n"));
        }
        sink.wait_for("line 040 of some length\n");
        drop(guard);
        // 2,600 bytes in batches of at least 1,024 bytes, the last aside.
        assert!(sink.writes() <= 3, "{} writes", sink.writes());
        assert_eq!(sink.text().lines().count(), 100);
    }

    #[test]
    fn a_line_larger_than_the_buffer_is_dropped_and_reported_without_waiting_for_another() {
        let reports = Arc::new(Mutex::new(Vec::new()));
        let reported = reports.clone();
        let settings = OutputSettings {
            max_bytes: 100,
            ..settings(Duration::from_millis(20))
        };
        let (output, _guard) = LogOutput::start(Collected::default(), settings, move |n| {
            reported.lock().unwrap().push(n)
        });
        log_line(&output, &format!("{}\n", "x".repeat(200)));
        let deadline = Instant::now() + Duration::from_secs(60);
        while reports.lock().unwrap().is_empty() {
            assert!(Instant::now() < deadline, "the drop was never reported");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(*reports.lock().unwrap(), vec![1]);
    }

    /// An output in non-blocking mode that is full for its first writes.
    struct FullAtFirst {
        refusals: u32,
        inner: Collected,
    }

    impl Write for FullAtFirst {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            if self.refusals > 0 {
                self.refusals -= 1;
                return Err(io::ErrorKind::WouldBlock.into());
            }
            // Half at a time, as a nearly full pipe takes it.
            self.inner.write(&bytes[..bytes.len().div_ceil(2)])
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_output_that_would_block_is_waited_on_not_given_up() {
        let sink = Collected::default();
        let full = FullAtFirst {
            refusals: 3,
            inner: sink.clone(),
        };
        let (output, guard) = LogOutput::start(full, settings(Duration::from_millis(1)), |_| {});
        for i in 0..10 {
            log_line(&output, &format!("line {i}\n"));
        }
        drop(guard);
        let expected: String = (0..10).map(|i| format!("line {i}\n")).collect();
        assert_eq!(sink.text(), expected);
    }

    #[test]
    fn a_stalled_output_never_blocks_logging_and_says_what_it_dropped() {
        let (open, opened) = mpsc::channel();
        let sink = Collected::default();
        let stalled = Stalled {
            open: opened,
            opened: false,
            inner: sink.clone(),
        };
        let reports = Arc::new(Mutex::new(Vec::new()));
        let reported = reports.clone();
        let settings = OutputSettings {
            max_bytes: 1000,
            ..settings(Duration::from_millis(1))
        };
        let (output, guard) =
            LogOutput::start(stalled, settings, move |n| reported.lock().unwrap().push(n));
        let output = Arc::new(output);
        // The first line is taken by the output thread, which then blocks
        // on the stalled output; the buffer fills behind it, then drops.
        log_line(&output, "line 0000\n");
        let writer = output.clone();
        finishes(move || {
            for i in 1..=1000 {
                log_line(&writer, &format!("line {i:04}\n"));
            }
        });
        let dropped = output.dropped_lines();
        assert!(dropped > 0, "a 1000-byte buffer held 10,010 bytes");
        open.send(()).unwrap();
        drop(guard);
        let text = sink.text();
        let kept = text.lines().count() as u64;
        assert_eq!(
            kept + dropped,
            1001,
            "every line written or counted: {text}"
        );
        assert!(text.starts_with("line 0000\nline 0001\n"), "{text}");
        // One report, or two if the output thread took its first batch
        // while lines were already being dropped.
        let reports = reports.lock().unwrap();
        assert!(!reports.is_empty(), "the drops were never reported");
        assert_eq!(reports.iter().sum::<u64>(), dropped, "{reports:?}");
    }

    /// An output that, on its first `fills` writes, logs lines back into
    /// the buffer until one is dropped: the buffer is full whenever the
    /// output thread reports drops.
    struct Refilling {
        output: Arc<std::sync::OnceLock<Arc<LogOutput>>>,
        fills: u32,
        inner: Collected,
    }

    impl Write for Refilling {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            if self.fills > 0 {
                self.fills -= 1;
                let output = self.output.get().unwrap();
                let before = output.dropped_lines();
                while output.dropped_lines() == before {
                    log_line(output, "filler\n");
                }
            }
            self.inner.write(bytes)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_report_of_dropped_lines_gets_out_even_when_the_buffer_is_full() {
        let handle = Arc::new(std::sync::OnceLock::<Arc<LogOutput>>::new());
        let sink = Collected::default();
        let refilling = Refilling {
            output: handle.clone(),
            fills: 3,
            inner: sink.clone(),
        };
        let settings = OutputSettings {
            max_bytes: 200,
            ..settings(Duration::from_millis(1))
        };
        let reporter = handle.clone();
        let (output, guard) = LogOutput::start(refilling, settings, move |n| {
            log_line(reporter.get().unwrap(), &format!("dropped {n}\n"))
        });
        let output = Arc::new(output);
        handle.set(output.clone()).ok().unwrap();
        log_line(&output, "first\n");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !sink.text().contains("dropped") {
            assert!(Instant::now() < deadline, "no drop was reported");
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(guard);
        let text = sink.text();
        let reported: u64 = text
            .lines()
            .filter_map(|line| line.strip_prefix("dropped "))
            .map(|n| n.parse::<u64>().unwrap())
            .sum();
        assert_eq!(reported, output.dropped_lines(), "{text}");
    }

    #[test]
    fn a_failed_output_is_given_up_and_later_lines_are_discarded() {
        let writes = Arc::new(Mutex::new(0));
        let (output, guard) = LogOutput::start(
            Broken(writes.clone()),
            settings(Duration::from_millis(1)),
            |_| {},
        );
        log_line(&output, "lost\n");
        let deadline = Instant::now() + Duration::from_secs(60);
        while *writes.lock().unwrap() == 0 {
            assert!(Instant::now() < deadline, "the output was never tried");
            std::thread::sleep(Duration::from_millis(5));
        }
        for _ in 0..100 {
            log_line(&output, "also lost\n");
        }
        finishes(move || drop(guard));
        assert_eq!(
            *writes.lock().unwrap(),
            1,
            "a failed output is not tried again"
        );
    }

    #[test]
    fn shutdown_does_not_wait_on_a_stalled_output_past_its_limit() {
        let (_open, opened) = mpsc::channel::<()>();
        let stalled = Stalled {
            open: opened,
            opened: false,
            inner: Collected::default(),
        };
        let settings = OutputSettings {
            shutdown_wait: Duration::from_millis(50),
            ..settings(Duration::from_millis(1))
        };
        let (output, guard) = LogOutput::start(stalled, settings, |_| {});
        log_line(&output, "never read\n");
        finishes(move || drop(guard));
    }
}
