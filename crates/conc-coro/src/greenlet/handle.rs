//! `Greenlet` and `WeakGreenlet`: the handles users hold, and the free functions of
//! greenlet's module (`getcurrent`, `settrace`, …). Each handle is one strong or weak
//! reference to a [`Node`]; everything they do is a call into `switch.rs`.

use std::any::{Any, type_name};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::rc::Rc;

use super::event::TraceEvent;
use super::node::{Body, Life, Msg, Node, Role};
use super::state::{InstalledTracer, RawTracer, State, TRACING};
use super::switch;
use crate::{GreenletError, Payload, Value};

/// A function running on its own stack, switched to and from explicitly, like Python's
/// `greenlet.greenlet`.
///
/// [`switch`](Greenlet::switch) transfers control to any greenlet of the same thread,
/// passing a [`Value`]; the first switch starts the greenlet with that value as its
/// argument. When the function returns, its value goes to the greenlet's *parent* (by
/// default the greenlet that created it), whose pending `switch` returns it; a panic
/// goes there as [`GreenletError::Panicked`], its payload intact.
///
/// A `Greenlet` is a cheap handle; clones refer to the same greenlet. It is not `Send`:
/// greenlets belong to the thread that created them and never migrate, which is also
/// why `thread_local!` values are sound inside them.
///
/// # Handles and memory
///
/// A greenlet lives while any handle to it does; dropping the last handle of a
/// suspended greenlet kills it (its stack is unwound, destructors run). A handle a
/// greenlet keeps *to itself* across a switch (for example `let me = getcurrent(); …;
/// other.switch(())` with `me` still in scope) keeps it alive from its own stack, as a
/// reference cycle would; drop such handles before switching, hold a
/// [`WeakGreenlet`] instead, or [`kill`](Greenlet::kill) the greenlet explicitly.
/// Greenlets still suspended when their thread exits are killed then.
///
/// A greenlet takes its stack on its first switch: creating one that never runs costs
/// a small heap record, not a stack.
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
pub struct Greenlet {
    node: NonNull<Node>,
    /// Greenlets never leave their thread.
    _not_send: PhantomData<*const ()>,
}

/// A root greenlet (the hub): it has no stack; each switch to it runs `step` on the
/// root loop, on the thread's own stack, and `step` names the greenlet to run next and
/// the value that greenlet is resumed with (what was switched to the root is dropped).
/// The step cannot switch; the greenlet it returns is kept alive until its next call.
/// The root's parent is the main greenlet.
pub(crate) fn new_root(mut step: impl FnMut() -> (Greenlet, Value) + 'static) -> Greenlet {
    let st = State::get();
    let node = Node::allocate(Role::Root, Some(st.main), |_| true, "()", 0);
    let mut _held: Option<Greenlet> = None;
    let raw: super::node::RootStep = Box::new(move |_msg: Msg| {
        let (next, value) = step();
        let target = next.node;
        // The previous one may be released here: a greenlet dropped by the root
        // loop's own code goes to the graveyard, not killed in place.
        _held = Some(next);
        (target, Msg::value(value))
    });
    // SAFETY: just allocated, nothing else refers to it yet.
    unsafe { node.as_ref() }.step.set(Some(raw));
    Greenlet::from_counted(node)
}

/// Whether the running code is a root greenlet's step (the hub's own context), where
/// nothing may switch.
pub(crate) fn in_root_step() -> bool {
    State::existing().is_some_and(|st| {
        // SAFETY: the running greenlet is never freed.
        unsafe { st.current.get().as_ref() }.role == Role::Root
    })
}

/// Whether a first value has the type `A` a greenlet's body takes.
fn accepts<A: Any>(value: &Value) -> bool {
    value.is::<A>()
}

impl Greenlet {
    /// Takes over one strong reference to `node`.
    pub(crate) fn from_counted(node: NonNull<Node>) -> Greenlet {
        Greenlet {
            node,
            _not_send: PhantomData,
        }
    }

