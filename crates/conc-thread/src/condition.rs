//! `Condition`: Python's `threading.Condition`, over a [`Lock`] or an [`RLock`].
//!
//! The implementation follows CPython's: each waiter parks on a private [`Lock`] that
//! it holds, and `notify` releases the lock of the longest-waiting thread. That keeps
//! wake-ups FIFO, lets one condition serve either lock type, and is the reason `notify`
//! needs no condvar on the user's lock.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sync::Mutex;

use crate::deadline::deadline_after;
use crate::{Lock, RLock, ThreadError};

mod sealed {
    use crate::ThreadError;
    use std::time::Duration;

    /// The operations a [`Condition`](crate::Condition) needs from its lock.
    #[allow(unreachable_pub)] // sealed: nameable only inside this crate
    pub trait LockOps: Send + Sync {
        fn acquire(&self);
        fn try_acquire(&self) -> bool;
        fn acquire_timeout(&self, timeout: Duration) -> bool;
        fn release(&self) -> Result<(), ThreadError>;
        /// Whether the calling thread may wait or notify.
        fn is_owned(&self) -> bool;
        /// Fully releases the lock, returning what `acquire_restore` needs.
        fn release_save(&self) -> Result<usize, ThreadError>;
        fn acquire_restore(&self, saved: usize);
    }
}

/// A lock a [`Condition`] can be built on: [`Lock`] or [`RLock`].
///
/// The trait is sealed; its methods are the condition's business.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use conc_thread::{Condition, Lock, RLock};
///
/// let over_lock: Condition<Lock> = Condition::with_lock(Arc::new(Lock::new()));
/// let over_rlock: Condition<RLock> = Condition::new();
/// # let _ = (over_lock, over_rlock);
/// ```
pub trait ConditionLock: sealed::LockOps {}

impl ConditionLock for Lock {}
impl ConditionLock for RLock {}

impl sealed::LockOps for Lock {
    fn acquire(&self) {
        Lock::acquire(self);
    }
    fn try_acquire(&self) -> bool {
        Lock::try_acquire(self)
    }
    fn acquire_timeout(&self, timeout: Duration) -> bool {
        Lock::acquire_timeout(self, timeout)
    }
    fn release(&self) -> Result<(), ThreadError> {
        Lock::release(self)
    }
    fn is_owned(&self) -> bool {
        // A plain lock has no owner; as in CPython, "owned" means "held by someone".
        self.locked()
    }
    fn release_save(&self) -> Result<usize, ThreadError> {
        Lock::release(self).map(|()| 1)
    }
    fn acquire_restore(&self, _saved: usize) {
        Lock::acquire(self);
    }
}

impl sealed::LockOps for RLock {
    fn acquire(&self) {
        RLock::acquire(self);
    }
    fn try_acquire(&self) -> bool {
        RLock::try_acquire(self)
    }
    fn acquire_timeout(&self, timeout: Duration) -> bool {
        RLock::acquire_timeout(self, timeout)
    }
    fn release(&self) -> Result<(), ThreadError> {
        RLock::release(self)
    }
    fn is_owned(&self) -> bool {
        RLock::is_owned(self)
    }
    fn release_save(&self) -> Result<usize, ThreadError> {
        RLock::release_save(self)
    }
    fn acquire_restore(&self, saved: usize) {
        RLock::acquire_restore(self, saved);
    }
}

/// A condition variable, like Python's `threading.Condition`: threads wait, while
/// holding the condition's lock, until another thread notifies them.
///
/// The lock is an [`RLock`] by default ([`Condition::new`]), or a shared [`Lock`] or
/// `RLock` given to [`Condition::with_lock`], so several conditions can share one lock
/// as in Python.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use conc_thread::Condition;
///
/// let cond = Arc::new(Condition::new());
/// let items = Arc::new(Mutex::new(Vec::new()));
/// let consumer = {
///     let (cond, items) = (cond.clone(), items.clone());
///     conc_thread::spawn(move || {
///         let _g = cond.lock();
///         cond.wait_for(|| !items.lock().unwrap().is_empty(), None).unwrap();
///         items.lock().unwrap().pop()
///     })
/// };
/// {
///     let _g = cond.lock();
///     items.lock().unwrap().push(42);
///     cond.notify(1).unwrap();
/// }
/// assert_eq!(consumer.join().unwrap(), Some(42));
/// ```
pub struct Condition<L: ConditionLock = RLock> {
    lock: Arc<L>,
    waiters: Mutex<VecDeque<Arc<Lock>>>,
}

