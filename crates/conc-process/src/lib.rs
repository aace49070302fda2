//! Python's `multiprocessing` and `subprocess` for Rust.
//!
//! # Process-shared synchronization and memory
//!
//! [`Lock`], [`RLock`], [`Semaphore`], [`BoundedSemaphore`], [`Event`], [`Condition`] and
//! [`Barrier`] (Python's `multiprocessing.synchronize`), and [`Value`] and [`Array`]
//! (`multiprocessing.sharedctypes`), live in anonymous shared memory. A handle works in
//! the process that made it, in children that inherit it through `fork`, and in any
//! process that receives it through an `ipc_channel` channel (how `spawn` and
//! `forkserver` children get their arguments): all see the same lock or the same data.
//! Locks are robust: a process that dies holding one does not deadlock the others, who
//! are told with [`ProcessError::OwnerDied`] (see [`OwnerDiedError`]).
//!
//! [`SharedMemory`] (`multiprocessing.shared_memory`) is a *named* block any process can
//! attach to by name; names a process tree created and did not unlink are removed when
//! the tree has exited, even after a crash.
//!
//! ```
//! use conc_process::{Lock, Value};
//!
//! let lock = Lock::new();
//! let total = Value::new(0u64);
//! {
//!     let _g = lock.lock().unwrap();
//!     *total.lock().unwrap() += 5;
//! }
//! assert_eq!(total.get(), Ok(5));
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod shared_memory;
mod sharedctypes;
pub(crate) mod shm;
pub(crate) mod sync;

pub use error::ProcessError;
pub use shared_memory::SharedMemory;
pub use sharedctypes::{Array, ArrayGuard, Pod, Value, ValueGuard};
pub use sync::{
    Barrier, BoundedSemaphore, Condition, ConditionGuard, ConditionLock, Event, Lock, LockGuard,
    LockResult, OwnerDiedError, RLock, RLockGuard, Semaphore, SemaphoreGuard,
};
