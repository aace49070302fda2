//! The crate's error type, and the payload that panics and throws carry intact.

use std::any::{Any, type_name};

/// The value carried by a panic or by [`Greenlet::throw`](crate::Greenlet::throw),
/// kept intact: match on its type with [`downcast`](Payload::downcast), or hand a
/// panic back to the unwinder with [`resume_unwind`](Payload::resume_unwind).
///
/// Two payloads compare equal when both are strings (`&str` or `String`) with the same
/// text; any other payload equals only itself.
///
/// # Examples
///
/// ```
/// use conc_coro::{Greenlet, GreenletError};
///
/// #[derive(Debug, PartialEq)]
/// struct Timeout(u32);
///
/// let main = conc_coro::getcurrent();
/// let g = Greenlet::new(move |_: ()| match main.switch(()) {
///     Err(GreenletError::Thrown(payload)) => payload.downcast::<Timeout>().unwrap().0,
///     _ => 0,
/// });
/// g.switch(()).unwrap();
/// assert_eq!(g.throw(Timeout(5)).unwrap().downcast::<u32>(), Ok(5));
/// ```
pub struct Payload {
    value: Box<dyn Any + Send>,
    type_name: Option<&'static str>,
}

impl Payload {
    /// Wraps a typed value (its type name is kept for messages).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = conc_coro::Payload::new(3_u8);
    /// assert!(p.is::<u8>());
    /// ```
    pub fn new<E: Any + Send>(value: E) -> Payload {
        Payload {
            value: Box::new(value),
            type_name: Some(type_name::<E>()),
        }
    }

    /// Wraps a panic payload, as `catch_unwind` or `JoinHandle::join` return it.
    ///
    /// # Examples
    ///
    /// ```
    /// let caught = std::panic::catch_unwind(|| panic!("boom")).unwrap_err();
    /// assert_eq!(conc_coro::Payload::from_panic(caught).message(), Some("boom"));
    /// ```
    pub fn from_panic(value: Box<dyn Any + Send>) -> Payload {
        Payload {
            value,
            type_name: None,
        }
    }

    /// Whether the payload is an `E`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!conc_coro::Payload::new("x").is::<String>());
    /// ```
    pub fn is<E: Any>(&self) -> bool {
        self.value.is::<E>()
    }

    /// A reference to the `E` inside, if it is one.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conc_coro::Payload::new(4_i32).downcast_ref::<i32>(), Some(&4));
    /// ```
    pub fn downcast_ref<E: Any>(&self) -> Option<&E> {
        self.value.downcast_ref::<E>()
    }

    /// Takes the `E` out.
    ///
    /// # Errors
    ///
    /// The payload, unchanged, if it is not an `E`.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = conc_coro::Payload::new(4_i32);
    /// let p = p.downcast::<u8>().unwrap_err();
    /// assert_eq!(p.downcast::<i32>().ok(), Some(4));
    /// ```
    pub fn downcast<E: Any>(self) -> Result<E, Payload> {
        let Payload { value, type_name } = self;
        value
            .downcast::<E>()
            .map(|b| *b)
            .map_err(|value| Payload { value, type_name })
    }

    /// The text of a string payload (`&str` or `String`, as `panic!` makes), if it is
    /// one.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conc_coro::Payload::new(String::from("hi")).message(), Some("hi"));
    /// assert_eq!(conc_coro::Payload::new(1_u8).message(), None);
    /// ```
    pub fn message(&self) -> Option<&str> {
        text_of(&*self.value)
    }

    /// The boxed value, as `catch_unwind` would give it.
    ///
    /// # Examples
    ///
    /// ```
    /// let boxed = conc_coro::Payload::new(1_u8).into_inner();
    /// assert!(boxed.is::<u8>());
    /// ```
    pub fn into_inner(self) -> Box<dyn Any + Send> {
        self.value
    }

