//! Python's `multiprocessing` and `subprocess` for Rust.
//!
//! ```standalone_crate
//! use conc_process::{Process, Queue};
//!
//! fn work((q, n): (Queue<String>, u32)) -> u32 {
//!     q.put(format!("child {n} says hi")).unwrap();
//!     n * n
//! }
//!
//! fn main() {
//!     conc_process::init(); // first line: Rust's `if __name__ == "__main__":`
//!
//!     let q = Queue::new(0).unwrap();
//!     let kids: Vec<_> = (1..=3).map(|n| Process::new(work, (q.clone(), n))).collect();
//!     for k in &kids {
//!         k.start().unwrap();
//!     }
//!     for k in &kids {
//!         println!("{}", q.get().unwrap());
//!     }
//!     let squares: Vec<u32> = kids.iter().map(|k| k.result().unwrap()).collect();
//!     assert_eq!(squares, [1, 4, 9]); // a panic in a child would be an Err here
//! }
//! ```
//!
//! # What is here
//!
//! | Python | here |
//! | --- | --- |
//! | `Process(target, args, name, daemon)`, `start`, `join(timeout)`, `is_alive`, `pid`, `exitcode`, `terminate`, `kill` | [`Process`] (plus [`Process::result`] for the return value) |
//! | `set_start_method`, `get_context`, `get_start_method`; `fork`, `spawn`, `forkserver` | [`set_start_method`], [`get_context`]/[`Context`], [`StartMethod`], [`init`], [`test_support!`] |
//! | `current_process`, `parent_process`, `active_children`, `cpu_count` | same names; [`ProcessInfo`], [`ChildProcess`] |
//! | `Pool(processes, initializer, initargs, maxtasksperchild)`, `apply`, `apply_async`, `map`, `map_async`, `imap`, `imap_unordered`, `close`, `terminate`, `join`, `AsyncResult` | [`Pool`], [`PoolBuilder`], [`AsyncResult`], [`Callbacks`], [`IMapIterator`] (`starmap`: a tuple argument) |
//! | `multiprocessing.connection.Listener`, `Client`, `authkey`, `AuthenticationError` | [`connection::Listener`], [`connection::client`], [`ProcessError::AuthenticationError`]: Python's wire format and HMAC handshake, so Python programs connect |
//! | `Manager()`: `dict`, `list`, `Namespace`, `Value`, `Array`, `Queue`, `JoinableQueue`, `Lock`, `RLock`, `Semaphore`, `BoundedSemaphore`, `Event`, `Condition`, `Barrier` | [`Manager`] and typed proxies ([`DictProxy`], [`ListProxy`], [`NamespaceProxy`], [`ValueProxy`], [`ArrayProxy`], [`QueueProxy`], [`LockProxy`], [`SemaphoreProxy`], [`EventProxy`], [`ConditionProxy`], [`BarrierProxy`]) that work from any process; `BaseManager.register`, `address`, `authkey`, `connect` as [`Served`]/[`Manager::serve`], [`ManagerBuilder`], [`Manager::connect`], [`Manager::publish`]/[`Manager::lookup`] |
//! | `Pipe(duplex)`, `Connection.send/recv/poll/close` | [`pipe`], [`Connection`] (typed) |
//! | `Queue`, `JoinableQueue`, `SimpleQueue`, `queue.Full`, `queue.Empty` | [`Queue`], [`JoinableQueue`], [`SimpleQueue`], [`ProcessError::Full`], [`ProcessError::Empty`] |
//! | `Lock`, `RLock`, `Semaphore`, `BoundedSemaphore`, `Event`, `Condition`, `Barrier` | same names, robust against dying holders ([`OwnerDiedError`]) |
//! | `Value`, `Array` (`sharedctypes`), `shared_memory.SharedMemory`, `managers.SharedMemoryManager` | [`Value`], [`Array`], [`SharedMemory`], [`SharedMemoryManager`] |
//! | `subprocess.run`, `Popen`, `communicate`, `check_output`, `CalledProcessError`, `TimeoutExpired` | [`subprocess`] |
//!
//! `ProcessPoolExecutor` comes in conc-futures, built on this crate's `Pool`.
//!
//! # Start methods and `init()`
//!
//! A child runs a Rust function `fn(A) -> R`; `A` and `R` cross with serde, and may
//! contain [`Connection`]s, queues, locks and shared values. Three start methods exist,
//! as in Python (see [`StartMethod`] for the trade-offs). The default,
//! `forkserver`, and `spawn` need [`init`] as the first line of `main` (in test files,
//! [`test_support!`]); without it they fail with [`ProcessError::NotInitialized`]
//! instead of starting a copy of your program. `fork` needs nothing and can run
//! closures ([`Process::from_closure`]).
//!
//! # Nothing hangs, nothing leaks
//!
//! - A child's panic comes back as [`ProcessError::Panicked`] with its message; a child
//!   killed by a signal or `exit`ing early as [`ProcessError::Died`] with Python's
//!   `exitcode` (minus the signal number).
//! - Children die with their parent (`PR_SET_PDEATHSIG`, from a thread that lives as
//!   long as the program; a pipe-EOF watchdog where that does not exist), every child
//!   is reaped (without touching `SIGCHLD`), daemon
//!   children are terminated and the others waited for when the program exits.
//! - `recv` on a [`Connection`] whose other end is gone, in every process, returns
//!   [`ProcessError::Eof`]; queues and locks survive a process killed in the middle of
//!   using them; a process that dies holding a [`Lock`] hands the next acquirer
//!   [`ProcessError::OwnerDied`] instead of a deadlock.
//!
//! # Your own types across processes
//!
//! Any type that is `Serialize + DeserializeOwned` crosses: `#[derive(Serialize,
//! Deserialize)]` structs and enums, nested in `Vec`s, `Option`s, maps and tuples, as
//! process arguments and results, [`Connection`] messages and queue items. One place
//! for the formats and limits:
//!
//! | path | format | size limit |
//! | --- | --- | --- |
//! | process argument and result, [`Connection`] message | [postcard](https://docs.rs/postcard) in a frame of conc-process's own (a 16-byte header; connections, queues, locks and shared values travel as file descriptors beside the bytes) | [`MAX_MESSAGE_BYTES`] (4 GiB) per message, at most 253 descriptors in one; a longer length prefix arriving is [`ProcessError::BadMessage`] |
//! | [`Queue`], [`JoinableQueue`], [`SimpleQueue`] item | [postcard](https://docs.rs/postcard), copied into the queue's shared ring | the ring's size: 4 MiB by default, [`Queue::with_buffer`] for more; a larger item is [`ProcessError::InvalidArgument`] at `put` |
//!
//! Both are postcard: compact and *not self-describing*: serde features that need the
//! format to say what comes next (`#[serde(untagged)]`, `#[serde(flatten)]`,
//! `deserialize_any`, `skip_serializing_if` without a matching default) fail to decode,
//! with [`ProcessError::Serialization`]. Both ends must use the same type definition: the
//! same program, as with every start method here. [`Connection`]s, locks, shared values
//! and queues travel only where file descriptors can (arguments, results, connection
//! messages), never inside a queue item, which refuses them with a clear error.
//! `examples/process_user_types.rs` shows a struct and an enum crossing each path.
//!
//! # Differences from Python, and why
//!
//! - **Functions, not pickles.** A `spawn`/`forkserver` child finds its function by its
//!   offset in the program image, so the target must be a named `fn` (or a closure that
//!   captures nothing); arguments are serde values instead of pickled objects.
//! - **Typed pipes and queues.** `Connection<T>`, `Queue<T>`: the compiler checks both
//!   ends agree. Queue items must fit the queue's buffer (4 MiB by default,
//!   [`Queue::with_buffer`] for more).
//! - **Results.** [`Process::result`] returns the function's value; Python drops it.
//! - **Under `fork`, the child inherits every open pipe end**, as in Python: a child
//!   that reads until end of file must not hold a copy of the writing end. With
//!   `spawn` and `forkserver` only what you pass crosses.
//! - **Locks must be released by their holder** (robust mutexes track owners); Python's
//!   `multiprocessing.Lock` may be released by anyone.
//!
//! # Platforms
//!
//! Linux only: the engine uses Linux interfaces throughout (pidfds, futexes,
//! `PR_SET_PDEATHSIG`, `memfd`, `close_range`, `gettid`, `/proc/self`). Building for
//! another target is a compile error naming this, rather than a crate that builds and
//! then fails at run time.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod bootstrap;
mod child;
pub mod connection;
mod current;
mod error;
mod fork_lock;
mod forkserver;
mod hooks;
mod init;
mod ipc;
mod launcher;
mod listener;
mod manager;
mod pool;
mod process;
mod queue;
mod registry;
mod shared_memory;
mod sharedctypes;
mod shm;
mod spawn;
mod start_method;
pub mod subprocess;
mod sync;
mod sys;
mod watchdog;
mod wire;

