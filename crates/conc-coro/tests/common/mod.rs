//! Helpers shared by the integration tests that re-execute the test binary or measure
//! memory.
#![allow(dead_code)] // each test file uses a subset

/// A test runner started with SIGCHLD ignored would have the kernel reap the child this
/// test starts, and `output()` would fail: restore the default first (it differs from
/// ignoring only in keeping exit statuses).
pub(crate) fn keep_child_statuses() {
    // SAFETY: resetting SIGCHLD's action to the default has no preconditions.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
}

/// The process's resident memory in KiB (`VmRSS`).
pub(crate) fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .expect("/proc/self/status has VmRSS")
}
