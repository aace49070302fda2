//! The children this process has started and not yet seen end; what happens to them at
//! exit.
//!
//! Python keeps `_children` and reaps it in `active_children()` and before each start;
//! at exit it terminates daemonic children and joins the rest. Same here: the exit work
//! is an exit hook (see `hooks`), run by an `atexit` handler in the main program and
//! explicitly at the end of each child's function.

use std::any::Any;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::child::Child;
use crate::hooks::{self, ExitStage, ForkLockRank};
use crate::sys::{self, Pid};

/// The live children, tagged with the pid that owns the list: a fork child inherits its
/// parent's list and must not treat those processes as its own.
static ACTIVE: Mutex<(Pid, Vec<Arc<Child>>)> = Mutex::new((0, Vec::new()));

fn lock() -> MutexGuard<'static, (Pid, Vec<Arc<Child>>)> {
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    hooks::register_fork_lock(&REGISTERED, ForkLockRank::Children, || -> Box<dyn Any> {
        Box::new(ACTIVE.lock().unwrap_or_else(|e| e.into_inner()))
    });
    let mut guard = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
    let me = sys::getpid();
    if guard.0 != me {
        // Inherited from the parent through fork: those are not our children.
        *guard = (me, Vec::new());
    }
    guard
}

/// Adds a freshly started child, after reaping the ones that have ended.
pub(crate) fn register(child: Arc<Child>) {
    hooks::register_exit_hook(ExitStage::Children, finish_children);
    let mut guard = lock();
    guard.1.retain(|c| c.poll().is_none());
    guard.1.push(child);
}

/// The children still running, reaping the ones that ended (Python's `active_children`).
pub(crate) fn active() -> Vec<Arc<Child>> {
    let mut guard = lock();
    guard.1.retain(|c| c.poll().is_none());
    guard.1.clone()
}

/// Python's exit routine: terminate daemonic children, then join every child.
pub(crate) fn finish_children() {
    let children = active();
    for child in children.iter().filter(|c| c.daemon) {
        let _ = child.signal(libc::SIGTERM);
    }
    for child in &children {
        child.wait(None);
    }
}