impl Condition<RLock> {
    /// A condition with its own [`RLock`], as `threading.Condition()` creates.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = conc_thread::Condition::new();
    /// cond.acquire();
    /// cond.release().unwrap();
    /// ```
    pub fn new() -> Self {
        Condition::with_lock(Arc::new(RLock::new()))
    }
}

impl Default for Condition<RLock> {
    fn default() -> Self {
        Condition::new()
    }
}

impl<L: ConditionLock> Condition<L> {
    /// A condition over a shared lock (Python: `Condition(lock)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use conc_thread::{Condition, Lock};
    ///
    /// let lock = Arc::new(Lock::new());
    /// let not_empty = Condition::with_lock(lock.clone());
    /// let not_full = Condition::with_lock(lock.clone());
    /// not_empty.acquire();
    /// assert!(lock.locked()); // one lock behind both conditions
    /// not_full.release().unwrap();
    /// ```
    pub fn with_lock(lock: Arc<L>) -> Self {
        Condition {
            lock,
            waiters: Mutex::new(VecDeque::new()),
        }
    }

    /// The lock behind the condition.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = conc_thread::Condition::new();
    /// let _g = cond.lock();
    /// assert!(cond.inner_lock().is_owned());
    /// ```
    pub fn inner_lock(&self) -> &Arc<L> {
        &self.lock
    }

    /// Acquires the underlying lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = conc_thread::Condition::new();
    /// cond.acquire();
    /// cond.release().unwrap();
    /// ```
    pub fn acquire(&self) {
        self.lock.acquire();
    }

    /// Acquires the underlying lock without blocking; returns whether it was acquired.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = conc_thread::Condition::new();
    /// assert!(cond.try_acquire());
    /// cond.release().unwrap();
    /// ```
    pub fn try_acquire(&self) -> bool {
        self.lock.try_acquire()
    }

