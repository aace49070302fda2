//! `cargo xtask ci`: every check the project's CI runs, in order, stopping at the first
//! failure.
//!
//! `.ci/run` does nothing but print versions and call this task, so a green
//! `cargo xtask ci` on a laptop means a green CI run. `cargo xtask ci --list` prints the
//! steps without running them.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::watchdog::run_with_limit;
use crate::{TaskResult, cargo, display_command, format_duration};

/// One CI step: a cargo command with optional extra environment.
#[derive(Debug)]
struct Step {
    /// Short name, used in headings, the summary and failure messages.
    name: &'static str,
    /// Arguments to `cargo`.
    args: &'static [&'static str],
    /// Environment variables set for this step only.
    env: &'static [(&'static str, &'static str)],
    /// The step is killed and fails if it runs longer (a hang must not eat CI's 90
    /// minutes). Generous: compiling from scratch on 2 cores is included.
    limit: Duration,
    /// A program the step needs on `PATH`, and how to get it: without it the step is
    /// reported as not run instead of failing (`.ci/run` installs it).
    needs: Option<(&'static str, &'static str)>,
}

/// What the MPI steps need.
const MPI: Option<(&str, &str)> = Some((
    "mpiexec",
    "a system MPI: `apt-get install mpich libmpich-dev libclang-dev` (what .ci/run does)",
));

const MINUTE: Duration = Duration::from_secs(60);

/// The test step's command when cargo-nextest is missing: libtest has no per-test
/// timeout, so only the step's limit bounds a hang.
pub(crate) const TEST_WITHOUT_NEXTEST: &[&str] = &["test", "--workspace", "--all-targets"];

/// The steps, in the order they run. Cheap checks go first so they fail fast.
const STEPS: &[Step] = &[
    Step {
        name: "fmt",
        args: &["fmt", "--all", "--", "--check"],
        env: &[],
        limit: MINUTE.saturating_mul(5),
        needs: None,
    },
    Step {
        name: "clippy",
        args: &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        env: &[],
        limit: MINUTE.saturating_mul(30),
        needs: None,
    },
    Step {
        name: "doc",
        args: &["doc", "--workspace", "--no-deps"],
        env: &[("RUSTDOCFLAGS", "-D warnings")],
        limit: MINUTE.saturating_mul(20),
        needs: None,
    },
    // Every test in its own process under nextest's per-test timeout
    // (.config/nextest.toml): a hung test is killed and named within minutes.
    Step {
        name: "test",
        args: &["nextest", "run", "--workspace", "--all-targets"],
        env: &[],
        limit: MINUTE.saturating_mul(40),
        needs: None,
    },
    // Doc tests are not run by nextest; libtest names one running over 60 s.
    Step {
        name: "doctest",
        args: &["test", "--workspace", "--doc"],
        env: &[],
        limit: MINUTE.saturating_mul(30),
        needs: None,
    },
    // The `mpi` feature (off by default: it needs a system MPI), linted with its
    // example and benchmark, and tested under `mpiexec -n 3` (tests/mpi.rs starts
    // itself so).
    Step {
        name: "mpi-lint",
        args: &[
            "clippy",
            "-p",
            "conc-futures",
            "-p",
            "examples",
            "-p",
            "bench",
            "--all-targets",
            "--features",
            "conc-futures/mpi,examples/mpi,bench/mpi",
            "--",
            "-D",
            "warnings",
        ],
        env: &[],
        limit: MINUTE.saturating_mul(20),
        needs: MPI,
    },
    Step {
        name: "mpi",
        args: &[
            "test",
            "-p",
            "conc-futures",
            "--features",
            "mpi",
            "--lib",
            "--test",
            "mpi",
        ],
        env: &[],
        limit: MINUTE.saturating_mul(20),
        needs: MPI,
    },
    Step {
        name: "package",
        args: &[
            "package",
            "--workspace",
            "--exclude",
            "examples",
            "--exclude",
            "xtask",
            "--exclude",
            "bench",
            "--allow-dirty",
        ],
        env: &[],
        limit: MINUTE.saturating_mul(30),
        needs: None,
    },
];

/// How a step ended, for the summary.
#[derive(Debug)]
enum Outcome {
    /// The command exited with status 0 after this long.
    Passed(Duration),
    /// The command failed (or could not start) after this long.
    Failed(Duration),
    /// An earlier step failed, so this one did not run.
    Skipped,
    /// The program the step needs is not installed here.
    Unavailable,
}

