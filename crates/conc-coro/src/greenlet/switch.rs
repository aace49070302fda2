//! The switch: the hot path, the root loop on the thread's own stack, and every way a
//! greenlet ends (returns, panics, is killed, is collected, is torn down with its
//! thread).
//!
//! ```text
//!   thread stack (main)                    greenlet stacks (corosensei)
//!   ───────────────────                    ────────────────────────────
//!   main: b.switch(v) ─▶ run_root ── resume ─────────▶ B runs
//!                           ▲                            │ c.switch(w): suspend
//!                           └──── w (st.transit = C) ────┘
//!                        run_root ── resume ─────────▶ C runs … returns r
//!                           ◀──── Return(r) ─────────────┘
//!                        C is dead: r goes to its parent (main): run_root returns r
//! ```
//!
//! Only the root loop (`run_root`, on the thread's stack) resumes greenlets in a
//! switch; a greenlet that switches suspends back to it naming the target. So a switch
//! *to or from* the root is one corosensei transfer, and one between two greenlets is
//! two. The hub of the next issue is a `Role::Root` node: its step runs on the root
//! loop itself, so greenlet → hub and hub → greenlet are one transfer each.
//!
//! Kills are the one exception to "only the root resumes": `kill_suspended` resumes
//! the victim directly from wherever it is called, with a kill message; the victim is
//! marked dying and cannot switch, so it only unwinds and returns.
//!
//! Nothing on the hot path (`switch_to`, `transfer`, the `Alive` arms of `run_root`)
//! allocates or touches a reference count: `current` is an uncounted pointer, and the
//! target of a switch in transit is kept alive by the handle the switching greenlet
//! holds while it is suspended.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::ptr::NonNull;

use corosensei::{CoroutineResult, Yielder};

use super::event::TraceEvent;
use super::node::{Co, Exit, Life, Msg, Node, Opened, Role};
use super::state::{GRAVEYARD, State, TRACING};
use crate::stack::GreenletStack;
use crate::value::Value;
use crate::{GreenletError, GreenletExit};

/// How many times a greenlet being killed may catch `GreenletExit` and switch again
/// before it is abandoned (its stack leaked, its destructors never run).
pub(crate) const KILL_ATTEMPTS: u8 = 4;

/// Switches from the running greenlet to `target`, delivering `msg`; returns what the
/// running greenlet is resumed with.
///
/// Always inlined (with `transfer` and `from_main`): the context switch clobbers every
/// callee-saved register, and an out-of-line call would save and restore all of them
/// on each switch; inlined into the caller's loop, they are saved once (W1: 11.3x to
/// 6.7x raw corosensei).
///
/// # Safety
///
/// `target` is a live node of this thread, kept alive by the caller for the call.
#[inline(always)]
pub(crate) unsafe fn switch_to(
    st: &State,
    target: NonNull<Node>,
    msg: Msg,
) -> Result<Value, GreenletError> {
    let cur = st.current.get();
    // SAFETY: the running greenlet is never freed.
    let c = unsafe { cur.as_ref() };
    if st.attention.get() != 0 || !c.switchable.get() || std::thread::panicking() {
        // SAFETY: per this function's contract.
        return unsafe { unusual_switch(st, cur, target, msg) };
    }
    if cur == target {
        return into_result(msg);
    }
    // SAFETY: per this function's contract; `cur` is running and may switch.
    unsafe { transfer(st, cur, target, msg) }
}

#[inline]
fn into_result(msg: Msg) -> Result<Value, GreenletError> {
    match msg.open() {
        Opened::Value(v) => Ok(v),
        Opened::Error(e) => Err(*e),
        Opened::Kill => Err(GreenletError::Unwinding),
    }
}

/// The switch proper: from the main greenlet, run the root loop; from a greenlet,
/// suspend to it.
///
/// # Safety
///
/// `cur` is the running greenlet and may switch; `target` as in [`switch_to`].
#[inline(always)]
unsafe fn transfer(
    st: &State,
    cur: NonNull<Node>,
    target: NonNull<Node>,
    msg: Msg,
) -> Result<Value, GreenletError> {
    // SAFETY: the running greenlet is never freed.
    let c = unsafe { cur.as_ref() };
    let back = if c.role == Role::Main {
        // SAFETY: per this function's contract.
        unsafe { from_main(st, cur, target, msg) }
    } else {
        st.transit.set(target);
        // SAFETY: a running greenlet is a started `User` greenlet (the root's step
        // never gets here: it is not switchable) whose body stored its yielder, which
        // lives in that body's frame on the stack we are running on.
        unsafe { (*c.yielder.get()).suspend(msg) }
    };
    match back.open() {
        Opened::Value(v) => Ok(v),
        Opened::Error(e) => Err(*e),
        Opened::Kill => begin_dying(c),
    }
}

