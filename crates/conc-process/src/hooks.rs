//! What the engine does around its own forks and at exit, as lists the subsystems
//! register into, so that the code that forks (`launcher`) and the code that exits
//! (`bootstrap`, the `atexit` handler) name no subsystem.
//!
//! - **Fork locks.** Every process-global lock that a child's start-up or exit path
//!   takes is held across the engine's `fork`, so the child inherits it unlocked and
//!   consistent (the `pthread_atfork` discipline). A subsystem registers the function
//!   that takes its lock with [`register_fork_lock`] *before* it first takes that lock,
//!   and the list's own mutex is held across the fork, so a lock is never first taken
//!   by another thread while a fork is underway. Locks are taken in the order of their
//!   [`ForkLockRank`], one order for the whole crate, whatever order the subsystems
//!   registered in.
//! - **Exit hooks.** Work that must happen when a process ends (flush queue feeders,
//!   wait for children) runs in the order of its [`ExitStage`]: from the `atexit`
//!   handler in the main program (installed by the first registration), and explicitly
//!   at the end of each child's function (children leave with `_exit`).
//!
//! Registration never happens while a registered lock is held, which is what keeps the
//! list's mutex from taking part in a lock-order cycle.

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Where a fork lock sits in the crate's one lock order (taken lowest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ForkLockRank {
    /// The list of this process's children.
    Children,
    /// This process's identity (name, parent).
    Identity,
    /// The connection to the fork server.
    ForkServer,
    /// The list of queue feeders.
    Feeders,
    /// The parent-death pipe.
    Watchdog,
    /// The subprocess reaper's list.
    Subprocesses,
}

/// When an exit hook runs (earliest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ExitStage {
    /// Data still buffered for other processes goes out while they are alive to read.
    Flush,
    /// Then children are terminated (daemons) or waited for.
    Children,
}

/// Takes one subsystem's lock; the guard is released when the box is dropped.
pub(crate) type TakeLock = fn() -> Box<dyn Any>;

/// A list kept sorted by rank, items of equal rank in registration order.
struct Ranked<R, T> {
    items: Mutex<Vec<(R, T)>>,
}

