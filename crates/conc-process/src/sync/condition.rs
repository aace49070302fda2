//! `Condition`: Python's `multiprocessing.Condition`, over a process-shared [`Lock`] or
//! [`RLock`].
//!
//! The waiting itself is a [`RawCondvar`] in the condition's own shared memory: a waiter
//! registers while holding the lock, releases the lock, and sleeps until a notify hands
//! it a wake-up; `notify(n)` (which requires the lock) hands out `min(n, waiting)`.
//! Registering under the lock is what makes a notify between "release" and "sleep"
//! impossible to miss.

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::raw::{RawCondvar, Slices};
use super::{Lock, LockResult, OwnerDiedError, RLock, deadline_after};
use crate::ProcessError;
use crate::shm::{ShmBox, ShmLayout};

/// How often [`Condition::wait_for`] re-checks its predicate without a notify.
const RECHECK_EVERY: Duration = Duration::from_secs(1);

mod sealed {
    use crate::ProcessError;
    use std::time::Duration;

    /// The operations a [`Condition`](crate::Condition) needs from its lock.
    #[allow(unreachable_pub)] // sealed: nameable only inside this crate
    pub trait LockOps: Clone + Send + Sync {
        fn acquire(&self) -> Result<(), ProcessError>;
        fn try_acquire(&self) -> Result<bool, ProcessError>;
        fn acquire_timeout(&self, timeout: Duration) -> Result<bool, ProcessError>;
        fn release(&self) -> Result<(), ProcessError>;
        fn is_owned(&self) -> bool;
        /// Fully releases the lock, returning what `acquire_restore` needs.
        fn release_save(&self) -> Result<u64, ProcessError>;
        /// Reacquires; `OwnerDied` means held.
        fn acquire_restore(&self, saved: u64) -> Result<(), ProcessError>;
    }
}

/// A lock a [`Condition`] can be built on: [`Lock`] or [`RLock`]. Sealed.
///
/// # Examples
///
/// ```
/// use conc_process::{Condition, Lock, RLock};
///
/// let over_lock: Condition<Lock> = Condition::with_lock(Lock::new());
/// let over_rlock: Condition<RLock> = Condition::new();
/// # let _ = (over_lock, over_rlock);
/// ```
pub trait ConditionLock: sealed::LockOps {}

impl ConditionLock for Lock {}
impl ConditionLock for RLock {}

impl sealed::LockOps for Lock {
    fn acquire(&self) -> Result<(), ProcessError> {
        Lock::acquire(self)
    }
    fn try_acquire(&self) -> Result<bool, ProcessError> {
        Lock::try_acquire(self)
    }
    fn acquire_timeout(&self, timeout: Duration) -> Result<bool, ProcessError> {
        Lock::acquire_timeout(self, timeout)
    }
    fn release(&self) -> Result<(), ProcessError> {
        Lock::release(self)
    }
    fn is_owned(&self) -> bool {
        // Stricter than CPython ("held by anyone"): the robust mutex knows its owner.
        Lock::is_owned(self)
    }
    fn release_save(&self) -> Result<u64, ProcessError> {
        Lock::release(self).map(|()| 1)
    }
    fn acquire_restore(&self, _saved: u64) -> Result<(), ProcessError> {
        Lock::acquire(self)
    }
}

impl sealed::LockOps for RLock {
    fn acquire(&self) -> Result<(), ProcessError> {
        RLock::acquire(self)
    }
    fn try_acquire(&self) -> Result<bool, ProcessError> {
        RLock::try_acquire(self)
    }
    fn acquire_timeout(&self, timeout: Duration) -> Result<bool, ProcessError> {
        RLock::acquire_timeout(self, timeout)
    }
    fn release(&self) -> Result<(), ProcessError> {
        RLock::release(self)
    }
    fn is_owned(&self) -> bool {
        RLock::is_owned(self)
    }
    fn release_save(&self) -> Result<u64, ProcessError> {
        RLock::release_save(self)
    }
    fn acquire_restore(&self, saved: u64) -> Result<(), ProcessError> {
        RLock::acquire_restore(self, saved)
    }
}

