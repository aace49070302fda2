//! Test helper: waiting for a forked child with a bound, so a hung child fails the
//! test by name instead of hanging it.

use std::time::{Duration, Instant};

/// How long a child that should take milliseconds may run before it counts as hung.
const BOUND: Duration = Duration::from_secs(30);

/// Waits for child `pid` (SIGCHLD must be at its default action, which the caller
/// sets); panics with `hung` if it runs past the bound (it is killed and reaped first),
/// and asserts it exited with status 0.
pub(crate) fn expect_child_success(pid: libc::pid_t, hung: &str) {
    let deadline = Instant::now() + BOUND;
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child; `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        if Instant::now() > deadline {
            // SAFETY: kills and reaps our own hung child before failing.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("{hung}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child status {status}"
    );
}
