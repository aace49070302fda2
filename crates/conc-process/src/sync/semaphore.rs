//! `Semaphore` and `BoundedSemaphore`: Python's `multiprocessing.Semaphore` and
//! `multiprocessing.BoundedSemaphore`, a counter in shared memory under a robust mutex
//! with a process-shared condvar.
//!
//! If a process dies holding the internal mutex, the next user takes it over silently:
//! the counter is only ever changed by one statement while the mutex is held, so it is
//! never half-updated. (A process that dies while holding a *permit* does not give it
//! back, as in Python: the semaphore cannot know the permit was not handed on.)

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::raw::{RawCondvar, RawMutex};
use super::{deadline_after, lock_internal, unlock_internal, wait_internal};
use crate::ProcessError;
use crate::shm::{ShmBox, ShmLayout};

#[repr(C)]
pub(crate) struct SemState {
    m: RawMutex,
    cv: RawCondvar,
    /// Protected by `m` (plain field reads elsewhere are advisory only).
    value: std::sync::atomic::AtomicU64,
    /// The largest value, `u64::MAX` for an unbounded semaphore. Set once at creation.
    bound: std::sync::atomic::AtomicU64,
}

// SAFETY: repr(C), zero-valid (RawMutex before init, a zero sequence, counters), no
// pointers; counters are atomics and only changed under `m`; unique magic.
unsafe impl ShmLayout for SemState {
    const MAGIC: u64 = 0x636f_6e63_5365_6d61; // "concSema"
}

use std::sync::atomic::Ordering::Relaxed;

/// The shared part of both semaphore kinds.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
struct Core {
    shared: ShmBox<SemState>,
}

impl Core {
    fn try_new(value: usize, bound: u64) -> Result<Core, ProcessError> {
        Ok(Core {
            shared: ShmBox::try_new(0, 1, |s: &SemState, _| {
                // SAFETY: `init` runs once, on memory nobody else can see yet.
                unsafe { s.m.init() }?;
                s.value.store(value as u64, Relaxed);
                s.bound.store(bound, Relaxed);
                Ok(())
            })?,
        })
    }

    fn state(&self) -> &SemState {
        self.shared.get()
    }

    fn acquire_until(&self, deadline: Option<Instant>, block: bool) -> bool {
        let s = self.state();
        if lock_internal(&s.m, deadline).is_err() {
            return false; // timed out waiting for the internal mutex
        }
        while s.value.load(Relaxed) == 0 {
            if !block || !wait_internal(&s.cv, &s.m, deadline) && s.value.load(Relaxed) == 0 {
                unlock_internal(&s.m);
                return false;
            }
        }
        s.value.fetch_sub(1, Relaxed);
        unlock_internal(&s.m);
        true
    }

    /// Adds `n` permits unless that passes the bound.
    fn release(&self, n: usize) -> Result<(), ProcessError> {
        let s = self.state();
        lock_internal(&s.m, None)?;
        let value = s.value.load(Relaxed);
        let new = value.saturating_add(n as u64);
        if new > s.bound.load(Relaxed) {
            unlock_internal(&s.m);
            return Err(ProcessError::InvalidState(
                "semaphore released too many times",
            ));
        }
        s.value.store(new, Relaxed);
        s.cv.notify(n);
        unlock_internal(&s.m);
        Ok(())
    }

    fn value(&self) -> usize {
        self.state().value.load(Relaxed) as usize
    }
}

/// A counting semaphore shared between processes, like Python's
/// `multiprocessing.Semaphore`: [`acquire`](Semaphore::acquire) takes a permit, waiting
/// for one if none is left; [`release`](Semaphore::release) gives permits back (any
/// thread of any process may).
///
/// # Examples
///
/// ```
/// let sem = conc_process::Semaphore::new(2);
/// sem.acquire();
/// assert!(sem.try_acquire());
/// assert!(!sem.try_acquire());
/// sem.release(2);
/// assert_eq!(sem.value(), 2);
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Semaphore {
    core: Core,
}