#[repr(C)]
pub(crate) struct CondState {
    cv: RawCondvar,
}

// SAFETY: repr(C), a zero-valid futex word, no pointers; unique magic.
unsafe impl ShmLayout for CondState {
    const MAGIC: u64 = 0x636f_6e63_436f_6e64; // "concCond"
}

/// A condition variable shared between processes, like Python's
/// `multiprocessing.Condition`: while holding its lock, a thread of any process waits
/// until another notifies it.
///
/// The lock is a new [`RLock`] ([`Condition::new`], Python's default) or a [`Lock`] or
/// `RLock` handle given to [`Condition::with_lock`], so conditions can share a lock.
///
/// # Differences from Python
///
/// * `notify(n)` wakes exactly `min(n, waiting)` waiters, as in Python, but which
///   ones is up to the scheduler (Python wakes the longest-waiting first).
/// * A waiter killed while waiting leaves its registration behind; a later notify may
///   spend a wake-up on it, which a later waiter then takes at once. Such a wake-up
///   without a notify is rare, so wait in a loop on your predicate, or use
///   [`wait_for`](Condition::wait_for), which also re-checks its predicate every second
///   in case a process died between changing the state and notifying.
/// * If a process dies holding the lock, a waiter reacquiring it after its wait gets
///   [`ProcessError::OwnerDied`] with the lock held.
///
/// # Examples
///
/// ```
/// use conc_process::{Condition, Value};
///
/// let cond = Condition::new();
/// let ready = Value::new(0u32);
/// let _g = cond.lock().unwrap();
/// ready.set(1).unwrap(); // normally another process
/// cond.notify_all().unwrap();
/// assert_eq!(cond.wait_for(|| ready.get().unwrap() == 1, None), Ok(true));
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound = "L: Serialize + serde::de::DeserializeOwned")]
pub struct Condition<L: ConditionLock = RLock> {
    lock: L,
    shared: ShmBox<CondState>,
}

impl Condition<RLock> {
    /// A condition over a new [`RLock`].
    ///
    /// # Panics
    ///
    /// If the OS refuses to create shared memory or a mutex.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = conc_process::Condition::new();
    /// assert!(!cond.inner_lock().locked());
    /// ```
    pub fn new() -> Self {
        Condition::try_new().unwrap_or_else(|err| panic!("{err}"))
    }

    /// As [`new`](Self::new), with a refusal of the OS as an error rather than a panic.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Os`] if the shared memory or the lock cannot be made.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = conc_process::Condition::try_new().unwrap();
    /// drop(cond.lock().unwrap());
    /// ```
    pub fn try_new() -> Result<Self, ProcessError> {
        Condition::try_with_lock(RLock::try_new()?)
    }
}

impl Default for Condition<RLock> {
    fn default() -> Self {
        Condition::new()
    }
}

impl<L: ConditionLock> Condition<L> {
    /// A condition over `lock` (a handle: the lock stays shared with its other handles).
    ///
    /// # Panics
    ///
    /// If the OS refuses to create shared memory.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Condition, Lock};
    ///
    /// let lock = Lock::new();
    /// let cond = Condition::with_lock(lock.clone());
    /// let _g = cond.lock().unwrap();
    /// assert!(lock.locked());
    /// ```
    pub fn with_lock(lock: L) -> Self {
        Condition::try_with_lock(lock).unwrap_or_else(|err| panic!("{err}"))
    }

    /// As [`with_lock`](Self::with_lock), with a refusal of the OS as an error.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Os`] if the shared memory cannot be made.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = conc_process::Condition::try_with_lock(conc_process::Lock::new()).unwrap();
    /// assert!(!cond.inner_lock().locked());
    /// ```
    pub fn try_with_lock(lock: L) -> Result<Self, ProcessError> {
        Ok(Condition {
            lock,
            shared: ShmBox::try_new(0, 1, |_, _| Ok(()))?,
        })
    }

