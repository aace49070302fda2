//! `Node`: one greenlet's record, and the reference counting of its handles.
//!
//! A node lives on the heap and is shared by its strong handles ([`Greenlet`]), its
//! weak handles ([`WeakGreenlet`]), its children's parent links (each a strong
//! handle) and, without any count, the runtime's pointers: the thread's `current`
//! greenlet and the target of a switch in transit. Those uncounted pointers are why
//! the hot path touches no counter, and why the rules below exist:
//!
//! - **A running greenlet is never freed.** Its last strong handle may go while it
//!   runs (it drops the handle its creator gave it); the node then stays, and the root
//!   loop looks at the count when the greenlet next suspends or finishes.
//!
//! This file only keeps the counts; what happens when one reaches zero is decided in
//! `switch.rs`, which owns the thread's greenlets.
//! - **A suspended greenlet with no strong handle is garbage**: nothing can switch to
//!   it any more. It is killed (its stack unwound, destructors run), at once if the
//!   dropping context may switch, else from the graveyard at the next chance.
//! - **The memory goes when the greenlet is dead and no handle of either kind is
//!   left.** Its parent link is released then, as Python keeps `parent` readable on a
//!   dead greenlet.
//!
//! [`Greenlet`]: crate::Greenlet
//! [`WeakGreenlet`]: crate::WeakGreenlet

use std::any::Any;
use std::cell::{Cell, UnsafeCell};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use corosensei::{Coroutine, Yielder};

use crate::stack::GreenletStack;
use crate::value::Kind;
use crate::{GreenletError, Value};

/// What a greenlet is resumed with, and what a greenlet suspends with: a value, an
/// error, or a kill. It is one [`Value`] (two machine words), the error and the kill
/// being values of two private kinds, so it travels through every hand-over of a
/// switch in registers. A switching greenlet names its target in the thread state
/// (`State::transit`), not in the message.
pub(crate) struct Msg(Value);

/// What a [`Msg`] holds, taken apart.
pub(crate) enum Opened {
    /// A value: the pending `switch` returns `Ok`.
    Value(Value),
    /// An error: the pending `switch` returns `Err` (boxed: errors are rare).
    Error(Box<GreenletError>),
    /// A kill: the pending `switch` unwinds with `GreenletExit`.
    Kill,
}

/// The error message kind's payload.
struct ErrorMsg(Box<GreenletError>);
/// The kill message kind's payload.
struct KillMsg;

const ERROR: u8 = 1;
const KILL: u8 = 2;
static ERROR_KIND: Kind = Kind::of::<ErrorMsg>(ERROR);
static KILL_KIND: Kind = Kind::of::<KillMsg>(KILL);

impl Msg {
    #[inline]
    pub(crate) fn value(value: Value) -> Msg {
        Msg(value)
    }

    pub(crate) fn error(error: Box<GreenletError>) -> Msg {
        // SAFETY: ERROR_KIND is the kind of ErrorMsg.
        Msg(unsafe { Value::with_kind(&ERROR_KIND, ErrorMsg(error)) })
    }

    pub(crate) fn kill() -> Msg {
        // SAFETY: KILL_KIND is the kind of KillMsg.
        Msg(unsafe { Value::with_kind(&KILL_KIND, KillMsg) })
    }

    /// Whether this is a value (not an error or a kill).
    #[inline]
    pub(crate) fn is_value(&self) -> bool {
        self.0.special() == 0
    }

    /// The value, if this is one (not an error or a kill).
    #[inline]
    pub(crate) fn as_value(&self) -> Option<&Value> {
        self.is_value().then_some(&self.0)
    }

    #[inline]
    pub(crate) fn open(self) -> Opened {
        match self.0.special() {
            0 => Opened::Value(self.0),
            // SAFETY: only `Msg::error` makes values of the ERROR kind, holding an
            // ErrorMsg.
            ERROR => Opened::Error(unsafe { self.0.take_special::<ErrorMsg>() }.0),
            _ => Opened::Kill,
        }
    }
}

/// How a greenlet's body ended.
pub(crate) enum Exit {
    /// It returned this value.
    Returned(Value),
    /// It unwound with `GreenletExit` (killed, or it killed itself).
    Exited,
    /// It panicked with this payload.
    Panicked(Box<dyn std::any::Any + Send>),
}

pub(crate) type Co = Coroutine<Msg, Msg, Exit, GreenletStack>;
pub(crate) type YielderPtr = *const Yielder<Msg, Msg>;

