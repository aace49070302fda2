//! `cargo xtask bench [W9 W10 ...] [--quick]`: the workloads of `BENCHMARKS.md`.
//!
//! The measuring is done by the `bench` crate, built in release mode; this task only
//! starts it with the arguments given here and tells it where the results go:
//! `<target dir>/bench/results.json`, with the ratios drawn beside it in `ratios.svg`.
//! The bench binary runs each workload in a fresh process, repeats each measurement
//! (median and spread reported), and prints the Markdown table under a line naming the
//! date, the CPU and the core count. A full run (every workload, full size) is also
//! filed in docs/benchmarks.md as the newest run, so the history keeps every full
//! run; a subset or a `--quick` run is only printed.

use crate::{TaskResult, cargo, display_command};

/// Runs `cargo xtask bench [W9 W10 ...] [--quick]`.
pub(crate) fn run(args: &[String]) -> TaskResult {
    let root = crate::project_root();
    let out = crate::target_dir(&root).join("bench").join("results.json");
    let out = out
        .to_str()
        .ok_or_else(|| format!("the results path {} is not UTF-8", out.display()))?
        .to_owned();

    let mut cargo_args = vec!["run", "--release", "-p", "bench"];
    // W12 needs a system MPI: built in where one is installed, left out (and named as
    // missing when asked for) elsewhere.
    if crate::ci::on_path("mpiexec") {
        cargo_args.extend(["--features", "mpi"]);
    }
    cargo_args.push("--");
    cargo_args.extend(args.iter().map(String::as_str));
    if !args.iter().any(|a| a == "--out" || a.starts_with("--out=")) {
        cargo_args.extend(["--out", out.as_str()]);
    }
    let history = root.join("docs").join("benchmarks.md");
    let history = history
        .to_str()
        .ok_or_else(|| format!("the history path {} is not UTF-8", history.display()))?
        .to_owned();
    if is_full_run(args) {
        cargo_args.extend(["--record", history.as_str()]);
    }
    println!("==> {}", display_command(&cargo_args));
    let status = cargo(&root, &cargo_args)
        .status()
        .map_err(|e| format!("could not start cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the benchmarks failed ({status})"))
    }
}

/// Whether `args` ask for every workload at full size: the runs the history keeps.
fn is_full_run(args: &[String]) -> bool {
    !args
        .iter()
        .any(|a| a == "--quick" || a == "--list" || a == "--record" || !a.starts_with('-'))
}

#[cfg(test)]
mod tests {
    use super::is_full_run;

    #[test]
    fn only_a_full_run_of_everything_is_filed() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(is_full_run(&args(&[])));
        assert!(!is_full_run(&args(&["W9"])));
        assert!(!is_full_run(&args(&["--quick"])));
        assert!(!is_full_run(&args(&["--list"])));
    }
}
