//! `Timer`: Python's `threading.Timer`, a function run on its own thread after a delay.

use std::sync::Arc;
use std::time::Duration;

use crate::{Builder, Event, JoinHandle, ThreadError};

type Function = Box<dyn FnOnce() + Send>;

/// Runs a function on a new thread after `interval`, unless cancelled first, like
/// Python's `threading.Timer`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let mut timer = conc_thread::Timer::new(Duration::from_millis(10), || println!("hello, world"));
/// timer.start().unwrap();
/// assert_eq!(timer.join(), Ok(true)); // the function ran
///
/// let mut late = conc_thread::Timer::new(Duration::from_secs(3600), || unreachable!());
/// late.start().unwrap();
/// late.cancel();
/// assert_eq!(late.join(), Ok(false)); // cancelled before it fired
/// ```
pub struct Timer {
    interval: Duration,
    function: Option<Function>,
    cancelled: Arc<Event>,
    handle: Option<JoinHandle<bool>>,
}

impl Timer {
    /// A timer that will run `function` `interval` after [`start`](Timer::start).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let timer = conc_thread::Timer::new(Duration::from_secs(1), || ());
    /// assert!(!timer.is_alive()); // not started yet
    /// ```
    pub fn new<F>(interval: Duration, function: F) -> Self
    where
        F: FnOnce() + Send + 'static,
    {
        Timer {
            interval,
            function: Some(Box::new(function)),
            cancelled: Arc::new(Event::new()),
            handle: None,
        }
    }

    /// Starts the timer's thread.
    ///
    /// # Errors
    ///
    /// [`ThreadError::InvalidState`] if the timer was already started (Python raises
    /// `RuntimeError`), [`ThreadError::Spawn`] if the OS cannot start a thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut timer = conc_thread::Timer::new(Duration::ZERO, || ());
    /// timer.start().unwrap();
    /// assert!(timer.start().is_err());
    /// timer.join().unwrap();
    /// ```
    pub fn start(&mut self) -> Result<(), ThreadError> {
        let Some(function) = self.function.take() else {
            return Err(ThreadError::InvalidState(
                "a timer can only be started once",
            ));
        };
        let cancelled = self.cancelled.clone();
        let interval = self.interval;
        let handle = Builder::new().spawn(move || {
            if cancelled.wait_timeout(interval) {
                return false;
            }
            function();
            true
        })?;
        self.handle = Some(handle);
        Ok(())
    }

    /// Stops the timer if it has not fired yet; does nothing if it has
    /// (Python: `cancel()`). Cancelling before [`start`](Timer::start) makes the timer
    /// never fire.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut timer = conc_thread::Timer::new(Duration::from_secs(3600), || ());
    /// timer.start().unwrap();
    /// timer.cancel();
    /// assert_eq!(timer.join(), Ok(false));
    /// ```
    pub fn cancel(&self) {
        self.cancelled.set();
    }

    /// Whether the timer's thread is running: waiting to fire or running the function.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut timer = conc_thread::Timer::new(Duration::from_secs(3600), || ());
    /// timer.start().unwrap();
    /// assert!(timer.is_alive());
    /// timer.cancel();
    /// timer.join().unwrap();
    /// assert!(!timer.is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        self.handle.as_ref().is_some_and(JoinHandle::is_alive)
    }

    /// Waits for the timer's thread; returns whether the function ran (`false` if the
    /// timer was cancelled first).
    ///
    /// # Errors
    ///
    /// [`ThreadError::InvalidState`] if the timer was never started,
    /// [`ThreadError::Panicked`] if the function panicked,
    /// [`ThreadError::AlreadyJoined`] on a second join.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut timer = conc_thread::Timer::new(Duration::ZERO, || panic!("in timer"));
    /// timer.start().unwrap();
    /// assert!(timer.join().is_err());
    /// ```
    pub fn join(&mut self) -> Result<bool, ThreadError> {
        self.join_inner(None)
    }

    /// Like [`join`](Timer::join), giving up with [`ThreadError::Timeout`] after
    /// `timeout`.
    ///
    /// # Errors
    ///
    /// [`ThreadError::Timeout`], and the errors of [`join`](Timer::join).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use conc_thread::ThreadError;
    ///
    /// let mut timer = conc_thread::Timer::new(Duration::from_secs(3600), || ());
    /// timer.start().unwrap();
    /// assert!(matches!(timer.join_timeout(Duration::from_millis(1)), Err(ThreadError::Timeout { .. })));
    /// timer.cancel();
    /// ```
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<bool, ThreadError> {
        self.join_inner(Some(timeout))
    }

    fn join_inner(&mut self, timeout: Option<Duration>) -> Result<bool, ThreadError> {
        let handle = self.handle.as_mut().ok_or(ThreadError::InvalidState(
            "cannot join a timer before it is started",
        ))?;
        match timeout {
            None => handle.join_timeout(Duration::MAX),
            Some(timeout) => handle.join_timeout(timeout),
        }
    }
}

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timer")
            .field("interval", &self.interval)
            .field("started", &self.handle.is_some())
            .field("cancelled", &self.cancelled.is_set())
            .finish()
    }
}
