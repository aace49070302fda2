//! `RLock`: Python's `threading.RLock`, a lock its owner may acquire again.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::{Lock, ThreadError, get_ident};

/// A re-entrant lock, like Python's `threading.RLock`: the thread that holds it may
/// acquire it again, and must release it as many times as it acquired it.
///
/// # Examples
///
/// ```
/// use conc_thread::{RLock, ThreadError};
///
/// let lock = RLock::new();
/// lock.acquire();
/// lock.acquire(); // nested: no deadlock
/// lock.release().unwrap();
/// lock.release().unwrap();
/// assert_eq!(lock.release(), Err(ThreadError::NotOwner));
///
/// let _outer = lock.lock();
/// let _inner = lock.lock(); // guards nest too
/// ```
#[derive(Default)]
pub struct RLock {
    lock: Lock,
    /// Ident of the owning thread, 0 when free. Idents start at 1.
    owner: AtomicU64,
    /// Nesting depth; only the owner reads or writes it.
    count: AtomicUsize,
}

impl RLock {
    /// Creates an unlocked re-entrant lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = conc_thread::RLock::new();
    /// assert!(!lock.is_owned());
    /// ```
    pub const fn new() -> Self {
        RLock {
            lock: Lock::new(),
            owner: AtomicU64::new(0),
            count: AtomicUsize::new(0),
        }
    }

    /// Acquires the lock, blocking unless the calling thread already owns it.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = conc_thread::RLock::new();
    /// lock.acquire();
    /// assert!(lock.is_owned());
    /// lock.release().unwrap();
    /// ```
    pub fn acquire(&self) {
        let me = get_ident();
        if self.enter_again(me) {
            return;
        }
        self.lock.acquire();
        self.take_ownership(me, 1);
    }

    /// Acquires the lock without blocking; returns whether it was acquired.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = std::sync::Arc::new(conc_thread::RLock::new());
    /// assert!(lock.try_acquire());
    /// let other = { let l = lock.clone(); conc_thread::spawn(move || l.try_acquire()) };
    /// assert!(!other.join().unwrap());
    /// lock.release().unwrap();
    /// ```
    pub fn try_acquire(&self) -> bool {
        let me = get_ident();
        if self.enter_again(me) {
            return true;
        }
        let acquired = self.lock.try_acquire();
        if acquired {
            self.take_ownership(me, 1);
        }
        acquired
    }

    /// Acquires the lock waiting at most `timeout`; returns whether it was acquired.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lock = conc_thread::RLock::new();
    /// assert!(lock.acquire_timeout(Duration::from_millis(5)));
    /// lock.release().unwrap();
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        let me = get_ident();
        if self.enter_again(me) {
            return true;
        }
        let acquired = self.lock.acquire_timeout(timeout);
        if acquired {
            self.take_ownership(me, 1);
        }
        acquired
    }

    /// Releases one level of ownership; the lock is free once every acquire has been
    /// matched by a release.
    ///
    /// # Errors
    ///
    /// [`ThreadError::NotOwner`] if the calling thread does not own the lock (Python
    /// raises `RuntimeError`).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_thread::{RLock, ThreadError};
    ///
    /// let lock = RLock::new();
    /// assert_eq!(lock.release(), Err(ThreadError::NotOwner));
    /// ```
    pub fn release(&self) -> Result<(), ThreadError> {
        if !self.is_owned() {
            return Err(ThreadError::NotOwner);
        }
        let count = self.count.load(Ordering::Relaxed) - 1;
        self.count.store(count, Ordering::Relaxed);
        if count == 0 {
            self.owner.store(0, Ordering::Relaxed);
            self.lock.release()?;
        }
        Ok(())
    }

    /// Whether the calling thread owns the lock (Python: the private `_is_owned()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = conc_thread::RLock::new();
    /// let _g = lock.lock();
    /// assert!(lock.is_owned());
    /// ```
    pub fn is_owned(&self) -> bool {
        self.owner.load(Ordering::Relaxed) == get_ident()
    }

    /// Whether any thread holds the lock (Python 3.14: `locked()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = conc_thread::RLock::new();
    /// assert!(!lock.locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.lock.locked()
    }

    /// Acquires the lock and returns a guard releasing it on drop (Python: `with rlock:`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = conc_thread::RLock::new();
    /// let g1 = lock.lock();
    /// let g2 = lock.lock();
    /// drop(g2);
    /// drop(g1);
    /// assert!(!lock.locked());
    /// ```
    pub fn lock(&self) -> RLockGuard<'_> {
        self.acquire();
        RLockGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    /// Releases every level of ownership at once and returns the depth, for
    /// [`Condition::wait`](crate::Condition::wait).
    pub(crate) fn release_save(&self) -> Result<usize, ThreadError> {
        if !self.is_owned() {
            return Err(ThreadError::NotOwner);
        }
        let count = self.count.swap(0, Ordering::Relaxed);
        self.owner.store(0, Ordering::Relaxed);
        self.lock.release()?;
        Ok(count)
    }

    /// Re-acquires after [`release_save`](Self::release_save) with the saved depth.
    pub(crate) fn acquire_restore(&self, count: usize) {
        self.lock.acquire();
        self.take_ownership(get_ident(), count);
    }

    fn enter_again(&self, me: u64) -> bool {
        // Only the owner can see its own ident here, so a stale read by another thread
        // never matches.
        if self.owner.load(Ordering::Relaxed) == me {
            let count = self.count.load(Ordering::Relaxed);
            self.count.store(count + 1, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    fn take_ownership(&self, me: u64, count: usize) {
        self.count.store(count, Ordering::Relaxed);
        self.owner.store(me, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for RLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RLock")
            .field("owner", &self.owner.load(Ordering::Relaxed))
            .field("count", &self.count.load(Ordering::Relaxed))
            .finish()
    }
}

/// RAII guard of an [`RLock`]. It is not `Send`: only the owning thread may release.
///
/// ```compile_fail
/// let lock = conc_thread::RLock::new();
/// let guard = lock.lock();
/// std::thread::scope(|s| {
///     s.spawn(move || drop(guard)); // error: the guard cannot leave its thread
/// });
/// ```
///
/// # Examples
///
/// ```
/// let lock = conc_thread::RLock::new();
/// {
///     let _guard = lock.lock();
///     assert!(lock.is_owned());
/// }
/// assert!(!lock.is_owned());
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct RLockGuard<'a> {
    lock: &'a RLock,
    _not_send: PhantomData<*const ()>,
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        // Fails only if the owner released explicitly under the guard; nothing to undo.
        let _ = self.lock.release();
    }
}
