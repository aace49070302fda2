//! Python's `threading` and `queue` modules for Rust.
//!
//! ```
//! use std::sync::Arc;
//! use conc_thread::{Lock, Queue};
//!
//! let lock = Arc::new(Lock::new());
//! let results = Arc::new(Queue::new(0));
//! let workers: Vec<_> = (0..4)
//!     .map(|i| {
//!         let (lock, results) = (lock.clone(), results.clone());
//!         conc_thread::Builder::new()
//!             .name(format!("worker-{i}"))
//!             .spawn(move || {
//!                 let _guard = lock.lock(); // `with lock:`
//!                 results.put(i * 10).unwrap();
//!             })
//!             .unwrap()
//!     })
//!     .collect();
//! for w in workers {
//!     w.join().unwrap(); // a panic in the thread would come back here as an error
//! }
//! assert_eq!(results.qsize(), 4);
//! ```
//!
//! # What is here
//!
//! | Python | here |
//! | --- | --- |
//! | `Thread(target, name, daemon).start()`, `join(timeout)`, `is_alive`, `ident`, `native_id` | [`spawn`], [`Builder`], [`JoinHandle`], [`Thread`] |
//! | `current_thread`, `main_thread`, `active_count`, `enumerate`, `get_ident`, `get_native_id` | [`current_thread`], [`main_thread`], [`active_count`], [`enumerate()`], [`get_ident`], [`get_native_id`] |
//! | `excepthook` | [`set_excepthook`], [`ExceptHookArgs`] |
//! | waiting for non-daemon threads at exit | [`join_non_daemon_threads`], [`ExitGuard`] |
//! | `Lock`, `RLock` | [`Lock`], [`RLock`] |
//! | `Condition` | [`Condition`] over a [`Lock`] or an [`RLock`] |
//! | `Semaphore`, `BoundedSemaphore` | [`Semaphore`], [`BoundedSemaphore`] |
//! | `Event`, `Barrier`, `Timer`, `local` | [`Event`], [`Barrier`], [`Timer`], [`Local`] |
//! | `queue.Queue`, `LifoQueue`, `PriorityQueue`, `SimpleQueue` | [`Queue`], [`LifoQueue`], [`PriorityQueue`], [`SimpleQueue`] |
//! | `RuntimeError`, `ValueError`, `BrokenBarrierError`, `queue.Full`, `queue.Empty`, `queue.ShutDown` | [`ThreadError`], [`PutError`], [`GetError`], [`TaskDoneError`] |
//!
//! # Differences from Python, and why
//!
//! - **No GIL.** Threads run Rust code truly in parallel: CPU-bound work speeds up with
//!   more threads, and data races are compile errors instead of lost updates.
//! - **Joins return values.** [`JoinHandle::join`] gives the closure's return value, or
//!   [`ThreadError::Panicked`] with the panic message. A panic nobody joins goes to the
//!   [excepthook](set_excepthook).
//! - **Timeouts are `Duration`s** and get their own methods (`acquire_timeout`,
//!   `wait_timeout`, `put_timeout`...), so a negative timeout cannot be expressed.
//! - **Guards.** `with lock:` is `let _guard = lock.lock();`; the explicit
//!   `acquire`/`release` pair exists too, for locks released by another thread.
//! - **Exit.** A Rust process ends when `main` returns; call
//!   [`join_non_daemon_threads`] or hold an [`ExitGuard`] to wait for non-daemon
//!   threads as Python does.
//! - **Idents are never reused** within a process (Python's may be).
//!
//! # Platforms
//!
//! Linux is the tested platform. Other Unixes and Windows build; there
//! [`get_native_id`] is a pthread id or a per-process counter.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod barrier;
mod condition;
mod deadline;
mod error;
mod event;
mod excepthook;
mod fork;
#[cfg(test)]
mod fork_test_support;
mod local;
mod lock;
mod panic_message;
mod queue;
mod registry;
mod rlock;
mod semaphore;
mod spawn;
#[doc(hidden)]
pub mod sync;
mod sys;
mod timer;

pub use barrier::Barrier;
pub use condition::{Condition, ConditionGuard, ConditionLock};
pub use error::{GetError, PutError, TaskDoneError, ThreadError};
pub use event::Event;
pub use excepthook::{ExceptHookArgs, reset_excepthook, set_excepthook};
pub use local::Local;
pub use lock::{Lock, LockGuard};
pub use panic_message::panic_message;
pub use queue::{LifoQueue, PriorityQueue, Queue, SimpleQueue};
pub use registry::{
    ExitGuard, Thread, active_count, current_thread, enumerate, get_ident, get_native_id,
    join_non_daemon_threads, main_thread,
};
pub use rlock::{RLock, RLockGuard};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphoreGuard};
pub use spawn::{Builder, JoinHandle, spawn};
pub use timer::Timer;

/// The README's examples, compiled and run as doc tests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