/// The main greenlet switches to `target`: the common case (an alive greenlet that
/// switches straight back) without the root loop's general dispatch, everything else
/// through [`from_main_unusual`].
///
/// # Safety
///
/// As for [`run_root`].
#[inline(always)]
unsafe fn from_main(st: &State, main: NonNull<Node>, target: NonNull<Node>, msg: Msg) -> Msg {
    // SAFETY: the caller keeps `target` alive.
    let t = unsafe { target.as_ref() };
    if t.life.get() != Life::Alive || t.role != Role::User {
        // SAFETY: per the contract.
        return unsafe { from_main_unusual(st, main, target, msg) };
    }
    // SAFETY: per the contract; `target` is an alive user greenlet.
    unsafe { resume_for_main(st, main, target, msg) }
}

/// Resumes an alive user greenlet for the main greenlet: straight back when it
/// switches back to main (or ends with main as heir), else through the root loop.
///
/// # Safety
///
/// As for [`run_root`]; `target` is an alive, suspended user greenlet.
#[inline(always)]
unsafe fn resume_for_main(st: &State, main: NonNull<Node>, target: NonNull<Node>, msg: Msg) -> Msg {
    // SAFETY: the caller keeps `target` alive.
    let t = unsafe { target.as_ref() };
    st.current.set(target);
    // SAFETY: as in `run_root`: an alive, suspended user greenlet owns its coroutine.
    match unsafe { t.coroutine() }.resume(msg) {
        CoroutineResult::Yield(back) => {
            let next = st.transit.get();
            if next == main && t.strong() != 0 && st.attention.get() & GRAVEYARD == 0 {
                st.current.set(main);
                return back;
            }
            if t.strong() == 0 {
                collect_later(st, target);
            }
            // SAFETY: `next` is kept alive by the suspended `target`'s handle.
            unsafe { run_root(st, target, next, back) }
        }
        // SAFETY: `target` just finished here.
        CoroutineResult::Return(exit) => unsafe { finish_for_main(st, main, target, exit) },
    }
}

/// A greenlet resumed by the main greenlet returned: bury it, and hand its outcome
/// straight back when main is its heir.
///
/// # Safety
///
/// `target` has just returned from its coroutine and is kept alive by the caller.
#[inline(never)]
unsafe fn finish_for_main(
    st: &State,
    main: NonNull<Node>,
    target: NonNull<Node>,
    exit: Exit,
) -> Msg {
    // SAFETY: per the contract, as on the root loop.
    let (next, back) = unsafe { finished(st, target, exit) };
    if next == main && st.attention.get() & GRAVEYARD == 0 {
        st.current.set(main);
        return back;
    }
    // SAFETY: `next` is held by `finished`'s hand-over.
    unsafe { run_root(st, st.main, next, back) }
}

/// The main greenlet switches to a greenlet that is not an alive user greenlet: an
/// unstarted one is started and run here when that is the plain case, everything else
/// goes through the root loop.
///
/// # Safety
///
/// As for [`run_root`].
#[inline(never)]
unsafe fn from_main_unusual(
    st: &State,
    main: NonNull<Node>,
    target: NonNull<Node>,
    msg: Msg,
) -> Msg {
    // SAFETY: per the contract.
    if unsafe { start_for_main(st, target, &msg) } {
        // SAFETY: just started: an alive, suspended user greenlet.
        return unsafe { resume_for_main(st, main, target, msg) };
    }
    // SAFETY: per the contract.
    unsafe { run_root(st, main, target, msg) }
}