    /// The lock the condition uses.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = conc_process::Condition::new();
    /// assert!(!cond.inner_lock().is_owned());
    /// ```
    pub fn inner_lock(&self) -> &L {
        &self.lock
    }

    /// Acquires the underlying lock (Python: `acquire()`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::OwnerDied`] with the lock held, as for [`Lock::acquire`].
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = conc_process::Condition::new();
    /// cond.acquire().unwrap();
    /// cond.release().unwrap();
    /// ```
    pub fn acquire(&self) -> Result<(), ProcessError> {
        self.lock.acquire()
    }

    /// Acquires the underlying lock if free, without blocking.
    ///
    /// # Errors
    ///
    /// As for [`acquire`](Self::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = conc_process::Condition::new();
    /// assert_eq!(cond.try_acquire(), Ok(true));
    /// cond.release().unwrap();
    /// ```
    pub fn try_acquire(&self) -> Result<bool, ProcessError> {
        self.lock.try_acquire()
    }

    /// Acquires the underlying lock, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As for [`acquire`](Self::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let cond = conc_process::Condition::new();
    /// assert_eq!(cond.acquire_timeout(Duration::from_millis(10)), Ok(true));
    /// cond.release().unwrap();
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool, ProcessError> {
        self.lock.acquire_timeout(timeout)
    }

    /// Releases the underlying lock.
    ///
    /// # Errors
    ///
    /// [`ProcessError::InvalidState`] if the calling thread does not hold it.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = conc_process::Condition::new();
    /// assert!(cond.release().is_err());
    /// ```
    pub fn release(&self) -> Result<(), ProcessError> {
        self.lock.release()
    }

