//! `cargo xtask demo [NAME...]`: the guided tour of the examples.
//!
//! The tour is `examples/demo.txt`, one scenario per line in tour order:
//!
//! ```text
//! name | title | what it shows
//! ```
//!
//! Blank lines and lines starting with `#` are ignored; `name` is the example's name in
//! `examples/Cargo.toml`. The examples are built once in release mode, then each
//! scenario runs under a heading with its title and what it shows, and its wall-clock
//! time is measured. A failing scenario does not stop the tour; the task fails at the
//! end. A summary table and an ASCII bar chart of the timings close the tour.
//!
//! Scenarios that mark their workers' busy stretches (`examples::timeline`) are drawn:
//! a text timeline after each (one row per thread, greenlet or process, time across),
//! and at the end `target/demo/timeline.svg` (a panel per scenario) with
//! `target/demo/index.html` linking the panels. `--no-pictures` skips both, `--list`
//! prints the tour.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::timeline::{self, Panel, TIMELINE_VAR};
use crate::watchdog::run_with_limit;
use crate::{TaskResult, bar, cargo, display_command, format_duration};

/// The tour file, relative to the workspace root.
const DEMO_FILE: &str = "examples/demo.txt";

/// The build that produces every example binary.
const BUILD_ARGS: &[&str] = &["build", "--release", "-p", "examples", "--examples"];

/// The scenarios that run as an MPI job (`mpiexec -n 3`): built with the examples'
/// `mpi` feature where `mpiexec` is installed, reported as not run elsewhere.
const MPI_SCENARIOS: &[&str] = &["futures_mpi"];

/// How to get what the MPI scenarios need.
const MPI_HOW: &str = "needs a system MPI: `apt-get install mpich libmpich-dev libclang-dev` \
                       (or Open MPI), then `cargo xtask demo futures_mpi`";

/// A scenario still running after this long is killed and counted as failed.
const TIMEOUT: Duration = Duration::from_secs(300);

/// Widest bar in the timing chart, in characters.
const CHART_WIDTH: usize = 40;

/// Width of a scenario's text timeline, in characters.
const TIMELINE_WIDTH: usize = 60;

/// One line of the tour file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Scenario {
    /// The example's name: the binary to run.
    name: String,
    /// The heading shown above its output.
    title: String,
    /// One line saying what the scenario demonstrates.
    shows: String,
}

/// How a scenario ended.
#[derive(Debug)]
enum Outcome {
    /// The program exited with status 0.
    Passed,
    /// The program failed; the text says how.
    Failed(String),
    /// The scenario cannot run here; the text says what it needs.
    NotRun(String),
}

/// A scenario's result, for the summary.
#[derive(Debug)]
struct Run<'a> {
    /// The scenario that ran.
    scenario: &'a Scenario,
    /// How it ended.
    outcome: Outcome,
    /// Its wall-clock time, process start to exit.
    elapsed: Duration,
    /// The busy stretches it recorded, if pictures were asked for.
    panel: Option<Panel>,
}

/// Runs `cargo xtask demo [NAME...]`.
pub(crate) fn run(args: &[String]) -> TaskResult {
    let mut names = Vec::new();
    let (mut list, mut pictures) = (false, true);
    for arg in args {
        match arg.as_str() {
            "--list" => list = true,
            "--no-pictures" => pictures = false,
            flag if flag.starts_with('-') => {
                return Err(format!(
                    "unknown option `{flag}`; usage: cargo xtask demo [--list] [--no-pictures] [NAME...]"
                ));
            }
            name => names.push(name.to_owned()),
        }
    }
    let root = crate::project_root();
    let tour_path = root.join(DEMO_FILE);
    let text = std::fs::read_to_string(&tour_path).map_err(|e| {
        format!(
            "cannot read the tour file {}: {e}\n       \
             `cargo xtask demo` runs the scenarios listed there, one `name | title | what it shows` a line",
            tour_path.display()
        )
    })?;
    let tour = parse_tour(&text)?;
    if tour.is_empty() {
        return Err(format!("{} lists no scenarios", tour_path.display()));
    }
    let selected = select(&tour, &names)?;
    if list {
        for scenario in &selected {
            println!("{:<24} {}", scenario.name, scenario.title);
        }
        return Ok(());
    }

    let mpi = crate::ci::on_path("mpiexec");
    let mut build: Vec<&str> = BUILD_ARGS.to_vec();
    if mpi {
        build.extend(["--features", "mpi"]);
    }
    println!("==> building the examples: {}", display_command(&build));
    let status = cargo(&root, &build)
        .status()
        .map_err(|e| format!("could not start cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "building the examples failed ({status}): {}",
            display_command(&build)
        ));
    }

    let bin_dir = crate::target_dir(&root).join("release").join("examples");
    let demo_dir = crate::target_dir(&root).join("demo");
    let timelines = pictures.then_some(demo_dir.as_path());
    if let Some(dir) = timelines {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let tour_started = Instant::now();
    let mut runs: Vec<Run<'_>> = selected
        .iter()
        .enumerate()
        .map(|(i, scenario)| {
            run_scenario(&root, &bin_dir, timelines, scenario, i + 1, selected.len())
        })
        .collect();
    print_summary(&runs, tour_started.elapsed());
    if pictures {
        let panels: Vec<Panel> = runs.iter_mut().filter_map(|r| r.panel.take()).collect();
        write_pictures(&demo_dir, &panels)?;
    }

    let failed: Vec<&str> = runs
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .map(|r| r.scenario.name.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} scenarios failed: {}",
            failed.len(),
            runs.len(),
            failed.join(", ")
        ))
    }
}