/// Starts a greenlet that never ran, for the main greenlet's switch to it, when that is
/// the plain case (an unstarted user greenlet given a value of its argument type, a
/// stack available); `false` leaves everything else (wrong types, errors, no stack) to
/// the root loop, which reports it.
///
/// # Safety
///
/// As for [`run_root`]: `target` is kept alive by the caller.
#[inline]
unsafe fn start_for_main(st: &State, target: NonNull<Node>, msg: &Msg) -> bool {
    // SAFETY: per the contract.
    let t = unsafe { target.as_ref() };
    t.life.get() == Life::NotStarted
        && t.role == Role::User
        && msg.as_value().is_some_and(|v| (t.accepts)(v))
        && start(st, target).is_ok()
}

/// A kill arrived in a suspended greenlet's `switch`: it unwinds from there.
#[cold]
fn begin_dying(c: &Node) -> ! {
    c.life.set(Life::Dying);
    c.switchable.set(false);
    resume_unwind(Box::new(GreenletExit))
}

/// Everything the hot path does not do: refusals, greenlets being killed, tracing.
///
/// # Safety
///
/// As for [`switch_to`]; `cur` is the running greenlet.
#[cold]
unsafe fn unusual_switch(
    st: &State,
    cur: NonNull<Node>,
    target: NonNull<Node>,
    msg: Msg,
) -> Result<Value, GreenletError> {
    if std::thread::panicking() {
        return Err(GreenletError::Unwinding);
    }
    // SAFETY: the running greenlet is never freed.
    let c = unsafe { cur.as_ref() };
    if c.life.get() == Life::Dying {
        refuse_while_dying(c);
    }
    if st.in_bookkeeping() || !c.switchable.get() {
        return Err(GreenletError::Unwinding);
    }
    if cur == target {
        return into_result(msg);
    }
    if st.attention.get() & TRACING != 0 {
        let event = if msg.is_value() {
            TraceEvent::Switch
        } else {
            TraceEvent::Throw
        };
        trace(st, event, cur, target);
        if st.current.get() != cur || !c.switchable.get() {
            return Err(GreenletError::Unwinding);
        }
    }
    // SAFETY: per this function's contract; checked above that `cur` may switch.
    unsafe { transfer(st, cur, target, msg) }
}

/// A greenlet being killed switched (it caught `GreenletExit`): it is killed again, and
/// after `KILL_ATTEMPTS` tries it gives up its stack for good.
fn refuse_while_dying(c: &Node) -> ! {
    let attempts = c.kill_attempts.get().saturating_add(1);
    c.kill_attempts.set(attempts);
    if attempts < KILL_ATTEMPTS {
        resume_unwind(Box::new(GreenletExit));
    }
    loop {
        // Back to `kill_suspended`, which abandons this coroutine: it is never resumed.
        // SAFETY: a dying greenlet is a started greenlet running on its own stack (it
        // was resumed by `kill_suspended`), so its yielder is valid here.
        let _ = unsafe { (*c.yielder.get()).suspend(Msg::kill()) };
    }
}

/// The root loop: resumes whichever greenlet is switched to until a switch comes back
/// to the main greenlet, then returns what main is resumed with.
///
/// # Safety
///
/// Called on the thread's own stack by the main greenlet, which is running; `target`
/// as in [`switch_to`].
unsafe fn run_root(
    st: &State,
    mut origin: NonNull<Node>,
    mut target: NonNull<Node>,
    mut msg: Msg,
) -> Msg {
    loop {
        // SAFETY: a target in transit is kept alive by whoever named it (see the
        // module docs); the arms below keep that true for the next target.
        let t = unsafe { target.as_ref() };
        match (t.life.get(), t.role) {
            (Life::Alive, Role::User) => {
                st.current.set(target);
                // SAFETY: an alive user greenlet that is not running owns its
                // coroutine; only this loop and `kill_suspended` resume it, never both.
                let co = unsafe { t.coroutine() };
                match co.resume(msg) {
                    CoroutineResult::Yield(next_msg) => {
                        if t.strong() == 0 {
                            collect_later(st, target);
                        }
                        origin = target;
                        target = st.transit.get();
                        msg = next_msg;
                    }
                    CoroutineResult::Return(exit) => {
                        // SAFETY: `target` just finished on this loop.
                        (target, msg) = unsafe { finished(st, target, exit) };
                        origin = st.main;
                    }
                }
            }
            (Life::Alive, Role::Main) if target == st.main => {
                st.current.set(target);
                if !st.graveyard.borrow().is_empty() {
                    reap_graveyard(st);
                }
                return msg;
            }
            (Life::Alive, Role::Root) => {
                // SAFETY: `target` is an alive root node.
                (target, msg) = unsafe { run_step(st, target, msg) };
                origin = st.current.get();
            }
            _ => {
                // SAFETY: as above.
                (origin, target, msg) = unsafe { unusual_target(st, origin, target, msg) };
            }
        }
    }
}

