//! `Barrier`: Python's `multiprocessing.Barrier`, a rendezvous for a fixed number of
//! threads spread over processes.
//!
//! The state machine is CPython's (`threading.Barrier`, which `multiprocessing` reuses
//! over shared state): the barrier fills until `parties` wait, then drains (every waiter
//! leaves) before it can fill again; `reset` passes through a resetting state that breaks
//! current waiters; `abort` or a timeout leaves it broken until `reset`. The state is a
//! phase and a count under a robust mutex; each is changed by single stores, so a holder
//! that dies is taken over silently. (A process that dies *while waiting* still counts as
//! waiting, as in Python: use a timeout if parties may die.)

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::raw::{RawCondvar, RawMutex};
use super::{deadline_after, lock_internal, unlock_internal, wait_internal};
use crate::ProcessError;
use crate::shm::{ShmBox, ShmLayout};

const FILLING: u32 = 0;
const DRAINING: u32 = 1;
const RESETTING: u32 = 2;
const BROKEN: u32 = 3;

#[repr(C)]
pub(crate) struct BarrierState {
    m: RawMutex,
    cv: RawCondvar,
    phase: AtomicU32,
    /// Threads inside `wait` right now.
    count: AtomicU64,
    parties: AtomicU64,
    /// 1 after a `reset` that had to wait for parties to leave, until they have: a
    /// second `reset` meanwhile forces the barrier back to filling (see `reset`).
    stuck_resets: AtomicU64,
}

// SAFETY: repr(C), zero-valid, no pointers, fields atomic and changed under `m`; unique
// magic.
unsafe impl ShmLayout for BarrierState {
    const MAGIC: u64 = 0x636f_6e63_4261_7272; // "concBarr"
}

/// A barrier for a fixed number of threads in any processes, like Python's
/// `multiprocessing.Barrier`.
///
/// Each [`wait`](Barrier::wait) blocks until `parties` threads wait; then all are
/// released, each with a distinct index in `0..parties`, and the barrier can be used
/// again.
///
/// # Differences from Python
///
/// There is no `action` argument: a closure cannot cross into a `spawn`ed process. Let
/// the waiter that receives index 0 run it.
///
/// # Examples
///
/// ```
/// let barrier = conc_process::Barrier::new(1).unwrap();
/// assert_eq!(barrier.wait(), Ok(0));
/// assert_eq!(barrier.parties(), 1);
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct Barrier {
    shared: ShmBox<BarrierState>,
    timeout: Option<Duration>,
}

impl Barrier {
    /// Creates a barrier for `parties` threads.
    ///
    /// # Errors
    ///
    /// [`ProcessError::InvalidArgument`] if `parties` is zero (Python: `ValueError`);
    /// [`ProcessError::Os`] if the OS refuses to create shared memory or a mutex.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(conc_process::Barrier::new(0).is_err());
    /// ```
    pub fn new(parties: usize) -> Result<Barrier, ProcessError> {
        if parties == 0 {
            return Err(ProcessError::InvalidArgument(
                "a barrier needs at least one party".into(),
            ));
        }
        Ok(Barrier {
            shared: ShmBox::try_new(0, 1, |s: &BarrierState, _| {
                // SAFETY: `init` runs once, on memory nobody else can see yet.
                unsafe { s.m.init() }?;
                s.parties.store(parties as u64, Relaxed);
                Ok(())
            })?,
            timeout: None,
        })
    }

    /// Sets the default timeout of [`wait`](Self::wait) for this handle and its clones
    /// made afterwards (Python: `Barrier(timeout=...)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let barrier = conc_process::Barrier::new(2).unwrap().with_timeout(Duration::from_millis(5));
    /// assert!(barrier.wait().is_err());
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    fn state(&self) -> &BarrierState {
        self.shared.get()
    }

    /// Waits until `parties` threads wait; returns this thread's index in
    /// `0..parties` (Python: `wait()`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::BrokenBarrier`] if the barrier is or becomes broken (aborted,
    /// reset, or a waiter timed out); [`ProcessError::BrokenBarrier`] also if this wait
    /// times out (which breaks the barrier for everyone).
    ///
    /// # Panics
    ///
    /// If the OS reports the internal mutex unusable (corrupted memory).
    ///
    /// # Examples
    ///
    /// ```
    /// let barrier = conc_process::Barrier::new(1).unwrap();
    /// assert_eq!(barrier.wait(), Ok(0));
    /// ```
    pub fn wait(&self) -> Result<usize, ProcessError> {
        self.wait_until(self.timeout.and_then(deadline_after))
    }

