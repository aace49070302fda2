//! `RLock`: Python's `multiprocessing.RLock`, a re-entrant robust process-shared lock.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::raw::RawMutex;
use super::{LockResult, OwnerDiedError, deadline_after};
use crate::ProcessError;
use crate::shm::{ShmBox, ShmLayout};

#[repr(C)]
pub(crate) struct RLockState {
    m: RawMutex,
    /// Recursion depth; only the holder of `m` touches it.
    count: AtomicU64,
}

// SAFETY: repr(C), zero-valid (RawMutex before init, a counter), no pointers, `count` is
// atomic; unique magic.
unsafe impl ShmLayout for RLockState {
    const MAGIC: u64 = 0x636f_6e63_524c_636b; // "concRLck"
}

/// A re-entrant lock shared between processes, like Python's `multiprocessing.RLock`.
///
/// The owner is a thread of a process (the mutex records the kernel thread id, unique
/// across processes); it may acquire again, and must release as many times. Only the
/// owner may release. If the owner dies holding it, the next acquirer gets the lock
/// (at depth 1) with [`ProcessError::OwnerDied`].
///
/// # Examples
///
/// ```
/// let rlock = conc_process::RLock::new();
/// let outer = rlock.lock().unwrap();
/// let inner = rlock.lock().unwrap(); // the owner may re-enter
/// drop(inner);
/// assert!(rlock.is_owned());
/// drop(outer);
/// assert!(!rlock.locked());
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RLock {
    shared: ShmBox<RLockState>,
}

