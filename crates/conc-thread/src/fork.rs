//! Fork safety: the locks of this crate that a process created by `fork()` may need are
//! held across every fork, so the child inherits them unlocked and consistent.
//!
//! Only the forking thread exists in the child. A lock another thread held at the fork
//! stays locked there forever, and the child's first `spawn` (the thread registry) or
//! unjoined panic (the excepthook) would hang. Python's `threading` re-creates its locks
//! in the child (`_after_fork`); here `pthread_atfork` handlers take each lock before the
//! fork (waiting for any holder to finish) and release it after, in the parent and in
//! the child. They run for every `fork()` of the process, whoever calls it: conc-process,
//! another library, or a user's own `libc::fork()`. (`vfork`, `clone` and `posix_spawn`
//! do not run them, and need not: the child execs at once.)
//!
//! The subsystems that own such locks register them here on first use ([`register`]):
//! the thread registry's `Mutex` and the excepthook's `RwLock` (no code path holds one
//! while taking the other, so their order does not matter). Both are `std` locks, whose
//! release in the child is a store and at most a futex wake-up. This module names no
//! subsystem.
//!
//! Two more things are kept out of a fork's way here: std's own thread start-up and
//! exit, which take a global lock of std (the thread gate, below), and the installation
//! of the handlers itself (elected by pid, not a `Once`, see [`install`]).
//!
//! conc-thread's other locks belong to individual threads, queues and primitives: after
//! a fork the child can only reach those it shares with the forking thread, as with any
//! lock the program itself holds.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// Takes one registered lock and returns its guard, to be dropped after the fork.
pub(crate) type Locker = fn() -> Box<dyn Any>;

/// The registered lockers, in registration order.
static LOCKERS: Mutex<Vec<Locker>> = Mutex::new(Vec::new());

/// What `prepare` holds until `release` (same thread: the forking one), released in
/// this order: each registered lock's guard; the list itself, so no registration can
/// slip in between; then the thread gate.
struct Held {
    _guards: Vec<Box<dyn Any>>,
    _list: MutexGuard<'static, Vec<Locker>>,
    _gate: ClosedGate,
}

thread_local! {
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
    /// How many `prepare` calls of this fork are running or done (more than one only
    /// when the handlers were registered twice).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Registers a lock to be held across every fork, and installs the fork handlers on
/// the first call.
pub(crate) fn register(registered: &AtomicBool, locker: Locker) {
    if registered.load(Ordering::Acquire) {
        return;
    }
    install();
    // Checked and set under the list's lock, which `prepare` holds across a fork: a
    // fork sees the lock either registered or not yet used. (A `Once` around this
    // would not do: a thread waiting here, inside the `Once`, while another forks
    // would leave the child a `Once` that never completes.)
    let mut list = LOCKERS.lock().unwrap_or_else(PoisonError::into_inner);
    if !registered.load(Ordering::Relaxed) {
        list.push(locker);
        registered.store(true, Ordering::Release);
    }
}

/// This process's id, cached (0: not known yet); cleared in every fork child.
static PID: AtomicU32 = AtomicU32::new(0);

/// This process's id without a system call each time (`getpid` is not cached by
/// glibc), correct in fork children: the handlers, installed before the id is first
/// cached, clear it in every child.
///
/// ```
/// assert_eq!(conc_thread::sync::process_id(), std::process::id());
/// ```
pub fn process_id() -> u32 {
    let pid = PID.load(Ordering::Relaxed);
    if pid != 0 {
        return pid;
    }
    install();
    let pid = std::process::id();
    PID.store(pid, Ordering::Relaxed);
    pid
}

/// The pid of the process one of whose threads installs (or installed) the handlers.
static INSTALLER: AtomicU32 = AtomicU32::new(0);
/// Set once the handlers are registered; a fork child inherits the registration and
/// the flag together.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Installs the `pthread_atfork` handlers, once per process tree.
///
/// Not a `Once`: `pthread_atfork` waits for glibc's fork lock, so a thread registering
/// while another forks is inside the `Once` at the fork, and the child would inherit a
/// `Once` that never completes (its first `spawn` hung: seen once in about 60 runs of
/// the fork churn test). Instead one thread per process is elected by pid; a child
/// that finds an election by another pid and no registration (the installer does not
/// exist there) installs itself. Registering twice (the parent's registration landed
/// just before the fork, its flag just after) is harmless: `prepare` and the release
/// handlers nest.
fn install() {
    if INSTALLED.load(Ordering::Acquire) {
        return;
    }
    let me = std::process::id();
    loop {
        match INSTALLER.compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(pid) if pid == me => {
                // Another thread of this process is registering: wait for it.
                while !INSTALLED.load(Ordering::Acquire) {
                    std::thread::yield_now();
                }
                return;
            }
            Err(pid) => {
                if INSTALLER
                    .compare_exchange(pid, me, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    break;
                }
            }
        }
    }
    // SAFETY: the handlers are `extern "C"` functions with no arguments, valid for the
    // life of the process; registering them has no other precondition.
    let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(release), Some(release_in_child)) };
    if rc != 0 {
        log::warn!("pthread_atfork failed ({rc}): a forked child may find a lock held");
    }
    INSTALLED.store(true, Ordering::Release);
}