/// The body before it starts: the user's closure, kept as a [`Value`] (inline when it
/// fits in a word, as most captures do: one handle, one `Rc`, one number, nothing),
/// and the function that calls it with the first value. So creating a greenlet costs
/// one allocation, its record, unless the closure is large.
pub(crate) struct Body {
    run: Value,
    call: fn(Value, Value) -> Value,
}

impl Body {
    pub(crate) fn new<A, R, F>(run: F) -> Body
    where
        A: Any,
        R: Any,
        F: FnOnce(A) -> R + 'static,
    {
        Body {
            run: Value::new(run),
            call: call_body::<A, R, F>,
        }
    }

    /// Runs the body with `first`, already checked to be of its argument type.
    pub(crate) fn call(self, first: Value) -> Value {
        (self.call)(self.run, first)
    }
}

/// [`Body::call`] for a closure `F` taking an `A`.
fn call_body<A, R, F>(run: Value, first: Value) -> Value
where
    A: Any,
    R: Any,
    F: FnOnce(A) -> R + 'static,
{
    let (Ok(run), Ok(arg)) = (run.try_downcast::<F>(), first.try_downcast::<A>()) else {
        unreachable!("a body holds its own closure; the first value's type is checked first")
    };
    Value::new(run(arg))
}

/// Something the root loop runs on the thread's own stack when it is switched to (the
/// hub's loop step): given what was switched to it, it names the next greenlet and
/// what that greenlet is resumed with. The step keeps that greenlet referenced (the
/// pointer is not counted). See `docs/coro-design.md`, "The hub at the root".
pub(crate) type RootStep = Box<dyn FnMut(Msg) -> (NonNull<Node>, Msg)>;

/// Whether a first value has the type a greenlet's body takes.
pub(crate) type Accepts = fn(&Value) -> bool;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Life {
    /// Created, never switched to: holds its body, no stack.
    NotStarted,
    /// Started and not finished: running now (it is `current`) or suspended.
    Alive,
    /// Running its destructors after a kill.
    Dying,
    /// Returned, panicked, killed or abandoned.
    Dead,
}

/// The kinds of node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The thread's own stack.
    Main,
    /// A greenlet on a stack of its own.
    User,
    /// Code the root loop runs on the thread's stack (the hub).
    Root,
}

pub(crate) struct Node {
    pub(crate) id: u64,
    pub(crate) role: Role,
    strong: Cell<usize>,
    weak: Cell<usize>,
    pub(crate) life: Cell<Life>,
    /// The coroutine, from the first switch until death. Only the root loop touches
    /// it, and never while it runs.
    pub(crate) co: UnsafeCell<Option<Co>>,
    /// The body, until the first switch.
    pub(crate) body: Cell<Option<Body>>,
    /// The root step, for `Role::Root`.
    pub(crate) step: Cell<Option<RootStep>>,
    pub(crate) accepts: Accepts,
    pub(crate) arg_name: &'static str,
    /// The stack size in force when the greenlet was created.
    pub(crate) stack_size: usize,
    /// Whether a `switch` made by this greenlet while it runs may go ahead: false for
    /// the hub's step (it runs on the root loop) and for a greenlet being killed.
    pub(crate) switchable: Cell<bool>,
    /// Set by the body on its first line; valid while the greenlet is alive.
    pub(crate) yielder: Cell<YielderPtr>,
    /// A strong link; `None` only for the main greenlet.
    parent: Cell<Option<NonNull<Node>>>,
    /// How often a greenlet being killed switched anyway (it caught `GreenletExit`).
    pub(crate) kill_attempts: Cell<u8>,
    /// The thread's list of live (started, not dead) greenlets, for teardown.
    pub(crate) prev: Cell<Option<NonNull<Node>>>,
    pub(crate) next: Cell<Option<NonNull<Node>>>,
}

fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Node {
    /// A new node with one strong reference (returned as its pointer).
    pub(crate) fn allocate(
        role: Role,
        parent: Option<NonNull<Node>>,
        accepts: Accepts,
        arg_name: &'static str,
        stack_size: usize,
    ) -> NonNull<Node> {
        if let Some(parent) = parent {
            // SAFETY: the caller passes a live node; the link is a strong reference.
            unsafe { Node::incref(parent) };
        }
        let node = Box::new(Node {
            id: next_id(),
            role,
            strong: Cell::new(1),
            weak: Cell::new(0),
            life: Cell::new(if role == Role::User {
                Life::NotStarted
            } else {
                Life::Alive
            }),
            co: UnsafeCell::new(None),
            body: Cell::new(None),
            step: Cell::new(None),
            accepts,
            arg_name,
            stack_size,
            switchable: Cell::new(role != Role::Root),
            yielder: Cell::new(std::ptr::null()),
            parent: Cell::new(parent),
            kill_attempts: Cell::new(0),
            prev: Cell::new(None),
            next: Cell::new(None),
        });
        NonNull::from(Box::leak(node))
    }

    pub(crate) fn strong(&self) -> usize {
        self.strong.get()
    }

    pub(crate) fn parent(&self) -> Option<NonNull<Node>> {
        self.parent.get()
    }

    /// Replaces the parent link, returning the old one (still counted: the caller
    /// releases it).
    pub(crate) fn replace_parent(&self, parent: NonNull<Node>) -> Option<NonNull<Node>> {
        // SAFETY: the caller passes a live node.
        unsafe { Node::incref(parent) };
        self.parent.replace(Some(parent))
    }

    /// Adds a strong reference.
    ///
    /// # Safety
    ///
    /// `node` is live (not freed).
    pub(crate) unsafe fn incref(node: NonNull<Node>) {
        // SAFETY: per the contract.
        let n = unsafe { node.as_ref() };
        n.strong.set(n.strong.get() + 1);
    }

    /// Drops a strong reference; `true` if it was the last one (the caller then
    /// decides the greenlet's fate: see `switch::last_strong_dropped`).
    ///
    /// # Safety
    ///
    /// `node` is live and the caller owns the strong reference it gives up.
    #[must_use]
    pub(crate) unsafe fn decref(node: NonNull<Node>) -> bool {
        // SAFETY: per the contract.
        let n = unsafe { node.as_ref() };
        let left = n.strong.get() - 1;
        n.strong.set(left);
        left == 0
    }

    /// Adds a weak reference.
    ///
    /// # Safety
    ///
    /// `node` is live.
    pub(crate) unsafe fn incweak(node: NonNull<Node>) {
        // SAFETY: per the contract.
        let n = unsafe { node.as_ref() };
        n.weak.set(n.weak.get() + 1);
    }

    /// Drops a weak reference; the caller then frees the node if it is unused.
    ///
    /// # Safety
    ///
    /// `node` is live and the caller owns the weak reference it gives up.
    pub(crate) unsafe fn decweak(node: NonNull<Node>) {
        // SAFETY: per the contract.
        let n = unsafe { node.as_ref() };
        n.weak.set(n.weak.get() - 1);
    }

    /// A strong reference from a weak one, if any strong one is left.
    ///
    /// # Safety
    ///
    /// `node` is live.
    pub(crate) unsafe fn upgrade(node: NonNull<Node>) -> bool {
        // SAFETY: per the contract.
        let n = unsafe { node.as_ref() };
        if n.strong.get() == 0 {
            return false;
        }
        n.strong.set(n.strong.get() + 1);
        true
    }

    /// Frees the node if it is dead and unreferenced. Returns whether it did, and the
    /// parent link the freed node held, which the caller must release.
    ///
    /// # Safety
    ///
    /// `node` is live; after a `(true, _)` return it is freed.
    pub(crate) unsafe fn free_if_unused(node: NonNull<Node>) -> (bool, Option<NonNull<Node>>) {
        // SAFETY: per the contract.
        let n = unsafe { node.as_ref() };
        if n.strong.get() != 0 || n.weak.get() != 0 || n.life.get() != Life::Dead {
            return (false, None);
        }
        let parent = n.parent.take();
        // SAFETY: allocated by `allocate` with `Box`; nothing refers to it any more
        // (no handle, and a dead greenlet is neither current nor in transit).
        drop(unsafe { Box::from_raw(node.as_ptr()) });
        (true, parent)
    }

    /// The running coroutine.
    ///
    /// # Safety
    ///
    /// Only the root loop calls this, for a started greenlet that is not running, and
    /// holds no other reference to the coroutine meanwhile.
    #[allow(clippy::mut_from_ref)] // exclusive by the root loop's protocol
    pub(crate) unsafe fn coroutine(&self) -> &mut Co {
        // SAFETY: per the contract, the coroutine exists and nobody else borrows it.
        unsafe { (*self.co.get()).as_mut().unwrap_unchecked() }
    }

    /// The error for a first value of the wrong type.
    pub(crate) fn wrong_type(&self, value: &Value) -> GreenletError {
        GreenletError::WrongType {
            expected: self.arg_name,
            found: value.type_name(),
        }
    }
}