pub use connection::{Connection, pipe};
pub use current::{ProcessInfo, cpu_count, current_process, parent_process};
pub use error::ProcessError;
pub use init::init;
pub use ipc::MAX_MESSAGE_BYTES;
pub use manager::{
    ArrayProxy, BarrierProxy, ConditionProxy, DictProxy, EventProxy, ListProxy, LockProxy,
    LockProxyGuard, Manager, ManagerBuilder, NamespaceProxy, QueueProxy, SemaphoreProxy, Served,
    ServedProxy, SharedObject, ValueProxy,
};
pub use pool::{AsyncResult, Callbacks, IMapIterator, Pool, PoolBuilder};
pub use process::{ChildProcess, Process, active_children};
pub use queue::{DEFAULT_BUFFER, JoinableQueue, Queue, SimpleQueue};
pub use shared_memory::{SharedMemory, SharedMemoryManager};
pub use sharedctypes::{Array, ArrayGuard, Pod, Value, ValueGuard};
pub use start_method::{Context, StartMethod, get_context, get_start_method, set_start_method};
pub use sync::{
    Barrier, BoundedSemaphore, Condition, ConditionGuard, ConditionLock, Event, Lock, LockGuard,
    LockResult, OwnerDiedError, RLock, RLockGuard, Semaphore, SemaphoreGuard,
};

#[doc(hidden)]
pub mod __private {
    pub use ctor;

    /// For the crate's own tests: children started from now on watch their parent
    /// through a pipe instead of `PR_SET_PDEATHSIG` (the portable fallback).
    pub fn force_parent_watchdog() {
        crate::watchdog::force();
    }
}

/// The README's examples, compiled and run as doc tests so they cannot rot (each as its
/// own program: `spawn` and `forkserver` children need `init()` first in `main`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
