//! `Timeout` and `with_timeout`: gevent's way of bounding whatever a greenlet waits on.

use std::rc::Rc;
use std::time::Duration;

use crate::HubError;
use crate::hub::{Core, TimerId, hub};

/// A guard that interrupts the greenlet that created it when `after` has passed
/// while it waits on anything green (sleep, join, an event, a queue, green I/O): that
/// wait returns [`HubError::Timeout`] with this guard's id in `guard` (gevent's
/// `Timeout`). A greenlet busy computing is interrupted at its next wait. Dropping the
/// guard (or [`cancel`](Timeout::cancel)) disarms it.
///
/// Unlike gevent's, which raises into the greenlet, the interrupted wait returns the
/// error; it travels up with `?` like any other, and [`is`](Timeout::is) tells this
/// guard's from an inner one.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use conc_coro::{HubError, Timeout};
///
/// let timeout = Timeout::start(Duration::from_millis(20)).unwrap();
/// let slept = conc_coro::sleep(Duration::from_secs(60));
/// assert!(timeout.is(slept.as_ref().unwrap_err()));
/// assert!(matches!(slept, Err(HubError::Timeout { .. })));
/// ```
#[must_use = "a Timeout is disarmed as soon as it is dropped"]
pub struct Timeout {
    core: Rc<Core>,
    greenlet: u64,
    id: u64,
    timer: TimerId,
}

impl Timeout {
    /// Arms a guard of `after` for the calling greenlet.
    ///
    /// # Errors
    ///
    /// [`HubError::Os`] if the thread's hub cannot be created.
    pub fn start(after: Duration) -> Result<Timeout, HubError> {
        let core = hub()?;
        let greenlet = crate::getcurrent().id();
        let (id, timer) = core.start_guard(greenlet, after);
        Ok(Timeout {
            core,
            greenlet,
            id,
            timer,
        })
    }

    /// This guard's id, as found in [`HubError::Timeout`]'s `guard`.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether `error` is this guard's expiry.
    pub fn is(&self, error: &HubError) -> bool {
        matches!(error, HubError::Timeout { guard: Some(id), .. } if *id == self.id)
    }

    /// Disarms the guard (as dropping it does).
    pub fn cancel(self) {}
}

impl Drop for Timeout {
    fn drop(&mut self) {
        self.core.end_guard(self.greenlet, self.id, self.timer);
    }
}

impl std::fmt::Debug for Timeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timeout").field("id", &self.id).finish()
    }
}

/// Runs `f` under a [`Timeout`] of `after` (gevent's `with_timeout`): its result, or
/// [`HubError::Timeout`] if one of its waits outlasted the deadline.
///
/// # Errors
///
/// The errors of `f`, the timeout among them.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let quick = conc_coro::with_timeout(Duration::from_secs(5), || Ok(1 + 1));
/// assert_eq!(quick, Ok(2));
/// let slow = conc_coro::with_timeout(Duration::from_millis(10), || {
///     conc_coro::sleep(Duration::from_secs(60))
/// });
/// assert!(matches!(slow, Err(conc_coro::HubError::Timeout { .. })));
/// ```
pub fn with_timeout<R>(
    after: Duration,
    f: impl FnOnce() -> Result<R, HubError>,
) -> Result<R, HubError> {
    let _guard = Timeout::start(after)?;
    f()
}