/// Takes every registered lock (the `pthread_atfork` prepare handler), after closing
/// the thread gate.
pub(crate) extern "C" fn prepare() {
    // Nested when the handlers were registered twice (see `install`): only the
    // outermost call takes anything.
    let Ok(depth) = DEPTH.try_with(|d| d.replace(d.get() + 1)) else {
        return;
    };
    if depth > 0 {
        return;
    }
    let gate = close_gate();
    let list = LOCKERS.lock().unwrap_or_else(PoisonError::into_inner);
    let guards = list.iter().map(|locker| locker()).collect();
    let held = Held {
        _guards: guards,
        _list: list,
        _gate: gate,
    };
    // `try_with`: a fork from a thread-local destructor finds no slot; its locks are
    // then released at once (the child may find one taken, but nothing aborts).
    let _ = HELD.try_with(|h| *h.borrow_mut() = Some(held));
}

/// Releases what `prepare` took, in the parent.
pub(crate) extern "C" fn release() {
    if !outermost_release() {
        return;
    }
    // `try_with`: a fork from a thread-local destructor finds no slot, and held nothing.
    let _ = HELD.try_with(|h| drop(h.borrow_mut().take()));
}

/// Counts a release handler down; whether it is the outermost one (which releases).
fn outermost_release() -> bool {
    DEPTH
        .try_with(|d| {
            let depth = d.get().saturating_sub(1);
            d.set(depth);
            depth == 0
        })
        .unwrap_or(false)
}

/// Releases what `prepare` took, in the child, where the forking thread is the only
/// one: no other thread is inside a window or forking any more.
pub(crate) extern "C" fn release_in_child() {
    PID.store(0, Ordering::Relaxed);
    if !outermost_release() {
        return;
    }
    let _ = HELD.try_with(|h| {
        if let Some(mut held) = h.borrow_mut().take() {
            *held._gate.0 = Gate::default();
        }
    });
}

/// std's own thread start-up and exit each take a process-global lock of std (its
/// stack-overflow bookkeeping, `thread_info::LOCK`, around `Handler::new` and its
/// drop). A fork while another thread is in either window leaves that lock held in
/// the child, whose first thread start then hangs forever (issue 22's fork churn, once
/// parking no longer did it first). conc-thread cannot take std's lock, so it keeps
/// forks out of those windows for the threads it starts: a thread is "inside" from
/// just before `std::thread::Builder::spawn` until its closure's first line, and from
/// its end (before its joiners are told) until its thread-local destructors run, which
/// is after std's clean-up. `prepare` closes the gate and waits for every window to
/// end, then holds the gate across the fork. Threads started by other code
/// (`std::thread::spawn`) are not covered.
#[derive(Default)]
struct Gate {
    /// Windows open now.
    inside: usize,
    /// Forks waiting for the windows to end; no window opens while non-zero.
    forks: usize,
}

static GATE: Mutex<Gate> = Mutex::new(Gate {
    inside: 0,
    forks: 0,
});
static GATE_CHANGED: Condvar = Condvar::new();

thread_local! {
    /// This thread's exit window, closed by its own destructor (after std's clean-up).
    static EXIT_WINDOW: RefCell<Option<Window>> = const { RefCell::new(None) };
}

fn gate() -> MutexGuard<'static, Gate> {
    GATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One open window; closed when dropped (on whichever thread holds it then).
#[must_use]
pub(crate) struct Window(());

/// Opens a window, waiting while a fork is under way.
pub(crate) fn open_window() -> Window {
    install();
    let mut gate = gate();
    while gate.forks > 0 {
        gate = GATE_CHANGED
            .wait(gate)
            .unwrap_or_else(PoisonError::into_inner);
    }
    gate.inside += 1;
    Window(())
}

impl Drop for Window {
    fn drop(&mut self) {
        let mut gate = gate();
        gate.inside = gate.inside.saturating_sub(1);
        if gate.inside == 0 {
            GATE_CHANGED.notify_all();
        }
    }
}

/// Opens this thread's exit window, closed when its thread-local destructors run.
pub(crate) fn open_exit_window() {
    let window = open_window();
    // Without a slot (already torn down) the window simply closes now.
    let _ = EXIT_WINDOW.try_with(|slot| *slot.borrow_mut() = Some(window));
}