/// Parses the tour file; errors name the offending line.
fn parse_tour(text: &str) -> Result<Vec<Scenario>, String> {
    let mut tour = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.splitn(3, '|').map(str::trim);
        let (Some(name), Some(title), Some(shows)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(format!(
                "{DEMO_FILE}:{}: expected `name | title | what it shows`, got `{line}`",
                number + 1
            ));
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(format!(
                "{DEMO_FILE}:{}: `{name}` is not an example name",
                number + 1
            ));
        }
        if tour.iter().any(|s: &Scenario| s.name == name) {
            return Err(format!(
                "{DEMO_FILE}:{}: scenario `{name}` is listed twice",
                number + 1
            ));
        }
        tour.push(Scenario {
            name: name.to_owned(),
            title: title.to_owned(),
            shows: shows.to_owned(),
        });
    }
    Ok(tour)
}

/// The scenarios named on the command line, in that order; all of them if none is named.
fn select<'a>(tour: &'a [Scenario], names: &[String]) -> Result<Vec<&'a Scenario>, String> {
    if names.is_empty() {
        return Ok(tour.iter().collect());
    }
    names
        .iter()
        .map(|name| {
            tour.iter().find(|s| &s.name == name).ok_or_else(|| {
                let known: Vec<&str> = tour.iter().map(|s| s.name.as_str()).collect();
                format!(
                    "no scenario `{name}` in {DEMO_FILE}; known scenarios: {}",
                    known.join(", ")
                )
            })
        })
        .collect()
}

/// Writes the SVG of every recorded panel and the index page linking them.
fn write_pictures(dir: &Path, panels: &[Panel]) -> Result<(), String> {
    if panels.is_empty() {
        println!("==> no scenario recorded a timeline; nothing drawn");
        return Ok(());
    }
    let svg = dir.join("timeline.svg");
    let index = dir.join("index.html");
    std::fs::write(&svg, timeline::svg(panels))
        .and_then(|()| std::fs::write(&index, timeline::index_html(panels)))
        .map_err(|e| format!("cannot write the pictures in {}: {e}", dir.display()))?;
    println!(
        "==> timelines of {} scenarios: {} (open {})",
        panels.len(),
        svg.display(),
        index.display()
    );
    Ok(())
}

/// Runs one scenario under its heading, its output going straight to the terminal.
fn run_scenario<'a>(
    root: &Path,
    bin_dir: &Path,
    timelines: Option<&Path>,
    scenario: &'a Scenario,
    number: usize,
    count: usize,
) -> Run<'a> {
    println!();
    println!("{}", "=".repeat(78));
    println!("[{number}/{count}] {}  ({})", scenario.title, scenario.name);
    println!("    {}", scenario.shows);
    println!("{}", "-".repeat(78));

    let binary = example_binary(bin_dir, &scenario.name);
    let trace = timelines.map(|dir| dir.join(format!("{}.timeline", scenario.name)));
    if let Some(trace) = &trace {
        let _ = std::fs::remove_file(trace);
    }
    let started = Instant::now();
    let as_mpi_job = MPI_SCENARIOS.contains(&scenario.name.as_str());
    let outcome = if as_mpi_job && !crate::ci::on_path("mpiexec") {
        Outcome::NotRun(MPI_HOW.to_string())
    } else if binary.is_file() {
        let mut command = if as_mpi_job {
            let mut job = Command::new("mpiexec");
            job.args(["-n", "3"]).arg(&binary);
            job
        } else {
            Command::new(&binary)
        };
        command.current_dir(root).stdin(Stdio::null());
        if let Some(trace) = &trace {
            command.env(TIMELINE_VAR, trace);
        }
        match run_with_limit(&mut command, TIMEOUT) {
            Ok(status) if status.success() => Outcome::Passed,
            Ok(status) => Outcome::Failed(format!("exited with {status}")),
            Err(why) => Outcome::Failed(why),
        }
    } else {
        Outcome::Failed(format!(
            "no binary at {}: is `{}` an [[example]] of examples/Cargo.toml?",
            binary.display(),
            scenario.name
        ))
    };
    let elapsed = started.elapsed();

    println!("{}", "-".repeat(78));
    match &outcome {
        Outcome::Passed => println!("{}: ok in {}", scenario.name, format_duration(elapsed)),
        Outcome::NotRun(why) => println!("{}: not run: {why}", scenario.name),
        Outcome::Failed(why) => println!(
            "{}: FAILED after {}: {why}",
            scenario.name,
            format_duration(elapsed)
        ),
    }
    let spans = trace
        .and_then(|t| std::fs::read_to_string(t).ok())
        .map(|text| timeline::parse(&text))
        .unwrap_or_default();
    let panel = (!spans.is_empty()).then(|| {
        println!("who ran when:");
        print!("{}", timeline::terminal(&spans, TIMELINE_WIDTH));
        Panel {
            name: scenario.name.clone(),
            title: scenario.title.clone(),
            spans,
        }
    });
    Run {
        scenario,
        outcome,
        elapsed,
        panel,
    }
}

