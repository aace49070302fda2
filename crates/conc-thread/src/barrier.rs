//! `Barrier`: Python's `threading.Barrier`, a rendezvous for a fixed number of threads.
//!
//! The state machine is CPython's: the barrier fills until `parties` threads wait, then
//! drains (every waiter leaves) before it can fill again; `reset` passes through a
//! resetting state that breaks the current waiters; `abort`, a timeout or a panicking
//! action leave it broken until `reset`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Mutex, MutexGuard};

use crate::deadline::deadline_after;
use crate::panic_message::panic_message;
use crate::{ThreadError, current_thread};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Filling,
    /// The last thread runs the action (without the lock); the others keep waiting.
    Tripping,
    Draining,
    Resetting,
    Broken,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    /// Threads inside `wait` right now.
    count: usize,
}

type Action = Box<dyn Fn() + Send + Sync>;

/// A barrier for a fixed number of threads, like Python's `threading.Barrier`.
///
/// Each thread calling [`wait`](Barrier::wait) blocks until `parties` threads have
/// called it; then all are released, each with a distinct index in `0..parties`. The
/// barrier can be reused at once. An optional action runs in one thread when the
/// barrier trips, before anyone is released.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use conc_thread::Barrier;
///
/// let barrier = Arc::new(Barrier::new(3).unwrap());
/// let handles: Vec<_> = (0..3).map(|_| {
///     let b = barrier.clone();
///     conc_thread::spawn(move || b.wait().unwrap())
/// }).collect();
/// let mut indexes: Vec<usize> = handles.into_iter().map(|h| h.join().unwrap()).collect();
/// indexes.sort();
/// assert_eq!(indexes, [0, 1, 2]);
/// ```
pub struct Barrier {
    parties: usize,
    action: Option<Action>,
    timeout: Option<Duration>,
    state: Mutex<State>,
    changed: Condvar,
}

impl Barrier {
    /// A barrier for `parties` threads, with no action and no default timeout.
    ///
    /// # Errors
    ///
    /// [`ThreadError::InvalidArgument`] if `parties` is 0 (Python raises `ValueError`).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_thread::{Barrier, ThreadError};
    ///
    /// assert_eq!(Barrier::new(2).unwrap().parties(), 2);
    /// assert!(matches!(Barrier::new(0), Err(ThreadError::InvalidArgument(_))));
    /// ```
    pub fn new(parties: usize) -> Result<Self, ThreadError> {
        if parties == 0 {
            return Err(ThreadError::InvalidArgument("parties must be at least 1"));
        }
        Ok(Barrier {
            parties,
            action: None,
            timeout: None,
            state: Mutex::new(State {
                phase: Phase::Filling,
                count: 0,
            }),
            changed: Condvar::new(),
        })
    }

    /// Sets the action run by one thread each time the barrier trips, before the waiters
    /// are released (Python: `Barrier(parties, action=...)`). If it panics the barrier
    /// breaks.
    ///
    /// The action runs without the barrier's internal lock, so it may look at the
    /// barrier (`n_waiting`, `broken`, `{:?}`) or `abort` it; threads arriving for the
    /// next cycle meanwhile wait until the waiters of this one are released.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let trips = Arc::new(AtomicUsize::new(0));
    /// let t = trips.clone();
    /// let barrier = conc_thread::Barrier::new(1).unwrap()
    ///     .with_action(move || { t.fetch_add(1, Ordering::SeqCst); });
    /// barrier.wait().unwrap();
    /// barrier.wait().unwrap();
    /// assert_eq!(trips.load(Ordering::SeqCst), 2);
    /// ```
    pub fn with_action<F>(mut self, action: F) -> Self
    where
        F: Fn() + Send + Sync + 'static,
    {
        self.action = Some(Box::new(action));
        self
    }

    /// Sets the default timeout of [`wait`](Barrier::wait) (Python: `Barrier(parties,
    /// timeout=...)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use conc_thread::ThreadError;
    ///
    /// let barrier = conc_thread::Barrier::new(2).unwrap()
    ///     .with_timeout(Duration::from_millis(10));
    /// assert_eq!(barrier.wait(), Err(ThreadError::BrokenBarrier));
    /// assert!(barrier.broken());
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Waits for the other parties; returns this thread's index in `0..parties`
    /// (the thread that arrives last gets `parties - 1`).
    ///
    /// # Errors
    ///
    /// - [`ThreadError::BrokenBarrier`] if the barrier is or becomes broken while waiting:
    ///   [`abort`](Self::abort), [`reset`](Self::reset) while waiting, the default
    ///   timeout running out (which breaks it), or a panicking action in another thread;
    /// - [`ThreadError::Panicked`] in the thread whose action panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// let barrier = conc_thread::Barrier::new(1).unwrap();
    /// assert_eq!(barrier.wait(), Ok(0));
    /// ```
    pub fn wait(&self) -> Result<usize, ThreadError> {
        self.wait_inner(self.timeout)
    }

    /// Like [`wait`](Self::wait) with a timeout overriding the default; running out of
    /// time breaks the barrier.
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
    /// let barrier = conc_thread::Barrier::new(2).unwrap();
    /// assert!(barrier.wait_timeout(Duration::from_millis(5)).is_err());
    /// barrier.reset();
    /// assert!(!barrier.broken());
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize, ThreadError> {
        self.wait_inner(Some(timeout))
    }

