//! The benchmark workloads of `BENCHMARKS.md`: this workspace beside its peers, measured
//! in the same run on the same machine.
//!
//! ```text
//! cargo xtask bench [W9 W10 ...] [--quick]
//! cargo run --release -p bench -- [W9 W10 ...] [--quick] [--out PATH] [--list]
//! ```
//!
//! Prints a Markdown table (workload, system, value, unit, notes) and writes the same
//! rows as a JSON array to `target/bench/results.json` (or `--out PATH`). Each figure is
//! the median of 5 repetitions, or of 3 at a tenth of the size with `--quick`.
//!
//! # Adding a workload
//!
//! Write a module `wNN_topic.rs` with a `pub(crate) const WORKLOAD: Workload` whose
//! `run` builds its [`harness::Case`]s, calls [`harness::measure`] and turns the
//! statistics into rows; then list it in [`WORKLOADS`].

mod harness;
mod w01_switch;
mod w02_w03_hub;
mod w04_thread_pool;
mod w05_primes;
mod w06_w07_pool;
mod w08_process;
mod w09_queue;
mod w10_lock;
mod w11_offload;
#[cfg(feature = "mpi")]
mod w12_mpi;

use std::path::PathBuf;
use std::process::ExitCode;

use harness::{Config, Report, Workload};

/// Every implemented workload, in table order.
const WORKLOADS: &[&Workload] = &[
    &w01_switch::WORKLOAD,
    &w02_w03_hub::W2,
    &w02_w03_hub::W3,
    &w04_thread_pool::WORKLOAD,
    &w05_primes::WORKLOAD,
    &w06_w07_pool::W6,
    &w06_w07_pool::W7,
    &w08_process::WORKLOAD,
    &w09_queue::WORKLOAD,
    &w10_lock::WORKLOAD,
    &w11_offload::WORKLOAD,
    #[cfg(feature = "mpi")]
    &w12_mpi::WORKLOAD,
];

/// Every workload id of `BENCHMARKS.md`, implemented or not.
const PLANNED: &[&str] = &[
    "W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9", "W10", "W11", "W12",
];

/// The usage text.
const USAGE: &str = "\
usage: bench [W9 W10 ...] [--quick] [--out PATH] [--record PATH] [--list]

  W9 W10 ...     the workloads to run (default: all implemented ones)
  --quick        sizes divided by 10, 3 repetitions instead of 5
  --out PATH     where to write the JSON results (default: target/bench/results.json)
  --record PATH  also file the run's table in this Markdown history (docs/benchmarks.md),
                 as the newest run, under a heading naming the date, CPU and cores
  --list         list the implemented workloads and exit

With several workloads, each runs in a fresh process of its own.";

/// The parsed command line.
#[derive(Debug)]
struct Args {
    /// The workloads to run, in registry order.
    selected: Vec<&'static Workload>,
    /// Full or quick run.
    config: Config,
    /// Where `results.json` goes.
    out: PathBuf,
    /// Set in a child run by the parent: write the report here (see
    /// `harness::report_lines`) instead of printing the table and the JSON.
    report_to: Option<PathBuf>,
    /// The Markdown history to file the run in.
    record: Option<PathBuf>,
}

/// What the command line asks for.
#[derive(Debug)]
enum Command {
    /// Run the benchmarks.
    Run(Args),
    /// Print the usage text.
    Help,
    /// List the workloads.
    List,
}

