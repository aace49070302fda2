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
//! The locks, in the order they are taken: the excepthook's `RwLock`, then the thread
//! registry's `Mutex` (no code path holds the registry while taking the hook). Both are
//! `std` locks, whose release in the child is a store and at most a futex wake-up.
//! conc-thread's other locks belong to individual threads, queues and primitives: after
//! a fork the child can only reach those it shares with the forking thread, as with any
//! lock the program itself holds.

use std::cell::RefCell;
use std::sync::{MutexGuard, Once, PoisonError, RwLockWriteGuard};

use crate::excepthook::{Hook, hook_lock};
use crate::registry::{Registry, registry_lock};

/// The locks held from `prepare` to `parent`/`child` (same thread: the forking one).
struct Held {
    _hook: RwLockWriteGuard<'static, Option<Hook>>,
    _registry: MutexGuard<'static, Registry>,
}

thread_local! {
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
}

/// Installs the fork handlers, once per process.
pub(crate) fn install_handlers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: the three handlers are `extern "C"` functions with no arguments, valid
        // for the life of the process; registering them has no other precondition.
        let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(release), Some(release)) };
        if rc != 0 {
            log::warn!("pthread_atfork failed ({rc}): a forked child may find a lock held");
        }
    });
}

extern "C" fn prepare() {
    let held = Held {
        _hook: hook_lock().write().unwrap_or_else(PoisonError::into_inner),
        _registry: registry_lock()
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    };
    HELD.with(|h| *h.borrow_mut() = Some(held));
}

/// Releases what `prepare` took (in the parent, and in the child).
extern "C" fn release() {
    // `try_with`: a fork from a thread-local destructor finds no slot, and held nothing.
    let _ = HELD.try_with(|h| drop(h.borrow_mut().take()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handlers_hold_and_release_both_locks() {
        install_handlers();
        prepare();
        assert!(
            registry_lock().try_lock().is_err(),
            "the registry is held across the fork"
        );
        assert!(hook_lock().try_read().is_err(), "so is the excepthook");
        release();
        assert!(registry_lock().try_lock().is_ok());
        assert!(hook_lock().try_read().is_ok());
    }

    /// Issue 22's hang: another thread holds the registry at the instant of a fork; the
    /// child's first `spawn` waited forever for it. Now the fork waits for the holder
    /// and the child starts with the lock free.
    #[test]
    fn a_child_forked_while_another_thread_holds_the_registry_can_spawn() {
        use std::time::{Duration, Instant};
        install_handlers();
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            let guard = registry_lock().lock().unwrap();
            held_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(200));
            drop(guard);
        });
        held_rx.recv().unwrap();
        // A runner started with SIGCHLD ignored would have the kernel reap the child
        // (and `waitpid` below fail): keep its exit status.
        // SAFETY: resetting SIGCHLD's action to the default has no preconditions.
        unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
        // SAFETY: the child only spawns and joins a thread, then `_exit`s.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let ok = crate::spawn(|| 7).join() == Ok(7);
            // SAFETY: ends the child without running the parent's test harness.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        holder.join().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
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
                panic!("the forked child hung in its first spawn");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child status {status}"
        );
    }
}