impl Semaphore {
    /// Creates a semaphore holding `value` permits (Python's default is 1).
    ///
    /// # Panics
    ///
    /// If the OS refuses to create shared memory or a mutex.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conc_process::Semaphore::new(3).value(), 3);
    /// ```
    pub fn new(value: usize) -> Semaphore {
        Semaphore::try_new(value).unwrap_or_else(|err| panic!("{err}"))
    }

    /// As [`new`](Self::new), with a refusal of the OS as an error rather than a panic.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Os`] if the shared memory or the process-shared mutex cannot be
    /// made (descriptor limit, address space, `vm.max_map_count`).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = conc_process::Semaphore::try_new(2).unwrap();
    /// assert_eq!(sem.value(), 2);
    /// ```
    pub fn try_new(value: usize) -> Result<Semaphore, ProcessError> {
        Ok(Semaphore {
            core: Core::try_new(value, u64::MAX)?,
        })
    }

    /// Takes a permit, blocking until one is available (Python: `acquire()`).
    ///
    /// # Panics
    ///
    /// If the OS reports the internal mutex unusable (corrupted memory).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = conc_process::Semaphore::new(1);
    /// sem.acquire();
    /// assert_eq!(sem.value(), 0);
    /// ```
    pub fn acquire(&self) {
        self.core.acquire_until(None, true);
    }

    /// Takes a permit if one is available, without blocking (Python:
    /// `acquire(False)`).
    ///
    /// # Panics
    ///
    /// As for [`acquire`](Self::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = conc_process::Semaphore::new(0);
    /// assert!(!sem.try_acquire());
    /// ```
    pub fn try_acquire(&self) -> bool {
        self.core.acquire_until(None, false)
    }

    /// Takes a permit, waiting at most `timeout`; `false` if none came (Python:
    /// `acquire(timeout=...)`).
    ///
    /// # Panics
    ///
    /// As for [`acquire`](Self::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let sem = conc_process::Semaphore::new(0);
    /// assert!(!sem.acquire_timeout(Duration::from_millis(10)));
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.core.acquire_until(deadline_after(timeout), true)
    }

    /// Gives back `n` permits, waking up to `n` waiters (Python: `release()`, n = 1).
    ///
    /// # Panics
    ///
    /// As for [`acquire`](Self::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = conc_process::Semaphore::new(0);
    /// sem.release(3);
    /// assert_eq!(sem.value(), 3);
    /// ```
    pub fn release(&self, n: usize) {
        // Unbounded (the counter saturates at u64::MAX): the bound check cannot fail.
        let _ = self.core.release(n);
    }

    /// Takes a permit and returns a guard giving it back when dropped (`with sem:`).
    ///
    /// # Panics
    ///
    /// As for [`acquire`](Self::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = conc_process::Semaphore::new(1);
    /// {
    ///     let _permit = sem.access();
    ///     assert_eq!(sem.value(), 0);
    /// }
    /// assert_eq!(sem.value(), 1);
    /// ```
    pub fn access(&self) -> SemaphoreGuard<'_> {
        self.acquire();
        SemaphoreGuard { core: &self.core }
    }

    /// The number of permits available now (Python: `get_value()`). Advisory.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conc_process::Semaphore::new(1).value(), 1);
    /// ```
    pub fn value(&self) -> usize {
        self.core.value()
    }
}

impl Default for Semaphore {
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
/// `multiprocessing.BoundedSemaphore`.
///
/// # Examples
///
/// ```
/// let sem = conc_process::BoundedSemaphore::new(1);
/// sem.acquire();
/// sem.release(1).unwrap();
/// assert!(sem.release(1).is_err());
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct BoundedSemaphore {
    core: Core,
    initial: usize,
}

impl BoundedSemaphore {
    /// Creates a semaphore holding, and bounded by, `value` permits.
    ///
    /// # Panics
    ///
    /// If the OS refuses to create shared memory or a mutex.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conc_process::BoundedSemaphore::new(2).initial_value(), 2);
    /// ```
    pub fn new(value: usize) -> BoundedSemaphore {
        BoundedSemaphore::try_new(value).unwrap_or_else(|err| panic!("{err}"))
    }