    /// Continues unwinding with this payload (`std::panic::resume_unwind`): a panic
    /// that crossed a switch resumes as if it had never been caught.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = conc_coro::Payload::new("again");
    /// let p = std::panic::AssertUnwindSafe(p);
    /// let caught = std::panic::catch_unwind(move || {
    ///     let p = p; // the whole wrapper, not just its field
    ///     p.0.resume_unwind()
    /// })
    /// .unwrap_err();
    /// assert_eq!(caught.downcast_ref::<&str>(), Some(&"again"));
    /// ```
    pub fn resume_unwind(self) -> ! {
        std::panic::resume_unwind(self.value)
    }

    /// A one-line description for messages: the text, or the type's name.
    fn describe(&self) -> String {
        match (self.message(), self.type_name) {
            (Some(text), _) => text.to_owned(),
            (None, Some(name)) => format!("<{name}>"),
            (None, None) => "<non-string payload>".to_owned(),
        }
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Payload({})", self.describe())
    }
}

impl std::fmt::Display for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        match (self.message(), other.message()) {
            (Some(a), Some(b)) => a == b,
            _ => std::ptr::eq(self, other),
        }
    }
}

impl Eq for Payload {}

/// The text of a panic payload, for messages.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    text_of(payload)
        .unwrap_or("<non-string panic payload>")
        .to_owned()
}

/// The text of a string payload (`&str` or `String`, as `panic!` makes).
fn text_of(payload: &(dyn Any + Send)) -> Option<&str> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Some(s)
    } else {
        payload.downcast_ref::<String>().map(String::as_str)
    }
}

/// Why a switch gave no value.
///
/// `GreenletError` is `Send` but not `Sync`: the panic and throw variants carry their
/// payload (`Box<dyn Any + Send>`) so it can be matched on or resumed.
///
/// # Examples
///
/// ```
/// use conc_coro::{Greenlet, GreenletError};
///
/// let g = Greenlet::new(|_: ()| -> () { panic!("inside") });
/// match g.switch(()) {
///     Err(GreenletError::Panicked { message, .. }) => assert_eq!(message, "inside"),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum GreenletError {
    /// A greenlet whose outcome goes to the receiver panicked (Python: the exception
    /// propagates to the parent). The payload is kept intact.
    #[error("greenlet panicked: {message}")]
    Panicked {
        /// The panic message (`"<non-string panic payload>"` when it was not a string).
        message: String,
        /// The panic's payload: downcast it, or [`resume_unwind`](Payload::resume_unwind) it.
        payload: Payload,
    },
    /// Another greenlet called [`Greenlet::throw`](crate::Greenlet::throw) on this one
    /// while it waited in `switch`, or on a greenlet that had not started and whose
    /// outcome goes here (Python: `greenlet.throw(exc)`). The thrown value is kept typed.
    #[error("error thrown into greenlet: {0}")]
    Thrown(Payload),
    /// A value or argument did not have the type the receiving side asked for.
    #[error("expected a value of type {expected}, got {found}")]
    WrongType {
        /// The type that was asked for.
        expected: &'static str,
        /// The type that arrived.
        found: &'static str,
    },
    /// Setting this parent would make the parent chain a cycle (Python: `ValueError`).
    #[error("cyclic parent chain")]
    ParentCycle,
    /// A switch was attempted where it cannot be done: while the thread is unwinding
    /// from a panic, or from a destructor running on the runtime's own bookkeeping.
    /// Nothing was switched.
    #[error("cannot switch now: the thread is unwinding")]
    Unwinding,
    /// A greenlet being killed kept catching [`GreenletExit`](crate::GreenletExit) and
    /// switching; after a few attempts it was abandoned: marked dead, its stack leaked
    /// and the destructors still on it never run.
    #[error("greenlet refused to die: it caught GreenletExit and switched again, repeatedly")]
    Unkillable,
    /// No stack could be mapped for a greenlet's first switch; the greenlet stays
    /// unstarted. The message names `vm.max_map_count` where that limit applies.
    #[error("cannot allocate a greenlet stack: {message}")]
    Stack {
        /// What the operating system said, and what to change.
        message: String,
    },
}

