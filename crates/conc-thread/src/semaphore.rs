//! `Semaphore` and `BoundedSemaphore`: Python's counting semaphores.

use std::time::Duration;

use crate::sync::{Condvar, Mutex};

use crate::ThreadError;
use crate::deadline::deadline_after;

/// A counting semaphore, like Python's `threading.Semaphore`: `acquire` takes one unit,
/// blocking while there are none; `release` gives units back.
///
/// # Examples
///
/// At most two threads inside at once:
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use conc_thread::Semaphore;
///
/// let sem = Arc::new(Semaphore::new(2));
/// let inside = Arc::new(AtomicUsize::new(0));
/// let handles: Vec<_> = (0..6).map(|_| {
///     let (sem, inside) = (sem.clone(), inside.clone());
///     conc_thread::spawn(move || {
///         let _permit = sem.access();
///         assert!(inside.fetch_add(1, Ordering::SeqCst) < 2);
///         inside.fetch_sub(1, Ordering::SeqCst);
///     })
/// }).collect();
/// for h in handles { h.join().unwrap(); }
/// ```
pub struct Semaphore {
    value: Mutex<usize>,
    available: Condvar,
}

impl Semaphore {
    /// A semaphore holding `value` units (Python: `Semaphore(value)`; a negative value,
    /// a `ValueError` there, cannot be expressed here).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = conc_thread::Semaphore::new(1);
    /// assert_eq!(sem.value(), 1);
    /// ```
    pub const fn new(value: usize) -> Self {
        Semaphore {
            value: Mutex::new(value),
            available: Condvar::new(),
        }
    }

    /// Takes one unit, blocking until one is available.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = conc_thread::Semaphore::new(1);
    /// sem.acquire();
    /// assert_eq!(sem.value(), 0);
    /// sem.release(1);
    /// ```
    pub fn acquire(&self) {
        let mut value = self.value.lock();
        while *value == 0 {
            self.available.wait(&mut value);
        }
        *value -= 1;
    }

    /// Takes one unit if one is available, without blocking; returns whether it did
    /// (Python: `acquire(blocking=False)`).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = conc_thread::Semaphore::new(1);
    /// assert!(sem.try_acquire());
    /// assert!(!sem.try_acquire());
    /// ```
    pub fn try_acquire(&self) -> bool {
        let mut value = self.value.lock();
        if *value == 0 {
            return false;
        }
        *value -= 1;
        true
    }

    /// Takes one unit, waiting at most `timeout`; returns whether it did
    /// (Python: `acquire(timeout=...)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let sem = conc_thread::Semaphore::new(0);
    /// assert!(!sem.acquire_timeout(Duration::from_millis(10)));
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        let Some(deadline) = deadline_after(timeout) else {
            self.acquire();
            return true;
        };
        let mut value = self.value.lock();
        while *value == 0 {
            if self.available.wait_until(&mut value, deadline).timed_out() && *value == 0 {
                return false;
            }
        }
        *value -= 1;
        true
    }

    /// Gives back `n` units, waking up to `n` waiting threads (Python: `release(n)`).
    /// The count saturates at `usize::MAX`.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = conc_thread::Semaphore::new(0);
    /// sem.release(3);
    /// assert_eq!(sem.value(), 3);
    /// ```
    pub fn release(&self, n: usize) {
        let mut value = self.value.lock();
        // Python's counter is unbounded; ours stops at usize::MAX units.
        *value = value.saturating_add(n);
        self.wake(n);
    }

    fn wake(&self, n: usize) {
        if n == 1 {
            self.available.notify_one();
        } else if n > 1 {
            self.available.notify_all();
        }
    }

    /// Takes one unit and returns a guard that gives it back on drop
    /// (Python: `with semaphore:`).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = conc_thread::Semaphore::new(1);
    /// {
    ///     let _permit = sem.access();
    ///     assert_eq!(sem.value(), 0);
    /// }
    /// assert_eq!(sem.value(), 1);
    /// ```
    pub fn access(&self) -> SemaphoreGuard<'_> {
        self.acquire();
        SemaphoreGuard {
            release: GuardTarget::Plain(self),
        }
    }

    /// The number of units available now (Python: the private `_value`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conc_thread::Semaphore::new(4).value(), 4);
    /// ```
    pub fn value(&self) -> usize {
        *self.value.lock()
    }
}

impl Default for Semaphore {
    /// `Semaphore(1)`, Python's default.
    fn default() -> Self {
        Semaphore::new(1)
    }
}

impl std::fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Semaphore")
            .field("value", &self.value())
            .finish()
    }
}

