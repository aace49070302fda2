//! `Greenlet`: Python's `greenlet.greenlet`, a function on its own stack that greenlets
//! of the same thread switch into and out of.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use corosensei::Yielder;

use crate::runtime::{self, Co, Resume, SwitchTo};
use crate::{GreenletError, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    /// Created, never switched to.
    NotStarted,
    /// Started and not finished: running now or suspended in `switch`.
    Active,
    /// Returned, panicked or killed.
    Dead,
}

struct Inner {
    id: u64,
    is_main: bool,
    life: Cell<Life>,
    coroutine: RefCell<Option<Co>>,
    /// Set by the body when it starts; valid while the greenlet is active.
    yielder: Cell<*const Yielder<Resume, SwitchTo>>,
    parent: RefCell<Option<Greenlet>>,
}

/// A function running on its own stack, switched to and from explicitly, like Python's
/// `greenlet.greenlet`.
///
/// [`switch`](Greenlet::switch) transfers control to any greenlet of the same thread,
/// passing a [`Value`]; the first switch starts the greenlet with that value as its
/// argument. When the function returns, its value goes to the greenlet's *parent* (by
/// default the greenlet that created it), whose pending `switch` returns it; a panic
/// goes there as [`GreenletError::Panicked`].
///
/// A `Greenlet` is a cheap handle (`Rc`); clones refer to the same greenlet. It is not
/// `Send`: greenlets belong to the thread that created them and never migrate, which is
/// also why `thread_local!` values are sound inside them.
///
/// # Handles and memory
///
/// A greenlet lives while any handle to it does; dropping the last handle of a
/// suspended greenlet kills it. A handle a greenlet keeps *to itself* across a switch
/// (for example `let me = getcurrent(); …; other.switch(())` with `me` still in scope)
/// keeps it alive from its own stack, as a reference cycle would; drop such handles
/// before switching, or [`kill`](Greenlet::kill) the greenlet explicitly.
///
/// ```compile_fail,E0277
/// fn must_be_send<T: Send>(_: &T) {}
/// let g = conc_coro::Greenlet::new(|_: ()| ());
/// must_be_send(&g); // error: a `Greenlet` cannot be sent between threads
/// ```
///
/// # Examples
///
/// The seeds' switch order, `12 56 34 78`:
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use conc_coro::Greenlet;
///
/// let out = Rc::new(RefCell::new(Vec::new()));
/// let gr2: Rc<RefCell<Option<Greenlet>>> = Rc::default();
/// let gr1 = {
///     let (out, gr2) = (out.clone(), gr2.clone());
///     Greenlet::new(move |_: ()| {
///         out.borrow_mut().push(12);
///         gr2.borrow().as_ref().unwrap().switch(()).unwrap();
///         out.borrow_mut().push(34);
///     })
/// };
/// *gr2.borrow_mut() = Some({
///     let (out, gr1) = (out.clone(), gr1.clone());
///     Greenlet::new(move |_: ()| {
///         out.borrow_mut().push(56);
///         gr1.switch(()).unwrap();
///         out.borrow_mut().push(78); // never reached: gr1 returns to main first
///     })
/// });
/// gr1.switch(()).unwrap();
/// assert_eq!(*out.borrow(), [12, 56, 34]);
/// ```
#[derive(Clone)]
pub struct Greenlet {
    inner: Rc<Inner>,
}

fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Greenlet {
    /// The main greenlet of a thread: the thread's own stack.
    pub(crate) fn main() -> Greenlet {
        Greenlet {
            inner: Rc::new(Inner {
                id: next_id(),
                is_main: true,
                life: Cell::new(Life::Active),
                coroutine: RefCell::new(None),
                yielder: Cell::new(std::ptr::null()),
                parent: RefCell::new(None),
            }),
        }
    }

    /// A greenlet that will run `run` when first switched to, with the switched value
    /// (which must be an `A`) as argument; its parent is the current greenlet. Its
    /// return value (an `R`) goes to the parent when it finishes.
    ///
    /// # Panics
    ///
    /// If the operating system refuses memory for the stack (`mmap` failure).
    ///
    /// # Examples
    ///
    /// ```
    /// let g = conc_coro::Greenlet::new(|x: i32| x * 2);
    /// assert_eq!(g.switch(21).unwrap().downcast::<i32>(), Ok(42));
    /// assert!(g.dead());
    /// ```
    #[track_caller]
    pub fn new<A, R, F>(run: F) -> Greenlet
    where
        A: Any,
        R: Any,
        F: FnOnce(A) -> R + 'static,
    {
        runtime::with(|rt| {
            let stack = match rt.take_stack() {
                Ok(stack) => stack,
                Err(error) => panic!("cannot allocate a greenlet stack: {error}"),
            };
            // corosensei moves the closure onto the new stack and refuses ones over
            // 1 KiB; big closures travel boxed.
            let co = if std::mem::size_of::<F>() > 512 {
                make_coroutine(stack, Box::new(run))
            } else {
                make_coroutine(stack, run)
            };
            Greenlet {
                inner: Rc::new(Inner {
                    id: next_id(),
                    is_main: false,
                    life: Cell::new(Life::NotStarted),
                    coroutine: RefCell::new(Some(co)),
                    yielder: Cell::new(std::ptr::null()),
                    parent: RefCell::new(Some(rt.current())),
                }),
            }
        })
    }

    /// Switches to this greenlet, passing `value`; returns the value passed back when
    /// some greenlet switches to the caller again, or the return value of a child that
    /// finished with the caller as parent (Python: `switch(*args)`).
    ///
    /// Switching to a dead greenlet goes to its nearest live ancestor.
    ///
    /// # Errors
    ///
    /// [`GreenletError::Panicked`] if a child whose parent is the caller panicked,
    /// [`GreenletError::Thrown`] if another greenlet threw into the caller,
    /// [`GreenletError::Unwinding`] if the thread is unwinding (nothing is switched).
    ///
    /// # Examples
    ///
    /// ```
    /// let main = conc_coro::getcurrent();
    /// let g = conc_coro::Greenlet::new(move |x: u8| {
    ///     let back = main.switch(x + 1).unwrap().downcast::<u8>().unwrap();
    ///     back * 10
    /// });
    /// assert_eq!(g.switch(1_u8).unwrap().downcast::<u8>(), Ok(2));
    /// assert_eq!(g.switch(3_u8).unwrap().downcast::<u8>(), Ok(30));
    /// ```
    pub fn switch<T: Any>(&self, value: T) -> Result<Value, GreenletError> {
        if std::thread::panicking() {
            return Err(GreenletError::Unwinding);
        }
        runtime::with(|rt| rt.switch(self, Resume::Value(Value::new(value)))).into_result()
    }

    /// [`switch`](Greenlet::switch), then takes the returned value as an `R`.
    ///
    /// # Errors
    ///
    /// The errors of `switch`, and [`GreenletError::WrongType`] if the value is not an `R`.
    ///
    /// # Examples
    ///
    /// ```
    /// let g = conc_coro::Greenlet::new(|s: &'static str| s.len());
    /// assert_eq!(g.switch_as::<usize, _>("four"), Ok(4));
    /// ```
    pub fn switch_as<R: Any, T: Any>(&self, value: T) -> Result<R, GreenletError> {
        self.switch(value)?.downcast::<R>()
    }

    /// Switches to this greenlet making its pending `switch` return
    /// `Err(GreenletError::Thrown(message))` (Python: `throw(exc)`). A greenlet not yet
    /// started dies at once and the error goes to its parent; an error on its way up
    /// passes by parents that never started, leaving them startable, as in greenlet.
    ///
    /// # Errors
    ///
    /// As for [`switch`](Greenlet::switch): what the caller is resumed with.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_coro::{Greenlet, GreenletError};
    ///
    /// let main = conc_coro::getcurrent();
    /// let g = Greenlet::new(move |_: ()| match main.switch(()) {
    ///     Err(GreenletError::Thrown(why)) => why,
    ///     _ => String::from("no error"),
    /// });
    /// g.switch(()).unwrap();
    /// assert_eq!(g.throw("stop").unwrap().downcast::<String>(), Ok("stop".to_owned()));
    /// ```
    pub fn throw(&self, message: impl Into<String>) -> Result<Value, GreenletError> {
        if std::thread::panicking() {
            return Err(GreenletError::Unwinding);
        }
        let message = Resume::Error(GreenletError::Thrown(message.into()));
        if !self.started() && !self.inner.is_main {
            // Never ran: it dies without running, and the error goes to its parent.
            self.kill();
            let parent = self.parent().unwrap_or_else(main_greenlet);
            return runtime::with(|rt| rt.switch(&parent, message)).into_result();
        }
        runtime::with(|rt| rt.switch(self, message)).into_result()
    }

    /// Ends the greenlet now, running the destructors on its stack (Python:
    /// `throw(GreenletExit)` / gevent's `kill`). A greenlet that never started simply
    /// ends; a dead one is left alone. Killing the current greenlet unwinds it and
    /// hands a [`GreenletExit`](crate::GreenletExit) value to its parent.
    ///
    /// Unlike Python's `throw(GreenletExit)`, which then switches to the parent, `kill`
    /// returns to its caller: it is a clean-up, not a transfer of control.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// struct Flag(Rc<Cell<bool>>);
    /// impl Drop for Flag { fn drop(&mut self) { self.0.set(true) } }
    ///
    /// let dropped = Rc::new(Cell::new(false));
    /// let d = dropped.clone();
    /// let main = conc_coro::getcurrent();
    /// let g = conc_coro::Greenlet::new(move |_: ()| {
    ///     let _flag = Flag(d);
    ///     main.switch(()).unwrap();
    /// });
    /// g.switch(()).unwrap(); // g now waits in its switch, holding `_flag`
    /// g.kill();
    /// assert!(g.dead() && dropped.get());
    /// ```
    pub fn kill(&self) {
        if self.inner.is_main || self.dead() {
            return;
        }
        let is_current = runtime::with(|rt| rt.current() == *self);
        if is_current {
            std::panic::resume_unwind(Box::new(crate::GreenletExit));
        }
        let mut co = self.take_coroutine();
        runtime::with(|rt| {
            // The dying greenlet's destructors run with it as the current greenlet and
            // switching refused. A panic while dropping a never-started greenlet's
            // closure is contained; one during a started greenlet's unwind aborts the
            // process, as any panic during unwinding does.
            let _ = rt.killing(self, || {
                catch_unwind(AssertUnwindSafe(|| co.force_unwind()))
            });
            self.mark_dead();
            rt.recycle(co);
        });
    }

    /// Whether the greenlet has finished: returned, panicked or was killed
    /// (Python: `dead`).
    ///
    /// # Examples
    ///
    /// ```
    /// let g = conc_coro::Greenlet::new(|_: ()| ());
    /// assert!(!g.dead());
    /// g.switch(()).unwrap();
    /// assert!(g.dead());
    /// ```
    pub fn dead(&self) -> bool {
        self.inner.life.get() == Life::Dead
    }

    /// Whether the greenlet has been switched to at least once.
    ///
    /// # Examples
    ///
    /// ```
    /// let g = conc_coro::Greenlet::new(|_: ()| ());
    /// assert!(!g.started());
    /// g.switch(()).unwrap();
    /// assert!(g.started());
    /// ```
    pub fn started(&self) -> bool {
        self.inner.life.get() != Life::NotStarted
    }

    /// Whether the greenlet is started and not dead (Python: `bool(g)`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(conc_coro::getcurrent().is_active());
    /// ```
    pub fn is_active(&self) -> bool {
        self.inner.life.get() == Life::Active
    }

    /// Whether this is the thread's main greenlet.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(conc_coro::getcurrent().is_main());
    /// ```
    pub fn is_main(&self) -> bool {
        self.inner.is_main
    }

    /// A number identifying the greenlet, unique in the process.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = conc_coro::Greenlet::new(|_: ()| ());
    /// let b = conc_coro::Greenlet::new(|_: ()| ());
    /// assert_ne!(a.id(), b.id());
    /// ```
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The greenlet that receives this one's return value (Python: `parent`); `None`
    /// only for the main greenlet.
    ///
    /// # Examples
    ///
    /// ```
    /// let g = conc_coro::Greenlet::new(|_: ()| ());
    /// assert_eq!(g.parent(), Some(conc_coro::getcurrent()));
    /// ```
    pub fn parent(&self) -> Option<Greenlet> {
        self.inner.parent.borrow().clone()
    }

    /// Changes the parent (Python: `g.parent = p`).
    ///
    /// # Errors
    ///
    /// [`GreenletError::ParentCycle`] if `parent` is this greenlet or one of its
    /// descendants along the parent chain.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_coro::{Greenlet, GreenletError};
    ///
    /// let a = Greenlet::new(|_: ()| ());
    /// let b = Greenlet::new(|_: ()| ());
    /// b.set_parent(&a).unwrap();
    /// assert_eq!(a.set_parent(&b), Err(GreenletError::ParentCycle));
    /// ```
    pub fn set_parent(&self, parent: &Greenlet) -> Result<(), GreenletError> {
        let mut cursor = Some(parent.clone());
        while let Some(g) = cursor {
            if g == *self {
                return Err(GreenletError::ParentCycle);
            }
            cursor = g.parent();
        }
        // The old parent is dropped after the borrow ends (it may be its last handle).
        let previous = self.inner.parent.replace(Some(parent.clone()));
        drop(previous);
        Ok(())
    }

    pub(crate) fn yielder(&self) -> *const Yielder<Resume, SwitchTo> {
        self.inner.yielder.get()
    }

    /// This greenlet if alive, else its nearest live ancestor (the main greenlet at
    /// worst).
    pub(crate) fn nearest_live(self) -> Greenlet {
        let mut g = self;
        while g.dead() {
            match g.parent() {
                Some(parent) => g = parent,
                None => break,
            }
        }
        g
    }

    pub(crate) fn take_coroutine(&self) -> Co {
        match self.inner.coroutine.borrow_mut().take() {
            Some(co) => co,
            None => unreachable!("a live greenlet that is not running owns its coroutine"),
        }
    }

    pub(crate) fn put_coroutine(&self, co: Co) {
        *self.inner.coroutine.borrow_mut() = Some(co);
    }

    pub(crate) fn mark_started(&self) {
        if self.inner.life.get() == Life::NotStarted {
            self.inner.life.set(Life::Active);
        }
    }

    pub(crate) fn mark_dead(&self) {
        self.inner.life.set(Life::Dead);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let Some(co) = self.coroutine.get_mut().take() else {
            return;
        };
        // Dropping a suspended coroutine unwinds it (corosensei's forced unwind); its
        // destructors must not switch. Once the thread's locals are being destroyed
        // the runtime is gone: nothing may be resumed then, so the coroutine (and its
        // stack slot) is leaked instead.
        if runtime::try_with(|rt| rt.is_busy()).is_none() {
            std::mem::forget(co);
            return;
        }
        runtime::with(|rt| {
            let _busy = runtime::Busy::new(rt);
            drop(co);
        });
    }
}

