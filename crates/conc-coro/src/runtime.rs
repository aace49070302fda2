//! The per-thread runtime: the main greenlet, the current greenlet, the stack pool,
//! the tracer, and the trampoline that makes corosensei's asymmetric coroutines switch
//! symmetrically.
//!
//! ```text
//!   main stack (the thread's own)          greenlet stacks (corosensei)
//!   ─────────────────────────────          ────────────────────────────
//!   main code ── switch(B) ──┐
//!                            ▼
//!                     trampoline loop ── resume ──────────▶ B runs
//!                            ▲                               │ switch(C): suspend
//!                            └──────── SwitchTo{C, v} ───────┘
//!                     trampoline loop ── resume ──────────▶ C runs … returns r
//!                            ◀──────── Return(r) ────────────┘
//!                     C is dead: deliver r to C's parent (nearest live ancestor);
//!                     the parent is main: the loop returns r to main's `switch`.
//! ```
//!
//! Only the trampoline, running on the main stack, ever resumes a greenlet; a greenlet
//! that switches suspends back to it with the target and the value. So every switch is
//! one suspend plus one resume, and greenlets never nest on each other's stacks.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use corosensei::{Coroutine, CoroutineResult};

use crate::greenlet::Greenlet;
use crate::stack::GreenletStack;
use crate::{GreenletError, Value};

/// What a greenlet is resumed with: a value, or an error to return from its `switch`.
pub(crate) enum Resume {
    Value(Value),
    Error(GreenletError),
}

impl Resume {
    pub(crate) fn into_result(self) -> Result<Value, GreenletError> {
        match self {
            Resume::Value(v) => Ok(v),
            Resume::Error(e) => Err(e),
        }
    }
}

/// What a greenlet suspends with: where to go next.
pub(crate) struct SwitchTo {
    pub(crate) target: Greenlet,
    pub(crate) message: Resume,
}

pub(crate) type Co = Coroutine<Resume, SwitchTo, Resume, GreenletStack>;

/// A switch seen by the tracer (Python: `greenlet.settrace` events).
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use conc_coro::{Greenlet, TraceEvent};
///
/// let seen = Rc::new(std::cell::Cell::new(0));
/// let s = seen.clone();
/// conc_coro::settrace(Some(Rc::new(move |event: TraceEvent, _from: &Greenlet, _to: &Greenlet| {
///     if event == TraceEvent::Switch { s.set(s.get() + 1) }
/// })));
/// Greenlet::new(|_: ()| ()).switch(()).unwrap();
/// conc_coro::settrace(None);
/// assert_eq!(seen.get(), 2); // into the greenlet, and back as it returns
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceEvent {
    /// A value is being switched to the target.
    Switch,
    /// An error is being thrown into the target.
    Throw,
}

/// The tracer function: event, origin greenlet, target greenlet.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
///
/// let tracer: conc_coro::Tracer = Rc::new(|event, from, to| {
///     println!("{event:?}: {} -> {}", from.id(), to.id());
/// });
/// conc_coro::settrace(Some(tracer));
/// conc_coro::settrace(None);
/// ```
pub type Tracer = Rc<dyn Fn(TraceEvent, &Greenlet, &Greenlet)>;

pub(crate) struct Runtime {
    pub(crate) main: Greenlet,
    pub(crate) current: RefCell<Greenlet>,
    pub(crate) tracer: RefCell<Option<Tracer>>,
    stack_size: Cell<usize>,
    /// Non-zero while switching is unsafe: during the trampoline's bookkeeping (no
    /// greenlet's stack is current) and while a greenlet is being killed or dropped
    /// (its destructors run on its stack without it being resumable).
    busy: Cell<u32>,
}

thread_local! {
    static RUNTIME: Runtime = {
        let main = Greenlet::main();
        Runtime {
            current: RefCell::new(main.clone()),
            main,
            tracer: RefCell::new(None),
            stack_size: Cell::new(crate::DEFAULT_STACK_SIZE),
            busy: Cell::new(0),
        }
    };
}