/// Runs `cargo xtask ci [--list]`.
pub(crate) fn run(args: &[String]) -> TaskResult {
    match args {
        [] => {}
        [flag] if flag == "--list" => {
            for (i, step) in STEPS.iter().enumerate() {
                println!("{}. {:<8} {}", i + 1, step.name, step_command(step));
            }
            return Ok(());
        }
        _ => {
            return Err(format!(
                "`cargo xtask ci` takes no arguments but `--list`; got `{}`",
                args.join(" ")
            ));
        }
    }

    let root = crate::project_root();
    let started = Instant::now();
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(STEPS.len());
    let mut failure = None;
    for (i, step) in STEPS.iter().enumerate() {
        if failure.is_some() {
            outcomes.push(Outcome::Skipped);
            continue;
        }
        println!();
        println!(
            "==> ci step {}/{}: {}  ({})",
            i + 1,
            STEPS.len(),
            step.name,
            step_command(step)
        );
        if let Some((program, how)) = step.needs
            && !on_path(program)
        {
            println!("==> {} not run: it needs `{program}`, {how}", step.name);
            outcomes.push(Outcome::Unavailable);
            continue;
        }
        let step_started = Instant::now();
        let result = run_step(&root, step);
        let elapsed = step_started.elapsed();
        match result {
            Ok(()) => {
                println!("==> {} passed in {}", step.name, format_duration(elapsed));
                outcomes.push(Outcome::Passed(elapsed));
            }
            Err(why) => {
                println!(
                    "==> {} FAILED after {}",
                    step.name,
                    format_duration(elapsed)
                );
                outcomes.push(Outcome::Failed(elapsed));
                failure = Some(format!(
                    "ci step {}/{} `{}` failed: {why}\n       command: {}",
                    i + 1,
                    STEPS.len(),
                    step.name,
                    step_command(step)
                ));
            }
        }
    }

    print_summary(&outcomes, started.elapsed());
    match failure {
        None => Ok(()),
        Some(message) => Err(message),
    }
}

/// The crates `cargo package` verifies against each other.
const PUBLISHED: &[&str] = &["conc-thread", "conc-coro", "conc-process", "conc-futures"];

/// Removes the sources cargo unpacked from earlier `cargo package` runs of this
/// workspace's own crates.
///
/// `cargo package --workspace` verifies each crate against the others' freshly packed
/// `.crate` files through a temporary local registry, and unpacks them under
/// `$CARGO_HOME/registry/src/-<hash>/<name>-<version>`; an unpacked directory already
/// there is reused, not refreshed. A crate changed without a version bump (the usual
/// case between releases) was then verified against its stale copy, and the package
/// step failed for code that no longer exists. Only those local registries (their
/// directory names start with `-`; crates.io's do not) and only our crates are touched.
fn forget_packaged_sources() {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    let Some(src) = cargo_home.map(|h| h.join("registry").join("src")) else {
        return;
    };
    let Ok(registries) = std::fs::read_dir(&src) else {
        return;
    };
    for registry in registries.flatten() {
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        let Ok(crates) = std::fs::read_dir(registry.path()) else {
            continue;
        };
        for unpacked in crates.flatten() {
            if is_unpacked_published(&unpacked.file_name().to_string_lossy()) {
                let _ = std::fs::remove_dir_all(unpacked.path());
            }
        }
    }
}

/// Removes the debug build artifacts of our crates, so `cargo package` verifies each
/// crate against freshly compiled copies of the others.
///
/// The verification builds the other crates from the temporary registry into the
/// workspace's target directory, and cargo takes a registry package as immutable: an
/// artifact built from an earlier packing of the same version is reused without a look
/// at the sources (a crate verified against a copy of its dependency that lacked a new
/// function failed the step). Only our four crates are rebuilt afterwards.
fn forget_packaged_builds(root: &Path) {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let debug = target.join("debug");
    for (dir, prefix_of) in [
        (
            debug.join(".fingerprint"),
            (|k: &str| format!("{k}-")) as fn(&str) -> String,
        ),
        (debug.join("deps"), |k: &str| {
            format!("lib{}-", k.replace('-', "_"))
        }),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let prefixes: Vec<String> = PUBLISHED.iter().map(|k| prefix_of(k)).collect();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if prefixes.iter().any(|p| name.starts_with(p.as_str())) {
                let path = entry.path();
                let _ = if path.is_dir() {
                    std::fs::remove_dir_all(path)
                } else {
                    std::fs::remove_file(path)
                };
            }
        }
    }
}

/// Whether `dir` names an unpacked version of one of our crates (`<name>-<version>`).
fn is_unpacked_published(dir: &str) -> bool {
    PUBLISHED.iter().any(|krate| {
        dir.strip_prefix(krate)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|version| version.starts_with(|c: char| c.is_ascii_digit()))
    })
}