/// The gate, closed and held across a fork.
struct ClosedGate(MutexGuard<'static, Gate>);

impl Drop for ClosedGate {
    fn drop(&mut self) {
        self.0.forks = self.0.forks.saturating_sub(1);
        GATE_CHANGED.notify_all();
    }
}

/// Closes the gate and waits until no window is open but the forking thread's own.
fn close_gate() -> ClosedGate {
    let mine = EXIT_WINDOW
        .try_with(|slot| usize::from(slot.borrow().is_some()))
        .unwrap_or(0);
    let mut gate = gate();
    gate.forks += 1;
    while gate.inside > mine {
        gate = GATE_CHANGED
            .wait(gate)
            .unwrap_or_else(PoisonError::into_inner);
    }
    ClosedGate(gate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fork_test_support::expect_child_success;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A fork (its prepare handler) waits for an open window: here a thread that is
    /// "starting" until the test lets it go.
    #[test]
    fn a_fork_waits_until_every_window_is_closed() {
        let window = open_window();
        let forked = Arc::new(AtomicBool::new(false));
        let forker = {
            let forked = forked.clone();
            std::thread::spawn(move || {
                prepare();
                forked.store(true, Ordering::SeqCst);
                release();
            })
        };
        // Wait until the forker has closed the gate (it then waits for our window).
        while gate().forks == 0 {
            std::thread::yield_now();
        }
        assert!(
            !forked.load(Ordering::SeqCst),
            "the fork went ahead inside a window"
        );
        drop(window);
        forker.join().unwrap();
        assert!(forked.load(Ordering::SeqCst));
    }

    /// In a real child, the gate is open and empty, even with a window open in the
    /// parent at the time (held by a thread that does not exist in the child).
    #[test]
    fn a_forked_child_finds_the_gate_open_and_empty() {
        // Keeps the exit status for waitpid even where SIGCHLD is inherited ignored.
        // SAFETY: resetting SIGCHLD's action to the default has no preconditions.
        unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
        let (opened_tx, opened_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let window = open_window();
            opened_tx.send(()).unwrap();
            let _ = done_rx.recv();
            drop(window);
        });
        opened_rx.recv().unwrap();
        // The fork waits for the holder's window: close it from another thread once
        // the fork has closed the gate.
        let closer = std::thread::spawn(move || {
            while gate().forks == 0 {
                std::thread::yield_now();
            }
            done_tx.send(()).unwrap();
        });
        // SAFETY: the child only reads the gate and `_exit`s.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let g = gate();
            let ok = g.inside == 0 && g.forks == 0;
            drop(g);
            // SAFETY: ends the child without running the parent's test harness.
            unsafe { libc::_exit(i32::from(!ok)) };
        }
        holder.join().unwrap();
        closer.join().unwrap();
        let mut status = 0;
        // SAFETY: waits for our own child, which exits at once.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "{status}"
        );
    }

    /// The installer election of a fork child: an election inherited from a thread that
    /// does not exist in the child (it was registering at the fork) is taken over, and
    /// the handlers registered a second time nest, so a fork still takes and releases
    /// each lock once (a double take would deadlock right here).
    #[test]
    fn a_child_takes_over_an_orphaned_installation_and_double_handlers_nest() {
        // SAFETY: resetting SIGCHLD's action to the default has no preconditions.
        unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
        install();
        // SAFETY: the child only runs the code below and `_exit`s.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // As if the parent's installer was caught mid-registration at the fork.
            INSTALLED.store(false, Ordering::SeqCst);
            INSTALLER.store(u32::MAX, Ordering::SeqCst);
            install(); // registers the handlers a second time
            let ok = INSTALLED.load(Ordering::SeqCst)
                && INSTALLER.load(Ordering::SeqCst) == std::process::id();
            // A fork with the handlers registered twice, then a thread in its child.
            // SAFETY: the grandchild only spawns and joins a thread, then `_exit`s.
            let grandchild = unsafe { libc::fork() };
            if grandchild == 0 {
                let joined = crate::spawn(|| 1).join() == Ok(1);
                // SAFETY: ends the grandchild at once.
                unsafe { libc::_exit(i32::from(!joined)) };
            }
            let mut status = 0;
            // SAFETY: waits for our own child.
            let reaped = unsafe { libc::waitpid(grandchild, &mut status, 0) } == grandchild;
            let fine = ok && reaped && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
            // The lock list is free again in this process after the nested release.
            let free = LOCKERS.try_lock().is_ok() && gate().forks == 0;
            // SAFETY: ends the child without running the parent's test harness.
            unsafe { libc::_exit(i32::from(!(fine && free))) };
        }
        expect_child_success(pid, "the child hung: nested fork handlers deadlocked");
    }
}