/// Runs `f` with this thread's runtime.
///
/// # Panics
///
/// If called while the thread's locals are being destroyed.
pub(crate) fn with<R>(f: impl FnOnce(&Runtime) -> R) -> R {
    RUNTIME.with(f)
}

/// Like [`with`], or `None` once the thread's locals are being destroyed.
pub(crate) fn try_with<R>(f: impl FnOnce(&Runtime) -> R) -> Option<R> {
    RUNTIME.try_with(f).ok()
}

/// Marks the runtime busy (switching refused) for its lifetime.
pub(crate) struct Busy<'a>(&'a Runtime);

impl<'a> Busy<'a> {
    pub(crate) fn new(rt: &'a Runtime) -> Busy<'a> {
        rt.busy.set(rt.busy.get() + 1);
        Busy(rt)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy.set(self.0.busy.get() - 1);
    }
}

impl Runtime {
    pub(crate) fn current(&self) -> Greenlet {
        self.current.borrow().clone()
    }

    fn set_current(&self, g: &Greenlet) {
        // Drop the previous handle after the borrow ends: it may be the last one of a
        // suspended greenlet, whose destructors may call `getcurrent`.
        let previous = self.current.replace(g.clone());
        drop(previous);
    }

    pub(crate) fn is_busy(&self) -> bool {
        self.busy.get() > 0
    }

    pub(crate) fn set_stack_size(&self, bytes: usize) {
        self.stack_size.set(bytes);
    }

    /// A stack of the current default size, from the thread's free slots if any.
    pub(crate) fn take_stack(&self) -> std::io::Result<GreenletStack> {
        GreenletStack::take(self.stack_size.get())
    }

    /// Releases a finished coroutine's stack to the free slots.
    /// A coroutine that is not done (its initial closure panicked while being dropped)
    /// is forgotten rather than dropped again: a second drop would free its captures
    /// twice. Its stack slot is leaked.
    pub(crate) fn recycle(&self, co: Co) {
        if co.done() {
            drop(co.into_stack());
        } else {
            std::mem::forget(co);
        }
    }

    fn trace(&self, event: TraceEvent, from: &Greenlet, to: &Greenlet) {
        // The tracer is taken out while it runs, so a tracer that switches does not
        // trace itself forever, and one that panics stays uninstalled.
        let tracer = self.tracer.borrow_mut().take();
        if let Some(tracer) = tracer {
            tracer(event, from, to);
            let mut slot = self.tracer.borrow_mut();
            if slot.is_none() {
                *slot = Some(tracer);
            }
        }
    }

    /// Switches from the current greenlet to `target`, delivering `message`; returns
    /// what the current greenlet is eventually resumed with.
    pub(crate) fn switch(&self, target: &Greenlet, message: Resume) -> Resume {
        if self.is_busy() {
            return Resume::Error(GreenletError::Unwinding);
        }
        let current = self.current();
        let event = match message {
            Resume::Value(_) => TraceEvent::Switch,
            Resume::Error(_) => TraceEvent::Throw,
        };
        self.trace(event, &current, target);
        if current == *target {
            return message;
        }
        if current.is_main() {
            return self.trampoline(target.clone(), message);
        }
        let yielder = current.yielder();
        if yielder.is_null() || !current.is_active() {
            // Only a running greenlet can suspend; anything else is a switch from a
            // context the runtime does not own (refused rather than trusted).
            return Resume::Error(GreenletError::Unwinding);
        }
        // Holding our own handle across the suspend would keep this greenlet alive
        // from its own stack, so dropping its last outside handle could never kill it.
        drop(current);
        // SAFETY: `yielder` was stored by the current greenlet's body when it started
        // and points into that body's frame on the greenlet's own stack; the greenlet
        // is running (it is current), so the frame is alive, and we are on its stack.
        let resumed = unsafe {
            (*yielder).suspend(SwitchTo {
                target: target.clone(),
                message,
            })
        };
        // The trampoline set `current` back to us before resuming us.
        resumed
    }

