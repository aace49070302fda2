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

use std::any::Any;
use std::process::Child;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use crate::hooks::{self, ForkLockRank};

/// Children whose `Popen` was dropped before they were reaped, tagged with the pid of
/// the process they belong to: a `fork` child inherits the list and must not wait for
/// its parent's children (a recycled pid could even make it reap one of its own).
static ACTIVE: Mutex<(u32, Vec<Child>)> = Mutex::new((0, Vec::new()));

/// Keeps `child` to be reaped by a later [`reap_finished`].
pub(super) fn adopt(child: Child) {
    lock().1.push(child);
}

/// Reaps the adopted children that have ended, without blocking. Returns how many are
/// still running.
pub(super) fn reap_finished() -> usize {
    let mut active = lock();
    // `try_wait` errors only when the child is no longer ours to wait for (someone
    // called waitpid(-1)); it will never become reapable, so forget it too.
    active
        .1
        .retain_mut(|child| matches!(child.try_wait(), Ok(None)));
    active.1.len()
}

fn lock() -> std::sync::MutexGuard<'static, (u32, Vec<Child>)> {
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    hooks::register_fork_lock(
        &REGISTERED,
        ForkLockRank::Subprocesses,
        || -> Box<dyn Any> { Box::new(raw_lock()) },
    );
    let mut guard = raw_lock();
    let me = std::process::id();
    if guard.0 != me {
        // Inherited through fork: the parent's children. Forget them without dropping
        // anything that would touch them (a std `Child` drop only closes our copies of
        // their pipes, which is what we want).
        *guard = (me, Vec::new());
    }
    guard
}

/// The list's lock, as held across the engine's forks (registered by [`lock`]).
fn raw_lock() -> std::sync::MutexGuard<'static, (u32, Vec<Child>)> {
    // The list stays consistent even if a holder panicked: every operation on it is a
    // single push or retain.
    ACTIVE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