    /// A new strong handle to a live `node`.
    ///
    /// # Safety
    ///
    /// `node` is live (not freed).
    pub(crate) unsafe fn from_live(node: NonNull<Node>) -> Greenlet {
        // SAFETY: per the contract.
        unsafe { Node::incref(node) };
        Greenlet::from_counted(node)
    }

    fn node(&self) -> &Node {
        // SAFETY: a handle holds a strong reference, so the node is live.
        unsafe { self.node.as_ref() }
    }

    /// A greenlet that will run `run` when first switched to, with the switched value
    /// (which must be an `A`) as argument; its parent is the current greenlet. Its
    /// return value (an `R`) goes to the parent when it finishes.
    ///
    /// Nothing but a small record is allocated here: the stack is taken on the first
    /// switch, which fails with [`GreenletError::Stack`] if none can be mapped.
    ///
    /// # Examples
    ///
    /// ```
    /// let g = conc_coro::Greenlet::new(|x: i32| x * 2);
    /// assert_eq!(g.switch(21).unwrap().downcast::<i32>(), Ok(42));
    /// assert!(g.dead());
    /// ```
    pub fn new<A, R, F>(run: F) -> Greenlet
    where
        A: Any,
        R: Any,
        F: FnOnce(A) -> R + 'static,
    {
        let st = State::get();
        let node = Node::allocate(
            Role::User,
            Some(st.current.get()),
            accepts::<A>,
            type_name::<A>(),
            st.stack_size.get(),
        );
        let body = Body::new(run);
        // SAFETY: just allocated, nothing else refers to it yet.
        unsafe { node.as_ref() }.body.set(Some(body));
        Greenlet::from_counted(node)
    }

    /// Switches to this greenlet, passing `value`; returns the value passed back when
    /// some greenlet switches to the caller again, or the return value of a child that
    /// finished with the caller as parent (Python: `switch(*args)`).
    ///
    /// Switching to a dead greenlet goes to its nearest live ancestor. A `Value` is
    /// passed on as it is, not wrapped again; values of up to 8 bytes travel without
    /// allocating.
    ///
    /// # Errors
    ///
    /// * [`GreenletError::Panicked`] if a child whose parent is the caller panicked;
    /// * [`GreenletError::Thrown`] if another greenlet threw into the caller;
    /// * [`GreenletError::WrongType`] if a child's return value or a first value had
    ///   the wrong type for its receiver;
    /// * [`GreenletError::Stack`] if the greenlet could not get a stack to start on;
    /// * [`GreenletError::Unwinding`] if switching is not possible here (the thread is
    ///   unwinding, or a greenlet's destructors are running): nothing is switched.
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
    #[inline(always)]
    pub fn switch<T: Any>(&self, value: T) -> Result<Value, GreenletError> {
        // SAFETY: `self` keeps the target alive for the call; it is of this thread
        // (handles are not `Send`).
        unsafe { switch::switch_to(State::get(), self.node, Msg::value(Value::new(value))) }
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
    /// let g = conc_coro::Greenlet::new(|s: &str| s.len());
    /// assert_eq!(g.switch_as::<usize, _>("four"), Ok(4));
    /// ```
    #[inline(always)]
    pub fn switch_as<R: Any, T: Any>(&self, value: T) -> Result<R, GreenletError> {
        self.switch(value)?.downcast::<R>()
    }

    /// Switches to this greenlet making its pending `switch` return
    /// `Err(GreenletError::Thrown(payload))` with `error` inside, typed (Python:
    /// `throw(exc)`): the receiver matches on it with [`Payload::downcast`]. A greenlet
    /// not yet started dies at once and the error goes to its parent; an error on its
    /// way up passes by parents that never started, leaving them startable, as in
    /// greenlet.
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
    ///     Err(GreenletError::Thrown(why)) => why.downcast::<String>().unwrap(),
    ///     _ => String::from("no error"),
    /// });
    /// g.switch(()).unwrap();
    /// assert_eq!(g.throw(String::from("stop")).unwrap().downcast::<String>(), Ok("stop".to_owned()));
    /// ```
    pub fn throw<E: Any + Send>(&self, error: E) -> Result<Value, GreenletError> {
        let st = State::get();
        let msg = Msg::error(Box::new(GreenletError::Thrown(Payload::new(error))));
        let n = self.node();
        if n.life.get() == Life::NotStarted && n.role == Role::User {
            // Never ran: it dies without running, and the error goes to its parent.
            self.kill()?;
            let parent = self.parent().unwrap_or_else(main_greenlet);
            // SAFETY: `parent` is a handle held for the call, of this thread.
            return unsafe { switch::switch_to(st, parent.node, msg) };
        }
        // SAFETY: as in `switch`.
        unsafe { switch::switch_to(st, self.node, msg) }
    }

    /// Ends the greenlet now, running the destructors on its stack (Python:
    /// `throw(GreenletExit)` / gevent's `kill`). A greenlet that never started simply
    /// ends; a dead one is left alone. Killing the current greenlet unwinds it and
    /// hands a [`GreenletExit`](crate::GreenletExit) value to its parent.
    ///
    /// Unlike Python's `throw(GreenletExit)`, which then switches to the parent, `kill`
    /// returns to its caller: it is a clean-up, not a transfer of control. Called where
    /// the greenlet cannot be resumed (from another greenlet's destructors, or while
    /// the thread unwinds), the kill is queued and done at the next switch to the main
    /// greenlet, or when the thread exits.
    ///
    /// # Errors
    ///
    /// * [`GreenletError::Panicked`]: a destructor on the greenlet's stack panicked
    ///   while it unwound (the greenlet is dead);
    /// * [`GreenletError::Unkillable`]: the greenlet kept catching `GreenletExit` and
    ///   switching; after a few attempts it was abandoned (dead, its stack leaked).
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
    /// g.kill().unwrap();
    /// assert!(g.dead() && dropped.get());
    /// ```
    pub fn kill(&self) -> Result<(), GreenletError> {
        // SAFETY: `self` keeps the node alive for the call; it is of this thread.
        unsafe { switch::kill(State::get(), self.node) }
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
        self.node().life.get() == Life::Dead
    }

    /// Whether the greenlet has been switched to at least once (or killed before it
    /// ever ran).
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
        self.node().life.get() != Life::NotStarted
    }

