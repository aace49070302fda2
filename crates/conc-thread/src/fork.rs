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
//! conc-thread's other locks belong to individual threads, queues and primitives: after
//! a fork the child can only reach those it shares with the forking thread, as with any
//! lock the program itself holds.

use std::any::Any;
use std::cell::RefCell;
use std::sync::{Mutex, MutexGuard, Once, PoisonError};

/// Takes one registered lock and returns its guard, to be dropped after the fork.
pub(crate) type Locker = fn() -> Box<dyn Any>;

/// The registered lockers, in registration order.
static LOCKERS: Mutex<Vec<Locker>> = Mutex::new(Vec::new());

/// What `prepare` holds until `release` (same thread: the forking one): the list itself,
/// so no registration can slip in between, then each lock's guard.
struct Held {
    _guards: Vec<Box<dyn Any>>,
    _list: MutexGuard<'static, Vec<Locker>>,
}

thread_local! {
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
}

/// Registers a lock to be held across every fork, and installs the fork handlers on
/// the first call.
pub(crate) fn register(locker: Locker) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: the two handlers are `extern "C"` functions with no arguments, valid
        // for the life of the process; registering them has no other precondition.
        let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(release), Some(release)) };
        if rc != 0 {
            log::warn!("pthread_atfork failed ({rc}): a forked child may find a lock held");
        }
    });
    LOCKERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(locker);
}

/// Takes every registered lock (the `pthread_atfork` prepare handler).
pub(crate) extern "C" fn prepare() {
    let list = LOCKERS.lock().unwrap_or_else(PoisonError::into_inner);
    let guards = list.iter().map(|locker| locker()).collect();
    let held = Held {
        _guards: guards,
        _list: list,
    };
    HELD.with(|h| *h.borrow_mut() = Some(held));
}

/// Releases what `prepare` took (in the parent, and in the child).
pub(crate) extern "C" fn release() {
    // `try_with`: a fork from a thread-local destructor finds no slot, and held nothing.
    let _ = HELD.try_with(|h| drop(h.borrow_mut().take()));
}
