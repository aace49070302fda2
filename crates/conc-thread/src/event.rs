//! `Event`: Python's `threading.Event`, a flag threads can wait for.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::sync::{Condvar, Mutex};

use crate::deadline::deadline_after;

/// A flag that threads can wait to become set, like Python's `threading.Event`.
///
/// # Examples
///
/// The traffic light of the seeds: cars wait while the light is red.
///
/// ```
/// use std::sync::Arc;
/// use conc_thread::Event;
///
/// let green = Arc::new(Event::new());
/// let car = {
///     let green = green.clone();
///     conc_thread::spawn(move || {
///         green.wait(); // blocks while red
///         "drove"
///     })
/// };
/// green.set();
/// assert_eq!(car.join().unwrap(), "drove");
/// ```
#[derive(Default)]
pub struct Event {
    // Read without the mutex by `is_set`; written only under it so waiters never miss a set.
    flag: AtomicBool,
    /// Counts `set` calls and blocked waiters, under one mutex.
    state: Mutex<WaitState>,
    cond: Condvar,
}

/// What the event's mutex guards.
#[derive(Default)]
struct WaitState {
    /// Counts `set` calls. A waiter woken by a `set` returns even if a `clear` came
    /// before it ran again, as Python's `Event.wait` does.
    sets: u64,
    /// Threads blocked in `wait`/`wait_timeout` right now (see [`Event::n_waiting`]).
    waiting: usize,
}

impl Event {
    /// Creates an event whose flag is clear.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!conc_thread::Event::new().is_set());
    /// ```
    pub const fn new() -> Self {
        Event {
            flag: AtomicBool::new(false),
            state: Mutex::new(WaitState {
                sets: 0,
                waiting: 0,
            }),
            cond: Condvar::new(),
        }
    }

    /// Whether the flag is set (Python: `is_set()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let e = conc_thread::Event::new();
    /// e.set();
    /// assert!(e.is_set());
    /// ```
    #[inline]
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Sets the flag and wakes every waiting thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = conc_thread::Event::new();
    /// e.set();
    /// e.wait(); // returns at once
    /// ```
    pub fn set(&self) {
        let mut state = self.state.lock();
        state.sets = state.sets.wrapping_add(1);
        self.flag.store(true, Ordering::Release);
        self.cond.notify_all();
    }

    /// Clears the flag: later waits block until the next [`set`](Event::set).
    ///
    /// # Examples
    ///
    /// ```
    /// let e = conc_thread::Event::new();
    /// e.set();
    /// e.clear();
    /// assert!(!e.is_set());
    /// ```
    pub fn clear(&self) {
        let _guard = self.state.lock();
        self.flag.store(false, Ordering::Release);
    }

    /// Blocks until the flag is set. A waiter woken by [`set`](Event::set) returns even
    /// if the flag was cleared again before it ran, as in Python.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = std::sync::Arc::new(conc_thread::Event::new());
    /// let setter = { let e = e.clone(); conc_thread::spawn(move || e.set()) };
    /// e.wait();
    /// setter.join().unwrap();
    /// ```
    pub fn wait(&self) {
        if self.is_set() {
            return;
        }
        let mut state = self.state.lock();
        let seen = state.sets;
        state.waiting += 1;
        while !self.flag.load(Ordering::Acquire) && state.sets == seen {
            self.cond.wait(&mut state);
        }
        state.waiting -= 1;
    }

    /// Blocks until the flag is set or `timeout` passes; returns the flag, so `false`
    /// means the wait timed out (Python: `wait(timeout)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let e = conc_thread::Event::new();
    /// assert!(!e.wait_timeout(Duration::from_millis(10)));
    /// e.set();
    /// assert!(e.wait_timeout(Duration::from_millis(10)));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        if self.is_set() {
            return true;
        }
        let Some(deadline) = deadline_after(timeout) else {
            self.wait();
            return true;
        };
        let mut state = self.state.lock();
        let seen = state.sets;
        state.waiting += 1;
        let mut woken = true;
        while !self.flag.load(Ordering::Acquire) && state.sets == seen {
            if self.cond.wait_until(&mut state, deadline).timed_out() {
                woken = self.flag.load(Ordering::Acquire) || state.sets != seen;
                break;
            }
        }
        state.waiting -= 1;
        woken
    }

    /// How many threads are blocked in [`wait`](Event::wait) or
    /// [`wait_timeout`](Event::wait_timeout) right now. Python's `Event` has no such
    /// method; it lets a program (or a test) wait for "all N waiters are parked" on the
    /// state itself instead of sleeping and hoping.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let e = Arc::new(conc_thread::Event::new());
    /// let waiter = { let e = e.clone(); conc_thread::spawn(move || e.wait()) };
    /// while e.n_waiting() < 1 {
    ///     std::thread::yield_now();
    /// }
    /// e.set();
    /// waiter.join().unwrap();
    /// assert_eq!(e.n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        self.state.lock().waiting
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}