    /// Whether the greenlet is started and not dead (Python: `bool(g)`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(conc_coro::getcurrent().is_active());
    /// ```
    pub fn is_active(&self) -> bool {
        matches!(self.node().life.get(), Life::Alive | Life::Dying)
    }

    /// Whether this is the thread's main greenlet.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(conc_coro::getcurrent().is_main());
    /// ```
    pub fn is_main(&self) -> bool {
        self.node().role == Role::Main
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
        self.node().id
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
        // SAFETY: the parent link is a strong reference, so the parent is live.
        self.node()
            .parent()
            .map(|p| unsafe { Greenlet::from_live(p) })
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
        let mut cursor = Some(parent.node);
        while let Some(node) = cursor {
            if node == self.node {
                return Err(GreenletError::ParentCycle);
            }
            // SAFETY: every node on a chain of parent links is live (each link is a
            // strong reference), starting from `parent`, which is held.
            cursor = unsafe { node.as_ref() }.parent();
        }
        if let Some(old) = self.node().replace_parent(parent.node) {
            // SAFETY: the old link was a strong reference, now ours to release. It may
            // be the last one of a suspended greenlet, which is then killed: after the
            // new link is in place.
            unsafe { switch::release(old) };
        }
        Ok(())
    }

    /// A weak handle: it does not keep the greenlet alive, and gives a `Greenlet`
    /// back while some strong handle exists.
    ///
    /// # Examples
    ///
    /// ```
    /// let g = conc_coro::Greenlet::new(|_: ()| ());
    /// let weak = g.downgrade();
    /// assert_eq!(weak.upgrade(), Some(g.clone()));
    /// drop(g);
    /// assert!(weak.upgrade().is_none());
    /// ```
    pub fn downgrade(&self) -> WeakGreenlet {
        // SAFETY: `self` keeps the node live.
        unsafe { Node::incweak(self.node) };
        WeakGreenlet {
            node: self.node,
            _not_send: PhantomData,
        }
    }
}

