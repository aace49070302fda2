//! Python's `greenlet` and `gevent` for Rust: functions on their own stacks that switch
//! to one another explicitly, on [corosensei](https://docs.rs/corosensei) coroutines,
//! and a hub per thread that switches them on I/O readiness and timers, on
//! [mio](https://docs.rs/mio).
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use conc_coro::{Greenlet, getcurrent};
//!
//! // Two greenlets ping-pong a counter, as in the seeds' test1/test2.
//! let log = Rc::new(RefCell::new(Vec::new()));
//! let main = getcurrent();
//! let pong = {
//!     let (log, main) = (log.clone(), main.clone());
//!     Greenlet::new(move |mut n: u32| {
//!         loop {
//!             log.borrow_mut().push(format!("pong {n}"));
//!             n = main.switch(n + 1).unwrap().downcast().unwrap();
//!         }
//!     })
//! };
//! let mut n = 0_u32;
//! for _ in 0..3 {
//!     log.borrow_mut().push(format!("ping {n}"));
//!     n = pong.switch_as(n).unwrap();
//! }
//! assert_eq!(log.borrow().len(), 6);
//! drop(pong); // still suspended: dropping the last handle kills it
//! ```
//!
//! # What is here
//!
//! | Python `greenlet` | here |
//! | --- | --- |
//! | `greenlet(run, parent)`, `switch(*args)` | [`Greenlet::new`], [`Greenlet::switch`], [`Greenlet::set_parent`] |
//! | `throw(exc)`, `GreenletExit` | [`Greenlet::throw`], [`Greenlet::kill`], [`GreenletExit`] |
//! | `dead`, `bool(g)`, `parent`, `getcurrent()` | [`Greenlet::dead`], [`Greenlet::is_active`], [`Greenlet::parent`], [`getcurrent`] |
//! | `settrace` | [`settrace`], [`TraceEvent`] |
//! | `weakref.ref(g)` | [`Greenlet::downgrade`], [`WeakGreenlet`] |
//! | exceptions crossing switches | [`GreenletError`], their values as [`Payload`] |
//!
//! # The hub (gevent)
//!
//! Each thread gets a *hub* on its first green call: a loop on `mio` that runs
//! greenlets when what they wait for is ready. [`spawn`] starts a greenlet on it;
//! [`sleep`], [`Task::join`], [`Event::wait`], [`Semaphore::acquire`] and the green
//! sockets ([`TcpStream`], [`TcpListener`], [`UdpSocket`], [`UnixStream`],
//! [`StreamServer`]) park only the calling greenlet. [`Timeout`] bounds any of them.
//!
//! ```
//! use std::io::{Read, Write};
//! use conc_coro::{StreamServer, TcpStream, joinall, spawn};
//!
//! // An echo server and ten clients, all on this thread.
//! let server = StreamServer::bind("127.0.0.1:0", |mut conn, _| {
//!     let mut buf = [0; 5];
//!     conn.read_exact(&mut buf).unwrap();
//!     conn.write_all(&buf).unwrap();
//! })
//! .unwrap();
//! server.start();
//! let addr = server.address();
//! let clients: Vec<_> = (0..10)
//!     .map(|_| spawn(move || {
//!         let mut conn = TcpStream::connect(addr).unwrap();
//!         conn.write_all(b"hello").unwrap();
//!         let mut back = [0; 5];
//!         conn.read_exact(&mut back).unwrap();
//!         back
//!     }))
//!     .collect();
//! joinall(&clients, None).unwrap();
//! assert!(clients.iter().all(|c| c.get(None) == Ok(*b"hello")));
//! server.stop(None);
//! ```
//!
//! | gevent | here |
//! | --- | --- |
//! | `spawn`, `spawn_later`, `sleep`, `idle` | [`spawn`], [`spawn_later`], [`sleep`], [`idle`] |
//! | `Greenlet`: `join`, `get`, `kill`, `ready`, `successful`, `value`, `link*` | [`Task`] |
//! | `joinall`, `killall`, `wait`, `iwait` | [`joinall`], [`killall`], [`wait`], [`iwait`] |
//! | `Timeout`, `with_timeout` | [`Timeout`], [`with_timeout`] |
//! | `event.Event`, `event.AsyncResult` | [`Event`], [`AsyncResult`] |
//! | `lock.Semaphore`, `BoundedSemaphore`, `RLock` | [`Semaphore`], [`Semaphore::bounded`], [`RLock`] |
//! | `queue.Queue`, `JoinableQueue`, `LifoQueue`, `PriorityQueue`, `Channel` | [`Queue`], [`JoinableQueue`], [`LifoQueue`], [`PriorityQueue`], [`Channel`] |
//! | `pool.Group`, `pool.Pool` | [`Group`], [`Pool`] |
//! | `signal_handler` | [`signal_handler`], [`SignalWatcher`] |
//! | `socket`, `server.StreamServer`, `wait_read`/`wait_write` | [`TcpStream`], [`TcpListener`], [`UdpSocket`], [`UnixStream`], [`StreamServer`], [`wait_readable`], [`wait_writable`] |
//! | `LoopExit` | [`HubError::LoopExit`] |
//! | threadsafe `async` watchers, `hub.loop.run_callback_threadsafe` | [`HubHandle`] |
//! | waiting on an asyncio future | [`wait_future`] |
//!
//! Green sockets implement `std::io::Read` and `Write`: code written against
//! `impl Read + Write` runs cooperatively unchanged when given one. That is the Rust
//! answer to `monkey.patch_all()`, and explicit on purpose (the type says which calls
//! yield). When the main greenlet waits on something nothing can complete, it gets
//! [`HubError::LoopExit`] instead of sleeping forever. A greenlet that holds the
//! thread for more than half a second without waiting is reported through `log`.
//! One hub per thread: to use more cores, run greenlets on several threads (each
//! thread's first green call makes its hub) and hand them work with [`HubHandle`].
//!
//! ## Fork
//!
//! A child forked while a hub exists (conc-process's `fork` start method, or a raw
//! `fork`) never touches the parent's hub: that hub's epoll instance and waker are
//! shared with the parent, and using them from the child would steal the parent's
//! events. The child's first green call makes a new hub; a green socket inherited from
//! the parent registers itself with it on its next wait. The parent's greenlets are
//! copied into the child with the rest of its memory, but they were waiting on the
//! parent's hub, so nothing ever resumes them there: they stay suspended, and are
//! killed (their destructors run) only if the child's thread ends normally; a child
//! that leaves with `_exit`, as conc-process's children do, runs none of them. This is
//! deliberate: running the parent's greenlets in the child would do their work twice
//! (gevent's forked children do, unless `gevent.reinit()` and care are taken).
//!
//! # Greenlet semantics
//!
//! - The first [`switch`](Greenlet::switch) to a greenlet starts it with the switched
//!   value as its argument. When it returns, its value goes to its parent; a panic
//!   goes to the parent as [`GreenletError::Panicked`]. Switching to a dead greenlet
//!   goes to its nearest live ancestor.
//! - [`throw`](Greenlet::throw) takes any `Send` value; the receiver gets it back typed
//!   in [`GreenletError::Thrown`] and [`Payload::downcast`]s it. A panic crosses a
//!   switch with its payload intact, so a parent can match on it or
//!   [`resume_unwind`](Payload::resume_unwind) it.
//! - Dropping the last handle of a suspended greenlet kills it: its stack is unwound,
//!   so destructors run; so does [`Greenlet::kill`]. A greenlet that catches the kill
//!   and switches again is killed again; after a few attempts it is abandoned
//!   ([`GreenletError::Unkillable`], its stack leaked, logged), so a kill or a drop
//!   always returns. A kill asked for by a dying greenlet's destructors is done as
//!   soon as a greenlet can be resumed, before that kill returns.
//! - Greenlets still suspended when their thread exits are killed then, with their
//!   destructors run, whichever thread-local holds their handles.
//! - Values travel as [`Value`]: greenlets switch among themselves freely, so the type
//!   arriving at a `switch` is only known at run time. Receivers name the type they
//!   expect and get [`GreenletError::WrongType`] otherwise. Values of up to 8 bytes
//!   travel inline, without allocating.
//!
//! What a destructor cannot return (a greenlet that refused to die, a panic while
//! dropping one) is reported through the [`log`](https://docs.rs/log) facade.
//!
//! # Threads
//!
//! Greenlets belong to the thread that created them: [`Greenlet`] is not `Send`, so
//! switching across threads cannot be written. Because a greenlet never migrates,
//! `thread_local!` values seen inside it are always its own thread's, and sound. Each
//! thread has its own main greenlet; to use more cores, run greenlets on several
//! threads.
//!
//! # Panics and `panic = "abort"`
//!
//! Killing and dropping suspended greenlets needs unwinding, so building this crate
//! with `panic = "abort"` is a compile error rather than a silent leak. `switch` refuses to run while the
//! thread is unwinding ([`GreenletError::Unwinding`]).
//!
//! # Stacks
//!
//! Each greenlet runs on a stack of [`set_stack_size`] bytes (default
//! [`DEFAULT_STACK_SIZE`]) carved from a *slab*: one `mmap` reserving 256 stacks, each
//! with a 16 KiB guard region below it, committed by the kernel only as pages are
//! touched. A greenlet takes its slot on its first switch (one that never runs costs a
//! small heap record: 100,000 unstarted greenlets take about 22 MiB) and gives it back
//! to a per-thread free list when it ends, so starting a greenlet usually makes no
//! system call.
//!
//! On Linux 6.13+ the guards are installed with `madvise(MADV_GUARD_INSTALL)`, which
//! keeps a slab a single kernel memory area: 100,000 live greenlets need a handful of
//! mappings and about 400 MiB of RSS (measured by this crate's tests). On older kernels
//! each guard is an `mprotect`ed range, costing two memory areas per stack, so the
//! default `vm.max_map_count` (65,530) allows about 32,000 live greenlets; past that,
//! the first switch of a new greenlet fails with [`GreenletError::Stack`], whose
//! message names the setting (the greenlet stays unstarted).
//!
//! A greenlet that overflows its stack hits its guard; a `SIGSEGV` handler (chained to
//! the one Rust installs) prints "greenlet overflowed its stack" and aborts the
//! process. Silent corruption is not possible.
//!
//! # Platforms
//!
//! Unix (slab stacks use `mmap`); Linux is tested, and guard install needs Linux 6.13+
//! (older kernels and other Unixes use `mprotect` guards). The overflow report relies on
//! the thread having an alternate signal stack, which Rust's runtime gives every thread
//! it starts; on threads created by foreign code an overflow still stops the process
//! at the guard, with a plain `SIGSEGV`. A frame larger than the 16 KiB guard compiled
//! without stack probes (foreign C code) could skip over it.
#![cfg_attr(docsrs, feature(doc_cfg))]