/// Runs the root node's step on the root loop: the hub's turn.
///
/// # Safety
///
/// `root` is an alive `Role::Root` node kept alive by whoever named it.
#[cold]
unsafe fn run_step(st: &State, root: NonNull<Node>, msg: Msg) -> (NonNull<Node>, Msg) {
    st.current.set(root);
    if !st.graveyard.borrow().is_empty() {
        reap_graveyard(st);
    }
    // SAFETY: per the contract.
    let r = unsafe { root.as_ref() };
    let Some(mut step) = r.step.take() else {
        // Re-entered from its own step (impossible: the step cannot switch); go home.
        return (st.main, msg);
    };
    match catch_unwind(AssertUnwindSafe(|| step(msg))) {
        Ok((next, msg)) => {
            if r.strong() == 0 {
                // Its last handle went while it ran: it ends. The step keeps `next`
                // alive; hold it across the step's drop.
                // SAFETY: `next` is kept alive by the step until it is dropped.
                unsafe { Node::incref(next) };
                r.life.set(Life::Dead);
                r.switchable.set(false);
                drop_contained(step, "the root step");
                // SAFETY: `root` is dead with no strong reference; `next` is held.
                unsafe {
                    free_unused(root);
                    unhold(next);
                }
            } else {
                r.step.set(Some(step));
            }
            (next, msg)
        }
        Err(payload) => {
            // The step panicked: it is not resumable; the panic goes to main's switch.
            st.current.set(st.main);
            r.life.set(Life::Dead);
            r.switchable.set(false);
            drop_contained(step, "the root step");
            resume_unwind(payload)
        }
    }
}

/// Targets that are not an alive greenlet: dead ones (their nearest live ancestor is
/// switched to), unstarted ones (started now, or killed by the wrong first value).
///
/// # Safety
///
/// As for [`run_root`].
#[cold]
unsafe fn unusual_target(
    st: &State,
    origin: NonNull<Node>,
    target: NonNull<Node>,
    msg: Msg,
) -> (NonNull<Node>, NonNull<Node>, Msg) {
    // SAFETY: per the contract.
    let t = unsafe { target.as_ref() };
    match t.life.get() {
        Life::NotStarted => match msg.open() {
            Opened::Value(v) if (t.accepts)(&v) => match start(st, target) {
                Ok(()) => (origin, target, Msg::value(v)),
                Err(error) => {
                    // The greenlet stays unstarted; the switch that started it fails.
                    // SAFETY: `origin` is alive or main (see `run_root`).
                    let back = if unsafe { origin.as_ref() }.life.get() == Life::Alive {
                        origin
                    } else {
                        st.main
                    };
                    (st.main, back, Msg::error(Box::new(error)))
                }
            },
            Opened::Error(error) => {
                // An error on its way up (a direct `throw` kills the greenlet first):
                // it passes by, to the parent, and the greenlet stays startable, as in
                // greenlet's test_throw_goes_to_original_parent.
                let mut next = t.parent().unwrap_or(st.main);
                if next == target {
                    next = st.main;
                }
                (origin, next, Msg::error(error))
            }
            opened => {
                // A wrong first value: it dies unstarted and the error goes to its
                // parent.
                let error = match opened {
                    Opened::Value(v) => Box::new(t.wrong_type(&v)),
                    _ => Box::new(GreenletError::Unwinding),
                };
                let _bookkeeping = st.bookkeeping();
                die_unstarted(t);
                // SAFETY: `target` is dead and kept alive by whoever named it.
                let next = unsafe { hand_on(st, target) };
                (st.main, next, Msg::error(error))
            }
        },
        Life::Alive if t.role == Role::Main => {
            // Another thread-state's main (a state recreated during teardown): go home.
            (origin, st.main, msg)
        }
        _ => {
            // Dead (or dying, which only the running greenlet can be): its ancestor.
            let mut next = t.parent().unwrap_or(st.main);
            if next == target {
                next = st.main;
            }
            (origin, next, msg)
        }
    }
}

