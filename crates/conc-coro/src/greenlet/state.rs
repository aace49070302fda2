//! `State`: one thread's greenlets — its main greenlet, the running one, the tracer,
//! the graveyard of greenlets waiting to be killed — reached through a `const`
//! thread-local pointer, so the switch path reads one word and writes one word.
//!
//! The state is created on first use and torn down by the destructor of a second,
//! zero-sized thread-local (`OWNER`): the pointer itself has no destructor, so it stays
//! readable while other thread-locals are destroyed, in whatever order. Teardown kills
//! every suspended greenlet of the thread (see `switch::teardown`) and only then clears
//! the pointer. A greenlet created after that (from a later thread-local destructor)
//! gets a fresh state that no destructor will tear down: it is leaked, deliberately,
//! with any greenlet still suspended in it.

use std::cell::{Cell, RefCell};
use std::ptr::NonNull;

use super::event::TraceEvent;
use super::node::{Node, Role};

/// `attention` bit: the root loop is doing its own bookkeeping; switching is refused.
pub(crate) const BOOKKEEPING: u8 = 1;
/// The tracer as the runtime calls it: event, origin, target.
pub(crate) type RawTracer = Box<dyn Fn(TraceEvent, NonNull<Node>, NonNull<Node>)>;

/// An installed tracer: how the runtime calls it (with uncounted pointers, valid for
/// the call), and the user's own value, handed back by the next `settrace`. The call
/// is built by `handle::settrace`, so the switch machinery needs no handle type.
pub(crate) struct InstalledTracer {
    pub(crate) call: RawTracer,
    pub(crate) user: Box<dyn std::any::Any>,
}

/// `attention` bit: a tracer is installed.
pub(crate) const TRACING: u8 = 2;
/// `attention` bit: the graveyard holds greenlets to kill.
pub(crate) const GRAVEYARD: u8 = 4;

pub(crate) struct State {
    /// The thread's main greenlet (one strong reference, released at teardown).
    pub(crate) main: NonNull<Node>,
    /// The running greenlet (uncounted: a running greenlet is never freed).
    pub(crate) current: Cell<NonNull<Node>>,
    /// The target of a switch in transit from a greenlet to the root loop (uncounted:
    /// kept alive by the switching greenlet's handle while it is suspended). Kept here
    /// rather than in the message so the message fits in two registers.
    pub(crate) transit: Cell<NonNull<Node>>,
    /// Non-zero when a switch must take the slow path (`BOOKKEEPING`, `TRACING`): the
    /// one flag the hot path checks.
    pub(crate) attention: Cell<u8>,
    pub(crate) tracer: RefCell<Option<InstalledTracer>>,
    /// Bumped by every `settrace`, so a tracer that replaces itself is not put back.
    pub(crate) tracer_epoch: Cell<u64>,
    /// Stack size for greenlets created from now on.
    pub(crate) stack_size: Cell<usize>,
    /// Greenlets to kill when switching becomes possible (each holds a strong
    /// reference): dropped or killed from code that could not switch.
    pub(crate) graveyard: RefCell<Vec<NonNull<Node>>>,
    /// Head of the list of started, not yet dead greenlets (for teardown).
    pub(crate) live: Cell<Option<NonNull<Node>>>,
}

thread_local! {
    static STATE: Cell<*const State> = const { Cell::new(std::ptr::null()) };
    static OWNER: Owner = const { Owner };
}

/// Tears the state down when the thread's locals are destroyed.
struct Owner;

impl Drop for Owner {
    fn drop(&mut self) {
        super::switch::teardown();
    }
}

impl State {
    /// This thread's state, created on first use.
    ///
    /// The reference is valid until the thread's teardown; callers do not keep it
    /// beyond the call that fetched it.
    #[inline]
    pub(crate) fn get() -> &'static State {
        let state = STATE.with(Cell::get);
        if state.is_null() {
            return State::create();
        }
        // SAFETY: a non-null pointer was set by `create` from a leaked `Box` and is
        // cleared by `forget` before the box is freed.
        unsafe { &*state }
    }

    /// This thread's state if it exists (not created by this call).
    pub(crate) fn existing() -> Option<&'static State> {
        let state = STATE.with(Cell::get);
        // SAFETY: as in `get`.
        (!state.is_null()).then(|| unsafe { &*state })
    }

    #[cold]
    fn create() -> &'static State {
        let main = Node::allocate(Role::Main, None, |_| false, "()", 0);
        let state: &'static State = Box::leak(Box::new(State {
            main,
            current: Cell::new(main),
            transit: Cell::new(main),
            attention: Cell::new(0),
            tracer: RefCell::new(None),
            tracer_epoch: Cell::new(0),
            stack_size: Cell::new(crate::DEFAULT_STACK_SIZE),
            graveyard: RefCell::new(Vec::new()),
            live: Cell::new(None),
        }));
        STATE.with(|s| s.set(state));
        // Registers the teardown; fails only once the thread's locals are being
        // destroyed, and then this state is leaked (see the module docs).
        if OWNER.try_with(|_| ()).is_err() {
            log::debug!("greenlet state created during thread teardown: it will be leaked");
        }
        state
    }

    /// Clears this thread's pointer to `state` and frees it; returns its main node.
    ///
    /// # Safety
    ///
    /// `state` is this thread's state and nothing uses it any more.
    pub(crate) unsafe fn forget(state: &State) -> NonNull<Node> {
        let main = state.main;
        STATE.with(|s| s.set(std::ptr::null()));
        // SAFETY: created by `create` with `Box::leak`; per the contract, unused.
        drop(unsafe { Box::from_raw(state as *const State as *mut State) });
        main
    }

    /// Marks the root loop's bookkeeping until the guard drops (switches refused).
    pub(crate) fn bookkeeping(&self) -> Bookkeeping<'_> {
        let was = self.attention.get() & BOOKKEEPING != 0;
        self.attention.set(self.attention.get() | BOOKKEEPING);
        Bookkeeping { state: self, was }
    }

    pub(crate) fn in_bookkeeping(&self) -> bool {
        self.attention.get() & BOOKKEEPING != 0
    }

    /// Adds a started greenlet to the live list.
    pub(crate) fn link_live(&self, node: NonNull<Node>) {
        // SAFETY: live-list nodes are alive (not freed) while linked.
        let n = unsafe { node.as_ref() };
        n.prev.set(None);
        n.next.set(self.live.get());
        if let Some(head) = self.live.get() {
            // SAFETY: as above.
            unsafe { head.as_ref() }.prev.set(Some(node));
        }
        self.live.set(Some(node));
    }

    /// Removes a greenlet from the live list (no-op if it is not linked).
    pub(crate) fn unlink_live(&self, node: NonNull<Node>) {
        // SAFETY: live-list nodes are alive (not freed) while linked.
        let n = unsafe { node.as_ref() };
        let (prev, next) = (n.prev.take(), n.next.take());
        match prev {
            // SAFETY: as above.
            Some(prev) => unsafe { prev.as_ref() }.next.set(next),
            None if self.live.get() == Some(node) => self.live.set(next),
            None => return,
        }
        if let Some(next) = next {
            // SAFETY: as above.
            unsafe { next.as_ref() }.prev.set(prev);
        }
    }
}

/// Guard of [`State::bookkeeping`].
pub(crate) struct Bookkeeping<'a> {
    state: &'a State,
    was: bool,
}

impl Drop for Bookkeeping<'_> {
    fn drop(&mut self) {
        if !self.was {
            let a = self.state.attention.get();
            self.state.attention.set(a & !BOOKKEEPING);
        }
    }
}