    /// Acquires the underlying lock waiting at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let cond = conc_thread::Condition::new();
    /// assert!(cond.acquire_timeout(Duration::from_millis(5)));
    /// cond.release().unwrap();
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.lock.acquire_timeout(timeout)
    }

    /// Releases the underlying lock.
    ///
    /// # Errors
    ///
    /// The lock's error: [`ThreadError::ReleaseUnlocked`] for a [`Lock`],
    /// [`ThreadError::NotOwner`] for an [`RLock`].
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = conc_thread::Condition::new();
    /// assert!(cond.release().is_err());
    /// ```
    pub fn release(&self) -> Result<(), ThreadError> {
        self.lock.release()
    }

    /// Acquires the underlying lock and returns a guard releasing it on drop
    /// (Python: `with cond:`).
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = conc_thread::Condition::new();
    /// let _g = cond.lock();
    /// cond.notify_all().unwrap();
    /// ```
    pub fn lock(&self) -> ConditionGuard<'_, L> {
        self.lock.acquire();
        ConditionGuard {
            lock: &*self.lock,
            _not_send: PhantomData,
        }
    }

    /// Releases the lock, blocks until notified, then re-acquires the lock
    /// (Python: `wait()`). An [`RLock`] is released fully and restored to its depth.
    ///
    /// # Errors
    ///
    /// [`ThreadError::NotAcquired`] if the calling thread does not hold the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let cond = Arc::new(conc_thread::Condition::new());
    /// let g = cond.lock();
    /// let notifier = {
    ///     let cond = cond.clone();
    ///     conc_thread::spawn(move || {
    ///         let _g = cond.lock();
    ///         cond.notify(1).unwrap();
    ///     })
    /// };
    /// cond.wait().unwrap();
    /// drop(g);
    /// notifier.join().unwrap();
    /// ```
    pub fn wait(&self) -> Result<(), ThreadError> {
        self.wait_inner(None).map(|_| ())
    }

    /// Like [`wait`](Self::wait), giving up after `timeout`; returns `false` if it timed
    /// out (Python: `wait(timeout)`).
    ///
    /// # Errors
    ///
    /// [`ThreadError::NotAcquired`] if the calling thread does not hold the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let cond = conc_thread::Condition::new();
    /// let _g = cond.lock();
    /// assert_eq!(cond.wait_timeout(Duration::from_millis(10)), Ok(false));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, ThreadError> {
        self.wait_inner(Some(timeout))
    }

    fn wait_inner(&self, timeout: Option<Duration>) -> Result<bool, ThreadError> {
        if !self.lock.is_owned() {
            return Err(ThreadError::NotAcquired("wait"));
        }
        let waiter = Arc::new(Lock::new());
        waiter.acquire();
        self.waiters.lock().push_back(waiter.clone());
        let saved = match self.lock.release_save() {
            Ok(saved) => saved,
            Err(err) => {
                self.remove_waiter(&waiter);
                return Err(err);
            }
        };
        let notified = match timeout {
            None => {
                waiter.acquire();
                true
            }
            Some(timeout) => waiter.acquire_timeout(timeout),
        };
        self.lock.acquire_restore(saved);
        if !notified {
            // A notify racing with the timeout may already have taken the waiter out.
            self.remove_waiter(&waiter);
        }
        Ok(notified)
    }

    fn remove_waiter(&self, waiter: &Arc<Lock>) {
        let mut waiters = self.waiters.lock();
        if let Some(at) = waiters.iter().position(|w| Arc::ptr_eq(w, waiter)) {
            waiters.remove(at);
        }
    }

    /// Waits until `predicate` returns `true`, re-checking after every notification,
    /// for at most `timeout` overall (`None`: no limit). Returns the predicate's last
    /// value, so `false` means the time ran out (Python: `wait_for`).
    ///
    /// # Errors
    ///
    /// [`ThreadError::NotAcquired`] if the calling thread does not hold the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let cond = conc_thread::Condition::new();
    /// let _g = cond.lock();
    /// assert_eq!(cond.wait_for(|| true, None), Ok(true));
    /// assert_eq!(cond.wait_for(|| false, Some(Duration::from_millis(10))), Ok(false));
    /// ```
    pub fn wait_for<P>(
        &self,
        mut predicate: P,
        timeout: Option<Duration>,
    ) -> Result<bool, ThreadError>
    where
        P: FnMut() -> bool,
    {
        // A timeout too large to represent as an `Instant` waits without limit.
        let deadline: Option<Instant> = timeout.and_then(deadline_after);
        let mut result = predicate();
        while !result {
            match deadline {
                None => self.wait()?,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    self.wait_timeout(left)?;
                }
            }
            result = predicate();
        }
        Ok(result)
    }

    /// Wakes up to `n` waiting threads, longest-waiting first (Python: `notify(n)`).
    /// They run once they re-acquire the lock, after the notifier releases it.
    ///
    /// # Errors
    ///
    /// [`ThreadError::NotAcquired`] if the calling thread does not hold the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_thread::{Condition, ThreadError};
    ///
    /// let cond = Condition::new();
    /// assert_eq!(cond.notify(1), Err(ThreadError::NotAcquired("notify")));
    /// let _g = cond.lock();
    /// assert_eq!(cond.notify(1), Ok(()));
    /// ```
    pub fn notify(&self, n: usize) -> Result<(), ThreadError> {
        if !self.lock.is_owned() {
            return Err(ThreadError::NotAcquired("notify"));
        }
        let mut waiters = self.waiters.lock();
        for _ in 0..n {
            let Some(waiter) = waiters.pop_front() else {
                break;
            };
            // The waiter holds its own lock until we release it here; it cannot fail.
            let _ = waiter.release();
        }
        Ok(())
    }

    /// Wakes every waiting thread (Python: `notify_all()`).
    ///
    /// # Errors
    ///
    /// [`ThreadError::NotAcquired`] if the calling thread does not hold the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = conc_thread::Condition::new();
    /// let _g = cond.lock();
    /// cond.notify_all().unwrap();
    /// ```
    pub fn notify_all(&self) -> Result<(), ThreadError> {
        self.notify(usize::MAX)
    }
}

impl<L: ConditionLock + std::fmt::Debug> std::fmt::Debug for Condition<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Condition")
            .field("lock", &self.lock)
            .field("waiters", &self.waiters.lock().len())
            .finish()
    }
}

/// RAII guard of a [`Condition`]'s lock, from [`Condition::lock`].
///
/// # Examples
///
/// ```
/// let cond = conc_thread::Condition::new();
/// {
///     let _g = cond.lock();
///     assert!(cond.inner_lock().is_owned());
/// }
/// assert!(!cond.inner_lock().is_owned());
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ConditionGuard<'a, L: ConditionLock> {
    lock: &'a L,
    _not_send: PhantomData<*const ()>,
}

impl<L: ConditionLock> Drop for ConditionGuard<'_, L> {
    fn drop(&mut self) {
        let _ = self.lock.release();
    }
}

impl<L: ConditionLock> std::fmt::Debug for ConditionGuard<'_, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConditionGuard")
    }
}