/// Gives a greenlet its stack and coroutine on its first switch.
fn start(st: &State, node: NonNull<Node>) -> Result<(), GreenletError> {
    // SAFETY: the caller passes a live, unstarted node.
    let n = unsafe { node.as_ref() };
    let stack = GreenletStack::take(n.stack_size).map_err(|e| GreenletError::Stack {
        message: e.to_string(),
    })?;
    let co = Co::with_stack(stack, move |yielder: &Yielder<Msg, Msg>, first: Msg| {
        // SAFETY: the node outlives its coroutine: it is freed only when dead.
        let n = unsafe { node.as_ref() };
        n.yielder.set(yielder);
        let (Some(body), Opened::Value(arg)) = (n.body.take(), first.open()) else {
            return Exit::Exited;
        };
        match catch_unwind(AssertUnwindSafe(move || body.call(arg))) {
            Ok(value) => Exit::Returned(value),
            Err(payload) if payload.is::<GreenletExit>() => Exit::Exited,
            Err(payload) => Exit::Panicked(payload),
        }
    });
    // SAFETY: the node is unstarted, so nothing else refers to its coroutine slot.
    unsafe { *n.co.get() = Some(co) };
    n.life.set(Life::Alive);
    st.link_live(node);
    Ok(())
}

/// A greenlet finished on the root loop: bury it and name where its outcome goes.
///
/// # Safety
///
/// `node` has just returned from its coroutine and is kept alive by whoever switched
/// to it.
#[cold]
unsafe fn finished(st: &State, node: NonNull<Node>, exit: Exit) -> (NonNull<Node>, Msg) {
    let _bookkeeping = st.bookkeeping();
    // SAFETY: per the contract.
    let n = unsafe { node.as_ref() };
    bury(st, n);
    let msg = match exit {
        Exit::Returned(v) => Msg::value(v),
        Exit::Exited => Msg::value(Value::new(GreenletExit)),
        Exit::Panicked(payload) => Msg::error(Box::new(GreenletError::panicked(payload))),
    };
    if st.attention.get() & TRACING != 0 {
        let event = if msg.is_value() {
            TraceEvent::Switch
        } else {
            TraceEvent::Throw
        };
        trace_death(st, node, event, heir(st, node));
    }
    // SAFETY: `node` is dead and alive until `hand_on` frees it.
    (unsafe { hand_on(st, node) }, msg)
}

/// Marks a finished greenlet dead and gives its stack back.
fn bury(st: &State, n: &Node) {
    n.life.set(Life::Dead);
    n.switchable.set(false);
    st.unlink_live(NonNull::from(n));
    // SAFETY: the coroutine has returned, so nothing runs on it or refers to it.
    if let Some(co) = unsafe { (*n.co.get()).take() } {
        if co.done() {
            drop(co.into_stack());
        } else {
            // A coroutine that never finished (abandoned) must not be dropped: that
            // would unwind it once more.
            std::mem::forget(co);
        }
    }
}

/// Marks an unstarted greenlet dead, dropping its body (its captured values) with
/// switching refused: the greenlet never ran, so there is nothing for a destructor of
/// its captures to switch from.
fn die_unstarted(n: &Node) {
    let _bookkeeping = State::existing().map(State::bookkeeping);
    n.life.set(Life::Dead);
    n.switchable.set(false);
    if let Some(body) = n.body.take() {
        drop_contained(body, "an unstarted greenlet's closure");
    }
}

/// Drops `value`, logging rather than propagating a panic from its destructor (the
/// caller is runtime bookkeeping or a destructor itself).
fn drop_contained<T>(value: T, what: &str) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(value))) {
        log::error!(
            "dropping {what} panicked: {}",
            crate::error::panic_message(&*payload)
        );
        drop_payload(payload);
    }
}

/// Drops a caught panic payload, whose own destructor may panic (once).
fn drop_payload(payload: Box<dyn Any + Send>) {
    if catch_unwind(AssertUnwindSafe(move || drop(payload))).is_err() {
        log::error!("a panic payload's destructor panicked; its payload is leaked");
    }
}

