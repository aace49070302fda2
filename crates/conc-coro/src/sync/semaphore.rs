//! `Semaphore` and `BoundedSemaphore` (gevent's `gevent.lock`).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use crate::HubError;
use crate::hub::{Waiters, hub, wait_until};

/// A counter of permits that greenlets take and give back (gevent's `Semaphore`);
/// [`acquire`](Semaphore::acquire) parks the greenlet while none is left. Clones share
/// the permits. [`Semaphore::bounded`] is gevent's `BoundedSemaphore`.
///
/// # Examples
///
/// Seed 003's crawler: at most 2 fetches at a time.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
/// use conc_coro::{Semaphore, joinall, sleep, spawn};
///
/// let limit = Semaphore::new(2);
/// let (now, peak) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
/// let tasks: Vec<_> = (0..6)
///     .map(|_| {
///         let (limit, now, peak) = (limit.clone(), now.clone(), peak.clone());
///         spawn(move || {
///             limit.acquire(None).unwrap();
///             now.set(now.get() + 1);
///             peak.set(peak.get().max(now.get()));
///             sleep(Duration::from_millis(2)).unwrap();
///             now.set(now.get() - 1);
///             limit.release();
///         })
///     })
///     .collect();
/// joinall(&tasks, None).unwrap();
/// assert_eq!(peak.get(), 2);
/// ```
#[derive(Clone)]
pub struct Semaphore {
    inner: Rc<Inner>,
}

struct Inner {
    value: Cell<usize>,
    /// The initial value of a bounded semaphore: releases may not exceed it.
    bound: Option<usize>,
    waiters: Waiters,
}

impl std::fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Semaphore")
            .field("value", &self.inner.value.get())
            .field("bound", &self.inner.bound)
            .finish()
    }
}

impl Semaphore {
    /// A semaphore with `value` permits.
    pub fn new(value: usize) -> Semaphore {
        Semaphore::make(value, None)
    }

    /// A semaphore whose releases may never exceed `value` permits (gevent's
    /// `BoundedSemaphore`).
    pub fn bounded(value: usize) -> Semaphore {
        Semaphore::make(value, Some(value))
    }

    fn make(value: usize, bound: Option<usize>) -> Semaphore {
        Semaphore {
            inner: Rc::new(Inner {
                value: Cell::new(value),
                bound,
                waiters: Waiters::default(),
            }),
        }
    }

    /// Takes a permit, waiting at most `timeout` for one.
    ///
    /// # Errors
    ///
    /// [`HubError::Timeout`]; [`HubError::LoopExit`] when the main greenlet waits and
    /// no permit can ever come back; [`HubError::InHub`].
    pub fn acquire(&self, timeout: Option<Duration>) -> Result<(), HubError> {
        if !self.try_acquire() {
            wait_until(
                &hub()?,
                "a Semaphore",
                timeout,
                &[&self.inner.waiters],
                || self.inner.value.get() > 0,
            )?;
            self.inner.value.set(self.inner.value.get() - 1);
        }
        Ok(())
    }

    /// Takes a permit if one is free.
    pub fn try_acquire(&self) -> bool {
        let value = self.inner.value.get();
        if value == 0 {
            return false;
        }
        self.inner.value.set(value - 1);
        true
    }

    /// Gives a permit back, waking one waiter.
    ///
    /// # Panics
    ///
    /// For a [bounded](Semaphore::bounded) semaphore released more often than
    /// acquired (gevent raises `ValueError`).
    pub fn release(&self) {
        let value = self.inner.value.get() + 1;
        if let Some(bound) = self.inner.bound {
            assert!(value <= bound, "BoundedSemaphore released too many times");
        }
        self.inner.value.set(value);
        self.inner.waiters.wake_one();
    }

    /// The free permits.
    pub fn available(&self) -> usize {
        self.inner.value.get()
    }

    /// Whether no permit is free.
    pub fn locked(&self) -> bool {
        self.inner.value.get() == 0
    }
}
