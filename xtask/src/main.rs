//! Project automation for the conc workspace, in the `cargo xtask` style.
//!
//! `.cargo/config.toml` aliases `cargo xtask` to `cargo run --quiet --package xtask --`,
//! so every task below runs with nothing but the Rust toolchain:
//!
//! | command | what it does |
//! | --- | --- |
//! | `cargo xtask ci` | fmt, clippy, doc, tests and packaging, exactly what `.ci/run` runs |
//! | `cargo xtask demo [NAME...]` | the tour of `examples/demo.txt`, with timings |
//! | `cargo xtask bench [W9 W10 ...] [--quick]` | the workloads of `BENCHMARKS.md` |
//! | `cargo xtask stress [--runs N]` | the tests with both CPUs busy, then pinned to one |
//!
//! Each task lives in its own module. Child processes are started with `$CARGO` (the
//! cargo that started this program) from the workspace root, so the tasks behave the
//! same whatever directory they are started in.

mod bench;
mod ci;
mod demo;
mod stress;
mod timeline;
mod watchdog;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

/// The error every task returns: a message for the user, already worded.
type TaskResult = Result<(), String>;

/// The usage text, printed by `help` and after an unknown task.
const USAGE: &str = "\
usage: cargo xtask <task> [args...]

tasks:
  ci                         fmt, clippy, doc, tests, package (what .ci/run runs)
  demo [--list] [--no-pictures] [NAME...]
                             run the tour of examples/demo.txt (or the named scenarios)
                             and draw target/demo/timeline.svg
  bench [W9 W10 ...] [--quick]
                             run the benchmark workloads; writes target/bench/results.json
  stress [--runs N]          the tests and doc tests with both CPUs busy, then pinned
                             to one CPU; N runs of both (default 3)
  help                       print this text";

fn main() -> ExitCode {
    watchdog::keep_child_statuses();
    let mut args = std::env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.collect();
    let outcome = match task.as_deref() {
        Some("ci") => ci::run(&rest),
        Some("demo") => demo::run(&rest),
        Some("bench") => bench::run(&rest),
        Some("stress") => stress::run(&rest),
        Some(stress::BUSY_TASK) => stress::busy_loop(),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown task `{other}`\n\n{USAGE}")),
        None => Err(format!("no task given\n\n{USAGE}")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this crate's manifest directory.
fn project_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or(manifest_dir)
}

/// The workspace's target directory: `$CARGO_TARGET_DIR` (relative to the root) if set,
/// else `<root>/target`.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// The cargo to run: `$CARGO` (set by the cargo that started us), else `cargo`.
fn cargo_program() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"))
}

/// A `cargo` command with the given arguments, run from the workspace root.
fn cargo(root: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(cargo_program());
    command.args(args).current_dir(root);
    command
}

/// A command line as the user would type it, for headings and error messages.
fn display_command(args: &[&str]) -> String {
    let mut line = String::from("cargo");
    for arg in args {
        line.push(' ');
        line.push_str(arg);
    }
    line
}

/// Formats a duration as seconds with two decimals, or milliseconds below one second.
fn format_duration(elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs < 1.0 {
        format!("{:.0} ms", secs * 1000.0)
    } else {
        format!("{secs:.2} s")
    }
}

/// An ASCII bar for `value` on a scale where `max` fills `max_width` cells; any nonzero
/// value gets at least one cell.
fn bar(value: f64, max: f64, max_width: usize) -> String {
    if max <= 0.0 || !value.is_finite() {
        return String::new();
    }
    let cells = ((value / max) * max_width as f64).round() as usize;
    "#".repeat(cells.clamp(usize::from(value > 0.0), max_width))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_holds_the_workspace_manifest() {
        assert!(project_root().join("Cargo.toml").is_file());
        assert!(project_root().join("xtask").is_dir());
    }

    #[test]
    fn bars_scale_to_the_longest() {
        assert_eq!(bar(10.0, 10.0, 20), "#".repeat(20));
        assert_eq!(bar(5.0, 10.0, 20), "#".repeat(10));
        assert_eq!(bar(0.001, 10.0, 20), "#", "a nonzero value gets one cell");
        assert_eq!(bar(0.0, 10.0, 20), "");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(Duration::from_millis(250)), "250 ms");
        assert_eq!(format_duration(Duration::from_millis(2500)), "2.50 s");
    }

    #[test]
    fn commands_display_as_typed() {
        assert_eq!(
            display_command(&["fmt", "--all", "--", "--check"]),
            "cargo fmt --all -- --check"
        );
    }
}