    /// Acquires the lock and returns a guard releasing it when dropped (`with cond:`).
    ///
    /// # Errors
    ///
    /// [`OwnerDiedError`] if the previous holder died; the lock is held and the guard is
    /// inside.
    ///
    /// # Panics
    ///
    /// If the OS reports the mutex unusable (corrupted memory).
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = conc_process::Condition::new();
    /// let _g = cond.lock().unwrap();
    /// cond.notify(1).unwrap();
    /// ```
    pub fn lock(&self) -> LockResult<ConditionGuard<'_, L>> {
        let guard = ConditionGuard {
            cond: self,
            _not_send: PhantomData,
        };
        match self.lock.acquire() {
            Ok(()) => Ok(guard),
            Err(ProcessError::OwnerDied) => Err(OwnerDiedError::new(guard)),
            Err(err) => {
                std::mem::forget(guard);
                panic!("process-shared lock unusable: {err}")
            }
        }
    }

    /// Releases the lock, waits until notified, reacquires it (Python: `wait()`). May
    /// return spuriously (see the type's docs).
    ///
    /// # Errors
    ///
    /// * [`ProcessError::InvalidState`] if the calling thread does not hold the lock.
    /// * [`ProcessError::OwnerDied`]: a process died holding the lock while we waited;
    ///   the lock is held again.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Condition, ProcessError};
    ///
    /// let cond = Condition::new();
    /// assert!(matches!(cond.wait(), Err(ProcessError::InvalidState(_))));
    /// ```
    pub fn wait(&self) -> Result<(), ProcessError> {
        self.wait_until(None).map(|_| ())
    }

    /// Like [`wait`](Self::wait), giving up after `timeout`; `Ok(false)` if it timed out
    /// (Python: `wait(timeout)`).
    ///
    /// # Errors
    ///
    /// As for [`wait`](Self::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let cond = conc_process::Condition::new();
    /// let _g = cond.lock().unwrap();
    /// assert_eq!(cond.wait_timeout(Duration::from_millis(10)), Ok(false));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, ProcessError> {
        self.wait_until(deadline_after(timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<bool, ProcessError> {
        if !self.lock.is_owned() {
            return Err(ProcessError::InvalidState(
                "cannot wait on an un-acquired lock",
            ));
        }
        let cv = &self.shared.get().cv;
        let ticket = cv.prepare();
        let saved = match self.lock.release_save() {
            Ok(saved) => saved,
            Err(err) => {
                cv.cancel(ticket);
                return Err(err);
            }
        };
        // Python's semantics: return only when notified or at the deadline.
        let notified = cv.sleep(ticket, deadline, Slices::SleepOn);
        self.lock.acquire_restore(saved)?;
        Ok(notified)
    }

    /// Waits until `predicate` returns `true`, for at most `timeout` overall (`None`:
    /// no limit); returns the predicate's last value (Python: `wait_for`).
    ///
    /// # Errors
    ///
    /// As for [`wait`](Self::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let cond = conc_process::Condition::new();
    /// let _g = cond.lock().unwrap();
    /// assert_eq!(cond.wait_for(|| true, None), Ok(true));
    /// assert_eq!(cond.wait_for(|| false, Some(Duration::from_millis(10))), Ok(false));
    /// ```
    pub fn wait_for<P>(
        &self,
        mut predicate: P,
        timeout: Option<Duration>,
    ) -> Result<bool, ProcessError>
    where
        P: FnMut() -> bool,
    {
        let deadline = timeout.and_then(deadline_after);
        let mut result = predicate();
        while !result {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                break;
            }
            // Re-check at least once a second even without a notify: a process that
            // died between making the predicate true and notifying cannot strand us.
            let slice_end = now + RECHECK_EVERY;
            self.wait_until(Some(deadline.map_or(slice_end, |d| d.min(slice_end))))?;
            result = predicate();
        }
        Ok(result)
    }

    /// Wakes up to `n` waiting threads (of any process) (Python: `notify(n)`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::InvalidState`] if the calling thread does not hold the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = conc_process::Condition::new();
    /// assert!(cond.notify(1).is_err());
    /// let _g = cond.lock().unwrap();
    /// assert!(cond.notify(1).is_ok());
    /// ```
    pub fn notify(&self, n: usize) -> Result<(), ProcessError> {
        if !self.lock.is_owned() {
            return Err(ProcessError::InvalidState(
                "cannot notify on an un-acquired lock",
            ));
        }
        self.shared.get().cv.notify(n);
        Ok(())
    }

    /// Wakes every waiting thread (Python: `notify_all()`).
    ///
    /// # Errors
    ///
    /// As for [`notify`](Self::notify).
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = conc_process::Condition::new();
    /// let _g = cond.lock().unwrap();
    /// cond.notify_all().unwrap();
    /// ```
    pub fn notify_all(&self) -> Result<(), ProcessError> {
        self.notify(usize::MAX)
    }
}

impl<L: ConditionLock + std::fmt::Debug> std::fmt::Debug for Condition<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Condition")
            .field("lock", &self.lock)
            .finish_non_exhaustive()
    }
}

/// Releases a [`Condition`]'s lock when dropped; made by [`Condition::lock`].
///
/// # Examples
///
/// ```
/// let cond = conc_process::Condition::new();
/// let guard: conc_process::ConditionGuard<'_, _> = cond.lock().unwrap();
/// drop(guard);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ConditionGuard<'a, L: ConditionLock> {
    cond: &'a Condition<L>,
    _not_send: PhantomData<*const ()>,
}

impl<L: ConditionLock> Drop for ConditionGuard<'_, L> {
    fn drop(&mut self) {
        let _ = self.cond.lock.release();
    }
}

impl<L: ConditionLock> std::fmt::Debug for ConditionGuard<'_, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConditionGuard").finish_non_exhaustive()
    }
}
