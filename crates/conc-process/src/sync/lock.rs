//! `Lock`: Python's `multiprocessing.Lock`, over a robust process-shared mutex.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::raw::RawMutex;
use super::{LockResult, OwnerDiedError, deadline_after};
use crate::ProcessError;
use crate::shm::{ShmBox, ShmLayout};

#[repr(C)]
pub(crate) struct LockState {
    pub(crate) m: RawMutex,
    /// 1 while a shared-data guard (`Value::lock`, `Array::lock`) holds the lock: a
    /// plain `release` then must refuse, or the guard's `&mut` would alias another
    /// process's writes. Only the holder writes it.
    guarded: AtomicU32,
}

// SAFETY: repr(C), a RawMutex (zero-valid until `init`, no pointers, concurrent use is
// its purpose) and an atomic flag; the magic is unique in the crate.
unsafe impl ShmLayout for LockState {
    const MAGIC: u64 = 0x636f_6e63_4c6f_636b; // "concLock"
}

/// A non-recursive lock shared between processes, like Python's `multiprocessing.Lock`.
///
/// Handles are cheap to clone; every clone, every `fork`ed copy and every copy received
/// in a message (a process argument or result, a value on a `Connection`) is the same
/// lock.
///
/// # Differences from Python
///
/// * **Owner.** Python's `multiprocessing.Lock` is a semaphore that any process may
///   release. This lock is a robust mutex: only the thread that acquired it may
///   [`release`](Lock::release) it; anyone else gets an error (never undefined
///   behaviour). Use a [`Semaphore`](crate::Semaphore) of 1 to hand a token between
///   processes.
/// * **Owner died.** If the holder dies, the next acquirer gets the lock together with
///   [`ProcessError::OwnerDied`] (see [`acquire`](Lock::acquire)) instead of deadlocking.
/// * Acquiring a lock the same thread holds blocks forever (or times out), as in Python.
///
/// # Examples
///
/// ```
/// use conc_process::Lock;
///
/// let lock = Lock::new();
/// {
///     let _guard = lock.lock().unwrap(); // `with lock:`
///     assert!(lock.locked());
/// }
/// assert!(!lock.locked());
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Lock {
    shared: ShmBox<LockState>,
}

