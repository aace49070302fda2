//! What `cargo xtask demo` draws: when each thread, greenlet and process of an example
//! was busy. An example marks its workers' busy stretches with [`span`]; when the demo
//! sets `CONC_DEMO_TIMELINE` to a file, each finished span is appended to it as one
//! line, `lane<TAB>what<TAB>start_ns<TAB>end_ns` (wall-clock nanoseconds, comparable
//! across processes). Without the variable, a span costs a clock read and nothing else.
//!
//! Lines are appended with a single `write` on a file opened with `O_APPEND`, so spans
//! from several threads and processes never interleave within a line.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// The variable naming the file spans go to.
pub const TIMELINE_VAR: &str = "CONC_DEMO_TIMELINE";

/// A busy stretch of one lane, recorded when dropped.
#[derive(Debug)]
#[must_use = "the span is recorded when it is dropped"]
pub struct Span {
    lane: String,
    what: String,
    start: u128,
}

/// Marks `lane` (a thread, a greenlet, a process) busy with `what` from now until the
/// returned span is dropped.
///
/// # Examples
///
/// ```
/// let _busy = examples::timeline::span("worker-1", "counting primes");
/// ```
pub fn span(lane: impl Into<String>, what: impl Into<String>) -> Span {
    Span {
        lane: lane.into(),
        what: what.into(),
        start: now_ns(),
    }
}

/// [`span`] on a lane named after the current `conc_thread` thread.
///
/// # Examples
///
/// ```
/// let _busy = examples::timeline::thread_span("work");
/// ```
pub fn thread_span(what: impl Into<String>) -> Span {
    span(
        format!("thread {}", conc_thread::current_thread().name()),
        what,
    )
}

/// [`span`] on a lane named after the current process.
///
/// # Examples
///
/// ```
/// let _busy = examples::timeline::process_span("work");
/// ```
pub fn process_span(what: impl Into<String>) -> Span {
    span(format!("process {}", std::process::id()), what)
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

impl Span {
    /// Appends this span, ending now, to the file at `path`.
    fn append_to(&self, path: &std::path::Path) {
        let clean = |t: &str| t.replace(['\t', '\n'], " ");
        let line = format!(
            "{}\t{}\t{}\t{}\n",
            clean(&self.lane),
            clean(&self.what),
            self.start,
            now_ns()
        );
        // A demo aid: if the file cannot be written, the example still runs.
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = file.write_all(line.as_bytes());
        }
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(path) = std::env::var_os(TIMELINE_VAR) {
            self.append_to(std::path::Path::new(&path));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_appended_one_line_each() {
        let path = std::env::temp_dir().join(format!("timeline-{}.txt", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let a = span("lane\tA", "work\none");
        a.append_to(&path);
        span("lane B", "more").append_to(&path);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(&lines[0][..2], ["lane A", "work one"]);
        let start: u128 = lines[0][2].parse().unwrap();
        let end: u128 = lines[0][3].parse().unwrap();
        assert!(start <= end);
        assert_eq!(lines[1].len(), 4);
    }
}
