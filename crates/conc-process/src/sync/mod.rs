//! Process-shared synchronization primitives: Python's `multiprocessing.synchronize`.
//!
//! Each primitive is a handle to a small block of shared memory (see
//! [`crate::shm`]): `Clone` shares it within a process, `fork` shares it with the child,
//! and sending it in a message (which is how `spawn` and `forkserver` children receive
//! their arguments) maps the same memory in the receiver.
//!
//! # When a process dies holding a lock
//!
//! Python deadlocks. Here the locks are robust: the next acquirer gets the lock *and* the
//! news. [`Lock::acquire`], [`RLock::acquire`] and the condition's acquire return
//! `Err(ProcessError::OwnerDied)` **with the lock held by the caller**; guard-returning
//! `lock()` methods return `Err(OwnerDiedError)`, from which
//! [`into_guard`](OwnerDiedError::into_guard) recovers the guard, like
//! `std::sync::PoisonError`. The report is given once: after that the lock works
//! normally. Propagating it with `?` (it converts to [`ProcessError::OwnerDied`])
//! drops the guard and so releases the lock.
//!
//! [`Semaphore`], [`BoundedSemaphore`], [`Event`] and [`Barrier`] recover silently: their
//! internal mutex only guards single-statement updates of a counter or flag, so the state
//! is consistent whenever a holder can die.

pub(crate) mod raw;

mod barrier;
mod condition;
mod event;
mod lock;
mod rlock;
mod semaphore;

use std::time::{Duration, Instant};

pub use barrier::Barrier;
pub use condition::{Condition, ConditionGuard, ConditionLock};
pub use event::Event;
pub use lock::{Lock, LockGuard};
pub use rlock::{RLock, RLockGuard};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphoreGuard};

use crate::ProcessError;
use raw::RawMutex;

/// The error of a guard-returning `lock()` whose previous holder died holding the lock:
/// the lock *is* acquired, and the guard is inside. Like `std::sync::PoisonError`, but
/// reported once only: the lock is repaired as soon as this error exists.
///
/// It converts into [`ProcessError::OwnerDied`] (dropping the guard, which releases the
/// lock), so `?` works in functions returning `Result<_, ProcessError>`.
///
/// # Examples
///
/// ```
/// use conc_process::{Lock, ProcessError};
///
/// fn locked_work(lock: &Lock) -> Result<(), ProcessError> {
///     let guard = match lock.lock() {
///         Ok(guard) => guard,
///         // Repair the shared state here, then carry on with the lock.
///         Err(owner_died) => owner_died.into_guard(),
///     };
///     drop(guard);
///     Ok(())
/// }
/// locked_work(&Lock::new()).unwrap();
/// ```
pub struct OwnerDiedError<G> {
    guard: G,
}

impl<G> OwnerDiedError<G> {
    pub(crate) fn new(guard: G) -> Self {
        OwnerDiedError { guard }
    }

    /// The guard: the lock is held.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Lock, OwnerDiedError};
    ///
    /// let lock = Lock::new();
    /// // As a dead holder would leave it reported:
    /// let result: Result<_, OwnerDiedError<_>> = lock.lock();
    /// let guard = result.unwrap_or_else(OwnerDiedError::into_guard);
    /// assert!(lock.is_owned());
    /// drop(guard);
    /// ```
    pub fn into_guard(self) -> G {
        self.guard
    }

    /// A reference to the guard.
    ///
    /// # Examples
    ///
    /// ```
    /// fn inspect(err: &conc_process::OwnerDiedError<conc_process::LockGuard<'_>>) {
    ///     let _guard: &conc_process::LockGuard<'_> = err.get_ref();
    /// }
    /// ```
    pub fn get_ref(&self) -> &G {
        &self.guard
    }

    /// A mutable reference to the guard (for guards with data, such as
    /// [`ValueGuard`](crate::ValueGuard)).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{OwnerDiedError, ValueGuard};
    ///
    /// // Reset a value a dead process may have left half-updated.
    /// fn repair(err: &mut OwnerDiedError<ValueGuard<'_, u32>>) {
    ///     **err.get_mut() = 0;
    /// }
    /// ```
    pub fn get_mut(&mut self) -> &mut G {
        &mut self.guard
    }
}

impl<G> std::fmt::Debug for OwnerDiedError<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnerDiedError").finish_non_exhaustive()
    }
}

impl<G> std::fmt::Display for OwnerDiedError<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&ProcessError::OwnerDied, f)
    }
}

impl<G> std::error::Error for OwnerDiedError<G> {}

impl<G> From<OwnerDiedError<G>> for ProcessError {
    fn from(_: OwnerDiedError<G>) -> Self {
        ProcessError::OwnerDied
    }
}

/// What guard-returning `lock()` methods return: the guard, or the guard wrapped in an
/// [`OwnerDiedError`].
///
/// # Examples
///
/// ```
/// use conc_process::{LockResult, RLock, RLockGuard};
///
/// let rlock = RLock::new();
/// let result: LockResult<RLockGuard<'_>> = rlock.lock();
/// assert!(result.is_ok());
/// ```
pub type LockResult<G> = Result<G, OwnerDiedError<G>>;

/// `now + timeout`, or `None` (no limit) when it does not fit in an `Instant`.
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// Waits on `cv` (paired with `guard`'s in-process mutex) until `ready` holds or
/// `deadline` passes (`None`: no limit); whether it holds. The one deadline loop of the
/// pool's results and the manager's server.
pub(crate) fn wait_while_not<'a, T>(
    cv: &std::sync::Condvar,
    mut guard: std::sync::MutexGuard<'a, T>,
    deadline: Option<Instant>,
    ready: impl Fn(&T) -> bool,
) -> (std::sync::MutexGuard<'a, T>, bool) {
    while !ready(&guard) {
        guard = match deadline {
            None => cv.wait(guard).unwrap_or_else(|e| e.into_inner()),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return (guard, false);
                }
                cv.wait_timeout(guard, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
    }
    (guard, true)
}

/// Locks an internal mutex (a semaphore's, an event's...) whose protected state is
/// consistent between statements: a dead holder's `OwnerDied` is simply absorbed.
///
/// # Panics
///
/// If the OS reports the mutex unusable, which only corrupted shared memory can cause.
pub(crate) fn lock_internal(m: &RawMutex, deadline: Option<Instant>) -> Result<(), ProcessError> {
    match m.lock(deadline) {
        Ok(()) | Err(ProcessError::OwnerDied) => Ok(()),
        Err(timeout @ ProcessError::Timeout { .. }) => Err(timeout),
        Err(err) => panic!("process-shared mutex unusable: {err}"),
    }
}

/// Unlocks an internal mutex the caller locked with [`lock_internal`].
pub(crate) fn unlock_internal(m: &RawMutex) {
    m.unlock()
        .expect("internal mutex released by the thread that locked it");
}

/// Waits on an internal condvar; the mutex is held again on return (even on timeout).
/// Returns `false` on timeout.
pub(crate) fn wait_internal(cv: &raw::RawCondvar, m: &RawMutex, deadline: Option<Instant>) -> bool {
    let ticket = cv.prepare();
    unlock_internal(m);
    let notified = cv.sleep(ticket, deadline, raw::Slices::Recheck);
    lock_internal(m, None).expect("an untimed lock cannot time out");
    notified
}