    fn wait_inner(&self, timeout: Option<Duration>) -> Result<usize, ThreadError> {
        let deadline = timeout.and_then(deadline_after);
        let mut state = self.state.lock();
        // Enter: wait while a previous cycle trips, drains or resets.
        while matches!(
            state.phase,
            Phase::Tripping | Phase::Draining | Phase::Resetting
        ) {
            self.changed.wait(&mut state);
        }
        if state.phase == Phase::Broken {
            return Err(ThreadError::BrokenBarrier);
        }
        let index = state.count;
        state.count += 1;
        let outcome = if index + 1 == self.parties {
            match &self.action {
                None => self.trip(&mut state, Ok(())),
                Some(action) => {
                    state.phase = Phase::Tripping;
                    drop(state);
                    let ran = catch_unwind(AssertUnwindSafe(action));
                    state = self.state.lock();
                    self.trip(&mut state, ran)
                }
            }
        } else {
            self.wait_for_trip(&mut state, deadline)
        };
        // Exit: the last thread out of a drained or reset barrier refills it.
        state.count -= 1;
        if state.count == 0 && matches!(state.phase, Phase::Draining | Phase::Resetting) {
            state.phase = Phase::Filling;
            self.changed.notify_all();
        }
        outcome.map(|()| index)
    }

    /// Releases the waiters after the action ran (`ran`); a panicking action breaks
    /// the barrier, and so does an `abort` or a waiter's timeout during the action.
    fn trip(
        &self,
        state: &mut MutexGuard<'_, State>,
        ran: std::thread::Result<()>,
    ) -> Result<(), ThreadError> {
        if let Err(payload) = ran {
            self.break_barrier(state);
            return Err(ThreadError::Panicked {
                thread: current_thread().name().to_owned(),
                message: panic_message(&*payload),
            });
        }
        if !matches!(state.phase, Phase::Filling | Phase::Tripping) {
            // Broken (or reset) while the action ran.
            if state.phase != Phase::Resetting {
                self.break_barrier(state);
            }
            return Err(ThreadError::BrokenBarrier);
        }
        state.phase = Phase::Draining;
        self.changed.notify_all();
        Ok(())
    }

    fn wait_for_trip(
        &self,
        state: &mut MutexGuard<'_, State>,
        deadline: Option<Instant>,
    ) -> Result<(), ThreadError> {
        while matches!(state.phase, Phase::Filling | Phase::Tripping) {
            match deadline {
                None => self.changed.wait(state),
                Some(deadline) => {
                    if self.changed.wait_until(state, deadline).timed_out()
                        && matches!(state.phase, Phase::Filling | Phase::Tripping)
                    {
                        self.break_barrier(state);
                        return Err(ThreadError::BrokenBarrier);
                    }
                }
            }
        }
        match state.phase {
            Phase::Draining => Ok(()),
            _ => Err(ThreadError::BrokenBarrier),
        }
    }

    fn break_barrier(&self, state: &mut State) {
        state.phase = Phase::Broken;
        self.changed.notify_all();
    }

    /// Returns the barrier to its initial state. Threads waiting on it get
    /// [`ThreadError::BrokenBarrier`] (Python: `reset()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let barrier = conc_thread::Barrier::new(2).unwrap();
    /// barrier.abort();
    /// assert!(barrier.broken());
    /// barrier.reset();
    /// assert!(!barrier.broken());
    /// ```
    pub fn reset(&self) {
        let mut state = self.state.lock();
        if state.count > 0 {
            if matches!(
                state.phase,
                Phase::Filling | Phase::Tripping | Phase::Broken
            ) {
                state.phase = Phase::Resetting;
            }
        } else {
            state.phase = Phase::Filling;
        }
        self.changed.notify_all();
    }

    /// Breaks the barrier: current and future waiters get
    /// [`ThreadError::BrokenBarrier`] until [`reset`](Self::reset) (Python: `abort()`).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_thread::ThreadError;
    ///
    /// let barrier = conc_thread::Barrier::new(2).unwrap();
    /// barrier.abort();
    /// assert_eq!(barrier.wait(), Err(ThreadError::BrokenBarrier));
    /// ```
    pub fn abort(&self) {
        let mut state = self.state.lock();
        self.break_barrier(&mut state);
    }

    /// The number of threads needed to trip the barrier.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conc_thread::Barrier::new(4).unwrap().parties(), 4);
    /// ```
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// The number of threads currently waiting for the barrier to trip.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conc_thread::Barrier::new(4).unwrap().n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        let state = self.state.lock();
        // During the action every party is still waiting, as in Python.
        if matches!(state.phase, Phase::Filling | Phase::Tripping) {
            state.count
        } else {
            0
        }
    }

    /// Whether the barrier is broken.
    ///
    /// # Examples
    ///
    /// ```
    /// let barrier = conc_thread::Barrier::new(4).unwrap();
    /// assert!(!barrier.broken());
    /// ```
    pub fn broken(&self) -> bool {
        self.state.lock().phase == Phase::Broken
    }
}

impl std::fmt::Debug for Barrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock();
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("phase", &state.phase)
            .field("count", &state.count)
            .finish()
    }
}
