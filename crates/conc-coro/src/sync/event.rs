//! `Event` and `AsyncResult` (gevent's `gevent.event`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use crate::HubError;
use crate::hub::{Waiters, hub, wait_until};
use crate::task::{Waitable, sealed};

/// A flag greenlets wait on until it is set (gevent's `Event`): [`set`](Event::set)
/// wakes every waiter; [`clear`](Event::clear) makes later waits block again. Clones
/// share the flag.
///
/// # Examples
///
/// ```
/// use conc_coro::{Event, spawn};
///
/// let ready = Event::new();
/// let waiter = {
///     let ready = ready.clone();
///     spawn(move || ready.wait(None).map(|()| "woken"))
/// };
/// ready.set();
/// assert_eq!(waiter.get(None).unwrap(), Ok("woken"));
/// ```
#[derive(Clone, Default)]
pub struct Event {
    inner: Rc<EventInner>,
}

#[derive(Default)]
struct EventInner {
    flag: Cell<bool>,
    waiters: Waiters,
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish()
    }
}

impl Event {
    /// An event not yet set.
    pub fn new() -> Event {
        Event::default()
    }

    /// Sets the flag and wakes every waiting greenlet.
    pub fn set(&self) {
        self.inner.flag.set(true);
        self.inner.waiters.wake_all();
    }

    /// Clears the flag.
    pub fn clear(&self) {
        self.inner.flag.set(false);
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.inner.flag.get()
    }

    /// Waits until the flag is set, at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`HubError::Timeout`]; [`HubError::LoopExit`] when the main greenlet waits and
    /// nothing can set it; [`HubError::InHub`].
    pub fn wait(&self, timeout: Option<Duration>) -> Result<(), HubError> {
        if self.is_set() {
            return Ok(());
        }
        wait_until(&hub()?, "an Event", timeout, &[&self.inner.waiters], || {
            self.is_set()
        })
    }
}

impl Waitable for Event {
    fn is_ready(&self) -> bool {
        self.is_set()
    }
}

impl sealed::Sealed for Event {
    #[allow(private_interfaces)]
    fn waiters(&self) -> &Waiters {
        &self.inner.waiters
    }
}

/// A value that will arrive once, waited on by any number of greenlets (gevent's
/// `AsyncResult`): [`set`](AsyncResult::set) or
/// [`set_error`](AsyncResult::set_error) once; [`get`](AsyncResult::get) waits.
///
/// # Examples
///
/// ```
/// use conc_coro::{AsyncResult, spawn};
///
/// let result = AsyncResult::new();
/// let producer = {
///     let result = result.clone();
///     spawn(move || result.set(String::from("done")))
/// };
/// assert_eq!(result.get(None).as_deref(), Ok("done"));
/// producer.join(None).unwrap();
/// ```
pub struct AsyncResult<T> {
    inner: Rc<ResultInner<T>>,
}

struct ResultInner<T> {
    value: RefCell<Option<Result<T, String>>>,
    waiters: Waiters,
}

impl<T> Clone for AsyncResult<T> {
    fn clone(&self) -> Self {
        AsyncResult {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Default for AsyncResult<T> {
    fn default() -> Self {
        AsyncResult {
            inner: Rc::new(ResultInner {
                value: RefCell::new(None),
                waiters: Waiters::default(),
            }),
        }
    }
}

impl<T> std::fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncResult")
            .field("ready", &self.ready())
            .finish()
    }
}

impl<T> AsyncResult<T> {
    /// A result not yet set.
    pub fn new() -> AsyncResult<T> {
        AsyncResult::default()
    }

    /// Stores the value and wakes every waiter. A second `set` replaces the value (as
    /// gevent's does).
    pub fn set(&self, value: T) {
        *self.inner.value.borrow_mut() = Some(Ok(value));
        self.inner.waiters.wake_all();
    }

    /// Stores a failure (gevent's `set_exception`): waiters get
    /// [`HubError::Panicked`] with `message`.
    pub fn set_error(&self, message: impl Into<String>) {
        *self.inner.value.borrow_mut() = Some(Err(message.into()));
        self.inner.waiters.wake_all();
    }

    /// Whether a value or a failure is stored.
    pub fn ready(&self) -> bool {
        self.inner.value.borrow().is_some()
    }

    /// Whether a value is stored.
    pub fn successful(&self) -> bool {
        matches!(*self.inner.value.borrow(), Some(Ok(_)))
    }

    /// Waits until it is set, at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`Event::wait`].
    pub fn wait(&self, timeout: Option<Duration>) -> Result<(), HubError> {
        if self.ready() {
            return Ok(());
        }
        wait_until(
            &hub()?,
            "an AsyncResult",
            timeout,
            &[&self.inner.waiters],
            || self.ready(),
        )
    }

    /// Waits for the value.
    ///
    /// # Errors
    ///
    /// [`HubError::Panicked`] with the message of [`set_error`](AsyncResult::set_error);
    /// the errors of [`wait`](AsyncResult::wait).
    pub fn get(&self, timeout: Option<Duration>) -> Result<T, HubError>
    where
        T: Clone,
    {
        self.wait(timeout)?;
        match &*self.inner.value.borrow() {
            Some(Ok(v)) => Ok(v.clone()),
            Some(Err(message)) => Err(HubError::Panicked {
                message: message.clone(),
            }),
            None => Err(HubError::Switch("an AsyncResult woke unset".into())),
        }
    }

    /// The value if one is stored, without waiting.
    pub fn value(&self) -> Option<T>
    where
        T: Clone,
    {
        self.inner.value.borrow().as_ref()?.as_ref().ok().cloned()
    }
}

impl<T> Waitable for AsyncResult<T> {
    fn is_ready(&self) -> bool {
        self.ready()
    }
}

impl<T> sealed::Sealed for AsyncResult<T> {
    #[allow(private_interfaces)]
    fn waiters(&self) -> &Waiters {
        &self.inner.waiters
    }
}