fn main() -> ExitCode {
    // W8's raw re-exec peer: the cheapest possible start of this binary.
    if std::env::var_os(w08_process::EXIT_AT_ONCE).is_some() {
        return ExitCode::SUCCESS;
    }
    // procspawn's pool workers (W6, W7's peer) run their function from here and exit.
    procspawn::init();
    // W8's spawn children run their function from here; the fork server starts here.
    conc_process::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse_args(&args) {
        Ok(Command::Run(args)) => run(&args),
        Ok(Command::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::List) => {
            for w in WORKLOADS {
                println!("{:<4} {}", w.id, w.title);
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("bench: error: {message}\n\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the selected workloads, prints the table and writes the JSON file.
///
/// With more than one workload, each runs in a process of its own (this binary again,
/// with `--report-to`): a workload measured after others would otherwise inherit their
/// heap, threads and page cache, which skews the ones that start processes (W8).
fn run(args: &Args) -> ExitCode {
    let ids: Vec<&str> = args.selected.iter().map(|w| w.id).collect();
    eprintln!(
        "bench: {} -- {}; threads: {}",
        ids.join(", "),
        args.config.method(),
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    let mut total = Report::default();
    for workload in &args.selected {
        eprintln!("{}: {}", workload.id, workload.title);
        let report = if args.selected.len() > 1 && args.report_to.is_none() {
            match run_in_child(workload, args) {
                Ok(report) => report,
                Err(why) => {
                    eprintln!("bench: error: {} in its own process: {why}", workload.id);
                    return ExitCode::FAILURE;
                }
            }
        } else {
            (workload.run)(&args.config)
        };
        total.rows.extend(report.rows);
        total.verdicts.extend(report.verdicts);
    }
    if let Some(path) = &args.report_to {
        return match std::fs::write(path, harness::report_lines(&total)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench: error: cannot write {}: {e}", path.display());
                ExitCode::FAILURE
            }
        };
    }

    let machine = harness::machine_line();
    println!();
    println!("Run of {machine}:");
    println!();
    print!("{}", harness::markdown_table(&total.rows));
    if !total.verdicts.is_empty() {
        println!();
        for verdict in &total.verdicts {
            println!("- {verdict}");
        }
    }
    if let Some(history) = &args.record {
        let entry = harness::history_entry(&machine, &args.config, &total);
        match harness::record_run(history, &entry) {
            Ok(()) => println!("\nthe run is filed in {}", history.display()),
            Err(e) => {
                eprintln!(
                    "bench: error: cannot file the run in {}: {e}",
                    history.display()
                );
                return ExitCode::FAILURE;
            }
        }
    }
    let chart = args.out.with_file_name("ratios.svg");
    let written = harness::write_json(&args.out, &total.rows)
        .and_then(|()| std::fs::write(&chart, harness::ratios_svg(&total.rows)));
    match written {
        Ok(()) => {
            println!();
            println!(
                "results written to {}, the ratios drawn in {}",
                args.out.display(),
                chart.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: error: cannot write {}: {e}", args.out.display());
            ExitCode::FAILURE
        }
    }
}

/// Runs one workload in a fresh process of this binary and reads its report back.
fn run_in_child(workload: &Workload, args: &Args) -> Result<Report, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let report = args
        .out
        .with_file_name(format!(".{}-{}.report", workload.id, std::process::id()));
    if let Some(dir) = report.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut command = std::process::Command::new(exe);
    command.arg(workload.id).arg("--report-to").arg(&report);
    if args.config.quick {
        command.arg("--quick");
    }
    let status = command
        .status()
        .map_err(|e| format!("cannot start it: {e}"))?;
    let text = std::fs::read_to_string(&report);
    let _ = std::fs::remove_file(&report);
    if !status.success() {
        return Err(format!("it failed ({status})"));
    }
    let text = text.map_err(|e| format!("no report at {}: {e}", report.display()))?;
    harness::parse_report_lines(&text, |id| {
        WORKLOADS.iter().find(|w| w.id == id).map(|w| w.id)
    })
}

/// Parses the command line; errors say what was wrong.
fn parse_args(args: &[String]) -> Result<Command, String> {
    let mut config = Config::FULL;
    let mut out = None;
    let mut report_to = None;
    let mut record = None;
    let mut ids: Vec<&str> = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--quick" => config = Config::QUICK,
            "--out" => {
                let path = iter.next().ok_or("`--out` needs a path")?;
                out = Some(PathBuf::from(path));
            }
            "--record" => {
                let path = iter.next().ok_or("`--record` needs a path")?;
                record = Some(PathBuf::from(path));
            }
            "--report-to" => {
                let path = iter.next().ok_or("`--report-to` needs a path")?;
                report_to = Some(PathBuf::from(path));
            }
            "--list" => return Ok(Command::List),
            "-h" | "--help" => return Ok(Command::Help),
            flag if flag.starts_with("--out=") => {
                out = Some(PathBuf::from(&flag["--out=".len()..]));
            }
            flag if flag.starts_with('-') => return Err(format!("unknown option `{flag}`")),
            id => ids.push(id),
        }
    }

    let mut selected: Vec<&'static Workload> = Vec::new();
    for id in ids {
        let workload = find_workload(id)?;
        if !selected.iter().any(|w| w.id == workload.id) {
            selected.push(workload);
        }
    }
    if selected.is_empty() {
        selected = WORKLOADS.to_vec();
    } else {
        // Table order, whatever order they were named in.
        selected.sort_by_key(|w| WORKLOADS.iter().position(|r| r.id == w.id));
    }
    let out = out.unwrap_or_else(default_out);
    Ok(Command::Run(Args {
        selected,
        config,
        out,
        report_to,
        record,
    }))
}

/// The workload with this id (`W9`, `w9`); errors list the implemented ones.
fn find_workload(id: &str) -> Result<&'static Workload, String> {
    if let Some(workload) = WORKLOADS.iter().find(|w| w.id.eq_ignore_ascii_case(id)) {
        return Ok(workload);
    }
    let known: Vec<&str> = WORKLOADS.iter().map(|w| w.id).collect();
    let known = known.join(", ");
    if id.eq_ignore_ascii_case("W12") {
        Err(format!(
            "workload `W12` needs the bench's `mpi` feature and a system MPI (`cargo xtask \
             bench W12` turns it on where `mpiexec` is installed); built here: {known}"
        ))
    } else if PLANNED.iter().any(|p| p.eq_ignore_ascii_case(id)) {
        Err(format!(
            "workload `{id}` is planned in BENCHMARKS.md but not implemented yet; \
             implemented workloads: {known}"
        ))
    } else {
        Err(format!("unknown workload `{id}`; known workloads: {known}"))
    }
}

/// `target/bench/results.json` under the workspace root this crate was built in.
fn default_out() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().unwrap_or(&manifest_dir);
    root.join("target").join("bench").join("results.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn selected(args: &[&str]) -> Vec<&'static str> {
        match parse(args).unwrap() {
            Command::Run(a) => a.selected.iter().map(|w| w.id).collect(),
            other => panic!("not a run: {other:?}"),
        }
    }

    #[test]
    fn registry_ids_are_unique_and_planned() {
        for (i, w) in WORKLOADS.iter().enumerate() {
            assert!(PLANNED.contains(&w.id), "{} is not in BENCHMARKS.md", w.id);
            assert!(
                WORKLOADS[..i].iter().all(|o| o.id != w.id),
                "{} twice",
                w.id
            );
        }
    }

    #[test]
    fn selection_defaults_to_all_and_keeps_table_order() {
        let mut all = vec![
            "W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9", "W10", "W11",
        ];
        if cfg!(feature = "mpi") {
            all.push("W12");
        }
        assert_eq!(selected(&[]), all);
        assert_eq!(selected(&["w10", "W9", "W10"]), ["W9", "W10"]);
        assert_eq!(selected(&["W9", "w5", "W4"]), ["W4", "W5", "W9"]);
        assert_eq!(selected(&["W10", "--quick"]), ["W10"]);
    }

    #[test]
    fn unknown_ids_list_the_known_ones() {
        let err = parse(&["W42"]).unwrap_err();
        assert!(err.contains("unknown workload `W42`"), "{err}");
        assert!(
            err.contains("W1, W2, W3, W4, W5, W6, W7, W8, W9, W10"),
            "{err}"
        );
        if cfg!(feature = "mpi") {
            assert!(parse(&["W12"]).is_ok());
        } else {
            let err = parse(&["W12"]).unwrap_err();
            assert!(err.contains("needs the bench's `mpi` feature"), "{err}");
        }
    }

    #[test]
    fn options_parse() {
        let Command::Run(args) = parse(&["--quick", "--out", "/tmp/x.json"]).unwrap() else {
            panic!("not a run");
        };
        assert!(args.config.quick);
        assert_eq!(args.config.reps, 3);
        assert_eq!(args.out, PathBuf::from("/tmp/x.json"));
        let Command::Run(args) = parse(&["--out=/tmp/y.json"]).unwrap() else {
            panic!("not a run");
        };
        assert!(!args.config.quick);
        assert_eq!(args.out, PathBuf::from("/tmp/y.json"));
        assert!(parse(&["--out"]).is_err());
        assert!(parse(&["--fast"]).is_err());
        assert!(matches!(parse(&["--list"]), Ok(Command::List)));
    }

    #[test]
    fn default_out_is_under_the_workspace_target() {
        assert!(default_out().ends_with("target/bench/results.json"));
    }
}