    /// Like [`wait`](Self::wait) with a timeout overriding the default.
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
    /// let barrier = conc_process::Barrier::new(2).unwrap();
    /// assert!(barrier.wait_timeout(Duration::from_millis(5)).is_err());
    /// assert!(barrier.broken());
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize, ProcessError> {
        self.wait_until(deadline_after(timeout))
            .map_err(|e| e.waited_for("the barrier's other parties", timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<usize, ProcessError> {
        let s = self.state();
        let _ = lock_internal(&s.m, None);
        // Enter: wait while a previous cycle drains or resets. The deadline counts here
        // too: a party that died inside `wait` stays counted, and the cycle it was in
        // never finishes draining (`reset` then recovers the barrier).
        while matches!(s.phase.load(Relaxed), DRAINING | RESETTING) {
            if !wait_internal(&s.cv, &s.m, deadline)
                && matches!(s.phase.load(Relaxed), DRAINING | RESETTING)
            {
                s.phase.store(BROKEN, Relaxed);
                s.cv.notify_all();
                unlock_internal(&s.m);
                return Err(ProcessError::BrokenBarrier);
            }
        }
        if s.phase.load(Relaxed) == BROKEN {
            unlock_internal(&s.m);
            return Err(ProcessError::BrokenBarrier);
        }
        let index = s.count.load(Relaxed);
        s.count.store(index + 1, Relaxed);
        let outcome = if index + 1 == s.parties.load(Relaxed) {
            s.phase.store(DRAINING, Relaxed);
            s.cv.notify_all();
            Ok(())
        } else {
            self.wait_for_trip(deadline)
        };
        // Exit: the last thread out of a drained or reset barrier refills it.
        // Saturating: `reset` may have zeroed the count of a stuck cycle meanwhile.
        let left = s.count.load(Relaxed).saturating_sub(1);
        s.count.store(left, Relaxed);
        if left == 0 && matches!(s.phase.load(Relaxed), DRAINING | RESETTING) {
            s.phase.store(FILLING, Relaxed);
            s.stuck_resets.store(0, Relaxed);
            s.cv.notify_all();
        }
        unlock_internal(&s.m);
        outcome.map(|()| index as usize)
    }

    /// With the mutex held: waits for the barrier to trip or break.
    fn wait_for_trip(&self, deadline: Option<Instant>) -> Result<(), ProcessError> {
        let s = self.state();
        while s.phase.load(Relaxed) == FILLING {
            if !wait_internal(&s.cv, &s.m, deadline) && s.phase.load(Relaxed) == FILLING {
                s.phase.store(BROKEN, Relaxed);
                s.cv.notify_all();
                return Err(ProcessError::BrokenBarrier);
            }
        }
        match s.phase.load(Relaxed) {
            DRAINING => Ok(()),
            _ => Err(ProcessError::BrokenBarrier),
        }
    }

    /// Returns the barrier to its initial state; current waiters get
    /// [`ProcessError::BrokenBarrier`] (Python: `reset()`).
    ///
    /// A party that died inside `wait` stays counted, so the cycle it was in never
    /// drains: call `reset` a second time to force the barrier back to its initial
    /// state (Python has no remedy; its barrier stays stuck).
    ///
    /// # Panics
    ///
    /// As for [`wait`](Self::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// let barrier = conc_process::Barrier::new(2).unwrap();
    /// barrier.abort();
    /// barrier.reset();
    /// assert!(!barrier.broken());
    /// ```
    pub fn reset(&self) {
        let s = self.state();
        let _ = lock_internal(&s.m, None);
        let stuck = s.stuck_resets.load(Relaxed);
        if s.count.load(Relaxed) > 0 && stuck == 0 {
            if matches!(s.phase.load(Relaxed), FILLING | BROKEN) {
                s.phase.store(RESETTING, Relaxed);
            }
            // If the count never drains (a counted party died), the next reset forces.
            s.stuck_resets.store(1, Relaxed);
        } else {
            // Nobody inside, or a previous reset never completed: start afresh. Parties
            // still leaving decrement the count with saturation.
            s.count.store(0, Relaxed);
            s.phase.store(FILLING, Relaxed);
            s.stuck_resets.store(0, Relaxed);
        }
        s.cv.notify_all();
        unlock_internal(&s.m);
    }

    /// Breaks the barrier: current and future waiters get
    /// [`ProcessError::BrokenBarrier`] until [`reset`](Self::reset) (Python: `abort()`).
    ///
    /// # Panics
    ///
    /// As for [`wait`](Self::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::ProcessError;
    ///
    /// let barrier = conc_process::Barrier::new(2).unwrap();
    /// barrier.abort();
    /// assert_eq!(barrier.wait(), Err(ProcessError::BrokenBarrier));
    /// ```
    pub fn abort(&self) {
        let s = self.state();
        let _ = lock_internal(&s.m, None);
        s.phase.store(BROKEN, Relaxed);
        s.cv.notify_all();
        unlock_internal(&s.m);
    }

    /// The number of threads needed to trip the barrier.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conc_process::Barrier::new(3).unwrap().parties(), 3);
    /// ```
    pub fn parties(&self) -> usize {
        self.state().parties.load(Relaxed) as usize
    }

    /// The number of threads waiting for the barrier to trip now. Advisory.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conc_process::Barrier::new(3).unwrap().n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        let s = self.state();
        if s.phase.load(Relaxed) == FILLING {
            s.count.load(Relaxed) as usize
        } else {
            0
        }
    }

    /// Whether the barrier is broken.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!conc_process::Barrier::new(3).unwrap().broken());
    /// ```
    pub fn broken(&self) -> bool {
        self.state().phase.load(Relaxed) == BROKEN
    }
}

impl std::fmt::Debug for Barrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties())
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.broken())
            .finish()
    }
}
