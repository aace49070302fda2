//! The crate's error type.

/// Why a switch gave no value.
///
/// # Examples
///
/// ```
/// use conc_coro::{Greenlet, GreenletError};
///
/// let g = Greenlet::new(|_: ()| -> () { panic!("inside") });
/// match g.switch(()) {
///     Err(GreenletError::Panicked { message }) => assert_eq!(message, "inside"),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GreenletError {
    /// A greenlet whose parent is the switching one panicked; its message is kept
    /// (Python: the exception propagates to the parent).
    #[error("greenlet panicked: {message}")]
    Panicked {
        /// The panic message.
        message: String,
    },
    /// Another greenlet called [`Greenlet::throw`](crate::Greenlet::throw) on this one
    /// while it waited in `switch` (Python: `greenlet.throw(exc)` raising in it).
    #[error("error thrown into greenlet: {0}")]
    Thrown(String),
    /// A value or argument did not have the type the receiving side asked for.
    #[error("expected a value of type {expected}")]
    WrongType {
        /// The type that was asked for.
        expected: &'static str,
    },
    /// Setting this parent would make the parent chain a cycle (Python: `ValueError`).
    #[error("cyclic parent chain")]
    ParentCycle,
    /// A switch was attempted where it cannot be done safely: while the thread is
    /// unwinding from a panic, while a greenlet is being killed or dropped (from its
    /// destructors), or from a greenlet that is not the one running.
    #[error("cannot switch now: the thread is unwinding or a greenlet is being killed")]
    Unwinding,
}
