//! Running a command under a time limit: the child gets its own process group, and if
//! it is still running when the limit passes, the whole group (cargo, the test
//! binaries, their children) is killed. A hang then fails the task in bounded time
//! instead of stalling CI until its own limit.

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

/// How often the child is checked for exit: often enough that the demo's wall times
/// are accurate to a few milliseconds, and still nothing measurable in CPU.
const POLL: Duration = Duration::from_millis(2);

/// Runs `command` (stdio as the caller set it, else inherited) for at most `limit`.
/// `Err` says why it did not finish: it could not start, or it ran out of time and was
/// killed (the message then starts with "killed after").
pub(crate) fn run_with_limit(command: &mut Command, limit: Duration) -> Result<ExitStatus, String> {
    keep_child_statuses();
    let mut child = command
        .process_group(0)
        .spawn()
        .map_err(|e| format!("could not start {:?}: {e}", command.get_program()))?;
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) => {}
            Err(e) => return Err(format!("could not wait for the command: {e}")),
        }
        if Instant::now() >= deadline {
            kill_group(child.id());
            let _ = child.wait();
            return Err(format!("killed after {} s", limit.as_secs()));
        }
        std::thread::sleep(POLL);
    }
}

/// Restores SIGCHLD's default action: started with it ignored (a parent can pass that
/// on), the kernel reaps children itself and their exit statuses are lost, so no step
/// could tell success from failure. Ignoring and the default differ in nothing else.
pub(crate) fn keep_child_statuses() {
    // SAFETY: setting a signal's action to the default has no preconditions.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
}

/// Kills the process group led by `pid`.
fn kill_group(pid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill takes plain integers; a negative pid names the group the child
    // leads (it was started with `process_group(0)`), which holds only its processes.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_within_its_limit_returns_its_status() {
        let status = run_with_limit(Command::new("true").arg(""), Duration::from_secs(60));
        assert!(status.unwrap().success());
        let status = run_with_limit(&mut Command::new("false"), Duration::from_secs(60));
        assert!(!status.unwrap().success());
    }

    #[test]
    fn a_hung_command_and_its_children_are_killed() {
        let started = Instant::now();
        // The shell's child `sleep` is in the same group and dies with it.
        let outcome = run_with_limit(
            Command::new("sh").args(["-c", "sleep 600 & wait"]),
            Duration::from_millis(300),
        );
        let why = outcome.unwrap_err();
        assert!(why.starts_with("killed after"), "{why}");
        assert!(started.elapsed() < Duration::from_secs(60));
    }

    #[test]
    fn a_failing_command_reports_its_code() {
        let status = run_with_limit(
            Command::new("sh").args(["-c", "exit 3"]),
            Duration::from_secs(60),
        );
        assert_eq!(status.unwrap().code(), Some(3));
    }

    #[test]
    fn a_missing_program_is_an_error() {
        let why = run_with_limit(
            &mut Command::new("/nonexistent/conc-xtask-test"),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(why.contains("could not start"), "{why}");
    }
}