/// Runs one step with inherited stdio, under its time limit; `Err` says why it failed.
fn run_step(root: &Path, step: &Step) -> Result<(), String> {
    if step.name == "package" {
        forget_packaged_sources();
        forget_packaged_builds(root);
    }
    let args = step_args(step);
    if args != step.args {
        println!(
            "==> cargo-nextest is not installed (`cargo install cargo-nextest --locked`); \
             running `{}` without per-test timeouts",
            display_command(args)
        );
    }
    let mut command = cargo(root, args);
    for (key, value) in step.env {
        command.env(key, value);
    }
    let status = run_with_limit(&mut command, step.limit).map_err(|why| {
        format!(
            "{why}; a test running too long is named above (SLOW, TIMEOUT, or \
             \"has been running for over 60 seconds\")"
        )
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo exited with {status}"))
    }
}

/// The arguments a step really runs with: the nextest step falls back to
/// `cargo test` where nextest is not installed.
fn step_args(step: &Step) -> &'static [&'static str] {
    if step.args.first() == Some(&"nextest") && !nextest_installed() {
        TEST_WITHOUT_NEXTEST
    } else {
        step.args
    }
}

/// Whether `program` is an executable file in a directory of `PATH`.
pub(crate) fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Whether `cargo nextest` works here.
pub(crate) fn nextest_installed() -> bool {
    std::process::Command::new(crate::cargo_program())
        .args(["nextest", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The step's command line, with its environment, as a user would type it.
fn step_command(step: &Step) -> String {
    let mut line = String::new();
    for (key, value) in step.env {
        line.push_str(&format!("{key}=\"{value}\" "));
    }
    line.push_str(&display_command(step.args));
    line
}

/// Prints the per-step table and the total time.
fn print_summary(outcomes: &[Outcome], total: Duration) {
    println!();
    println!("==> ci summary");
    println!("  {:<8}  {:<7}  {:>9}", "step", "result", "time");
    for (step, outcome) in STEPS.iter().zip(outcomes) {
        let (result, time) = match outcome {
            Outcome::Passed(t) => ("ok", format_duration(*t)),
            Outcome::Failed(t) => ("FAILED", format_duration(*t)),
            Outcome::Skipped => ("skipped", String::from("-")),
            Outcome::Unavailable => ("not run", String::from("-")),
        };
        println!("  {:<8}  {:<7}  {:>9}", step.name, result, time);
    }
    let all_passed = outcomes
        .iter()
        .all(|o| matches!(o, Outcome::Passed(_) | Outcome::Unavailable));
    println!(
        "  {} in {}",
        if all_passed {
            "all steps passed"
        } else {
            "ci FAILED"
        },
        format_duration(total)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_in_the_documented_order() {
        let names: Vec<_> = STEPS.iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "fmt", "clippy", "doc", "test", "doctest", "mpi-lint", "mpi", "package"
            ]
        );
    }

    #[test]
    fn only_the_mpi_steps_need_mpi_and_a_missing_program_is_seen() {
        let needing: Vec<_> = STEPS
            .iter()
            .filter(|s| s.needs.is_some())
            .map(|s| s.name)
            .collect();
        assert_eq!(needing, ["mpi-lint", "mpi"]);
        assert!(on_path("sh"));
        assert!(!on_path("conc-no-such-program"));
    }

    #[test]
    fn doc_step_denies_warnings() {
        let doc = STEPS.iter().find(|s| s.name == "doc").unwrap();
        assert_eq!(
            step_command(doc),
            "RUSTDOCFLAGS=\"-D warnings\" cargo doc --workspace --no-deps"
        );
    }

    #[test]
    fn every_step_has_a_limit_and_the_tests_run_under_nextest() {
        assert!(STEPS.iter().all(|s| s.limit >= MINUTE));
        let test = STEPS.iter().find(|s| s.name == "test").unwrap();
        assert_eq!(test.args[..2], ["nextest", "run"]);
        assert_eq!(TEST_WITHOUT_NEXTEST[0], "test");
    }

    #[test]
    fn only_our_unpacked_crates_are_forgotten() {
        assert!(is_unpacked_published("conc-thread-0.1.1"));
        assert!(is_unpacked_published("conc-futures-1.0.0-rc.1"));
        assert!(!is_unpacked_published("conc-threadpool-0.1.0"));
        assert!(!is_unpacked_published("conc-thread-extras-0.1.0"));
        assert!(!is_unpacked_published("serde-1.0.0"));
    }

    #[test]
    fn the_published_crates_are_the_workspace_crates() {
        let crates = crate::project_root().join("crates");
        let mut found: Vec<String> = std::fs::read_dir(crates)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        found.sort();
        let mut published = PUBLISHED.to_vec();
        published.sort();
        assert_eq!(found, published);
    }

    #[test]
    fn package_step_leaves_out_the_unpublished_crates() {
        let package = STEPS.iter().find(|s| s.name == "package").unwrap();
        for krate in ["examples", "xtask", "bench"] {
            assert!(
                package.args.windows(2).any(|w| w == ["--exclude", krate]),
                "{krate} is not excluded"
            );
        }
    }
}
