//! `cargo xtask stress [--runs N]`: the whole test suite on a machine that is short of
//! CPU, the way CI's shared 2-core machines often are. Each run has two passes:
//!
//! 1. **busy**: two low-priority (`nice 19`) busy loops keep both CPUs occupied, so
//!    every thread a test starts may wait for its turn;
//! 2. **one CPU**: everything pinned to CPU 0 (`taskset -c 0`), so no two threads ever
//!    run at once.
//!
//! Each pass runs the tests (under nextest's per-test timeout where installed) and the
//! doc tests, each under the CI step's time limit. A test that passes only when its
//! threads are scheduled promptly fails here. Stops at the first failure.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::ci::{TEST_WITHOUT_NEXTEST, nextest_installed};
use crate::watchdog::run_with_limit;
use crate::{TaskResult, cargo, display_command, format_duration};

/// The hidden sub-command a busy-loop process runs.
pub(crate) const BUSY_TASK: &str = "__busy-loop";

/// Time limit of one pass's test command (compiling included).
const PASS_LIMIT: Duration = Duration::from_secs(40 * 60);

/// Runs `cargo xtask stress [--runs N]`.
pub(crate) fn run(args: &[String]) -> TaskResult {
    let runs = parse_runs(args)?;
    let root = crate::project_root();
    let tests: &[&str] = if nextest_installed() {
        &["nextest", "run", "--workspace", "--all-targets"]
    } else {
        println!("==> cargo-nextest is not installed: tests run without per-test timeouts");
        TEST_WITHOUT_NEXTEST
    };
    let commands: [&[&str]; 2] = [tests, &["test", "--workspace", "--doc"]];

    println!("==> building the tests first, so the passes measure only the tests");
    let build = run_with_limit(
        &mut cargo(&root, &["test", "--workspace", "--all-targets", "--no-run"]),
        PASS_LIMIT,
    )?;
    if !build.success() {
        return Err(format!("the tests do not build ({build})"));
    }

    let started = Instant::now();
    for run in 1..=runs {
        for pass in [Pass::Busy, Pass::OneCpu] {
            println!();
            println!("==> stress run {run}/{runs}, pass: {}", pass.describe());
            let pass_started = Instant::now();
            let _load = pass.begin()?;
            for args in commands {
                println!("==> {}", display_command(args));
                let status = run_with_limit(&mut cargo(&root, args), PASS_LIMIT)
                    .map_err(|why| format!("run {run}, {}: {why}", pass.describe()))?;
                if !status.success() {
                    return Err(format!(
                        "run {run}, {}: `{}` failed ({status})",
                        pass.describe(),
                        display_command(args)
                    ));
                }
            }
            println!(
                "==> run {run}, {} passed in {}",
                pass.describe(),
                format_duration(pass_started.elapsed())
            );
        }
    }
    println!();
    println!(
        "==> stress: {runs} run(s) of both passes passed in {}",
        format_duration(started.elapsed())
    );
    Ok(())
}

/// `--runs N` (default 3: CI's bar is three passes in a row).
fn parse_runs(args: &[String]) -> Result<u32, String> {
    match args {
        [] => Ok(3),
        [flag, n] if flag == "--runs" => match n.parse::<u32>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("--runs takes a positive number, not `{n}`")),
        },
        _ => Err(format!(
            "usage: cargo xtask stress [--runs N]; got `{}`",
            args.join(" ")
        )),
    }
}

/// One way of starving the tests of CPU.
#[derive(Debug, Clone, Copy)]
enum Pass {
    Busy,
    OneCpu,
}

impl Pass {
    fn describe(self) -> &'static str {
        match self {
            Pass::Busy => "both CPUs busy",
            Pass::OneCpu => "pinned to CPU 0",
        }
    }

    /// Sets the pass's conditions up; they last until the returned value is dropped.
    fn begin(self) -> Result<Load, String> {
        match self {
            Pass::Busy => {
                let exe = std::env::current_exe()
                    .map_err(|e| format!("cannot find the xtask binary: {e}"))?;
                let loops = (0..2)
                    .map(|_| Command::new(&exe).arg(BUSY_TASK).spawn())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("cannot start a busy loop: {e}"))?;
                Ok(Load::BusyLoops(loops))
            }
            Pass::OneCpu => {
                let all = affinity().map_err(|e| format!("cannot read the CPU affinity: {e}"))?;
                let mut zero = empty_cpu_set();
                // SAFETY: CPU_SET writes one bit inside the set we own.
                unsafe { libc::CPU_SET(0, &mut zero) };
                set_affinity(&zero).map_err(|e| format!("cannot pin to CPU 0: {e}"))?;
                Ok(Load::Pinned(all))
            }
        }
    }
}

/// What a pass set up, undone on drop.
enum Load {
    BusyLoops(Vec<Child>),
    Pinned(libc::cpu_set_t),
}

impl Drop for Load {
    fn drop(&mut self) {
        match self {
            Load::BusyLoops(loops) => {
                for child in loops {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
            Load::Pinned(all) => {
                let _ = set_affinity(all);
            }
        }
    }
}

fn empty_cpu_set() -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is a plain bit array; all zeros is the empty set.
    unsafe { std::mem::zeroed() }
}

/// This process's CPU affinity (children inherit it).
fn affinity() -> std::io::Result<libc::cpu_set_t> {
    let mut set = empty_cpu_set();
    // SAFETY: pid 0 is this thread; the size and pointer describe `set`.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    if rc == 0 {
        Ok(set)
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn set_affinity(set: &libc::cpu_set_t) -> std::io::Result<()> {
    // SAFETY: pid 0 is this thread; the size and pointer describe `set`. xtask runs
    // its passes from the main thread, whose affinity its children inherit.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(set), set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The busy-loop process: lowest priority, dies with its parent, spins forever.
pub(crate) fn busy_loop() -> ! {
    // SAFETY: plain integer arguments. setpriority lowers this process's priority;
    // PR_SET_PDEATHSIG makes it die if xtask does, so no loop outlives a stress run.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    let mut x: u64 = 0;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_default_to_three_and_reject_nonsense() {
        assert_eq!(parse_runs(&[]), Ok(3));
        assert_eq!(parse_runs(&["--runs".into(), "5".into()]), Ok(5));
        assert!(parse_runs(&["--runs".into(), "0".into()]).is_err());
        assert!(parse_runs(&["--runs".into(), "x".into()]).is_err());
        assert!(parse_runs(&["--fast".into()]).is_err());
    }

    #[test]
    fn pinning_is_undone() {
        let before = affinity().unwrap();
        {
            let _pinned = Pass::OneCpu.begin().unwrap();
            let now = affinity().unwrap();
            // SAFETY: CPU_COUNT reads the set we own.
            assert_eq!(unsafe { libc::CPU_COUNT(&now) }, 1);
        }
        let after = affinity().unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { libc::CPU_COUNT(&after) }, unsafe {
            libc::CPU_COUNT(&before)
        });
    }
}
