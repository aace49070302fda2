//! `Event`: Python's `multiprocessing.Event`, a shared flag processes can wait for.
//!
//! The flag lives beside a robust mutex and a process-shared condvar. A holder of the
//! mutex that dies is taken over silently: the flag is set or cleared by one store, so it
//! is never half-updated.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::raw::{RawCondvar, RawMutex};
use super::{deadline_after, lock_internal, unlock_internal, wait_internal};
use crate::ProcessError;
use crate::shm::{ShmBox, ShmLayout};

#[repr(C)]
pub(crate) struct EventState {
    m: RawMutex,
    cv: RawCondvar,
    /// 0 or 1; changed under `m`.
    flag: AtomicU32,
}

// SAFETY: repr(C), zero-valid, no pointers, the flag is atomic and changed under `m`;
// unique magic.
unsafe impl ShmLayout for EventState {
    const MAGIC: u64 = 0x636f_6e63_4576_6e74; // "concEvnt"
}

/// A flag shared between processes, like Python's `multiprocessing.Event`:
/// [`wait`](Event::wait) blocks until another thread or process [`set`](Event::set)s it.
///
/// # Examples
///
/// ```
/// let event = conc_process::Event::new();
/// assert!(!event.is_set());
/// event.set();
/// event.wait(); // returns at once
/// event.clear();
/// assert!(!event.wait_timeout(std::time::Duration::from_millis(10)));
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Event {
    shared: ShmBox<EventState>,
}

impl Event {
    /// Creates a cleared event.
    ///
    /// # Panics
    ///
    /// If the OS refuses to create shared memory or a mutex.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!conc_process::Event::new().is_set());
    /// ```
    pub fn new() -> Event {
        Event::try_new().unwrap_or_else(|err| panic!("{err}"))
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
    /// let made = conc_process::Event::try_new();
    /// assert!(made.is_ok());
    /// ```
    pub fn try_new() -> Result<Event, ProcessError> {
        Ok(Event {
            shared: ShmBox::try_new(0, 1, |s: &EventState, _| {
                // SAFETY: `init` runs once, on memory nobody else can see yet.
                unsafe { s.m.init() }
            })?,
        })
    }

    fn state(&self) -> &EventState {
        self.shared.get()
    }

    /// Whether the flag is set (Python: `is_set()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let event = conc_process::Event::new();
    /// event.set();
    /// assert!(event.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.state().flag.load(Relaxed) != 0
    }

    /// Sets the flag and wakes every waiter, in every process (Python: `set()`).
    ///
    /// # Panics
    ///
    /// If the OS reports the internal mutex unusable (corrupted memory).
    ///
    /// # Examples
    ///
    /// ```
    /// let event = conc_process::Event::new();
    /// event.set();
    /// assert!(event.is_set());
    /// ```
    pub fn set(&self) {
        let s = self.state();
        let _ = lock_internal(&s.m, None);
        s.flag.store(1, Relaxed);
        s.cv.notify_all();
        unlock_internal(&s.m);
    }

    /// Clears the flag (Python: `clear()`).
    ///
    /// # Panics
    ///
    /// As for [`set`](Self::set).
    ///
    /// # Examples
    ///
    /// ```
    /// let event = conc_process::Event::new();
    /// event.set();
    /// event.clear();
    /// assert!(!event.is_set());
    /// ```
    pub fn clear(&self) {
        let s = self.state();
        let _ = lock_internal(&s.m, None);
        s.flag.store(0, Relaxed);
        unlock_internal(&s.m);
    }

    /// Blocks until the flag is set (Python: `wait()`).
    ///
    /// # Panics
    ///
    /// As for [`set`](Self::set).
    ///
    /// # Examples
    ///
    /// ```
    /// let event = conc_process::Event::new();
    /// event.set();
    /// event.wait();
    /// ```
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Blocks until the flag is set or `timeout` passes; returns the flag (Python:
    /// `wait(timeout)`).
    ///
    /// # Panics
    ///
    /// As for [`set`](Self::set).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let event = conc_process::Event::new();
    /// assert!(!event.wait_timeout(Duration::from_millis(10)));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(deadline_after(timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let s = self.state();
        if lock_internal(&s.m, deadline).is_err() {
            return self.is_set();
        }
        while s.flag.load(Relaxed) == 0 {
            if !wait_internal(&s.cv, &s.m, deadline) {
                break;
            }
        }
        let set = s.flag.load(Relaxed) != 0;
        unlock_internal(&s.m);
        set
    }
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}