/// The greenlet a dead `node`'s outcome goes to: its parent, or the parent's nearest
/// live ancestor, or main. Frees `node` if nothing refers to it any more.
///
/// # Safety
///
/// `node` is dead and live (not freed); the caller does not use it afterwards.
unsafe fn hand_on(st: &State, node: NonNull<Node>) -> NonNull<Node> {
    // SAFETY: per the contract.
    let mut next = unsafe { node.as_ref() }.parent().unwrap_or(st.main);
    // SAFETY: `next` is kept alive by `node`'s parent link; held from here on.
    unsafe {
        Node::incref(next);
        free_unused(node);
    }
    loop {
        // SAFETY: held.
        let n = unsafe { next.as_ref() };
        if next == st.main || !matches!(n.life.get(), Life::Dead | Life::Dying) {
            break;
        }
        let up = n.parent().unwrap_or(st.main);
        // SAFETY: `up` is kept alive by `next`'s link until we hold it.
        unsafe {
            Node::incref(up);
            unhold(next);
        }
        next = up;
    }
    // SAFETY: held. If this was the last reference, the greenlet is garbage the root
    // loop collects when it next suspends (or frees when it finishes).
    unsafe { unhold(next) };
    next
}

/// Drops a reference taken to keep `node` alive across bookkeeping.
///
/// # Safety
///
/// The caller holds that reference.
unsafe fn unhold(node: NonNull<Node>) {
    // SAFETY: per the contract.
    if unsafe { Node::decref(node) } && unsafe { node.as_ref() }.life.get() == Life::Dead {
        // SAFETY: dead, no strong reference.
        unsafe { free_unused(node) };
    }
}

/// Frees `node` if it is dead and unreferenced, releasing its parent link.
///
/// # Safety
///
/// `node` is live; the caller does not use it afterwards unless it holds a reference.
unsafe fn free_unused(node: NonNull<Node>) {
    // SAFETY: per the contract.
    if let (true, Some(parent)) = unsafe { Node::free_if_unused(node) } {
        // SAFETY: the freed node's parent link was a strong reference.
        unsafe { release(parent) };
    }
}

/// Whether a suspended greenlet can be resumed from here to kill it: not while the
/// thread unwinds or the root loop keeps its books, nor from a greenlet that cannot
/// switch (a dying one, whose stack is mid-unwind), except the root's step.
fn can_resume_nested(st: &State) -> bool {
    if std::thread::panicking() || st.in_bookkeeping() {
        return false;
    }
    // SAFETY: the running greenlet is never freed.
    let c = unsafe { st.current.get().as_ref() };
    c.switchable.get() || c.role == Role::Root
}

/// Kills a greenlet (Python: `throw(GreenletExit)`, but returning to the caller).
///
/// # Safety
///
/// `node` is a live node of this thread, kept alive by the caller.
pub(crate) unsafe fn kill(st: &State, node: NonNull<Node>) -> Result<(), GreenletError> {
    // SAFETY: per the contract.
    let n = unsafe { node.as_ref() };
    if n.role != Role::User {
        return Ok(());
    }
    match n.life.get() {
        Life::Dead | Life::Dying => Ok(()),
        Life::NotStarted => {
            die_unstarted(n);
            trace_death(st, node, TraceEvent::Switch, st.current.get());
            Ok(())
        }
        Life::Alive if node == st.current.get() => {
            if std::thread::panicking() {
                Ok(())
            } else {
                resume_unwind(Box::new(GreenletExit))
            }
        }
        Life::Alive => {
            if !can_resume_nested(st) {
                queue_kill(st, node);
                return Ok(());
            }
            if st.attention.get() & TRACING != 0 {
                trace(st, TraceEvent::Throw, st.current.get(), node);
                if n.life.get() != Life::Alive || node == st.current.get() {
                    return Ok(());
                }
            }
            // SAFETY: alive, suspended (not current; can_resume_nested rules out a
            // running one below us), kept alive by the caller.
            let outcome = unsafe { kill_suspended(st, node) };
            // Kills its destructors asked for (queued: they could not resume anyone)
            // are done now, before returning to a caller that may switch.
            if !st.graveyard.borrow().is_empty() && can_resume_nested(st) {
                reap_graveyard(st);
            }
            outcome
        }
    }
}