// Killing a suspended greenlet unwinds its stack; with `panic = "abort"` that would
// abort the process (or, worse, leak the stack's destructors). Refuse to build instead.
#[cfg(panic = "abort")]
compile_error!(
    "conc-coro needs `panic = \"unwind\"`: greenlets are killed by unwinding their stacks"
);

mod error;
mod greenlet;
mod hub;
mod net;
mod pool;
mod signal;
mod stack;
mod sync;
mod task;
mod timeout;
mod value;

pub use error::{GreenletError, HubError, Payload};
pub use greenlet::{
    Greenlet, TraceEvent, Tracer, WeakGreenlet, getcurrent, main_greenlet, set_stack_size, settrace,
};
pub use hub::{HubHandle, hub_running, wait_future};
pub use net::{
    StreamServer, TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream, wait_readable,
    wait_writable,
};
pub use pool::{Group, IMap, Pool};
pub use signal::{SignalWatcher, signal_handler};
pub use sync::{
    AsyncResult, Channel, Event, JoinableQueue, LifoQueue, PriorityQueue, PutError, Queue, RLock,
    Semaphore,
};
pub use task::{
    IWait, Task, Waitable, idle, iwait, joinall, killall, sleep, spawn, spawn_later, wait,
};
pub use timeout::{Timeout, with_timeout};
pub use value::Value;

/// The default greenlet stack size: 256 KiB, reserved and committed lazily.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// The value a greenlet's parent receives when the greenlet killed itself with
/// [`Greenlet::kill`] (Python: the `GreenletExit` instance returned to the parent).
///
/// # Examples
///
/// ```
/// use conc_coro::{Greenlet, GreenletExit};
///
/// let g = Greenlet::new(|_: ()| conc_coro::getcurrent().kill());
/// assert!(g.switch(()).unwrap().is::<GreenletExit>());
/// assert!(g.dead());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GreenletExit;

/// The README's examples, compiled and run as doc tests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
