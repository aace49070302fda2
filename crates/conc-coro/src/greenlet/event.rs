//! `TraceEvent`: what the tracer is told.

/// What a tracer installed with [`settrace`](crate::settrace) is told (Python:
/// `greenlet.settrace` events). A greenlet's end is the switch (or, for a panic, the
/// throw) from the dead greenlet to the one its outcome goes to.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use conc_coro::{Greenlet, TraceEvent};
///
/// let seen = Rc::new(RefCell::new(Vec::new()));
/// let s = seen.clone();
/// conc_coro::settrace(Some(Rc::new(move |event: TraceEvent, _: &Greenlet, _: &Greenlet| {
///     s.borrow_mut().push(event);
/// })));
/// Greenlet::new(|_: ()| ()).switch(()).unwrap();
/// conc_coro::settrace(None);
/// // Into the greenlet, and back out as it returns.
/// assert_eq!(*seen.borrow(), [TraceEvent::Switch, TraceEvent::Switch]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TraceEvent {
    /// A value is being switched from the origin to the target (or a dead origin's
    /// return value carried to its parent); the tracer runs in the origin, before the
    /// switch. For a dead origin it runs on the runtime's own bookkeeping, where a
    /// `switch` made from the tracer is refused.
    Switch,
    /// An error is being thrown, or a kill sent, from the origin into the target (or
    /// a panic carried from a dead origin to its parent); the tracer runs in the
    /// origin, before the switch.
    Throw,
}