/// A semaphore that refuses to be released above its initial value, like Python's
/// `threading.BoundedSemaphore`; an over-release is usually a bug.
///
/// # Examples
///
/// Five download slots shared by 22 threads, as in the seeds:
///
/// ```
/// use std::sync::Arc;
/// use conc_thread::{BoundedSemaphore, ThreadError};
///
/// let slots = Arc::new(BoundedSemaphore::new(5));
/// let handles: Vec<_> = (0..22).map(|_| {
///     let slots = slots.clone();
///     conc_thread::spawn(move || { let _slot = slots.access(); })
/// }).collect();
/// for h in handles { h.join().unwrap(); }
/// assert_eq!(slots.release(1), Err(ThreadError::OverRelease));
/// ```
pub struct BoundedSemaphore {
    semaphore: Semaphore,
    initial: usize,
}

impl BoundedSemaphore {
    /// A bounded semaphore holding, and capped at, `value` units.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = conc_thread::BoundedSemaphore::new(2);
    /// assert_eq!(sem.value(), 2);
    /// ```
    pub const fn new(value: usize) -> Self {
        BoundedSemaphore {
            semaphore: Semaphore::new(value),
            initial: value,
        }
    }

    /// Takes one unit, blocking until one is available.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = conc_thread::BoundedSemaphore::new(1);
    /// sem.acquire();
    /// sem.release(1).unwrap();
    /// ```
    pub fn acquire(&self) {
        self.semaphore.acquire();
    }

    /// Takes one unit without blocking; returns whether it did.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = conc_thread::BoundedSemaphore::new(1);
    /// assert!(sem.try_acquire());
    /// assert!(!sem.try_acquire());
    /// ```
    pub fn try_acquire(&self) -> bool {
        self.semaphore.try_acquire()
    }

    /// Takes one unit, waiting at most `timeout`; returns whether it did.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let sem = conc_thread::BoundedSemaphore::new(0);
    /// assert!(!sem.acquire_timeout(Duration::from_millis(5)));
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.semaphore.acquire_timeout(timeout)
    }

    /// Gives back `n` units.
    ///
    /// # Errors
    ///
    /// [`ThreadError::OverRelease`] if that would exceed the initial value; nothing is
    /// released then (Python raises `ValueError`).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_thread::{BoundedSemaphore, ThreadError};
    ///
    /// let sem = BoundedSemaphore::new(1);
    /// sem.acquire();
    /// assert_eq!(sem.release(2), Err(ThreadError::OverRelease));
    /// assert_eq!(sem.release(1), Ok(()));
    /// ```
    pub fn release(&self, n: usize) -> Result<(), ThreadError> {
        let mut value = self.semaphore.value.lock();
        if value.checked_add(n).is_none_or(|v| v > self.initial) {
            return Err(ThreadError::OverRelease);
        }
        *value += n;
        self.semaphore.wake(n);
        Ok(())
    }

    /// Takes one unit and returns a guard that gives it back on drop.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = conc_thread::BoundedSemaphore::new(1);
    /// let permit = sem.access();
    /// assert_eq!(sem.value(), 0);
    /// drop(permit);
    /// assert_eq!(sem.value(), 1);
    /// ```
    pub fn access(&self) -> SemaphoreGuard<'_> {
        self.acquire();
        SemaphoreGuard {
            release: GuardTarget::Bounded(self),
        }
    }

    /// The number of units available now.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conc_thread::BoundedSemaphore::new(3).value(), 3);
    /// ```
    pub fn value(&self) -> usize {
        self.semaphore.value()
    }

    /// The initial value, which is also the cap.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conc_thread::BoundedSemaphore::new(3).initial_value(), 3);
    /// ```
    pub fn initial_value(&self) -> usize {
        self.initial
    }
}

impl Default for BoundedSemaphore {
    /// `BoundedSemaphore(1)`, Python's default.
    fn default() -> Self {
        BoundedSemaphore::new(1)
    }
}

impl std::fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("value", &self.value())
            .field("initial", &self.initial)
            .finish()
    }
}

/// A unit taken from a [`Semaphore`] or [`BoundedSemaphore`], given back on drop.
///
/// # Examples
///
/// ```
/// let sem = conc_thread::Semaphore::new(1);
/// let permit: conc_thread::SemaphoreGuard<'_> = sem.access();
/// drop(permit);
/// assert_eq!(sem.value(), 1);
/// ```
#[must_use = "the unit is given back as soon as the guard is dropped"]
#[derive(Debug)]
pub struct SemaphoreGuard<'a> {
    release: GuardTarget<'a>,
}

#[derive(Debug)]
enum GuardTarget<'a> {
    Plain(&'a Semaphore),
    Bounded(&'a BoundedSemaphore),
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        match self.release {
            GuardTarget::Plain(sem) => sem.release(1),
            // Over-release is impossible here unless the owner also released by hand;
            // the cap then holds and the extra unit is dropped.
            GuardTarget::Bounded(sem) => {
                let _ = sem.release(1);
            }
        }
    }
}