/// Puts a greenlet in the graveyard, holding a reference, to be killed at the next
/// switch to the main greenlet (or the root's step, or thread exit).
fn queue_kill(st: &State, node: NonNull<Node>) {
    // SAFETY: the caller keeps `node` alive; the graveyard owns this reference.
    unsafe { Node::incref(node) };
    st.graveyard.borrow_mut().push(node);
    st.attention.set(st.attention.get() | GRAVEYARD);
}

/// Resumes a suspended greenlet with a kill, here, on the caller's stack: its pending
/// `switch` unwinds with `GreenletExit`, running its destructors with it as the
/// current greenlet and switching refused.
///
/// # Safety
///
/// `node` is an alive, suspended user greenlet, kept alive by the caller.
unsafe fn kill_suspended(st: &State, node: NonNull<Node>) -> Result<(), GreenletError> {
    // SAFETY: per the contract.
    let n = unsafe { node.as_ref() };
    let saved = st.current.replace(node);
    // SAFETY: suspended, so its coroutine is not borrowed; nothing else resumes it
    // meanwhile (the root loop is not running it: it is suspended).
    let resumed = unsafe { n.coroutine() }.resume(Msg::kill());
    st.current.set(saved);
    let outcome = match resumed {
        CoroutineResult::Yield(_) => {
            log::error!(
                "greenlet {} kept catching GreenletExit and switching; abandoned with its \
                 stack (destructors still on it will not run)",
                n.id
            );
            bury(st, n); // the coroutine is not done: it is forgotten, not dropped
            Err(GreenletError::Unkillable)
        }
        CoroutineResult::Return(exit) => {
            bury(st, n);
            match exit {
                Exit::Panicked(payload) => Err(GreenletError::panicked(payload)),
                Exit::Returned(value) => {
                    drop_contained(value, "a killed greenlet's return value");
                    Ok(())
                }
                Exit::Exited => Ok(()),
            }
        }
    };
    trace_death(st, node, TraceEvent::Switch, st.current.get());
    outcome
}

/// Drops a strong reference; the last one decides the greenlet's fate.
///
/// # Safety
///
/// `node` is live and the caller owns the reference it gives up.
#[inline]
pub(crate) unsafe fn release(node: NonNull<Node>) {
    // SAFETY: per the contract.
    if unsafe { Node::decref(node) } {
        // SAFETY: per the contract; no strong reference is left.
        unsafe { last_strong_dropped(node) };
    }
}

/// Drops a weak reference, freeing the node if it was the last reference of a dead
/// greenlet.
///
/// # Safety
///
/// As for [`release`], for a weak reference.
pub(crate) unsafe fn release_weak(node: NonNull<Node>) {
    // SAFETY: per the contract.
    unsafe {
        Node::decweak(node);
        free_unused(node);
    }
}

/// The last strong reference to `node` is gone: an unstarted greenlet dies, a dead one
/// is freed, a suspended one is killed (now, or from the graveyard), a running one is
/// looked at again when it suspends or finishes.
#[cold]
unsafe fn last_strong_dropped(node: NonNull<Node>) {
    // SAFETY: live, with no strong reference: only this call and uncounted pointers
    // (current, a target in transit) refer to it.
    let n = unsafe { node.as_ref() };
    match (n.life.get(), n.role) {
        (Life::NotStarted, _) => {
            die_unstarted(n);
            // SAFETY: dead and unreferenced.
            unsafe { free_unused(node) };
        }
        (Life::Dead, _) => {
            // SAFETY: as above.
            unsafe { free_unused(node) };
        }
        (Life::Alive, Role::Root) => {
            let Some(st) = State::existing() else { return };
            if st.current.get() == node {
                return; // its step is running: `run_step` ends it afterwards
            }
            n.life.set(Life::Dead);
            n.switchable.set(false);
            if let Some(step) = n.step.take() {
                drop_contained(step, "the root step");
            }
            // SAFETY: as above.
            unsafe { free_unused(node) };
        }
        (Life::Alive, Role::User) => {
            let Some(st) = State::existing() else {
                // Only after teardown, which killed every live greenlet; nothing to do.
                return;
            };
            if st.current.get() == node {
                return; // running: collected when it suspends, freed when it finishes
            }
            if !can_resume_nested(st) {
                queue_kill(st, node);
                return;
            }
            // SAFETY: alive and suspended; held by the reference taken here.
            unsafe {
                Node::incref(node);
                if let Err(error) = kill_suspended(st, node) {
                    log::error!("dropping greenlet {}: {error}", n.id);
                }
                release(node);
            }
        }
        // Main is released only at teardown, when dead; a dying greenlet is held by
        // whoever is killing it.
        _ => {}
    }
}

