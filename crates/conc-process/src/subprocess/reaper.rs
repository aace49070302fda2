//! Children of dropped `Popen`s that were still running: CPython's `_active` list.
//!
//! A child that exits stays a zombie until its parent waits for it. Python keeps every
//! `Popen` garbage-collected before its child ended in `subprocess._active`, and
//! `_cleanup()` polls that list (without blocking) each time a new `Popen` is created.
//! This module does the same: [`adopt`] takes the `Child` of a dropped `Popen`, and
//! [`reap_finished`] (called by every spawn) waits for those that ended.
//!
//! No SIGCHLD handler is installed: the signal belongs to the application, and a
//! handler that reaped with `waitpid(-1)` would steal the exit status of children that
//! other code (or `std::process::Child`) waits for.

use std::process::Child;
use std::sync::Mutex;

/// Children whose `Popen` was dropped before they were reaped.
static ACTIVE: Mutex<Vec<Child>> = Mutex::new(Vec::new());

/// Keeps `child` to be reaped by a later [`reap_finished`].
pub(super) fn adopt(child: Child) {
    lock().push(child);
}

/// Reaps the adopted children that have ended, without blocking. Returns how many are
/// still running.
pub(super) fn reap_finished() -> usize {
    let mut active = lock();
    // `try_wait` errors only when the child is no longer ours to wait for (someone
    // called waitpid(-1)); it will never become reapable, so forget it too.
    active.retain_mut(|child| matches!(child.try_wait(), Ok(None)));
    active.len()
}

fn lock() -> std::sync::MutexGuard<'static, Vec<Child>> {
    // The list stays consistent even if a holder panicked: every operation on it is a
    // single push or retain.
    ACTIVE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