impl GreenletError {
    /// The error for a caught panic payload.
    pub(crate) fn panicked(payload: Box<dyn Any + Send>) -> GreenletError {
        GreenletError::Panicked {
            message: panic_message(&*payload),
            payload: Payload::from_panic(payload),
        }
    }
}

/// Why a green operation (on the hub: sleeping, joining, waiting, green I/O) gave no
/// result.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use conc_coro::{HubError, spawn};
///
/// let slow = spawn(|| conc_coro::sleep(Duration::from_secs(60)));
/// match slow.join(Some(Duration::from_millis(10))) {
///     Err(HubError::Timeout { after, .. }) => assert_eq!(after, Duration::from_millis(10)),
///     other => panic!("unexpected {other:?}"),
/// }
/// slow.kill(true, None).unwrap();
/// ```
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum HubError {
    /// A wait ended at its deadline (a `timeout` argument, or a
    /// [`Timeout`](crate::Timeout) guard, whose id is in `guard`).
    #[error("timed out after {after:?} waiting for {waiting_on}")]
    Timeout {
        /// How long was allowed.
        after: std::time::Duration,
        /// What was waited on.
        waiting_on: &'static str,
        /// The [`Timeout`](crate::Timeout) guard that expired, if one did
        /// ([`Timeout::id`](crate::Timeout::id)).
        guard: Option<u64>,
    },
    /// The main greenlet waited for something that nothing can ever complete: no
    /// greenlet is ready, and no timer, I/O wait, future or other thread is pending
    /// (gevent's `LoopExit`). Waiting would have slept forever.
    #[error(
        "LoopExit: the main greenlet waits for {waiting_on}, and nothing can ever complete \
         it (no greenlet is ready; no timer, I/O, future or HubHandle is pending)"
    )]
    LoopExit {
        /// What the main greenlet waited for.
        waiting_on: &'static str,
    },
    /// A blocking green call was made from the hub's own context, where it would block
    /// the hub itself; run it in a greenlet ([`spawn`](crate::spawn)).
    #[error("{operation} cannot wait in the hub's own context: spawn a greenlet for it")]
    InHub {
        /// The call.
        operation: &'static str,
    },
    /// The greenlet panicked; its message.
    #[error("greenlet panicked: {message}")]
    Panicked {
        /// The panic message.
        message: String,
    },
    /// The greenlet was killed ([`Task::kill`](crate::Task::kill)) before it returned
    /// (gevent hands back a `GreenletExit` instead of a value).
    #[error("greenlet was killed before it returned")]
    Killed,
    /// A greenlet waited for its own end ([`Task::join`](crate::Task::join) from inside
    /// the task): it would wait forever.
    #[error("a greenlet cannot wait for its own end")]
    WaitOnSelf,
    /// The task's value was moved out before, by [`Task::take`](crate::Task::take).
    #[error("the greenlet's value was already taken")]
    Taken,
    /// The hub is gone: the thread of a [`HubHandle`](crate::HubHandle) ended, or a
    /// green call came from a thread-local destructor after this thread's hub was
    /// torn down.
    #[error("the hub is gone: its thread has ended")]
    HubGone,
    /// The operating system refused what the hub needed.
    #[error("{context}: {message}")]
    Os {
        /// What was being done.
        context: &'static str,
        /// What the system said.
        message: String,
    },
    /// A switch failed underneath (see [`GreenletError`]).
    #[error("switch failed: {0}")]
    Switch(String),
}

impl HubError {
    pub(crate) fn os(context: &'static str, e: &std::io::Error) -> HubError {
        HubError::Os {
            context,
            message: e.to_string(),
        }
    }
}

impl From<HubError> for std::io::Error {
    /// Green I/O reports hub errors as `io::Error`s: a timeout as `TimedOut`, the rest
    /// as `Other`, the `HubError` inside.
    fn from(e: HubError) -> std::io::Error {
        let kind = match e {
            HubError::Timeout { .. } => std::io::ErrorKind::TimedOut,
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, e)
    }
}