    /// The loop on the main stack that resumes whichever greenlet is switched to, until
    /// a switch comes back to the main greenlet.
    fn trampoline(&self, mut target: Greenlet, mut message: Resume) -> Resume {
        /// Puts the runtime back on the main greenlet if a panic escapes the loop.
        struct Reset<'a>(&'a Runtime);
        impl Drop for Reset<'_> {
            fn drop(&mut self) {
                self.0.set_current(&self.0.main);
            }
        }
        let _reset = Reset(self);
        let busy = Busy::new(self);
        loop {
            target = target.nearest_live();
            // An error reaching a greenlet that never started passes it by, to its
            // parent, and leaves it startable (greenlet's test_throw_goes_to_original_parent).
            // A direct `throw` into one kills it first (see `Greenlet::throw`).
            while matches!(message, Resume::Error(_)) && !target.started() && !target.is_main() {
                target = target
                    .parent()
                    .unwrap_or_else(|| self.main.clone())
                    .nearest_live();
            }
            if target.is_main() {
                self.set_current(&self.main);
                drop(busy);
                return message;
            }
            let mut co = target.take_coroutine();
            self.set_current(&target);
            target.mark_started();
            // Switching is allowed only while a greenlet runs on its own stack.
            self.busy.set(self.busy.get() - 1);
            let resumed = catch_unwind(AssertUnwindSafe(|| co.resume(message)));
            self.busy.set(self.busy.get() + 1);
            match resumed {
                Ok(CoroutineResult::Yield(SwitchTo {
                    target: next,
                    message: m,
                })) => {
                    target.put_coroutine(co);
                    target = next;
                    message = m;
                }
                Ok(CoroutineResult::Return(result)) => {
                    message = result;
                    target = self.finish(&target, co, &message);
                }
                Err(payload) => {
                    message = if payload.is::<crate::GreenletExit>() {
                        Resume::Value(Value::new(crate::GreenletExit))
                    } else {
                        Resume::Error(GreenletError::Panicked {
                            message: panic_message(&*payload),
                        })
                    };
                    target = self.finish(&target, co, &message);
                    // Dropped while busy: a payload whose destructor switches is refused.
                    drop(payload);
                }
            }
        }
    }

    /// Marks `g` dead, recycles its stack and names where its outcome goes. The end is
    /// traced as the switch it is (Python: `('switch', (g, parent))` for a return,
    /// `('throw', (g, parent))` for a panic).
    fn finish(&self, g: &Greenlet, co: Co, outcome: &Resume) -> Greenlet {
        g.mark_dead();
        self.recycle(co);
        let next = g
            .parent()
            .unwrap_or_else(|| self.main.clone())
            .nearest_live();
        let event = match outcome {
            Resume::Value(_) => TraceEvent::Switch,
            Resume::Error(_) => TraceEvent::Throw,
        };
        self.trace(event, g, &next);
        next
    }

    /// Runs `f` (a kill) with `g` as the current greenlet and switching refused.
    pub(crate) fn killing<R>(&self, g: &Greenlet, f: impl FnOnce() -> R) -> R {
        let _busy = Busy::new(self);
        let previous = self.current();
        self.set_current(g);
        let r = f();
        self.set_current(&previous);
        r
    }
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

/// Installs `tracer` for switches on this thread and returns the previous one
/// (Python: `greenlet.settrace`). `None` removes it.
///
/// # Examples
///
/// ```
/// let previous = conc_coro::settrace(None);
/// assert!(previous.is_none());
/// ```
pub fn settrace(tracer: Option<Tracer>) -> Option<Tracer> {
    with(|rt| std::mem::replace(&mut *rt.tracer.borrow_mut(), tracer))
}
