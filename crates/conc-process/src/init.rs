//! `init()`: the hook every program using `spawn` or `forkserver` calls first thing.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::sys;
use crate::{forkserver, spawn};

static INITIALIZED: AtomicBool = AtomicBool::new(false);

/// Prepares this program for child processes; call it as the **first line of `main`**
/// (in a test file, use [`test_support!`](crate::test_support) instead).
///
/// It does three things:
///
/// - **In a `spawn` child** (this program re-executed by its parent), it runs the
///   function the parent asked for and exits; the rest of `main` never runs there.
///   This is Rust's counterpart of Python's `if __name__ == "__main__":` guard.
/// - **In the main program**, it forks the `forkserver` server while the program is
///   still single-threaded (one idle process, about a millisecond). Called later, once
///   threads exist, it cannot do that safely: `forkserver` children then fail to start
///   with a clear error, and `spawn` still works.
/// - If the program was started with SIGCHLD ignored, it restores the default action
///   (with one `log` warning): ignored, the kernel would reap every child and its exit
///   code would be lost. Starting a child does the same, for programs without `init`.
///
/// Calling it again does nothing. Programs that only use the `fork` start method do
/// not need it.
///
/// # Examples
///
/// ```standalone_crate
/// use conc_process::Process;
///
/// fn cube(x: i64) -> i64 {
///     x * x * x
/// }
///
/// fn main() {
///     conc_process::init(); // first line: spawn children run `cube` from here
///     let p = Process::new(cube, 3);
///     p.start().unwrap();
///     assert_eq!(p.result().unwrap(), 27);
/// }
/// ```
pub fn init() {
    // Set first: a spawn child and the fork server's children must know this program
    // calls `init`.
    INITIALIZED.store(true, Ordering::SeqCst);
    // Not a `Once`: both a spawn child's function and the fork server run from here
    // and never return, and a second `init` in them (or in a process forked from
    // them) must return at once rather than wait for this call to finish.
    static STARTED: AtomicBool = AtomicBool::new(false);
    if STARTED.swap(true, Ordering::SeqCst) {
        return;
    }
    if let Some(ticket) = spawn::take_child_ticket() {
        spawn::run_child(ticket)
    }
    crate::current::record_main_process();
    // An inherited SIGCHLD ignore would make the kernel reap every child (the fork
    // server's included) and lose its exit code; restore the default now, once.
    sys::keep_exit_statuses();
    sys::ensure_std_fds_open();
    if sys::thread_count() == Some(1) {
        forkserver::start_server();
    } else {
        forkserver::mark_unavailable(
            "conc_process::init() ran after other threads had started, too late to fork \
             the fork server safely; call it on the first line of main",
        );
    }
}

/// Whether [`init`] has run in this program (in this process or an ancestor that
/// forked it).
pub(crate) fn is_initialized() -> bool {
    INITIALIZED.load(Ordering::SeqCst)
}

/// Makes a test file (or any binary without its own `main`) able to start `spawn` and
/// `forkserver` children: it runs [`init`] before `main`, from a constructor function,
/// while the test harness has not started its threads yet.
///
/// Put it once at the top level of each integration test file, or once in a crate's
/// unit tests. (Shown, not run: `#[test]` functions only exist in a `cargo test` build,
/// which a doc test is not; this crate's own `tests/*.rs` files run this pattern.)
///
/// ```ignore
/// conc_process::test_support!();
///
/// fn double(x: u32) -> u32 {
///     x * 2
/// }
///
/// #[test]
/// fn doubles_in_a_spawned_child() {
///     let p = conc_process::get_context(conc_process::StartMethod::Spawn).process(double, 21);
///     p.start().unwrap();
///     assert_eq!(p.result().unwrap(), 42);
/// }
/// ```
///
/// A spawned child of a test binary runs the constructor again, which runs the child's
/// function and exits before the harness starts: no test runs twice.
#[macro_export]
macro_rules! test_support {
    () => {
        #[$crate::__private::ctor::ctor(unsafe, crate_path = $crate::__private::ctor)]
        fn __conc_process_test_support_init() {
            $crate::init();
        }
    };
}