impl<R: Ord + Copy, T: Copy> Ranked<R, T> {
    const fn new() -> Self {
        Ranked {
            items: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<(R, T)>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Inserts `item` at `rank` unless `already(list)` says it is there.
    fn insert(&self, rank: R, item: T, already: impl Fn(&[(R, T)]) -> bool) {
        let mut items = self.lock();
        if already(&items) {
            return;
        }
        let at = items.partition_point(|(r, _)| *r <= rank);
        items.insert(at, (rank, item));
    }

    fn snapshot(&self) -> Vec<T> {
        self.lock().iter().map(|&(_, item)| item).collect()
    }
}

static FORK_LOCKS: Ranked<ForkLockRank, TakeLock> = Ranked::new();
static EXIT_HOOKS: Ranked<ExitStage, fn()> = Ranked::new();
/// Whether the `atexit` handler is installed (inherited by fork children with it).
static AT_EXIT: AtomicBool = AtomicBool::new(false);

/// Registers, once per `registered` flag, the function that takes a subsystem's lock
/// across the engine's forks. Call it before taking the lock for the first time.
pub(crate) fn register_fork_lock(registered: &AtomicBool, rank: ForkLockRank, take: TakeLock) {
    register_in(&FORK_LOCKS, registered, rank, take);
}

fn register_in(
    list: &Ranked<ForkLockRank, TakeLock>,
    registered: &AtomicBool,
    rank: ForkLockRank,
    take: TakeLock,
) {
    if registered.load(Ordering::Acquire) {
        return;
    }
    // Checked again and set in one step under the list's lock: two threads registering
    // at once insert it once (a second entry would make a fork take the lock twice and
    // deadlock on itself), and a fork (which holds that lock) sees the lock either
    // registered or not yet taken.
    list.insert(rank, take, |_| registered.swap(true, Ordering::AcqRel));
}

/// Every registered fork lock, held until dropped (in the parent, and in the child by
/// the thread that forked: the only thread a fork child has).
pub(crate) struct ForkLocks {
    /// Released before the list, last taken first.
    guards: Vec<Box<dyn Any>>,
    _list: MutexGuard<'static, Vec<(ForkLockRank, TakeLock)>>,
}

impl Drop for ForkLocks {
    fn drop(&mut self) {
        while let Some(guard) = self.guards.pop() {
            drop(guard);
        }
    }
}

/// Takes every registered fork lock, in rank order.
pub(crate) fn hold_fork_locks() -> ForkLocks {
    hold_in(&FORK_LOCKS)
}

fn hold_in(list: &'static Ranked<ForkLockRank, TakeLock>) -> ForkLocks {
    let items = list.lock();
    let guards = items.iter().map(|(_, take)| take()).collect();
    ForkLocks {
        guards,
        _list: items,
    }
}

/// Registers `hook` to run when this process ends, at `stage` (registering the same
/// function again is a no-op). In the main program the first registration installs
/// the `atexit` handler.
pub(crate) fn register_exit_hook(stage: ExitStage, hook: fn()) {
    // A flag, not a `Once`: a fork while another thread was inside the `Once` would
    // leave the child one that never completes.
    if !AT_EXIT.swap(true, Ordering::AcqRel) {
        // SAFETY: `run_at_exit` is an `extern "C" fn()` that never unwinds.
        unsafe { libc::atexit(run_at_exit) };
    }
    add_hook(&EXIT_HOOKS, stage, hook);
}

fn add_hook(list: &Ranked<ExitStage, fn()>, stage: ExitStage, hook: fn()) {
    list.insert(stage, hook, |items| {
        items.iter().any(|&(_, h)| std::ptr::fn_addr_eq(h, hook))
    });
}

/// Runs the exit hooks, earliest stage first; a panic in one is logged and the others
/// still run.
pub(crate) fn run_exit_hooks() {
    run_hooks(&EXIT_HOOKS);
}

fn run_hooks(list: &Ranked<ExitStage, fn()>) {
    for hook in list.snapshot() {
        if std::panic::catch_unwind(hook).is_err() {
            log::error!("an exit hook of conc-process panicked; the others still run");
        }
    }
}

extern "C" fn run_at_exit() {
    // A panic must not unwind into libc (run_hooks contains each hook's).
    let _ = std::panic::catch_unwind(run_exit_hooks);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take_nothing() -> Box<dyn Any> {
        Box::new(())
    }

    #[test]
    fn a_lock_registered_by_racing_threads_is_listed_once() {
        static LIST: Ranked<ForkLockRank, TakeLock> = Ranked::new();
        static REGISTERED: AtomicBool = AtomicBool::new(false);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                std::thread::spawn(|| {
                    register_in(&LIST, &REGISTERED, ForkLockRank::Identity, take_nothing);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(LIST.lock().len(), 1);
    }

    static TAKEN: Mutex<Vec<ForkLockRank>> = Mutex::new(Vec::new());

    fn take_watchdog() -> Box<dyn Any> {
        TAKEN.lock().unwrap().push(ForkLockRank::Watchdog);
        Box::new(())
    }

    fn take_children() -> Box<dyn Any> {
        TAKEN.lock().unwrap().push(ForkLockRank::Children);
        Box::new(())
    }

    #[test]
    fn fork_locks_are_taken_in_rank_order_and_registered_once() {
        static LIST: Ranked<ForkLockRank, TakeLock> = Ranked::new();
        static W: AtomicBool = AtomicBool::new(false);
        static C: AtomicBool = AtomicBool::new(false);
        register_in(&LIST, &W, ForkLockRank::Watchdog, take_watchdog);
        register_in(&LIST, &C, ForkLockRank::Children, take_children);
        register_in(&LIST, &C, ForkLockRank::Children, take_children);
        let held = hold_in(&LIST);
        assert_eq!(
            *TAKEN.lock().unwrap(),
            [ForkLockRank::Children, ForkLockRank::Watchdog]
        );
        drop(held);
        // The list's own lock is free again: a later registration goes through.
        static F: AtomicBool = AtomicBool::new(false);
        register_in(&LIST, &F, ForkLockRank::Feeders, take_watchdog);
        assert_eq!(LIST.snapshot().len(), 3);
    }

    static RUNS: Mutex<Vec<&str>> = Mutex::new(Vec::new());

    fn children_hook() {
        RUNS.lock().unwrap().push("children");
    }

    fn flush_hook() {
        RUNS.lock().unwrap().push("flush");
    }

    fn panicking_hook() {
        panic!("an exit hook that fails (expected by this test)");
    }

    #[test]
    fn exit_hooks_run_by_stage_once_each_past_a_panic() {
        static LIST: Ranked<ExitStage, fn()> = Ranked::new();
        add_hook(&LIST, ExitStage::Children, children_hook);
        add_hook(&LIST, ExitStage::Flush, panicking_hook);
        add_hook(&LIST, ExitStage::Flush, flush_hook);
        add_hook(&LIST, ExitStage::Flush, flush_hook);
        run_hooks(&LIST);
        assert_eq!(*RUNS.lock().unwrap(), ["flush", "children"]);
    }
}
