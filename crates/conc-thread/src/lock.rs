//! `Lock`: Python's `threading.Lock`, a binary lock with no owner.
//!
//! Python's lock may be released by any thread, and releasing an unlocked lock is an
//! error. No crate offers exactly that contract (`std::sync::Mutex` and `parking_lot`'s
//! raw mutex both require the releaser to hold the lock and cannot report a release of an
//! unlocked one), so the lock is the workspace's own [`RawLock`]: one compare-and-swap to
//! acquire or release while nobody waits, waiters parked on the lock's own condition
//! variable (see `sync.rs` for why not on a global parking table).

use std::time::Duration;

use crate::ThreadError;
use crate::deadline::deadline_after;
use crate::sync::RawLock;

/// A primitive lock, like Python's `threading.Lock`.
///
/// The lock is not owned by a thread: any thread may [`release`](Lock::release) it, which
/// makes it usable as a binary semaphore. Acquire it blocking ([`acquire`](Lock::acquire)),
/// with a timeout ([`acquire_timeout`](Lock::acquire_timeout)) or not at all if it is taken
/// ([`try_acquire`](Lock::try_acquire)); or take an RAII [`LockGuard`] with
/// [`lock`](Lock::lock), the Rust spelling of Python's `with lock:`.
///
/// Unlike `std::sync::Mutex`, the lock guards no data: it orders code, exactly as in
/// Python. Wrap data in `std::sync::Mutex` when the lock exists only to protect it.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use conc_thread::Lock;
///
/// let lock = Arc::new(Lock::new());
/// let counter = Arc::new(AtomicU64::new(0));
/// let handles: Vec<_> = (0..4)
///     .map(|_| {
///         let (lock, counter) = (lock.clone(), counter.clone());
///         conc_thread::spawn(move || {
///             for _ in 0..1000 {
///                 let _guard = lock.lock(); // `with lock:`
///                 let v = counter.load(Ordering::Relaxed);
///                 counter.store(v + 1, Ordering::Relaxed);
///             }
///         })
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(counter.load(Ordering::Relaxed), 4000);
/// ```
#[derive(Default)]
pub struct Lock {
    raw: RawLock,
}

impl Lock {
    /// Creates an unlocked lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = conc_thread::Lock::new();
    /// assert!(!lock.locked());
    /// ```
    pub const fn new() -> Self {
        Lock {
            raw: RawLock::new(),
        }
    }

    /// Acquires the lock, blocking until it is free (Python: `acquire()`).
    ///
    /// # Blocking
    ///
    /// Blocks the OS thread. A thread that acquires a lock it already holds deadlocks,
    /// as in Python; use [`RLock`](crate::RLock) for re-entrant locking.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = conc_thread::Lock::new();
    /// lock.acquire();
    /// assert!(lock.locked());
    /// lock.release().unwrap();
    /// ```
    #[inline]
    pub fn acquire(&self) {
        self.raw.acquire_until(None);
    }

    /// Acquires the lock if it is free, without blocking; returns whether it was acquired
    /// (Python: `acquire(blocking=False)`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = conc_thread::Lock::new();
    /// assert!(lock.try_acquire());
    /// assert!(!lock.try_acquire());
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> bool {
        self.raw.try_acquire()
    }

    /// Acquires the lock, waiting at most `timeout`; returns whether it was acquired
    /// (Python: `acquire(timeout=...)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lock = conc_thread::Lock::new();
    /// assert!(lock.acquire_timeout(Duration::from_millis(10)));
    /// assert!(!lock.acquire_timeout(Duration::from_millis(10)));
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.raw.acquire_until(deadline_after(timeout))
    }

    /// Releases the lock. Any thread may release it, not only the one that acquired it.
    ///
    /// # Errors
    ///
    /// [`ThreadError::ReleaseUnlocked`] if the lock is not locked (Python raises
    /// `RuntimeError`).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_thread::{Lock, ThreadError};
    ///
    /// let lock = Lock::new();
    /// lock.acquire();
    /// assert_eq!(lock.release(), Ok(()));
    /// assert_eq!(lock.release(), Err(ThreadError::ReleaseUnlocked));
    /// ```
    #[inline]
    pub fn release(&self) -> Result<(), ThreadError> {
        self.raw.release().map_err(|_| ThreadError::ReleaseUnlocked)
    }

    /// Whether the lock is currently held by some thread (Python: `locked()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = conc_thread::Lock::new();
    /// let guard = lock.lock();
    /// assert!(lock.locked());
    /// drop(guard);
    /// assert!(!lock.locked());
    /// ```
    #[inline]
    pub fn locked(&self) -> bool {
        self.raw.locked()
    }

    /// Acquires the lock and returns a guard that releases it when dropped
    /// (Python: `with lock:`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = conc_thread::Lock::new();
    /// {
    ///     let _guard = lock.lock();
    ///     assert!(lock.locked());
    /// }
    /// assert!(!lock.locked());
    /// ```
    #[inline]
    pub fn lock(&self) -> LockGuard<'_> {
        self.acquire();
        LockGuard { lock: self }
    }

    /// Acquires the lock without blocking and returns a guard, or `None` if it is taken.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = conc_thread::Lock::new();
    /// let guard = lock.try_lock().expect("free");
    /// assert!(lock.try_lock().is_none());
    /// drop(guard);
    /// ```
    pub fn try_lock(&self) -> Option<LockGuard<'_>> {
        // `then`, not `then_some`: an eagerly built guard would be dropped on failure
        // and release the lock its real holder still holds.
        self.try_acquire().then(|| LockGuard { lock: self })
    }

    /// Acquires the lock waiting at most `timeout` and returns a guard, or `None` on
    /// timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lock = conc_thread::Lock::new();
    /// let _held = lock.lock();
    /// assert!(lock.lock_timeout(Duration::from_millis(5)).is_none());
    /// ```
    pub fn lock_timeout(&self, timeout: Duration) -> Option<LockGuard<'_>> {
        self.acquire_timeout(timeout)
            .then(|| LockGuard { lock: self })
    }
}

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.locked())
            .finish()
    }
}

/// RAII guard of a [`Lock`]: the lock is released when the guard is dropped.
///
/// The guard is `Send`, since a `Lock` may be released by any thread.
///
/// # Examples
///
/// ```
/// let lock = conc_thread::Lock::new();
/// let guard = lock.lock();
/// std::thread::scope(|s| {
///     s.spawn(move || drop(guard)); // released by another thread
/// });
/// assert!(!lock.locked());
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct LockGuard<'a> {
    lock: &'a Lock,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        // An error here means the lock was released explicitly while the guard lived;
        // the lock is unlocked either way, which is what dropping the guard promises.
        let _ = self.lock.release();
    }
}