impl PartialEq for Greenlet {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Greenlet {}

impl std::fmt::Debug for Greenlet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Greenlet")
            .field("id", &self.inner.id)
            .field("main", &self.inner.is_main)
            .field("life", &self.inner.life.get())
            .finish()
    }
}

/// The coroutine running `run` for a greenlet: records its yielder, takes the first
/// switched value as the argument, and returns the result for the parent.
fn make_coroutine<A, R, F>(stack: crate::stack::GreenletStack, run: F) -> Co
where
    A: Any,
    R: Any,
    F: FnOnce(A) -> R + 'static,
{
    Co::with_stack(stack, move |yielder: &Yielder<Resume, SwitchTo>, first| {
        runtime::with(|rt| rt.current().inner.yielder.set(yielder));
        match first {
            Resume::Value(value) => match value.downcast::<A>() {
                Ok(arg) => Resume::Value(Value::new(run(arg))),
                Err(error) => Resume::Error(error),
            },
            // Thrown into before it started: it dies with the error.
            Resume::Error(error) => Resume::Error(error),
        }
    })
}

/// The greenlet running now on this thread (Python: `greenlet.getcurrent()`); the main
/// greenlet when no other is running.
///
/// # Examples
///
/// ```
/// let g = conc_coro::Greenlet::new(|_: ()| conc_coro::getcurrent().is_main());
/// assert_eq!(g.switch(()).unwrap().downcast::<bool>(), Ok(false));
/// ```
pub fn getcurrent() -> Greenlet {
    runtime::with(|rt| rt.current())
}

/// The main greenlet of this thread: its own stack, where every greenlet's parent
/// chain ends.
///
/// # Examples
///
/// ```
/// assert_eq!(conc_coro::main_greenlet(), conc_coro::getcurrent());
/// ```
pub fn main_greenlet() -> Greenlet {
    runtime::with(|rt| rt.main.clone())
}

/// Sets the stack size, in bytes, of greenlets created on this thread from now on
/// (default [`DEFAULT_STACK_SIZE`](crate::DEFAULT_STACK_SIZE)). The stack is reserved,
/// not committed: pages are touched only as the stack grows.
///
/// # Examples
///
/// ```
/// conc_coro::set_stack_size(64 * 1024);
/// let g = conc_coro::Greenlet::new(|_: ()| 1);
/// assert_eq!(g.switch_as::<i32, _>(()), Ok(1));
/// conc_coro::set_stack_size(conc_coro::DEFAULT_STACK_SIZE);
/// ```
pub fn set_stack_size(bytes: usize) {
    runtime::with(|rt| rt.set_stack_size(bytes));
}