impl Clone for Greenlet {
    #[inline]
    fn clone(&self) -> Self {
        // SAFETY: `self` keeps the node live.
        unsafe { Greenlet::from_live(self.node) }
    }
}

impl Drop for Greenlet {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: this handle owns one strong reference.
        unsafe { switch::release(self.node) };
    }
}

impl PartialEq for Greenlet {
    fn eq(&self, other: &Self) -> bool {
        self.node == other.node
    }
}

impl Eq for Greenlet {}

impl std::hash::Hash for Greenlet {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id().hash(state);
    }
}

impl std::fmt::Debug for Greenlet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Greenlet")
            .field("id", &self.id())
            .field("main", &self.is_main())
            .field("life", &self.node().life.get())
            .finish()
    }
}

/// A handle that does not keep its greenlet alive (Python: `weakref.ref(g)`): for a
/// greenlet to refer to itself, or a registry to list greenlets, without keeping them
/// from being collected.
///
/// # Examples
///
/// ```
/// use conc_coro::{Greenlet, getcurrent};
///
/// // A greenlet that keeps a weak handle to itself is still killed when dropped.
/// let g = Greenlet::new(|_: ()| {
///     let me = getcurrent().downgrade();
///     let parent = getcurrent().parent().unwrap();
///     parent.switch(()).unwrap();
///     me.upgrade().is_some()
/// });
/// g.switch(()).unwrap();
/// let weak = g.downgrade();
/// drop(g); // the last strong handle: the suspended greenlet is killed
/// assert!(weak.upgrade().is_none());
/// ```
pub struct WeakGreenlet {
    node: NonNull<Node>,
    _not_send: PhantomData<*const ()>,
}

impl WeakGreenlet {
    /// A strong handle, if the greenlet still has one elsewhere.
    ///
    /// # Examples
    ///
    /// ```
    /// let g = conc_coro::Greenlet::new(|_: ()| ());
    /// assert!(g.downgrade().upgrade().is_some());
    /// ```
    pub fn upgrade(&self) -> Option<Greenlet> {
        // SAFETY: a weak handle keeps the node live (not its greenlet).
        unsafe { Node::upgrade(self.node) }.then(|| Greenlet::from_counted(self.node))
    }
}

impl Clone for WeakGreenlet {
    fn clone(&self) -> Self {
        // SAFETY: `self` keeps the node live.
        unsafe { Node::incweak(self.node) };
        WeakGreenlet {
            node: self.node,
            _not_send: PhantomData,
        }
    }
}

impl Drop for WeakGreenlet {
    fn drop(&mut self) {
        // SAFETY: this handle owns one weak reference.
        unsafe { switch::release_weak(self.node) };
    }
}

impl std::fmt::Debug for WeakGreenlet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // SAFETY: a weak handle keeps the node live.
        let n = unsafe { self.node.as_ref() };
        f.debug_struct("WeakGreenlet")
            .field("id", &n.id)
            .field("alive", &(n.strong() > 0))
            .finish()
    }
}

/// The greenlet running now on this thread (Python: `greenlet.getcurrent()`); the main
/// greenlet when no other is running. During a greenlet's destructors (it is being
/// killed), that greenlet.
///
/// # Examples
///
/// ```
/// let main = conc_coro::getcurrent();
/// let g = conc_coro::Greenlet::new(|_: ()| conc_coro::getcurrent().is_main());
/// assert_eq!(g.switch_as::<bool, _>(()), Ok(false));
/// assert!(main.is_main());
/// ```
pub fn getcurrent() -> Greenlet {
    // SAFETY: the running greenlet is never freed.
    unsafe { Greenlet::from_live(State::get().current.get()) }
}

/// The thread's main greenlet: the thread's own stack.
///
/// # Examples
///
/// ```
/// assert_eq!(conc_coro::main_greenlet(), conc_coro::getcurrent());
/// ```
pub fn main_greenlet() -> Greenlet {
    // SAFETY: the state holds a reference to its main greenlet.
    unsafe { Greenlet::from_live(State::get().main) }
}

