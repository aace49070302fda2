//! Python's `multiprocessing` and `subprocess` for Rust.
//!
//! (Crate documentation is being written alongside the API.)
#![cfg_attr(docsrs, feature(doc_cfg))]

mod bootstrap;
mod child;
mod connection;
mod current;
mod error;
mod forkserver;
mod init;
mod launcher;
mod process;
mod queue;
mod registry;
mod shared_memory;
mod sharedctypes;
mod shm;
mod spawn;
mod start_method;
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub mod subprocess;
mod sync;
mod sys;

pub use connection::{Connection, pipe};
pub use current::{ProcessInfo, cpu_count, current_process, parent_process};
pub use error::ProcessError;
pub use init::init;
pub use process::{ChildProcess, Process, active_children};
pub use queue::{DEFAULT_BUFFER, JoinableQueue, Queue, SimpleQueue};
pub use shared_memory::SharedMemory;
pub use sharedctypes::{Array, ArrayGuard, Pod, Value, ValueGuard};
pub use start_method::{Context, StartMethod, get_context, get_start_method, set_start_method};
pub use sync::{
    Barrier, BoundedSemaphore, Condition, ConditionGuard, ConditionLock, Event, Lock, LockGuard,
    LockResult, OwnerDiedError, RLock, RLockGuard, Semaphore, SemaphoreGuard,
};

#[doc(hidden)]
pub mod __private {
    pub use ctor;
}
