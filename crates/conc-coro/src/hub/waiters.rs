//! The "park me until" interface that green primitives (`sync/`, `net/`, tasks) build
//! on: a list of parked waits to wake, and the waiting functions themselves.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::{Core, WaitKey, Wake};
use crate::HubError;

/// Parked waits on one object (an event, a queue, a task's end).
#[derive(Default)]
pub(crate) struct Waiters(RefCell<Vec<WaitKey>>);

impl Waiters {
    pub(crate) fn add(&self, key: WaitKey) {
        self.0.borrow_mut().push(key);
    }

    pub(crate) fn remove(&self, key: WaitKey) {
        self.0.borrow_mut().retain(|k| *k != key);
    }

    /// Wakes every wait.
    pub(crate) fn wake_all(&self) {
        let keys = std::mem::take(&mut *self.0.borrow_mut());
        if keys.is_empty() {
            return;
        }
        if let Some(core) = Core::existing() {
            for key in keys {
                core.wake(key, Wake::Ready);
            }
        }
    }

    /// Wakes the oldest wait that is still parked; `false` if there was none.
    pub(crate) fn wake_one(&self) -> bool {
        let Some(core) = Core::existing() else {
            return false;
        };
        loop {
            let key = {
                let mut keys = self.0.borrow_mut();
                if keys.is_empty() {
                    return false;
                }
                keys.remove(0)
            };
            if core.wake(key, Wake::Ready) {
                return true;
            }
        }
    }
}

/// A deadline from an optional timeout, keeping the timeout for the error.
pub(crate) fn deadline(timeout: Option<Duration>) -> Option<(Instant, Duration)> {
    timeout.map(|t| (Instant::now().checked_add(t).unwrap_or_else(far_future), t))
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

/// Parks the running greenlet until `ready()` holds, registering on `waiters` (each a
/// list the waited-on objects wake); `what` names the wait in errors.
///
/// # Errors
///
/// [`HubError::Timeout`] at the deadline, and the errors of [`Core::park`].
pub(crate) fn wait_until(
    core: &Rc<Core>,
    what: &'static str,
    timeout: Option<Duration>,
    waiters: &[&Waiters],
    mut ready: impl FnMut() -> bool,
) -> Result<(), HubError> {
    let deadline = deadline(timeout);
    loop {
        if ready() {
            return Ok(());
        }
        let mut armed = None;
        let woke = core.park(what, deadline.map(|d| d.0), |key| {
            armed = Some(key);
            for w in waiters {
                w.add(key);
            }
        });
        if let Some(key) = armed {
            for w in waiters {
                w.remove(key);
            }
        }
        if woke? == Wake::TimedOut {
            if ready() {
                return Ok(());
            }
            return Err(HubError::Timeout {
                after: deadline.map_or(Duration::ZERO, |d| d.1),
                waiting_on: what,
                guard: None,
            });
        }
    }
}