impl Lock {
    /// Creates an unlocked lock in new shared memory.
    ///
    /// # Panics
    ///
    /// If the OS refuses to create shared memory or a mutex.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = conc_process::Lock::new();
    /// assert!(!lock.locked());
    /// ```
    pub fn new() -> Lock {
        Lock::try_new().unwrap_or_else(|err| panic!("{err}"))
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
    /// let made = conc_process::Lock::try_new();
    /// assert!(made.is_ok());
    /// ```
    pub fn try_new() -> Result<Lock, ProcessError> {
        Ok(Lock {
            shared: ShmBox::try_new(0, 1, |s: &LockState, _| {
                // SAFETY: `init` runs once, on memory nobody else can see yet.
                unsafe { s.m.init() }
            })?,
        })
    }

    pub(crate) fn raw(&self) -> &RawMutex {
        &self.shared.get().m
    }

    /// Interprets a lock result, counting a hold on the segment when acquired.
    fn acquired(&self, result: Result<(), ProcessError>) -> Result<bool, ProcessError> {
        match result {
            Ok(()) => {
                self.shared.segment().hold();
                Ok(true)
            }
            Err(ProcessError::OwnerDied) => {
                // A guard of the dead holder is gone with it.
                self.shared.get().guarded.store(0, Ordering::Relaxed);
                self.shared.segment().hold();
                Err(ProcessError::OwnerDied)
            }
            Err(ProcessError::Timeout { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Acquires the lock, blocking until it is free (Python: `acquire()`).
    ///
    /// # Errors
    ///
    /// * [`ProcessError::OwnerDied`]: the previous holder died holding the lock. **The
    ///   lock is now held by the caller**; the state it protects may be half-updated.
    ///   Repair it (or not) and [`release`](Self::release) as usual.
    /// * [`ProcessError::Os`] if the OS reports the mutex unusable (corrupted memory).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Lock, ProcessError};
    ///
    /// let lock = Lock::new();
    /// match lock.acquire() {
    ///     Ok(()) | Err(ProcessError::OwnerDied) => {} // held either way
    ///     Err(other) => panic!("{other}"),
    /// }
    /// lock.release().unwrap();
    /// ```
    pub fn acquire(&self) -> Result<(), ProcessError> {
        self.acquired(self.raw().lock(None)).map(|_| ())
    }

    /// Acquires the lock if it is free, without blocking; `Ok(false)` if it is held
    /// (Python: `acquire(block=False)`).
    ///
    /// # Errors
    ///
    /// As for [`acquire`](Self::acquire) (`OwnerDied` means acquired).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = conc_process::Lock::new();
    /// assert_eq!(lock.try_acquire(), Ok(true));
    /// assert_eq!(lock.try_acquire(), Ok(false));
    /// lock.release().unwrap();
    /// ```
    pub fn try_acquire(&self) -> Result<bool, ProcessError> {
        self.acquired(self.raw().try_lock().and_then(|got| {
            if got {
                Ok(())
            } else {
                Err(ProcessError::timed_out())
            }
        }))
    }

    /// Acquires the lock, waiting at most `timeout`; `Ok(false)` if it timed out
    /// (Python: `acquire(timeout=...)`).
    ///
    /// # Errors
    ///
    /// As for [`acquire`](Self::acquire) (`OwnerDied` means acquired).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lock = conc_process::Lock::new();
    /// assert_eq!(lock.acquire_timeout(Duration::from_millis(10)), Ok(true));
    /// assert_eq!(lock.acquire_timeout(Duration::from_millis(10)), Ok(false));
    /// lock.release().unwrap();
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool, ProcessError> {
        self.acquired(self.raw().lock(deadline_after(timeout)))
    }

    /// Releases the lock.
    ///
    /// # Errors
    ///
    /// [`ProcessError::InvalidState`] if the lock is not locked (Python: `ValueError`),
    /// if it is held by another thread or process (Python would allow it; a robust
    /// mutex must be released by its owner), or if it is held through a
    /// [`Value`](crate::Value)/[`Array`](crate::Array) guard (drop the guard).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Lock, ProcessError};
    ///
    /// let lock = Lock::new();
    /// lock.acquire().unwrap();
    /// assert_eq!(lock.release(), Ok(()));
    /// assert!(matches!(lock.release(), Err(ProcessError::InvalidState(_))));
    /// ```
    pub fn release(&self) -> Result<(), ProcessError> {
        if self.raw().is_owned() && self.shared.get().guarded.load(Ordering::Relaxed) != 0 {
            return Err(ProcessError::InvalidState(
                "the lock is held by a Value or Array guard: drop the guard instead",
            ));
        }
        self.release_unchecked()
    }

    /// Marks the lock (held by the caller) as held by a shared-data guard, or not.
    pub(crate) fn set_guarded(&self, guarded: bool) {
        self.shared
            .get()
            .guarded
            .store(u32::from(guarded), Ordering::Relaxed);
    }

    /// Whether a shared-data guard holds the lock.
    pub(crate) fn is_guarded(&self) -> bool {
        self.shared.get().guarded.load(Ordering::Relaxed) != 0
    }

    /// Releases without the guard check (for the guards themselves).
    pub(crate) fn release_unchecked(&self) -> Result<(), ProcessError> {
        self.raw().unlock()?;
        self.shared.segment().unhold();
        Ok(())
    }

    /// Whether some thread of some process holds the lock (or died holding it, until the
    /// next acquire). Advisory: it may change at once.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = conc_process::Lock::new();
    /// assert!(!lock.locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.raw().is_locked()
    }

    /// Whether the calling thread holds the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = conc_process::Lock::new();
    /// let _g = lock.lock().unwrap();
    /// assert!(lock.is_owned());
    /// ```
    pub fn is_owned(&self) -> bool {
        self.raw().is_owned()
    }

    /// Acquires the lock and returns a guard that releases it when dropped (Python:
    /// `with lock:`).
    ///
    /// # Errors
    ///
    /// [`OwnerDiedError`] if the previous holder died holding the lock; the lock is held
    /// and the guard is inside ([`OwnerDiedError::into_guard`]).
    ///
    /// # Panics
    ///
    /// If the OS reports the mutex unusable (corrupted memory).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = conc_process::Lock::new();
    /// let guard = lock.lock().unwrap_or_else(|died| died.into_guard());
    /// assert!(lock.locked());
    /// drop(guard);
    /// assert!(!lock.locked());
    /// ```
    pub fn lock(&self) -> LockResult<LockGuard<'_>> {
        match self.acquire() {
            Ok(()) => Ok(LockGuard {
                lock: self,
                _not_send: PhantomData,
            }),
            Err(ProcessError::OwnerDied) => Err(OwnerDiedError::new(LockGuard {
                lock: self,
                _not_send: PhantomData,
            })),
            Err(err) => panic!("process-shared lock unusable: {err}"),
        }
    }
}

impl Default for Lock {
    fn default() -> Self {
        Lock::new()
    }
}

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.locked())
            .finish()
    }
}

/// Releases a [`Lock`] when dropped; made by [`Lock::lock`].
///
/// # Examples
///
/// ```
/// let lock = conc_process::Lock::new();
/// let guard: conc_process::LockGuard<'_> = lock.lock().unwrap();
/// drop(guard);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
    /// The thread that acquired must release: keep the guard on it.
    _not_send: PhantomData<*const ()>,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        // The guard's thread acquired the lock and the guard is !Send, so it owns it.
        let _ = self.lock.release();
    }
}

impl std::fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard").finish_non_exhaustive()
    }
}