/// A greenlet suspended with no strong reference left: kill it once the root loop is
/// done with this switch.
#[cold]
fn collect_later(st: &State, node: NonNull<Node>) {
    queue_kill(st, node);
}

/// Kills the greenlets in the graveyard.
#[cold]
fn reap_graveyard(st: &State) {
    loop {
        let Some(node) = st.graveyard.borrow_mut().pop() else {
            st.attention.set(st.attention.get() & !GRAVEYARD);
            break;
        };
        // SAFETY: the graveyard holds a strong reference.
        let n = unsafe { node.as_ref() };
        if n.life.get() == Life::Alive && n.role == Role::User && node != st.current.get() {
            // SAFETY: alive, suspended (the root loop or teardown runs this, with no
            // greenlet running), held.
            if let Err(error) = unsafe { kill_suspended(st, node) } {
                log::error!("killing greenlet {}: {error}", n.id);
            }
        }
        // SAFETY: the graveyard's reference.
        unsafe { release(node) };
    }
}

/// The thread is exiting: kill every greenlet still suspended, then free the state.
pub(crate) fn teardown() {
    let Some(st) = State::existing() else { return };
    st.current.set(st.main);
    loop {
        reap_graveyard(st);
        let Some(node) = st.live.get() else { break };
        // SAFETY: live-list nodes are alive; held for the kill.
        unsafe {
            Node::incref(node);
            if let Err(error) = kill_suspended(st, node) {
                log::error!(
                    "killing greenlet {} at thread exit: {error}",
                    node.as_ref().id
                );
            }
            release(node);
        }
    }
    // SAFETY: the main node is alive; the state's reference is released below.
    unsafe { st.main.as_ref() }.life.set(Life::Dead);
    // SAFETY: no greenlet runs or is suspended any more; the state is ours to free.
    let main = unsafe { State::forget(st) };
    // SAFETY: the state's reference to main.
    unsafe { release(main) };
}

/// Where a dead `node`'s outcome goes, for the tracer: its nearest ancestor that is
/// not dead, or main.
fn heir(st: &State, node: NonNull<Node>) -> NonNull<Node> {
    let mut next = node;
    loop {
        // SAFETY: `node` is kept alive by the caller, and each node keeps its parent
        // alive through its (strong) parent link.
        let n = unsafe { next.as_ref() };
        match n.parent() {
            Some(parent) if next == node || n.life.get() == Life::Dead => next = parent,
            Some(_) => return next,
            None => return st.main,
        }
    }
}

/// Reports a death to the tracer, if any, as the `event` carrying the outcome from
/// `node` to `to` (on the root loop or in a kill: a tracer that panics is removed and
/// its panic logged).
fn trace_death(st: &State, node: NonNull<Node>, event: TraceEvent, to: NonNull<Node>) {
    if st.attention.get() & TRACING == 0 {
        return;
    }
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| trace(st, event, node, to))) {
        log::error!(
            "the greenlet tracer panicked on a death and was removed: {}",
            crate::error::panic_message(&*payload)
        );
        drop_payload(payload);
    }
}

/// Calls the tracer, taken out while it runs (so a switch inside it is not traced, and
/// a tracer that panics stays removed).
fn trace(st: &State, event: TraceEvent, from: NonNull<Node>, to: NonNull<Node>) {
    let Some(tracer) = st.tracer.borrow_mut().take() else {
        return;
    };
    let epoch = st.tracer_epoch.get();
    st.attention.set(st.attention.get() & !TRACING);
    (tracer.call)(event, from, to);
    if st.tracer_epoch.get() == epoch {
        *st.tracer.borrow_mut() = Some(tracer);
        st.attention.set(st.attention.get() | TRACING);
    }
}