    /// As [`new`](Self::new), with a refusal of the OS as an error rather than a panic.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Os`] if the shared memory or the process-shared mutex cannot be
    /// made (descriptor limit, address space, `vm.max_map_count`).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = conc_process::BoundedSemaphore::try_new(1).unwrap();
    /// assert!(sem.release(1).is_err()); // above its initial value
    /// ```
    pub fn try_new(value: usize) -> Result<BoundedSemaphore, ProcessError> {
        Ok(BoundedSemaphore {
            core: Core::try_new(value, value as u64)?,
            initial: value,
        })
    }

    /// Takes a permit, blocking until one is available.
    ///
    /// # Panics
    ///
    /// If the OS reports the internal mutex unusable (corrupted memory).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = conc_process::BoundedSemaphore::new(1);
    /// sem.acquire();
    /// assert_eq!(sem.value(), 0);
    /// ```
    pub fn acquire(&self) {
        self.core.acquire_until(None, true);
    }

    /// Takes a permit if one is available, without blocking.
    ///
    /// # Panics
    ///
    /// As for [`acquire`](Self::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = conc_process::BoundedSemaphore::new(1);
    /// assert!(sem.try_acquire());
    /// assert!(!sem.try_acquire());
    /// ```
    pub fn try_acquire(&self) -> bool {
        self.core.acquire_until(None, false)
    }

    /// Takes a permit, waiting at most `timeout`; `false` if none came.
    ///
    /// # Panics
    ///
    /// As for [`acquire`](Self::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let sem = conc_process::BoundedSemaphore::new(0);
    /// assert!(!sem.acquire_timeout(Duration::from_millis(10)));
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.core.acquire_until(deadline_after(timeout), true)
    }

    /// Gives back `n` permits.
    ///
    /// # Errors
    ///
    /// [`ProcessError::InvalidState`] if that would exceed the initial value (Python:
    /// `ValueError`); nothing is released then.
    ///
    /// # Panics
    ///
    /// As for [`acquire`](Self::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = conc_process::BoundedSemaphore::new(2);
    /// sem.acquire();
    /// assert!(sem.release(2).is_err());
    /// assert!(sem.release(1).is_ok());
    /// ```
    pub fn release(&self, n: usize) -> Result<(), ProcessError> {
        self.core.release(n)
    }

    /// Takes a permit and returns a guard giving it back when dropped.
    ///
    /// # Panics
    ///
    /// As for [`acquire`](Self::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = conc_process::BoundedSemaphore::new(1);
    /// drop(sem.access());
    /// assert_eq!(sem.value(), 1);
    /// ```
    pub fn access(&self) -> SemaphoreGuard<'_> {
        self.acquire();
        SemaphoreGuard { core: &self.core }
    }

    /// The number of permits available now. Advisory.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conc_process::BoundedSemaphore::new(1).value(), 1);
    /// ```
    pub fn value(&self) -> usize {
        self.core.value()
    }

    /// The initial value, which is also the bound.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conc_process::BoundedSemaphore::new(3).initial_value(), 3);
    /// ```
    pub fn initial_value(&self) -> usize {
        self.initial
    }
}

impl Default for BoundedSemaphore {
    fn default() -> Self {
        BoundedSemaphore::new(1)
    }
}

impl std::fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("value", &self.value())
            .field("initial_value", &self.initial)
            .finish()
    }
}

/// Gives a permit back when dropped; made by [`Semaphore::access`] and
/// [`BoundedSemaphore::access`].
///
/// # Examples
///
/// ```
/// let sem = conc_process::Semaphore::new(1);
/// let permit: conc_process::SemaphoreGuard<'_> = sem.access();
/// drop(permit);
/// ```
#[must_use = "the permit is given back as soon as the guard is dropped"]
pub struct SemaphoreGuard<'a> {
    core: &'a Core,
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        // The permit came from this semaphore, so the bound cannot be exceeded.
        let _ = self.core.release(1);
    }
}

impl std::fmt::Debug for SemaphoreGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SemaphoreGuard").finish_non_exhaustive()
    }
}