/// The path of a release example binary.
fn example_binary(bin_dir: &Path, name: &str) -> PathBuf {
    bin_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Prints the summary table and the timing chart.
fn print_summary(runs: &[Run<'_>], total: Duration) {
    let name_width = runs
        .iter()
        .map(|r| r.scenario.name.len())
        .max()
        .unwrap_or(4)
        .max(8);
    println!();
    println!("{}", "=".repeat(78));
    println!("demo summary");
    println!();
    println!(
        "  {:>2}  {:<name_width$}  {:<6}  {:>9}  title",
        "#", "scenario", "result", "time"
    );
    for (i, run) in runs.iter().enumerate() {
        let result = match run.outcome {
            Outcome::Passed => "ok",
            Outcome::Failed(_) => "FAILED",
            Outcome::NotRun(_) => "not run",
        };
        println!(
            "  {:>2}  {:<name_width$}  {:<6}  {:>9}  {}",
            i + 1,
            run.scenario.name,
            result,
            format_duration(run.elapsed),
            run.scenario.title
        );
    }

    println!();
    println!("wall-clock time per scenario:");
    println!();
    let longest = runs
        .iter()
        .map(|r| r.elapsed.as_secs_f64())
        .fold(0.0, f64::max);
    for run in runs {
        let secs = run.elapsed.as_secs_f64();
        let mark = match run.outcome {
            Outcome::Passed | Outcome::NotRun(_) => ' ',
            Outcome::Failed(_) => '!',
        };
        println!(
            "  {:<name_width$} {mark}|{:<CHART_WIDTH$}| {}",
            run.scenario.name,
            bar(secs, longest, CHART_WIDTH),
            format_duration(run.elapsed)
        );
    }
    let passed = runs
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Passed))
        .count();
    let not_run = runs
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::NotRun(_)))
        .count();
    let ran = runs.len() - not_run;
    println!();
    println!(
        "{passed} of {ran} scenarios passed{}; the tour took {}{}",
        if not_run > 0 {
            format!(" ({not_run} not run here: {MPI_HOW})")
        } else {
            String::new()
        },
        format_duration(total),
        if passed == ran {
            ""
        } else {
            " (! marks a failure)"
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_and_skips_comments() {
        let tour = parse_tour(
            "# a comment\n\n  a_one | First | shows a | with a bar\nb_two|Second|shows b\n",
        )
        .unwrap();
        assert_eq!(tour.len(), 2);
        assert_eq!(tour[0].name, "a_one");
        assert_eq!(tour[0].title, "First");
        assert_eq!(
            tour[0].shows, "shows a | with a bar",
            "only the first two bars split"
        );
        assert_eq!(tour[1].shows, "shows b");
    }

    #[test]
    fn malformed_lines_name_their_line_number() {
        let err = parse_tour("# ok\nonly_a_name | no third field\n").unwrap_err();
        assert!(err.contains("demo.txt:2"), "{err}");
        let err = parse_tour("a | A | x\na | A again | y\n").unwrap_err();
        assert!(err.contains("listed twice"), "{err}");
    }

    #[test]
    fn selection_keeps_the_given_order_and_rejects_unknown_names() {
        let tour = parse_tour("a | A | x\nb | B | y\nc | C | z\n").unwrap();
        let picked = select(&tour, &["c".into(), "a".into()]).unwrap();
        assert_eq!(
            picked.iter().map(|s| &*s.name).collect::<Vec<_>>(),
            ["c", "a"]
        );
        let err = select(&tour, &["nope".into()]).unwrap_err();
        assert!(err.contains("known scenarios: a, b, c"), "{err}");
        assert_eq!(select(&tour, &[]).unwrap().len(), 3);
    }

    #[cfg(unix)]
    #[test]
    fn the_real_tour_file_parses() {
        let path = crate::project_root().join(DEMO_FILE);
        // The examples are written separately; only check the file once it exists.
        if let Ok(text) = std::fs::read_to_string(path) {
            assert!(!parse_tour(&text).unwrap().is_empty());
        }
    }
}