/// Sets the stack size, in bytes, of greenlets created from now on by this thread
/// (rounded up to whole pages; at least 16 KiB).
///
/// # Examples
///
/// ```
/// conc_coro::set_stack_size(128 * 1024);
/// let g = conc_coro::Greenlet::new(|x: u32| x + 1);
/// assert_eq!(g.switch_as::<u32, _>(1_u32), Ok(2));
/// conc_coro::set_stack_size(conc_coro::DEFAULT_STACK_SIZE);
/// ```
pub fn set_stack_size(bytes: usize) {
    State::get().stack_size.set(bytes.max(16 * 1024));
}

/// The tracer function: event, origin greenlet, target greenlet.
///
/// # Examples
///
/// ```
/// let tracer: conc_coro::Tracer = std::rc::Rc::new(|event, from, to| {
///     println!("{event:?}: {} -> {}", from.id(), to.id());
/// });
/// conc_coro::settrace(Some(tracer));
/// conc_coro::settrace(None);
/// ```
pub type Tracer = Rc<dyn Fn(TraceEvent, &Greenlet, &Greenlet)>;

/// Installs `tracer` for switches on this thread and returns the previous one
/// (Python: `greenlet.settrace`). `None` removes it.
///
/// The tracer runs before each switch, in the greenlet switching away; a greenlet's
/// end is reported as the switch (or, for a panic, the throw) that carries its
/// outcome to its parent, as greenlet does. While it runs it is taken out, so a switch
/// inside it is not traced; a tracer that panics stays removed, and its panic goes on
/// to the switch that called it.
///
/// # Examples
///
/// ```
/// let previous = conc_coro::settrace(None);
/// assert!(previous.is_none());
/// ```
pub fn settrace(tracer: Option<Tracer>) -> Option<Tracer> {
    let st = State::get();
    st.tracer_epoch.set(st.tracer_epoch.get().wrapping_add(1));
    let tracing = tracer.is_some();
    let installed = tracer.map(|user| {
        let call_user = user.clone();
        let call: RawTracer = Box::new(move |event, from, to| {
            // SAFETY: the runtime calls a tracer only with nodes it keeps alive for the
            // call (see `switch::trace`).
            unsafe { call_tracer(&call_user, event, from, to) }
        });
        InstalledTracer {
            call,
            user: Box::new(user),
        }
    });
    let previous = std::mem::replace(&mut *st.tracer.borrow_mut(), installed)
        .and_then(|p| p.user.downcast::<Tracer>().ok())
        .map(|user| *user);
    let attention = st.attention.get() & !TRACING;
    st.attention.set(if tracing {
        attention | TRACING
    } else {
        attention
    });
    previous
}

/// Calls `tracer` with handles to `from` and `to`. Each node gets an extra reference
/// for the call, so a tracer that clones and drops handles (or calls `getcurrent`)
/// cannot bring a greenlet's count to zero while the runtime still works on it.
///
/// # Safety
///
/// `from` and `to` are live for the call.
unsafe fn call_tracer(tracer: &Tracer, event: TraceEvent, from: NonNull<Node>, to: NonNull<Node>) {
    // Handles that hold a reference but never release it through `Drop`: the
    // references are given back below without deciding any greenlet's fate, which is
    // the runtime's to decide where it called us.
    // SAFETY: per the contract.
    let (a, b) = unsafe {
        (
            ManuallyDrop::new(Greenlet::from_live(from)),
            ManuallyDrop::new(Greenlet::from_live(to)),
        )
    };
    struct GiveBack(NonNull<Node>, NonNull<Node>);
    impl Drop for GiveBack {
        fn drop(&mut self) {
            // SAFETY: the two references taken above, held until here (also when the
            // tracer panics); the nodes were live before and still hold their
            // earlier references.
            unsafe {
                let _ = Node::decref(self.0);
                let _ = Node::decref(self.1);
            }
        }
    }
    let _give_back = GiveBack(from, to);
    tracer(event, &a, &b);
}