impl RLock {
    /// Creates an unlocked re-entrant lock in new shared memory.
    ///
    /// # Panics
    ///
    /// If the OS refuses to create shared memory or a mutex.
    ///
    /// # Examples
    ///
    /// ```
    /// let rlock = conc_process::RLock::new();
    /// assert!(!rlock.locked());
    /// ```
    pub fn new() -> RLock {
        RLock::try_new().unwrap_or_else(|err| panic!("{err}"))
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
    /// let made = conc_process::RLock::try_new();
    /// assert!(made.is_ok());
    /// ```
    pub fn try_new() -> Result<RLock, ProcessError> {
        Ok(RLock {
            shared: ShmBox::try_new(0, 1, |s: &RLockState, _| {
                // SAFETY: `init` runs once, on memory nobody else can see yet.
                unsafe { s.m.init() }
            })?,
        })
    }

    fn state(&self) -> &RLockState {
        self.shared.get()
    }

    fn acquire_until(
        &self,
        deadline: Option<Instant>,
        try_only: bool,
    ) -> Result<bool, ProcessError> {
        let s = self.state();
        if s.m.is_owned() {
            s.count.fetch_add(1, Ordering::Relaxed);
            return Ok(true);
        }
        let result = if try_only {
            match s.m.try_lock() {
                Ok(true) => Ok(()),
                Ok(false) => return Ok(false),
                Err(err) => Err(err),
            }
        } else {
            s.m.lock(deadline)
        };
        match result {
            Ok(()) | Err(ProcessError::OwnerDied) => {
                // A dead owner's depth is meaningless: start again at one.
                s.count.store(1, Ordering::Relaxed);
                self.shared.segment().hold();
                result.map(|()| true)
            }
            Err(ProcessError::Timeout { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Acquires the lock, blocking until it is free or already owned by the calling
    /// thread (then the depth grows).
    ///
    /// # Errors
    ///
    /// * [`ProcessError::OwnerDied`]: the previous owner died holding the lock; **the
    ///   caller now owns it, at depth 1**.
    /// * [`ProcessError::Os`] if the OS reports the mutex unusable.
    ///
    /// # Examples
    ///
    /// ```
    /// let rlock = conc_process::RLock::new();
    /// rlock.acquire().unwrap();
    /// rlock.acquire().unwrap();
    /// rlock.release().unwrap();
    /// rlock.release().unwrap();
    /// ```
    pub fn acquire(&self) -> Result<(), ProcessError> {
        self.acquire_until(None, false).map(|_| ())
    }

    /// Acquires the lock if it is free or owned by the caller, without blocking.
    ///
    /// # Errors
    ///
    /// As for [`acquire`](Self::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// let rlock = conc_process::RLock::new();
    /// assert_eq!(rlock.try_acquire(), Ok(true));
    /// assert_eq!(rlock.try_acquire(), Ok(true));
    /// ```
    pub fn try_acquire(&self) -> Result<bool, ProcessError> {
        self.acquire_until(None, true)
    }

    /// Acquires the lock, waiting at most `timeout`; `Ok(false)` if it timed out.
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
    /// let rlock = conc_process::RLock::new();
    /// assert_eq!(rlock.acquire_timeout(Duration::from_millis(10)), Ok(true));
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool, ProcessError> {
        self.acquire_until(deadline_after(timeout), false)
    }

    /// Releases one level; the lock is free when the depth reaches zero.
    ///
    /// # Errors
    ///
    /// [`ProcessError::InvalidState`] if the calling thread does not own the lock
    /// (Python: `AssertionError`/`RuntimeError`).
    ///
    /// # Examples
    ///
    /// ```
    /// let rlock = conc_process::RLock::new();
    /// assert!(rlock.release().is_err());
    /// rlock.acquire().unwrap();
    /// assert!(rlock.release().is_ok());
    /// ```
    pub fn release(&self) -> Result<(), ProcessError> {
        let s = self.state();
        if !s.m.is_owned() {
            return Err(ProcessError::InvalidState(
                "cannot release an RLock not owned by this thread",
            ));
        }
        if s.count.fetch_sub(1, Ordering::Relaxed) == 1 {
            s.m.unlock()?;
            self.shared.segment().unhold();
        }
        Ok(())
    }

    /// Whether the calling thread owns the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let rlock = conc_process::RLock::new();
    /// assert!(!rlock.is_owned());
    /// ```
    pub fn is_owned(&self) -> bool {
        self.state().m.is_owned()
    }

    /// Whether some thread of some process owns the lock. Advisory.
    ///
    /// # Examples
    ///
    /// ```
    /// let rlock = conc_process::RLock::new();
    /// assert!(!rlock.locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.state().m.is_locked()
    }

    /// The recursion depth if the calling thread owns the lock, else 0.
    ///
    /// # Examples
    ///
    /// ```
    /// let rlock = conc_process::RLock::new();
    /// let _a = rlock.lock().unwrap();
    /// let _b = rlock.lock().unwrap();
    /// assert_eq!(rlock.depth(), 2);
    /// ```
    pub fn depth(&self) -> usize {
        if self.is_owned() {
            self.state().count.load(Ordering::Relaxed) as usize
        } else {
            0
        }
    }

    /// Fully releases the lock for a condition wait, returning the depth to restore.
    pub(crate) fn release_save(&self) -> Result<u64, ProcessError> {
        let s = self.state();
        if !s.m.is_owned() {
            return Err(ProcessError::InvalidState(
                "the condition's lock is not owned",
            ));
        }
        let depth = s.count.swap(0, Ordering::Relaxed);
        s.m.unlock()?;
        self.shared.segment().unhold();
        Ok(depth)
    }

    /// Reacquires after a condition wait at the saved depth. `OwnerDied` means held.
    pub(crate) fn acquire_restore(&self, depth: u64) -> Result<(), ProcessError> {
        let s = self.state();
        let result = s.m.lock(None);
        if matches!(result, Ok(()) | Err(ProcessError::OwnerDied)) {
            s.count.store(depth, Ordering::Relaxed);
            self.shared.segment().hold();
        }
        result
    }

    /// Acquires and returns a guard releasing one level when dropped (`with rlock:`).
    ///
    /// # Errors
    ///
    /// [`OwnerDiedError`] if the previous owner died holding the lock; it is held and the
    /// guard is inside.
    ///
    /// # Panics
    ///
    /// If the OS reports the mutex unusable (corrupted memory).
    ///
    /// # Examples
    ///
    /// ```
    /// let rlock = conc_process::RLock::new();
    /// let _g = rlock.lock().unwrap();
    /// assert!(rlock.is_owned());
    /// ```
    pub fn lock(&self) -> LockResult<RLockGuard<'_>> {
        let guard = RLockGuard {
            lock: self,
            _not_send: PhantomData,
        };
        match self.acquire() {
            Ok(()) => Ok(guard),
            Err(ProcessError::OwnerDied) => Err(OwnerDiedError::new(guard)),
            Err(err) => {
                std::mem::forget(guard);
                panic!("process-shared lock unusable: {err}")
            }
        }
    }
}

impl Default for RLock {
    fn default() -> Self {
        RLock::new()
    }
}

impl std::fmt::Debug for RLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RLock")
            .field("locked", &self.locked())
            .field("owned_by_caller", &self.is_owned())
            .finish()
    }
}

/// Releases one level of an [`RLock`] when dropped; made by [`RLock::lock`].
///
/// # Examples
///
/// ```
/// let rlock = conc_process::RLock::new();
/// let guard: conc_process::RLockGuard<'_> = rlock.lock().unwrap();
/// drop(guard);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RLockGuard<'a> {
    lock: &'a RLock,
    _not_send: PhantomData<*const ()>,
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.lock.release();
    }
}

impl std::fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RLockGuard").finish_non_exhaustive()
    }
}
